"""A local HTTP server answering like OpenAI, Anthropic and OpenRouter from the shared fixtures.

Routes on method + path + the `page` parameter (and `api_key_hash` for OpenRouter), as the fixtures
README says; `fail` makes chosen paths answer an error status, to test failures mid-sync; `bodies` makes
chosen paths answer a given JSON body instead of the fixture (an account without usage, for one).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
# Keys of the shape each connector checks before calling; the server accepts any.
ADMIN_KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-fixture-0000",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-fixture",
    "OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-fixture",
}
OPENROUTER_KEYS = {
    "11cf011b4bbd0d97e69af2cf9677bcdba4ed50d077a51704bcfe84355f8b46fd": "acme-prod",
    "99ced77b0dd8087bfc21f72091bd01db85fb255818d4a82612bfc975d28148fd": "globex-prod",
    "65b76e1c93bf6c199f9c38145310eacd9f4e8bc635a57cfc7c32a9d099ec7337": "initech-prod",
    "5e61ffbaf669640f0d95bbe4c6238807535f2c8855da4ca40d53979814bbba26": "internal-evals",
}


def _route(path: str, query: dict[str, list[str]]) -> str | None:
    page = query.get("page", [None])[0]
    second = page is not None
    if path == "/openai/organization/usage/completions":
        return "openai_usage_completions_page2.json" if second else "openai_usage_completions_page1.json"
    if path == "/openai/organization/usage/embeddings":
        return "openai_usage_embeddings_page1.json"
    if path == "/openai/organization/costs":
        return "openai_costs_by_project_and_key_page1.json"
    if path == "/openai/organization/projects/proj_Bi6ppwMI2jMVVCSksO68febH/api_keys":
        return "openai_project_api_keys_production.json"
    if path == "/openai/organization/projects/proj_za7IWlSSOAnXb7Q8rc89fYhg/api_keys":
        return "openai_project_api_keys_internal_tools.json"
    if path == "/anthropic/v1/organizations/usage_report/messages":
        return "anthropic_usage_messages_page2.json" if second else "anthropic_usage_messages_page1.json"
    if path == "/anthropic/v1/organizations/cost_report":
        return "anthropic_cost_report_page2.json" if second else "anthropic_cost_report_page1.json"
    if path == "/anthropic/v1/organizations/api_keys":
        return "anthropic_api_keys.json"
    if path == "/openrouter/keys":
        return "openrouter_keys.json"
    if path == "/openrouter/activity":
        key = query.get("api_key_hash", [None])[0]
        return f"openrouter_activity_key_{OPENROUTER_KEYS[key]}.json" if key in OPENROUTER_KEYS else None
    if path == "/openrouter/credits":
        return "openrouter_credits.json"
    return None


class ProviderServer:
    """The running server: its base URL per provider, what it saw, and paths to fail."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.fail: dict[str, int] = {}
        self.bodies: dict[str, object] = {}
        handler = self._handler()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def base_urls(self) -> dict[str, str]:
        return {
            "MARGIN_OPENAI_BASE_URL": f"{self.url}/openai",
            "MARGIN_ANTHROPIC_BASE_URL": f"{self.url}/anthropic",
            "MARGIN_OPENROUTER_BASE_URL": f"{self.url}/openrouter",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                server.requests.append(self.path)
                status = server.fail.get(url.path)
                name = _route(url.path, urllib.parse.parse_qs(url.query))
                if status is None and name is None and url.path not in server.bodies:
                    status = 404
                if status is None and url.path in server.bodies:
                    body = json.dumps(server.bodies[url.path]).encode()
                elif status is None and name:
                    body = (FIXTURES / name).read_bytes()
                else:
                    body = b'{"error": {"message": "fixture server error", "type": "server_error"}}'
                self.send_response(status or 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def provider_server() -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

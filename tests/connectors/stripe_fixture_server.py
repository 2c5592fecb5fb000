"""A local Stripe API serving tests/fixtures/stripe to the real `stripe` SDK (fixtures README, extended).

Extras over the README's snippet: bodies can be replaced per route, sub-lists (`/v1/invoices/{id}/lines`)
can be added, scripted error responses are served before the normal ones, and every request is recorded.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
LISTS = (
    "customers",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "invoice_payments",
    "credit_notes",
    "charges",
    "refunds",
)


def load(name: str) -> list[dict[str, Any]]:
    """The `data` of one fixture list, as plain JSON to edit in a test."""
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data: list[dict[str, Any]] = body["data"]
    return data


@dataclass
class Seen:
    """One request the server answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Reply:
    """A scripted response, served once instead of the fixture."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StripeFixtureServer:
    """Holds the lists it serves, the scripted replies still to serve and the requests it saw."""

    def __init__(self, overrides: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = {f"/v1/{name}": load(name) for name in LISTS}
        for name, data in (overrides or {}).items():
            self.lists[f"/v1/{name}"] = copy.deepcopy(data)
        self.scripted: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def script(self, path: str, *replies: Reply) -> None:
        """Serve these replies, in order, to the next requests for `path`."""
        self.scripted.setdefault(path, []).extend(replies)

    def requests_to(self, path: str) -> list[Seen]:
        """The requests made to one path, in order."""
        return [seen for seen in self.seen if seen.path == path]

    def answer(self, method: str, raw_path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, body and extra headers for one request."""
        url = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(url.query)
        with self._lock:
            self.seen.append(Seen(method, url.path, query, headers))
            pending = self.scripted.get(url.path)
            if pending:
                reply = pending.pop(0)
                return reply.status, reply.body, reply.headers
        if url.path not in self.lists:
            message = f"Unrecognized request URL ({method}: {url.path})"
            return 404, {"error": {"type": "invalid_request_error", "message": message}}, {}
        data = self.lists[url.path]
        if url.path == "/v1/subscriptions":  # Stripe omits canceled ones unless asked
            status = query.get("status", [None])[0]
            if status is None:
                data = [s for s in data if s["status"] != "canceled"]
            elif status != "all":
                data = [s for s in data if s["status"] == status]
        limit = int(query.get("limit", ["10"])[0])
        start = 0
        if "starting_after" in query:
            start = [o["id"] for o in data].index(query["starting_after"][0]) + 1
        page = {"object": "list", "data": data[start : start + limit], "has_more": start + limit < len(data)}
        return 200, {**page, "url": url.path}, {}


def _handler(server: StripeFixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def _reply(self) -> None:
            status, body, extra = server.answer(self.command, self.path, dict(self.headers.items()))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@contextmanager
def serve(server: StripeFixtureServer) -> Iterator[str]:
    """Run `server` on a free loopback port; yield its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def stripe_error(message: str, *, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An error body as Stripe sends it."""
    return {"error": {"type": kind, "message": message}}


def by_id(data: list[dict[str, Any]], object_id: str) -> dict[str, Any]:
    """The object of a fixture list with this id."""
    return next(obj for obj in data if obj["id"] == object_id)

"""A server that trickles bytes and a cursor that never ends both fail clearly, within their bounds (rules §7)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest

from connectors import _http, _stripe_calls
from connectors._http import build_client, get_json, iter_pages
from connectors.errors import PayloadError, UpstreamError


class _Trickle(BaseHTTPRequestHandler):
    """Sends its headers, then a 1 kB JSON body one byte every 0.3 s: every read is quick, the whole is not."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"data": [], "pad": "' + b"x" * 1000 + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def trickle_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_trickling_server_fails_within_the_deadline(trickle_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 2.0)
    started = time.monotonic()
    with build_client(trickle_url, headers={}) as client, pytest.raises(UpstreamError) as failure:
        get_json(client, path="organization/costs", provider="openai", endpoint="organization/costs")
    took = time.monotonic() - started
    assert took < 2.0 + 3.0, took  # the deadline, one trickled byte and slack; not 1,000 × 0.3 s
    message = str(failure.value)
    assert message.startswith("openai organization/costs: ") and "too slowly" in message


def test_the_default_deadline_is_a_minute() -> None:
    assert _http.REQUEST_DEADLINE == 60.0 and _http.MAX_PAGES == 10_000


def test_an_endless_cursor_fails_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "MAX_PAGES", 25)
    served = []

    def endless(request: httpx.Request) -> httpx.Response:
        served.append(request)
        return httpx.Response(200, json={"data": [], "has_more": True, "next_page": f"page_{len(served)}"})

    client = build_client("https://api.example.test/v1", headers={}, transport=httpx.MockTransport(endless))
    with client, pytest.raises(PayloadError, match=r"^openai organization/usage/completions: still has_more after 25"):
        for _ in iter_pages(
            client,
            path="organization/usage/completions",
            provider="openai",
            endpoint="organization/usage/completions",
            params={},
        ):
            pass
    assert len(served) == 25


def test_an_endless_stripe_list_fails_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stripe_calls, "MAX_PAGES", 30)
    fetched = []

    def page() -> SimpleNamespace:
        fetched.append(1)
        return SimpleNamespace(data=[len(fetched)], has_more=True, next_page=page)

    items: list[int] = []
    listing: Iterator[int] = _stripe_calls.iter_list(page, endpoint="invoices", sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(UpstreamError, match=r"^stripe invoices: still has_more after 30 pages"):
        items.extend(listing)
    assert len(fetched) == 30 and items == list(range(1, 31))


def test_a_trickling_stripe_fails_within_its_bound(trickle_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import stripe

    from connectors.stripe_revenue import make_client

    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 1.0)
    client = make_client("sk_test_x", base_url=trickle_url.removesuffix("/v1"))
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.list()
    # the SDK tries 3 times (max_network_retries=2), each cut at the deadline, with its short waits between
    assert time.monotonic() - started < 3 * (1.0 + 1.0) + 6.0

"""The shared client: retry transport, error translation, JSON reads and the page cursor, on MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from connectors._http import build_client, get_json, iter_pages
from connectors.errors import AuthError, ConnectorError, PayloadError, RateLimitedError, UpstreamError


def _client(handler: Callable[[httpx.Request], httpx.Response], sleeps) -> httpx.Client:
    return build_client(
        "https://api.example.test/v1",
        headers={"Authorization": "Bearer k"},
        sleep=sleeps,
        transport=httpx.MockTransport(handler),
    )


class Script:
    """A MockTransport handler answering from a list of responses (or exceptions), counting calls."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_client_has_a_bounded_timeout_and_the_auth_header(sleeps):
    script = Script(httpx.Response(200, json={}))
    with _client(script, sleeps) as client:
        assert client.timeout == httpx.Timeout(30.0)
        get_json(client, path="things", provider="openai", endpoint="things")
    assert script.requests[0].headers["authorization"] == "Bearer k"
    assert str(script.requests[0].url) == "https://api.example.test/v1/things"


def test_five_503s_give_up_with_exponential_backoff(sleeps):
    script = Script(httpx.Response(503, json={"error": {"message": "busy"}}))
    with _client(script, sleeps) as client, pytest.raises(UpstreamError) as raised:
        get_json(client, path="things", provider="anthropic", endpoint="things")
    assert len(script.requests) == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]
    assert str(raised.value) == "anthropic things: failed 5 times (HTTP 503); try again later (provider says: busy)"
    assert (raised.value.provider, raised.value.endpoint) == ("anthropic", "things")


def test_retry_after_as_an_http_date_in_the_past_means_no_wait(sleeps):
    script = Script(
        httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json={"ok": True}),
    )
    with _client(script, sleeps) as client:
        assert get_json(client, path="things", provider="openai", endpoint="things").flag("ok") is True
    assert sleeps.delays == [0.0]


def test_a_read_timeout_is_retried(sleeps):
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json={"ok": True}))
    with _client(script, sleeps) as client:
        get_json(client, path="things", provider="openai", endpoint="things")
    assert len(script.requests) == 2
    assert sleeps.delays == [0.5]


def test_timeouts_on_every_attempt_become_an_upstream_error(sleeps):
    script = Script(httpx.ReadTimeout("slow"))
    with _client(script, sleeps) as client, pytest.raises(UpstreamError, match="openai things: timed out"):
        get_json(client, path="things", provider="openai", endpoint="things")
    assert len(script.requests) == 5


def test_a_failed_connect_is_not_retried_again_and_names_the_fix(sleeps):
    script = Script(httpx.ConnectError("refused"))
    with _client(script, sleeps) as client, pytest.raises(UpstreamError, match=r"could not reach.*base URL"):
        get_json(client, path="things", provider="openrouter", endpoint="keys")
    assert len(script.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (403, AuthError), (404, ConnectorError)])
def test_client_errors_are_not_retried(sleeps, status, error):
    script = Script(httpx.Response(status, json={"error": {"message": "no"}}))
    with _client(script, sleeps) as client, pytest.raises(error) as raised:
        get_json(client, path="things", provider="openai", endpoint="things")
    assert type(raised.value) is error
    assert len(script.requests) == 1
    assert sleeps.delays == []


def test_rate_limited_error_counts_the_attempts(sleeps):
    script = Script(httpx.Response(429, text="slow down"))
    with _client(script, sleeps) as client, pytest.raises(RateLimitedError, match="after 5 attempts"):
        get_json(client, path="things", provider="openai", endpoint="things")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, text="<html>"), "the response is not JSON"),
        (httpx.Response(200, json=[1, 2]), "should be a JSON object, got an array"),
    ],
)
def test_a_body_that_is_not_an_object_is_a_payload_error(sleeps, response, expected):
    with _client(Script(response), sleeps) as client, pytest.raises(PayloadError, match=expected):
        get_json(client, path="things", provider="openai", endpoint="things")


def test_numbers_are_parsed_as_decimals(sleeps):
    script = Script(httpx.Response(200, text='{"value": 0.1, "n": 3}'))
    with _client(script, sleeps) as client:
        node = get_json(client, path="things", provider="openai", endpoint="things")
    assert str(node.money("value") * 3) == "0.3"
    assert node.count("n") == 3


def test_pages_follow_the_cursor_and_stop(sleeps):
    script = Script(
        httpx.Response(200, json={"data": [1], "has_more": True, "next_page": "p2"}),
        httpx.Response(200, json={"data": [2], "has_more": False, "next_page": None}),
    )
    with _client(script, sleeps) as client:
        pages = list(iter_pages(client, path="things", provider="openai", endpoint="things", params={"limit": 3}))
    assert [p.children("data")[0].value for p in pages] == [1, 2]
    assert [r.url.params.get("page") for r in script.requests] == [None, "p2"]
    assert script.requests[1].url.params["limit"] == "3"


def test_a_repeated_cursor_stops_with_a_payload_error(sleeps):
    script = Script(httpx.Response(200, json={"data": [], "has_more": True, "next_page": "same"}))
    with _client(script, sleeps) as client, pytest.raises(PayloadError, match="next_page repeats"):
        list(iter_pages(client, path="things", provider="openai", endpoint="things", params={}))
    assert len(script.requests) == 2


def test_has_more_without_a_cursor_is_a_payload_error(sleeps):
    script = Script(httpx.Response(200, json={"data": [], "has_more": True, "next_page": None}))
    with _client(script, sleeps) as client, pytest.raises(PayloadError, match="field next_page should be a non-empty"):
        list(iter_pages(client, path="things", provider="openai", endpoint="things", params={}))

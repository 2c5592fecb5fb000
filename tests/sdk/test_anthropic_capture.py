"""The real anthropic client (sync and async) through `Tracker.wrap`, against the local LLM server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest
from anthropic.types import MessageParam

from margin_core.sdk import Tracker
from tests.sdk.llm_fixture_server import (
    JSON,
    LLMServer,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    anthropic_usage,
)
from tests.sdk.sdk_store import rollup

MODEL = "claude-haiku-4-5"  # the response reports the dated model, claude-haiku-4-5-20251001
MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello."}]
# 25 uncached input, 1,000 cache reads, 500 cache writes of which 400 with the 1-hour TTL.
USAGE = anthropic_usage(25, 80, read=1000, five_min=100, one_hour=400)


def _messages(body: JSON) -> Reply:
    if body.get("stream"):
        start = anthropic_usage(25, 1, read=1000, five_min=100, one_hour=400)
        return Reply(events=anthropic_stream(start, {"output_tokens": 80}))
    return Reply(body=anthropic_message(USAGE))


@pytest.fixture
def server(llm_server: LLMServer) -> LLMServer:
    llm_server.route("/v1/messages", _messages)
    return llm_server


@pytest.fixture
def plain(server: LLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key="sk-ant-test", base_url=server.url, max_retries=0) as client:
        yield client


@pytest.fixture
def client(tracker: Tracker, plain: anthropic.Anthropic) -> anthropic.Anthropic:
    return tracker.wrap(plain.with_options())


def _only_row(url: str) -> dict[str, object]:
    rows = rollup(url)
    assert len(rows) == 1, rows
    return rows[0]


def _tokens(row: dict[str, object]) -> tuple[object, ...]:
    names = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
    return tuple(row[name] for name in names)


def test_message_records_cache_writes_with_their_1h_part(
    tracker: Tracker, client: anthropic.Anthropic, plain: anthropic.Anthropic, db_url: str
) -> None:
    with tracker.context(customer_id="cus_globex", feature="triage", api_key_id="apikey_01", region="eu"):
        got = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert tracker.flush(10)

    expected = plain.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert type(got) is anthropic.types.Message
    assert got.to_dict() == expected.to_dict()
    row = _only_row(db_url)
    assert (row["customer_id"], row["feature"], row["provider"]) == ("cus_globex", "triage", "anthropic")
    assert row["api_key_id"] == "apikey_01"  # the context's api_key_id is the event's key, not metadata
    assert row["metadata_json"] == '{"region":"eu"}'
    assert row["model"] == "claude-haiku-4-5-20251001"
    assert _tokens(row) == (25, 1000, 500, 400, 80)
    assert (row["has_cost"], row["cost_micros"]) == (0, 0)


def test_stream_reads_message_start_and_delta(
    tracker: Tracker, client: anthropic.Anthropic, plain: anthropic.Anthropic, db_url: str
) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)
    assert type(stream) is anthropic.Stream
    got = [event.to_dict() for event in stream]
    expected = [e.to_dict() for e in plain.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)]
    assert tracker.flush(10)

    assert got == expected
    assert got[0]["type"] == "message_start"
    assert _tokens(_only_row(db_url)) == (25, 1000, 500, 400, 80)  # output from the delta, not the start's 1


def test_stream_delta_counts_win_when_they_grow(
    tracker: Tracker, client: anthropic.Anthropic, server: LLMServer, db_url: str
) -> None:
    # With server tools the final delta reports cumulative input and cache counts above message_start's.
    start = anthropic_usage(25, 1, read=1000, one_hour=400)
    delta = {
        "input_tokens": 3025,
        "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 400,
        "output_tokens": 310,
        "server_tool_use": {"web_search_requests": 1},
    }
    server.route("/v1/messages", lambda body: Reply(events=anthropic_stream(start, delta)))
    for _ in client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True):
        pass
    assert tracker.flush(10)
    assert _tokens(_only_row(db_url)) == (3025, 1800, 400, 400, 310)


def test_messages_stream_helper(tracker: Tracker, client: anthropic.Anthropic, db_url: str) -> None:
    with (
        tracker.context(customer_id="cus_helper"),
        client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream,
    ):
        assert "".join(stream.text_stream) == "Hello!"
        final = stream.get_final_message()
    assert tracker.flush(10)

    assert final.usage.output_tokens == 80
    row = _only_row(db_url)
    assert row["customer_id"] == "cus_helper"
    assert _tokens(row) == (25, 1000, 500, 400, 80)


@pytest.mark.parametrize(("status", "error"), [(400, anthropic.BadRequestError), (529, anthropic.OverloadedError)])
def test_provider_errors_reach_the_caller_unchanged(
    tracker: Tracker, client: anthropic.Anthropic, server: LLMServer, db_url: str, status: int, error: type[Exception]
) -> None:
    server.route("/v1/messages", lambda body: anthropic_error(status, "max_tokens: field required"))
    with pytest.raises(error) as raised:
        client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    assert "max_tokens: field required" in str(raised.value)

    server.route("/v1/messages", _messages)
    client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert tracker.flush(10)
    assert _only_row(db_url)["requests"] == 1


def test_async_client_create_stream_and_helper(tracker: Tracker, server: LLMServer, db_url: str) -> None:
    async def main() -> list[str]:
        raw = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=server.url, max_retries=0)
        async with tracker.wrap(raw) as client:
            assert isinstance(client, anthropic.AsyncAnthropic)
            async with tracker.context(customer_id="cus_async", feature="chat"):
                message = await client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
                stream = await client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)
                assert type(stream) is anthropic.AsyncStream
                kinds = [event.type async for event in stream]
                async with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as helper:
                    text = await helper.get_final_text()
        return [message.content[0].text, kinds[-1], text]  # type: ignore[union-attr]

    assert asyncio.run(main()) == ["Hello!", "message_stop", "Hello!"]
    assert tracker.flush(10)
    row = _only_row(db_url)
    assert (row["customer_id"], row["requests"]) == ("cus_async", 3)
    assert _tokens(row) == (75, 3000, 1500, 1200, 240)

"""The real openai client (sync and async) through `Tracker.wrap`, against the local LLM server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionStreamOptionsParam

from margin_core.sdk import Tracker
from tests.sdk.llm_fixture_server import (
    JSON,
    LLMServer,
    Reply,
    chat_completion,
    chat_stream,
    chat_usage,
    embedding,
    openai_error,
    response_object,
    responses_stream,
    responses_usage,
)
from tests.sdk.sdk_store import rollup

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
USAGE = chat_usage(1200, 300, cached=200, reasoning=64)  # reasoning is inside the 300: never added again


def _chat(body: JSON) -> Reply:
    if body.get("stream"):
        return Reply(events=chat_stream(body, USAGE))
    return Reply(body=chat_completion(USAGE))


@pytest.fixture
def server(llm_server: LLMServer) -> LLMServer:
    llm_server.route("/v1/chat/completions", _chat)
    return llm_server


@pytest.fixture
def plain(server: LLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0) as client:
        yield client


@pytest.fixture
def client(tracker: Tracker, plain: openai.OpenAI) -> openai.OpenAI:
    return tracker.wrap(plain.with_options())


def _only_row(url: str) -> dict[str, object]:
    rows = rollup(url)
    assert len(rows) == 1, rows
    return rows[0]


def test_chat_completion_records_exact_tokens_and_context(
    tracker: Tracker, client: openai.OpenAI, plain: openai.OpenAI, db_url: str
) -> None:
    with tracker.context(customer_id="cus_acme", feature="summarize", plan="pro", seats=3):
        got = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracker.flush(10)

    expected = plain.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(got) is type(expected)
    assert got.to_dict() == expected.to_dict()
    row = _only_row(db_url)
    assert row["customer_id"] == "cus_acme"
    assert row["feature"] == "summarize"
    assert row["metadata_json"] == '{"plan":"pro","seats":"3"}'
    assert row["provider"] == "openai"
    assert row["model"] == "gpt-4o-2024-08-06"  # what the response reports, not the request's "gpt-4o"
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (1000, 200, 300)
    assert (row["cache_write_tokens"], row["requests"], row["has_cost"], row["cost_micros"]) == (0, 1, 0, 0)


def test_stream_hides_the_usage_chunk_margin_asked_for(
    tracker: Tracker, client: openai.OpenAI, plain: openai.OpenAI, server: LLMServer, db_url: str
) -> None:
    with tracker.context(customer_id="cus_acme", feature="chat"):
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        assert type(stream) is openai.Stream
        got = [chunk.to_dict() for chunk in stream]
    assert tracker.flush(10)

    sent = server.bodies("/v1/chat/completions")[-1]
    assert sent["stream_options"] == {"include_usage": True}
    expected = [
        chunk.to_dict() for chunk in plain.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    ]
    assert "stream_options" not in server.bodies("/v1/chat/completions")[-1]
    assert got == expected  # same chunks, no usage chunk, no `usage: null` keys
    assert all("usage" not in chunk for chunk in got)
    row = _only_row(db_url)
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"], row["requests"]) == (
        1000,
        200,
        300,
        1,
    )
    assert row["customer_id"] == "cus_acme"


def test_stream_passes_everything_through_when_the_caller_asked_for_usage(
    tracker: Tracker, client: openai.OpenAI, plain: openai.OpenAI, db_url: str
) -> None:
    options: ChatCompletionStreamOptionsParam = {"include_usage": True}
    got = [
        c.to_dict()
        for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=options)
    ]
    expected = [
        c.to_dict()
        for c in plain.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options=options)
    ]
    assert tracker.flush(10)
    assert got == expected
    usage = got[-1]["usage"]
    assert got[-1]["choices"] == [] and isinstance(usage, dict) and usage["prompt_tokens"] == 1200
    assert _only_row(db_url)["input_tokens"] == 1000


def test_stream_merges_include_usage_into_the_callers_stream_options(
    tracker: Tracker, client: openai.OpenAI, server: LLMServer
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_obfuscation": False}
        )
    )
    assert server.bodies("/v1/chat/completions")[-1]["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }
    assert all(chunk.choices for chunk in chunks)


def test_stream_is_delivered_chunk_by_chunk(tracker: Tracker, client: openai.OpenAI, server: LLMServer) -> None:
    server.route("/v1/chat/completions", lambda body: Reply(events=chat_stream(body, USAGE), pause_after=2))
    started = time.monotonic()
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    first, second = next(stream), next(stream)
    # The server holds the rest back for 5 s: getting two chunks sooner proves nothing buffers the stream.
    assert time.monotonic() - started < 3
    assert first.choices[0].delta.role == "assistant" and second.choices[0].delta.content == "Hel"
    server.gate.set()
    assert [c.choices[0].delta.content for c in stream] == ["lo.", None]


def test_responses_api_create_stream_and_helper(
    tracker: Tracker, client: openai.OpenAI, server: LLMServer, db_url: str
) -> None:
    usage = responses_usage(2600, 300, cached=2000, written=400, reasoning=120)
    server.route(
        "/v1/responses",
        lambda body: (
            Reply(events=responses_stream(usage)) if body.get("stream") else Reply(body=response_object(usage))
        ),
    )
    with tracker.context(customer_id="cus_r", feature="agent"):
        response = client.responses.create(model="gpt-5.6", input="Hi")
        events = list(client.responses.create(model="gpt-5.6", input="Hi", stream=True))
        with client.responses.stream(model="gpt-5.6", input="Hi") as stream:
            final = stream.get_final_response()
    assert tracker.flush(10)

    assert isinstance(response, openai.types.responses.Response) and response.output_text == "Hi!"
    assert [e.type for e in events][-1] == "response.completed" and len(events) == 9
    assert final.output_text == "Hi!"
    row = _only_row(db_url)
    assert row["model"] == "gpt-5.6-2026-07-01" and row["requests"] == 3
    # 2600 input of which 2000 cache reads and 400 cache writes: 200 at the full rate, per call.
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (600, 6000, 1200)
    assert row["output_tokens"] == 900


def test_background_response_is_not_counted_before_it_finishes(
    tracker: Tracker, client: openai.OpenAI, server: LLMServer, db_url: str
) -> None:
    server.route("/v1/responses", lambda body: Reply(body=response_object(None, status="queued")))
    assert client.responses.create(model="gpt-5.6", input="Hi", background=True).status == "queued"
    assert tracker.flush(10)
    assert rollup(db_url) == []


def test_embeddings_and_chat_stream_helper(
    tracker: Tracker, client: openai.OpenAI, server: LLMServer, db_url: str
) -> None:
    server.route("/v1/embeddings", lambda body: Reply(body=embedding(42)))
    result = client.embeddings.create(model="text-embedding-3-small", input="hello")
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert tracker.flush(10)

    assert result.data[0].embedding == [0.0023, -0.0093, 0.0158]
    assert "chunk" in events and final.choices[0].message.content == "Hello."
    assert final.usage is None  # as without Margin: the usage chunk it asked for is not passed on
    by_model = {row["model"]: row for row in rollup(db_url)}
    assert by_model["text-embedding-3-small"]["input_tokens"] == 42
    assert by_model["text-embedding-3-small"]["output_tokens"] == 0
    assert by_model["gpt-4o-2024-08-06"]["output_tokens"] == 300


@pytest.mark.parametrize(("status", "error"), [(400, openai.BadRequestError), (500, openai.InternalServerError)])
def test_provider_errors_reach_the_caller_unchanged(
    tracker: Tracker, client: openai.OpenAI, server: LLMServer, db_url: str, status: int, error: type[Exception]
) -> None:
    server.route("/v1/chat/completions", lambda body: openai_error(status, "Invalid 'messages': empty."))
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    assert "Invalid 'messages'" in str(raised.value)

    server.route("/v1/chat/completions", _chat)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracker.flush(10)
    assert _only_row(db_url)["requests"] == 1  # the failed call is not counted; capture still works


def test_wrapped_client_passes_attributes_through(tracker: Tracker, client: openai.OpenAI, server: LLMServer) -> None:
    assert isinstance(client, openai.OpenAI)
    assert client.api_key == "sk-test"
    assert str(client.base_url) == f"{server.url}/v1/"
    assert client.chat is client.chat  # instrumented children are built once
    assert tracker.wrap(client) is client  # wrapping twice would count twice
    assert isinstance(client.with_options(timeout=5), openai.OpenAI)
    with pytest.raises(TypeError):
        tracker.wrap(object())


def test_with_options_copy_is_instrumented(tracker: Tracker, client: openai.OpenAI, db_url: str) -> None:
    client.with_options(timeout=5).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracker.flush(10)
    assert _only_row(db_url)["requests"] == 1


class _ToLocal(httpx2.BaseTransport):
    """Sends every request to the local server, whatever host the client thinks it talks to."""

    def __init__(self, url: str) -> None:
        self._target = httpx2.URL(url)
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host=self._target.host, port=self._target.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_openrouter_base_url_records_provider_and_reported_cost(
    tracker: Tracker, llm_server: LLMServer, db_url: str
) -> None:
    usage = chat_usage(1000, 200, cached=100, cost=0.0012345, is_byok=False)
    model = "anthropic/claude-4.5-haiku-20251001"
    llm_server.route("/api/v1/chat/completions", lambda body: Reply(body=chat_completion(usage, model=model)))
    http = httpx2.Client(transport=_ToLocal(llm_server.url))
    with openai.OpenAI(
        api_key="sk-or-test", base_url="https://openrouter.ai/api/v1", http_client=http, max_retries=0
    ) as raw:
        tracker.wrap(raw).chat.completions.create(model="anthropic/claude-haiku-4.5", messages=MESSAGES)
    assert tracker.flush(10)
    row = _only_row(db_url)
    assert (row["provider"], row["model"]) == ("openrouter", model)
    assert (row["has_cost"], row["cost_micros"]) == (1, 1234)  # 0.0012345 rounded half-even to micros
    assert (row["input_tokens"], row["cached_input_tokens"]) == (900, 100)


def test_async_client_create_and_stream(tracker: Tracker, server: LLMServer, db_url: str) -> None:
    async def main() -> tuple[object, list[dict[str, object]]]:
        async with tracker.wrap(
            openai.AsyncOpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0)
        ) as client:
            assert isinstance(client, openai.AsyncOpenAI)
            async with tracker.context(customer_id="cus_async", feature="chat"):
                completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
                stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
                assert type(stream) is openai.AsyncStream
                chunks = [chunk.to_dict() async for chunk in stream]
        return completion, chunks

    completion, chunks = asyncio.run(main())
    assert tracker.flush(10)
    assert completion.choices[0].message.content == "Hello there."  # type: ignore[attr-defined]
    assert len(chunks) == 4 and all(chunk["choices"] for chunk in chunks)
    row = _only_row(db_url)
    assert (row["customer_id"], row["requests"], row["input_tokens"], row["output_tokens"]) == (
        "cus_async",
        2,
        2000,
        600,
    )


def test_async_responses_stream(tracker: Tracker, server: LLMServer, db_url: str) -> None:
    usage = responses_usage(500, 50, cached=100)
    server.route("/v1/responses", lambda body: Reply(events=responses_stream(usage)))

    async def main() -> str:
        async with tracker.wrap(
            openai.AsyncOpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0)
        ) as client:
            events = [e async for e in await client.responses.create(model="gpt-5.6", input="Hi", stream=True)]
            async with client.responses.stream(model="gpt-5.6", input="Hi") as stream:
                final = await stream.get_final_response()
        return events[-1].type + " " + final.output_text

    assert asyncio.run(main()) == "response.completed Hi!"
    assert tracker.flush(10)
    row = _only_row(db_url)
    assert (row["requests"], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (
        2,
        800,
        200,
        100,
    )

"""Instrumented `openai.OpenAI` / `openai.AsyncOpenAI`: chat completions, Responses API, embeddings.

Captured: `chat.completions.create|parse|stream`, `responses.create|parse|stream`, `embeddings.create`.
A client whose base URL is OpenRouter's records provider `openrouter` and OpenRouter's `usage.cost`.
"""

from __future__ import annotations

from collections.abc import Mapping

from margin_core.sdk.capture import Call, Observer
from margin_core.sdk.methods import Api, Sink, capture_call, capture_stream_helper, rewrap
from margin_core.sdk.proxy import ClientProxy, Proxy
from margin_core.sdk.usage import field, openai_chat_tokens, openai_responses_tokens, text, usage_cost

_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_PENDING = frozenset({"queued", "in_progress"})


def read_chat(call: Call, completion: object) -> None:
    """Model and usage of a ChatCompletion (or ParsedChatCompletion, CreateEmbeddingResponse)."""
    call.model = text(completion, "model") or call.model
    usage = field(completion, "usage")
    if usage is not None:
        call.tokens = openai_chat_tokens(usage)
        call.cost_usd = usage_cost(usage)


def read_response(call: Call, response: object) -> None:
    """Model and usage of a Responses API `Response`; a queued background response is not counted yet."""
    usage = field(response, "usage")
    if usage is None and field(response, "status") in _PENDING:
        call.discard()  # its usage exists only once it finished, which this call does not see
        return
    call.model = text(response, "model") or call.model
    if usage is not None:
        call.tokens = openai_responses_tokens(usage)
        call.cost_usd = usage_cost(usage)


def _unset_usage(chunk: object) -> None:
    # With include_usage the API sends `"usage": null` on every chunk; the caller, who did not ask for it,
    # gets chunks that serialize as they would have without Margin.
    fields_set = getattr(chunk, "__pydantic_fields_set__", None)
    if isinstance(fields_set, set):
        fields_set.discard("usage")


def chat_observer(call: Call, hide: bool) -> Observer:
    """Read model and usage from chunks; hold back the usage-only chunk when Margin asked for it."""

    def observe(chunk: object) -> bool:
        call.model = text(chunk, "model") or call.model
        usage = field(chunk, "usage")
        if usage is None:
            if hide:
                _unset_usage(chunk)
            return True
        call.tokens = openai_chat_tokens(usage)
        call.cost_usd = usage_cost(usage)
        return not (hide and not field(chunk, "choices"))

    return observe


def responses_observer(call: Call, _hide: bool) -> Observer:
    """Read usage from the final `response.completed` (or incomplete/failed) event; pass every event on."""

    def observe(event: object) -> bool:
        if field(event, "type") in _FINAL_RESPONSE_EVENTS:
            read_response(call, field(event, "response"))
        return True

    return observe


def _resumed(kwargs: Mapping[str, object]) -> bool:
    # responses.stream(response_id=...) re-reads a response created (and captured) earlier.
    return isinstance(kwargs.get("response_id"), str)


def provider_of(client: object) -> str:
    """`openrouter` for a client pointed at openrouter.ai (same SDK, OpenRouter's bill), else `openai`."""
    host = text(getattr(client, "base_url", None), "host")
    return "openrouter" if host == "openrouter.ai" or host.endswith(".openrouter.ai") else "openai"


def wrap_openai(client: object, *, sink: Sink) -> ClientProxy:
    """A proxy of `client` that records one event per captured call."""
    import openai

    is_async = isinstance(client, openai.AsyncOpenAI)
    provider = provider_of(client)
    chat = Api(sink=sink, provider=provider, read=read_chat, observer=chat_observer, inject_usage=True)
    responses = Api(sink=sink, provider=provider, read=read_response, observer=responses_observer, passthrough=_resumed)
    embeddings = Api(sink=sink, provider=provider, read=read_chat, observer=chat_observer)

    def completions(resource: object) -> Proxy:
        return Proxy(
            resource,
            hooks={
                "create": lambda m: capture_call(m, api=chat, is_async=is_async),
                "parse": lambda m: capture_call(m, api=chat, is_async=is_async),
                "stream": lambda m: capture_stream_helper(m, api=chat),
            },
        )

    return ClientProxy(
        client,
        hooks={
            "chat": lambda resource: Proxy(resource, hooks={"completions": completions}),
            "responses": lambda resource: Proxy(
                resource,
                hooks={
                    "create": lambda m: capture_call(m, api=responses, is_async=is_async),
                    "parse": lambda m: capture_call(m, api=responses, is_async=is_async),
                    "stream": lambda m: capture_stream_helper(m, api=responses),
                },
            ),
            "embeddings": lambda resource: Proxy(
                resource, hooks={"create": lambda m: capture_call(m, api=embeddings, is_async=is_async)}
            ),
            "with_options": lambda m: rewrap(m, wrap=lambda new: wrap_openai(new, sink=sink)),
            "copy": lambda m: rewrap(m, wrap=lambda new: wrap_openai(new, sink=sink)),
        },
    )

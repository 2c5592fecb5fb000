"""Instrumented `anthropic.Anthropic` / `anthropic.AsyncAnthropic`: `messages.create|parse|stream`.

A stream's usage starts in `message_start` (input, cache reads and writes with their TTL breakdown) and
each `message_delta` carries cumulative counts that win where present (server tools can raise input).
"""

from __future__ import annotations

from margin_core.sdk.capture import Call, Observer
from margin_core.sdk.methods import Api, Sink, capture_call, capture_stream_helper, rewrap
from margin_core.sdk.proxy import ClientProxy, Proxy
from margin_core.sdk.usage import NO_TOKENS, anthropic_delta_tokens, anthropic_tokens, field, text


def read_message(call: Call, message: object) -> None:
    """Model and usage of a `Message`."""
    call.model = text(message, "model") or call.model
    usage = field(message, "usage")
    if usage is not None:
        call.tokens = anthropic_tokens(usage)


def message_observer(call: Call, _hide: bool) -> Observer:
    """Read usage from `message_start` and `message_delta`; pass every event on."""

    def observe(event: object) -> bool:
        kind = field(event, "type")
        if kind == "message_start":
            read_message(call, field(event, "message"))
        elif kind == "message_delta":
            usage = field(event, "usage")
            if usage is not None:
                call.tokens = anthropic_delta_tokens(call.tokens or NO_TOKENS, usage=usage)
        return True

    return observe


def wrap_anthropic(client: object, *, sink: Sink) -> ClientProxy:
    """A proxy of `client` that records one event per captured call."""
    import anthropic

    is_async = isinstance(client, anthropic.AsyncAnthropic)
    messages = Api(sink=sink, provider="anthropic", read=read_message, observer=message_observer)

    return ClientProxy(
        client,
        hooks={
            "messages": lambda resource: Proxy(
                resource,
                hooks={
                    "create": lambda m: capture_call(m, api=messages, is_async=is_async),
                    "parse": lambda m: capture_call(m, api=messages, is_async=is_async),
                    "stream": lambda m: capture_stream_helper(m, api=messages),
                },
            ),
            "with_options": lambda m: rewrap(m, wrap=lambda new: wrap_anthropic(new, sink=sink)),
            "copy": lambda m: rewrap(m, wrap=lambda new: wrap_anthropic(new, sink=sink)),
        },
    )

"""Token counts from provider usage objects (SDK models or plain dicts), in Margin's non-overlapping columns.

rules §4.8: `input_tokens` are billed at the full input rate, `cached_input_tokens` are cache reads,
`cache_write_tokens` cache creation (of which `cache_write_1h_tokens` 1-hour writes), `output_tokens`
already include reasoning. OpenAI counts cache reads and writes inside its prompt/input tokens; Anthropic
counts them outside its `input_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import NamedTuple


class Tokens(NamedTuple):
    """One request's tokens in Margin's four columns plus the 1-hour part of cache writes."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0


NO_TOKENS = Tokens()


def field(source: object, name: str) -> object:
    """`source[name]` for a mapping, `source.name` for an object, None when absent."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def text(source: object, name: str) -> str:
    """A string field, "" when absent or not a string."""
    value = field(source, name)
    return value if isinstance(value, str) else ""


def maybe_count(source: object, name: str) -> int | None:
    """An integer token field, None when absent or null."""
    value = field(source, name)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def count(source: object, name: str) -> int:
    """An integer token field, 0 when absent or null."""
    return maybe_count(source, name) or 0


def openai_chat_tokens(usage: object) -> Tokens:
    """Chat Completions / embeddings usage (`prompt_tokens`, `completion_tokens`); also OpenRouter's."""
    details = field(usage, "prompt_tokens_details")
    cached = count(details, "cached_tokens")
    written = count(details, "cache_write_tokens")  # a part of prompt_tokens, like cached_tokens
    return Tokens(
        input_tokens=max(count(usage, "prompt_tokens") - cached - written, 0),
        cached_input_tokens=cached,
        cache_write_tokens=written,
        output_tokens=count(usage, "completion_tokens"),
    )


def openai_responses_tokens(usage: object) -> Tokens:
    """Responses API usage (`input_tokens` with `input_tokens_details`, `output_tokens`)."""
    details = field(usage, "input_tokens_details")
    cached = count(details, "cached_tokens")
    written = count(details, "cache_write_tokens")
    return Tokens(
        input_tokens=max(count(usage, "input_tokens") - cached - written, 0),
        cached_input_tokens=cached,
        cache_write_tokens=written,
        output_tokens=count(usage, "output_tokens"),
    )


def anthropic_tokens(usage: object) -> Tokens:
    """Anthropic Messages usage: `input_tokens` are already uncached; 1-hour writes from `cache_creation`."""
    breakdown = field(usage, "cache_creation")
    one_hour = count(breakdown, "ephemeral_1h_input_tokens")
    if field(usage, "cache_creation_input_tokens") is None and breakdown is not None:
        written = count(breakdown, "ephemeral_5m_input_tokens") + one_hour
    else:
        written = count(usage, "cache_creation_input_tokens")
    return Tokens(
        input_tokens=count(usage, "input_tokens"),
        cached_input_tokens=count(usage, "cache_read_input_tokens"),
        cache_write_tokens=written,
        cache_write_1h_tokens=min(one_hour, written),
        output_tokens=count(usage, "output_tokens"),
    )


def anthropic_delta_tokens(previous: Tokens, *, usage: object) -> Tokens:
    """Apply a `message_delta` usage: its counts are cumulative and win wherever they are present."""

    def latest(name: str, *, before: int) -> int:
        value = maybe_count(usage, name)
        return before if value is None else value

    written = latest("cache_creation_input_tokens", before=previous.cache_write_tokens)
    return Tokens(
        input_tokens=latest("input_tokens", before=previous.input_tokens),
        cached_input_tokens=latest("cache_read_input_tokens", before=previous.cached_input_tokens),
        cache_write_tokens=written,
        # A delta carries no TTL breakdown: keep message_start's 1-hour part.
        cache_write_1h_tokens=min(previous.cache_write_1h_tokens, written),
        output_tokens=latest("output_tokens", before=previous.output_tokens),
    )


def tokens_from_any(usage: object) -> Tokens:
    """Tokens from a usage object or dict of any of the shapes above, told apart by their field names."""
    if usage is None:
        return NO_TOKENS
    if field(usage, "prompt_tokens") is not None or field(usage, "completion_tokens") is not None:
        return openai_chat_tokens(usage)
    if field(usage, "input_tokens_details") is not None:
        return openai_responses_tokens(usage)
    return anthropic_tokens(usage)


def usage_cost(usage: object) -> Decimal | None:
    """The dollars a usage reports itself (OpenRouter's `usage.cost`), else None."""
    return to_decimal(field(usage, "cost"))


def to_decimal(value: object) -> Decimal | None:
    """A dollar amount as Decimal; floats go through their shortest repr so 0.1 stays 0.1."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"not a dollar amount: {value!r}") from None
        if not amount.is_finite():
            raise ValueError(f"not a dollar amount: {value!r}")
        return amount
    raise ValueError(f"not a dollar amount: {value!r}")

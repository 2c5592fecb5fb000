"""What an event may hold (rules §6): an invalid one is rejected alone, before it can poison a batch.

A batch is written in one transaction, so one value the store refuses (a count beyond a 64-bit integer, a
NUL byte PostgreSQL will not store) would fail every batch it is in, and every replay of the spool too.
Each event is checked on its own instead, when it is recorded and again when a spool is read back.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from connectors.records import EventRecord

# Per event. Rollup rows sum many events into one 64-bit column, so one event's share stays far below it:
# a trillion tokens or a billion dollars in one call is a bug upstream, not usage.
MAX_TOKENS = 10**12
MAX_LATENCY_MS = 10**12
MAX_COST_USD = Decimal(10**9)
MAX_TEXT = 10_000  # characters of an id, name or metadata value, as for imports (rules §5)
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
TEXT_FIELDS = ("event_id", "customer_id", "feature", "provider", "model", "api_key_id")


def problem(record: EventRecord) -> str | None:
    """Why the store cannot take `record`, or None when it can."""
    for name in TOKEN_FIELDS:
        value = getattr(record, name)
        if type(value) is not int or not 0 <= value < MAX_TOKENS:
            return f"{name}={value!r} is not a whole number from 0 to {MAX_TOKENS:,}"
    latency = record.latency_ms
    if latency is not None and (type(latency) is not int or not 0 <= latency < MAX_LATENCY_MS):
        return f"latency_ms={latency!r} is out of range"
    cost = record.cost_usd
    if cost is not None and (not isinstance(cost, Decimal) or not cost.is_finite() or not 0 <= cost < MAX_COST_USD):
        return f"cost_usd={cost!r} is not an amount from 0 to {MAX_COST_USD:,} USD"
    texts = [(name, getattr(record, name)) for name in TEXT_FIELDS]
    texts += [(f"metadata {key!r}", value) for key, value in record.metadata.items()]
    texts += [(f"metadata key {key[:40]!r}", key) for key in record.metadata]
    for name, value in texts:
        if not isinstance(value, str):
            return f"{name} is not text"
        if len(value) > MAX_TEXT:
            return f"{name} is longer than {MAX_TEXT:,} characters"
        if "\x00" in value:
            return f"{name} contains a NUL character"
    if not record.event_id:
        return "event_id is empty"
    try:
        record.ts.astimezone(UTC)
    except (OverflowError, ValueError, AttributeError):
        return f"ts={record.ts!r} is not a time in UTC's range"
    return None

"""Retry policy shared by every connector: 429 and 5xx, at most 5 attempts, exponential backoff.

`Retry-After` (seconds or an HTTP date) wins over the backoff but is capped, so a provider asking for
an hour does not freeze a sync (rules §7).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_ATTEMPTS = 5
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


def is_retryable(status_code: int) -> bool:
    """True for the statuses worth another attempt: rate limits and server errors."""
    return status_code in RETRY_STATUSES or status_code >= 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, *, retry_after: float | None) -> float:
    """Delay before attempt `attempt + 1` (attempt counts from 1): Retry-After if given, else 0.5·2^(n-1)."""
    if retry_after is not None:
        return min(retry_after, MAX_DELAY_S)
    return min(BASE_DELAY_S * 2.0 ** (attempt - 1), MAX_DELAY_S)

"""Half-open UTC day windows [start, end) and how each provider wants them written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Progress = Callable[[str], None] | None


def check_window(*, start: date, end: date) -> None:
    """Reject an empty or reversed window: it is a caller bug, not something to fetch."""
    if start >= end:
        raise ValueError(f"empty window: start {start} must be before end {end} (end is exclusive)")


def unix_seconds(day: date) -> int:
    """Unix seconds of `day` 00:00 UTC."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def rfc3339(day: date) -> str:
    """`day` 00:00 UTC as RFC 3339 with a `Z`, as Anthropic documents it."""
    return f"{day.isoformat()}T00:00:00Z"


def in_window(day: date, *, start: date, end: date) -> bool:
    """True when `day` is in [start, end)."""
    return start <= day < end


def report(on_progress: Progress, *, message: str) -> None:
    """Pass a progress line to the caller's callback, if any."""
    if on_progress is not None:
        on_progress(message)

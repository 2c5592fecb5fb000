"""The app's clock: today's UTC date, and UTC re-attached to datetimes read back from SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime


def today_utc() -> date:
    """Today's UTC date (the app's clock lives here, not in the engine)."""
    return datetime.now(UTC).date()


def as_utc(value: datetime | str | None) -> datetime | None:
    """SQLite gives naive datetimes (or text) even for aware columns: re-attach UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

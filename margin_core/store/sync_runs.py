"""The last sync run of each source, for alerts (DESIGN §4.9)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, text


def latest_runs(engine: Engine) -> dict[str, tuple[str, date | None]]:
    """provider → (status, UTC day the run finished or started) of its newest sync_run."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT provider, status, finished_at, started_at FROM sync_run r WHERE id = "
                "(SELECT MAX(id) FROM sync_run s WHERE s.provider = r.provider)"
            )
        ).all()
    return {row.provider: (row.status, _day(row.finished_at or row.started_at)) for row in rows}


def _day(value: datetime | str | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text from plain SQL
        value = datetime.fromisoformat(value)
    return value.date()

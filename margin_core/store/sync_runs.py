"""Sync runs, the gaps they found, and the last run of each source (rules §4.7, §4.9)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, text

from margin_core.store.light import LATEST_RUNS, as_date, run_day


def latest_rows(engine: Engine) -> dict[str, Row[Any]]:
    """provider → its newest sync_run row (provider, status, rows_written, error, started_at, finished_at)."""
    with engine.connect() as connection:
        rows = connection.execute(text(LATEST_RUNS)).all()
    return {row.provider: row for row in rows}


def latest_runs(connection: Connection) -> dict[str, tuple[str, date | None]]:
    """provider → (status, UTC day the run finished or started) of its newest sync_run."""
    return {
        row.provider: (row.status, run_day(row.finished_at or row.started_at))
        for row in connection.execute(text(LATEST_RUNS))
    }


def last_good_end(engine: Engine, provider: str) -> date | None:
    """The end of the provider's last successful sync window, if any."""
    with engine.connect() as connection:
        value = connection.execute(
            text("SELECT MAX(window_end) FROM sync_run WHERE provider = :p AND status = 'ok'"), {"p": provider}
        ).scalar()
    return None if value is None else as_date(value)


def last_started(engine: Engine) -> datetime | None:
    """When the newest sync run of any source started (UTC), or None."""
    with engine.connect() as connection:
        value = connection.execute(text("SELECT MAX(started_at) FROM sync_run")).scalar()
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_run(connection: Connection, provider: str) -> Row[Any] | None:
    """The provider's newest run: (status, finished_at, error), or None."""
    return connection.execute(
        text("SELECT status, finished_at, error FROM sync_run WHERE provider = :p ORDER BY id DESC LIMIT 1"),
        {"p": provider},
    ).first()


def last_good_run(connection: Connection, provider: str) -> Row[Any] | None:
    """The provider's newest successful run: (window_end, finished_at), or None."""
    return connection.execute(
        text(
            "SELECT window_end, finished_at FROM sync_run WHERE provider = :p AND status = 'ok' "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"p": provider},
    ).first()


def last_usage_day(connection: Connection, provider: str) -> date | None:
    """The provider's newest provider_usage day, or None."""
    value = connection.execute(
        text("SELECT day FROM provider_usage WHERE provider = :p ORDER BY day DESC LIMIT 1"), {"p": provider}
    ).scalar()
    return None if value is None else as_date(value)


def record_sync_run(
    connection: Connection,
    provider: str,
    window: tuple[date, date] | None,
    started: datetime,
    status: str,
    rows: int,
    error: str,
    *,
    gap: tuple[date, date] | None = None,
) -> None:
    """Record one run, the gap it found (once per gap), and the provider's connection status."""
    now = datetime.now(UTC)
    connection.execute(
        text(
            "INSERT INTO sync_run (provider, window_start, window_end, started_at, finished_at, status, rows_written, "
            "error) VALUES (:p, :a, :b, :s, :f, :st, :r, :e)"
        ),
        {
            "p": provider,
            "a": window[0] if window else None,
            "b": window[1] if window else None,
            "s": started,
            "f": now,
            "st": status,
            "r": rows,
            "e": error,
        },
    )
    if gap is not None:
        # The run just inserted, in this transaction, is this provider's newest (lastrowid is not portable).
        run_id = connection.execute(text("SELECT MAX(id) FROM sync_run WHERE provider = :p"), {"p": provider}).scalar()
        where = {"p": provider, "a": gap[0], "b": gap[1]}
        seen = connection.execute(
            text("SELECT 1 FROM sync_gap WHERE provider = :p AND gap_start = :a AND gap_end = :b"), where
        ).first()
        if seen is None:  # a gap is recorded once, with the first run that found it
            connection.execute(
                text("INSERT INTO sync_gap (sync_run_id, provider, gap_start, gap_end) VALUES (:run, :p, :a, :b)"),
                {"run": run_id, **where},
            )
    connection.execute(
        text("UPDATE connection SET last_synced_at = :f, last_error = :e, status = :st WHERE kind = :p"),
        {"f": now, "e": error, "st": "connected" if status == "ok" else "error", "p": provider},
    )


def read_gaps(engine: Engine) -> list[tuple[str, date, date]]:
    """Every recorded gap, newest first: (provider, first day, end day exclusive)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT provider, gap_start, gap_end FROM sync_gap ORDER BY gap_end DESC, provider")
        ).all()
    return [(str(provider), as_date(first), as_date(end)) for provider, first, end in rows]

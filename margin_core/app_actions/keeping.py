"""Keeping the data fresh (rules §4.7): the background sync setting, data freshness, and sync gaps."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Engine

from margin_core import freshness, schedule, sync

SYNC_HOUR_CHOICES = schedule.HOUR_CHOICES


def start_background_sync(engine: Engine) -> bool:
    """Start this process's background sync for the store when the setting is on (once); True when on.

    Cheap enough for every page run: one settings read, then a lookup of the process's single runner.
    """
    if schedule.schedule_hours(engine) == 0:
        return False
    schedule.background_sync(engine)
    return True


def sync_schedule_hours(engine: Engine) -> int:
    """ "Sync every N hours while the app is open": N, or 0 when off (the default)."""
    return schedule.schedule_hours(engine)


def save_sync_schedule(engine: Engine, hours: int) -> None:
    """Turn the background sync off (0) or on every `hours` hours (one of SYNC_HOUR_CHOICES)."""
    schedule.save_schedule_hours(engine, hours)


def background_sync_status(engine: Engine) -> dict[str, object]:
    """Whether a background run is under way, when it last tried and what it said (empty when not started)."""
    runner = schedule.running_background_sync(engine)
    return {} if runner is None else runner.status()


def data_freshness(engine: Engine, *, today: date) -> tuple[str, str]:
    """("ok" | "warning" | "none", a sentence): how fresh the data is, naming stale or failing sources."""
    return freshness.freshness_notice(freshness.source_freshness(engine, today=today))


def sync_gaps(engine: Engine) -> pl.DataFrame:
    """Days a sync could not fetch (the API no longer reaches them), newest first, with how to fill them."""
    rows = sync.sync_gaps(engine)
    return pl.DataFrame(
        [(sync.NAMES.get(p, p), a, b, message) for p, a, b, message in rows],
        schema={"provider": pl.String, "first_day": pl.Date, "end_day": pl.Date, "message": pl.String},
        orient="row",
    )

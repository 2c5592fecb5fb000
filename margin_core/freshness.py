"""How fresh each connected source is, for the notice every page shows (rules §4.7).

A provider's newest day is the last day its newest good sync covered (a quiet day synced is known, so
it is fresh) or its newest usage day, whichever is later; Stripe's is the day of its last good sync. A
source is stale when that day is more than 2 days before today, and failing when its last sync failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine

from margin_core import settings, sync
from margin_core.store import connections, sync_runs

STALE_AFTER_DAYS = 2


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    """One connected source: its newest day, its last sync and whether to name it."""

    provider: str
    name: str
    newest_day: date | None
    last_sync: datetime | None
    last_status: str  # ok | failed | "" (never synced)
    last_error: str
    stale: bool
    failing: bool
    age_days: int | None  # today minus newest_day

    @property
    def problem(self) -> str:
        """What is wrong, in a few words ("" when nothing is)."""
        if self.failing:
            first = self.last_error.splitlines()[0] if self.last_error else "no message"
            return f"{self.name}: the last sync failed ({first[:160]})"
        if self.stale:
            if self.newest_day is None:
                return f"{self.name}: connected but never synced"
            return f"{self.name}: newest data is from {self.newest_day} ({self.age_days} days old)"
        return ""


def _as_date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_utc(value: object) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def connected_sources(connection: Connection) -> list[str]:
    """Providers with a saved key or a key in the environment, in sync order."""
    saved = connections.saved_kinds(connection)
    return [p for p in sync.PROVIDERS if p in saved or settings.key_from_env(p)]


def source_freshness(engine: Engine, *, today: date) -> list[SourceFreshness]:
    """Freshness of every connected source: a few indexed queries, no workspace load."""
    items = []
    with engine.connect() as connection:
        for provider in connected_sources(connection):
            last = sync_runs.last_run(connection, provider)
            good = sync_runs.last_good_run(connection, provider)
            newest: date | None = None
            if good is not None:
                end = _as_date(good.window_end)
                newest = end - timedelta(days=1) if end is not None else _as_date(_as_utc(good.finished_at))
            if provider != "stripe":
                usage_day = _as_date(sync_runs.last_usage_day(connection, provider))
                if usage_day is not None and (newest is None or usage_day > newest):
                    newest = usage_day
            status = str(last.status) if last is not None else ""
            items.append(
                SourceFreshness(
                    provider=provider,
                    name=sync.NAMES[provider],
                    newest_day=newest,
                    last_sync=_as_utc(last.finished_at) if last is not None else None,
                    last_status=status,
                    last_error=str(last.error or "") if last is not None else "",
                    stale=newest is None or (today - newest).days > STALE_AFTER_DAYS,
                    failing=status == "failed",
                    age_days=None if newest is None else (today - newest).days,
                )
            )
    return items


def freshness_notice(items: list[SourceFreshness]) -> tuple[str, str]:
    """("warning" | "ok" | "none", one sentence) for the top of every page."""
    if not items:
        return "none", "No source is connected yet: connect one on the Connections page."
    problems = [item.problem for item in items if item.problem]
    if problems:
        return "warning", "; ".join(problems) + ". Sync on the Connections page, or keep Margin synced (Settings)."
    newest = min(item.newest_day for item in items if item.newest_day is not None)
    synced = max((item.last_sync for item in items if item.last_sync is not None), default=None)
    when = f"; last sync {synced:%Y-%m-%d %H:%M} UTC" if synced else ""
    return "ok", f"Data is fresh through {newest} for {', '.join(item.name for item in items)}{when}."

"""Freshness of each source and the app's background sync (rules §4.7), against the local provider server."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from margin_core import freshness, schedule, sync
from margin_core.errors import ConfigError
from margin_core.store.db import make_engine
from tests.provider_server import ADMIN_KEYS, ProviderServer, provider_server

TODAY = date(2025, 9, 6)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    for name in ("STRIPE_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with provider_server() as running:
        for name, value in {**running.base_urls(), **ADMIN_KEYS}.items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def engine(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 'm.db'}")


def test_fresh_sources_say_through_which_day(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    items = freshness.source_freshness(engine, today=TODAY)
    assert [(i.provider, i.newest_day, i.stale, i.failing) for i in items] == [
        (p, date(2025, 9, 5), False, False) for p in ("openai", "anthropic", "openrouter")
    ]
    level, message = freshness.freshness_notice(items)
    assert level == "ok"
    assert message.startswith("Data is fresh through 2025-09-05 for OpenAI, Anthropic, OpenRouter")


def test_a_source_older_than_two_days_and_a_failed_sync_are_named(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    server.fail["/openrouter/keys"] = 401  # refused at once: no retries to wait for
    sync.sync_all(engine, only="openrouter", today=TODAY)
    level, message = freshness.freshness_notice(freshness.source_freshness(engine, today=TODAY + timedelta(days=3)))
    assert level == "warning"
    assert "OpenAI: newest data is from 2025-09-05 (4 days old)" in message
    assert "Anthropic: newest data is from 2025-09-05 (4 days old)" in message
    assert "OpenRouter: the last sync failed (openrouter keys" in message
    # Two days old is still fresh, three is not.
    for days_later, expected in ((1, "ok"), (2, "warning")):
        later = TODAY + timedelta(days=days_later)
        openai_only = [i for i in freshness.source_freshness(engine, today=later) if i.provider == "openai"]
        assert freshness.freshness_notice(openai_only)[0] == expected


def test_a_quiet_synced_window_counts_as_fresh(server: ProviderServer, engine) -> None:
    """No usage since 09-05, but the sync of 09-06 … 09-09 saw that: the data is fresh through 09-09."""
    sync.sync_all(engine, today=TODAY, days=5)
    sync.sync_all(engine, today=date(2025, 9, 10))
    items = freshness.source_freshness(engine, today=date(2025, 9, 10))
    assert {i.newest_day for i in items} == {date(2025, 9, 9)}
    assert freshness.freshness_notice(items)[0] == "ok"


def test_connected_but_never_synced_and_nothing_connected(server: ProviderServer, engine, monkeypatch) -> None:
    level, message = freshness.freshness_notice(freshness.source_freshness(engine, today=TODAY))
    assert level == "warning" and "OpenAI: connected but never synced" in message
    for name in ADMIN_KEYS:
        monkeypatch.delenv(name)
    assert freshness.freshness_notice(freshness.source_freshness(engine, today=TODAY))[0] == "none"


# --- the app's background sync ------------------------------------------------------------------------


def test_the_schedule_is_off_by_default_and_validated(engine) -> None:
    assert schedule.schedule_hours(engine) == 0
    schedule.save_schedule_hours(engine, 6)
    assert schedule.schedule_hours(engine) == 6
    with pytest.raises(ConfigError, match="choose one of"):
        schedule.save_schedule_hours(engine, 5)


def test_background_sync_runs_when_due_and_not_before(server: ProviderServer, engine) -> None:
    clock = [datetime(2025, 9, 6, 8, tzinfo=UTC)]
    runner = schedule.BackgroundSync(engine, poll=3600, now=lambda: clock[0])
    assert not runner.due()  # off by default
    schedule.save_schedule_hours(engine, 2)
    assert runner.due()  # never synced
    lines = runner.run_once()
    assert [line.split(",")[0] for line in lines] == ["openai: ok", "anthropic: ok", "openrouter: ok"]
    clock[0] = datetime.now(UTC) + timedelta(hours=1)
    assert not runner.due()
    clock[0] = datetime.now(UTC) + timedelta(hours=2, minutes=1)
    assert runner.due()
    assert runner.status()["last_lines"] == lines


def test_background_sync_thread_syncs_without_blocking_and_stops(server: ProviderServer, engine) -> None:
    schedule.save_schedule_hours(engine, 1)
    runner = schedule.BackgroundSync(engine, poll=0.05)
    began = datetime.now(UTC)
    runner.start()
    assert (datetime.now(UTC) - began).total_seconds() < 1  # start() returns at once: pages never wait
    deadline = threading.Event()
    for _ in range(600):
        with engine.connect() as connection:
            done = connection.execute(text("SELECT COUNT(*) FROM sync_run")).scalar()
        if done == 3:
            break
        deadline.wait(0.05)
    runner.stop(timeout=30)
    with engine.connect() as connection:
        runs = connection.execute(text("SELECT provider, status FROM sync_run ORDER BY id")).all()
    assert [tuple(r) for r in runs] == [("openai", "ok"), ("anthropic", "ok"), ("openrouter", "ok")]  # once: not due


def test_one_background_sync_per_process_and_store(engine, tmp_path) -> None:
    first = schedule.background_sync(engine)
    try:
        assert schedule.background_sync(engine) is first
        assert schedule.running_background_sync(engine) is first
        other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
        assert schedule.running_background_sync(other) is None
    finally:
        first.stop(timeout=5)
        schedule._RUNNERS.clear()


# --- the CLI loop, in process -------------------------------------------------------------------------


def test_run_every_goes_on_after_a_failed_run_and_stops_when_asked(engine, monkeypatch) -> None:
    from margin_core.errors import MarginError

    calls: list[int] = []
    stop = threading.Event()

    def fake_sync_all(engine, *, only, today, days, stop):
        calls.append(len(calls) + 1)
        if len(calls) == 2:
            raise RuntimeError("database is locked")
        if len(calls) == 3:
            raise MarginError("this store holds the demo workspace")
        return [sync.SyncResult("openai", "ok", 3, window=(date(2025, 9, 1), date(2025, 9, 6)))]

    monkeypatch.setattr(sync, "sync_all", fake_sync_all)
    lines: list[str] = []
    runs = schedule.run_every(engine, every=timedelta(seconds=0), stop=stop, say=lines.append, cycles=4)
    assert runs == 4 and calls == [1, 2, 3, 4]
    assert [line.split("Z ", 1)[1] for line in lines] == [
        "run 1: openai: ok, 3 rows (2025-09-01 to 2025-09-06, end exclusive)",
        "run 2: failed (RuntimeError: database is locked); trying again next run",
        "run 3: this store holds the demo workspace",
        "run 4: openai: ok, 3 rows (2025-09-01 to 2025-09-06, end exclusive)",
    ]
    stop.set()
    assert schedule.run_every(engine, every=timedelta(hours=1), stop=stop, say=lines.append) == 0


def test_run_every_raises_a_first_run_error(engine, monkeypatch) -> None:
    from margin_core.errors import MarginError

    def refuse(engine, **_kwargs):
        raise MarginError("no key for openai")

    monkeypatch.setattr(sync, "sync_all", refuse)
    with pytest.raises(MarginError, match="no key for openai"):
        schedule.run_every(engine, every=timedelta(hours=1), stop=threading.Event(), say=print)

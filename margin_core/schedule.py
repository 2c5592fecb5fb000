"""Keeping Margin synced (rules §4.7): the CLI's `sync --every` loop and the app's background sync.

Both run `sync.sync_all`, which commits each provider's window whole or not at all. A stop (SIGINT/SIGTERM
for the CLI, the process ending for the app) is an event checked before each provider and during the wait
between runs, so it never cuts a commit in half. No Streamlit here: the app holds one `BackgroundSync`
per process and database through `background_sync()`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from margin_core import sync
from margin_core.errors import ConfigError, MarginError
from margin_core.store import repo, sync_runs

logger = logging.getLogger(__name__)
Say = Callable[[str], None]

_EVERY = re.compile(r"\s*(\d+)\s*([smhd])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
SETTING = "sync_every_hours"  # 0 or absent: off (the default)
HOUR_CHOICES = (1, 2, 3, 6, 12, 24)


def parse_every(value: str) -> timedelta:
    """`90s`, `30m`, `1h`, `1d` → a positive interval; anything else is a ConfigError."""
    found = _EVERY.fullmatch(value.lower())
    if not found or int(found.group(1)) <= 0:
        raise ConfigError(f"{value!r} is not a sync interval: write a whole number and s, m, h or d (90s, 30m, 1h)")
    return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_every(
    engine: Engine,
    *,
    every: timedelta,
    stop: threading.Event,
    say: Say,
    only: str | None = None,
    days: int | None = None,
    today: date | None = None,
    cycles: int | None = None,
) -> int:
    """Sync every connected source now and then every `every`, until `stop` is set (or `cycles` ran).

    Prints one line per source and run. An error on the first run (no key for `only`, a demo store, an
    unreachable store) is raised; later ones are printed and the loop goes on. Returns the number of runs.
    """
    runs = 0
    while not stop.is_set():
        began = time.monotonic()
        runs += 1
        day = today or datetime.now(UTC).date()
        try:
            results = sync.sync_all(engine, only=only, today=day, days=days, stop=stop.is_set)
        except MarginError as exc:
            if runs == 1:
                raise
            say(f"{_stamp()} run {runs}: {exc}")
        except Exception as exc:  # a store briefly unreachable must not end a service that runs for months
            if runs == 1:
                raise
            logger.exception("sync run %d failed", runs)
            say(f"{_stamp()} run {runs}: failed ({type(exc).__name__}: {exc}); trying again next run")
        else:
            for result in results:
                say(f"{_stamp()} run {runs}: {result.line}")
            if not results and not stop.is_set():
                say(f"{_stamp()} run {runs}: nothing to sync: no keys saved in the app and none in the environment")
        if cycles is not None and runs >= cycles:
            break
        stop.wait(max(0.0, every.total_seconds() - (time.monotonic() - began)))
    return runs


# --- the app's background sync ------------------------------------------------------------------------


def schedule_hours(engine: Engine) -> int:
    """The app's "sync every N hours while the app is open" setting; 0 is off."""
    with engine.connect() as connection:
        raw = repo.read_settings(connection).get(SETTING, "0")
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def save_schedule_hours(engine: Engine, hours: int) -> None:
    """Turn the app's background sync off (0) or on every `hours` hours. Reports do not change."""
    if hours != 0 and hours not in HOUR_CHOICES:
        raise ConfigError(f"sync every {hours} hours: choose one of {', '.join(map(str, HOUR_CHOICES))}, or off")
    with engine.begin() as connection:
        repo.set_setting(connection, SETTING, str(hours))


def last_sync_started(engine: Engine) -> datetime | None:
    """When the newest sync_run of any source started (UTC)."""
    return sync_runs.last_started(engine)


class BackgroundSync:
    """One daemon thread per process and store: checks the setting every `poll` seconds and syncs when due.

    Due means the setting is on and the newest sync_run (whoever ran it: this thread, a click, the CLI)
    started at least N hours ago, so a restart of the app does not sync again at once. Pages only read
    `status()`; they never wait for a run.
    """

    def __init__(self, engine: Engine, *, poll: float = 60.0, now: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._poll = poll
        self._now = now or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        self._last_attempt: datetime | None = None
        self._last_lines: list[str] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread once; later calls do nothing."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="margin-background-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop after the provider under way; wait for it up to `timeout` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, object]:
        """running, hours, last_attempt and the last run's lines, for the Settings page."""
        with self._lock:
            return {
                "running": self._running,
                "last_attempt": self._last_attempt,
                "last_lines": list(self._last_lines),
            }

    def due(self) -> bool:
        """True when the setting is on and the last sync (or attempt) is at least that many hours old."""
        hours = schedule_hours(self._engine)
        if hours == 0:
            return False
        moments = [m for m in (last_sync_started(self._engine), self._last_attempt) if m is not None]
        return not moments or self._now() - max(moments) >= timedelta(hours=hours)

    def run_once(self) -> list[str]:
        """One sync of every connected source, as the schedule runs it; returns its lines."""
        with self._lock:
            self._running = True
            self._last_attempt = self._now()
        lines: list[str] = []
        try:
            results = sync.sync_all(self._engine, today=self._now().date(), stop=self._stop.is_set)
            lines = [result.line for result in results]
        except MarginError as exc:  # a demo store, for one: nothing to do until the user clears it
            lines = [f"background sync skipped: {exc}"]
        except Exception:  # never let the thread die: the next due time tries again
            logger.exception("background sync failed unexpectedly")
            lines = ["background sync failed unexpectedly; see the log"]
        finally:
            with self._lock:
                self._running = False
                self._last_lines = lines
        return lines

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.due():
                    self.run_once()
            except Exception:  # a locked or missing store must not end the thread
                logger.exception("background sync check failed")
            self._stop.wait(self._poll)


_RUNNERS: dict[str, BackgroundSync] = {}
_RUNNERS_LOCK = threading.Lock()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def running_background_sync(engine: Engine) -> BackgroundSync | None:
    """The background sync of this store if this process started one."""
    with _RUNNERS_LOCK:
        return _RUNNERS.get(_key(engine))


def background_sync(engine: Engine) -> BackgroundSync:
    """The process's single background sync for this store, started on first use."""
    key = _key(engine)
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = BackgroundSync(engine)
            runner.start()
    return runner

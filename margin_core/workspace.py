"""A workspace snapshot: the store's small frames, ids resolved, and the derived day ledger (rules §4.1, §8).

Reports for any range are computed from a snapshot; the app caches one per store version, the CLI
loads one per run. Usage and events are not loaded: the day ledger (`ledger_cache`) attributes, sums and
caches them per day.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from margin_core import ledger_cache, prices
from margin_core.engine.dimensions import Basis
from margin_core.engine.margins import DEFAULT_BREAK_EVEN
from margin_core.ledger_cache import DayLedger, DayReader, cache_folder, priced_frames, resolve_aliases, rules_digest
from margin_core.store import light

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Workspace:
    """Frames of one store version, ready for the engine."""

    days: DayLedger  # the attributed ledger per day, derived and cached
    mappings: pl.DataFrame
    customers: pl.DataFrame
    revenue: pl.DataFrame
    api_keys: pl.DataFrame
    price_overrides: pl.DataFrame  # PRICE_OVERRIDES
    settings: dict[str, str]
    version: int
    source_days: dict[str, tuple[date, date]]  # first and last day of each provider's usage and of "events"
    sync_status: dict[str, tuple[str, date | None]]  # source → (status, day) of its newest sync run
    # Per-range results shared by every report of that range (a page shows several); bounded.
    memo: dict[tuple[object, ...], Future[Any]] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def remember(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """`compute()` once per key for this snapshot (a caller asking while another thread computes it waits
        for that result); past 16 entries the oldest finished one goes, except the whole snapshot's derived
        day frames (`("days",)`), which every range of the app is cut from."""
        with self._lock:
            entry = self.memo.get(key)
            mine = entry is None
            if entry is None:
                finished = [k for k, f in self.memo.items() if k != ("days",) and f.done()]
                if len(self.memo) >= 16 and finished:
                    self.memo.pop(finished[0])
                entry = self.memo[key] = Future()
        if mine:
            try:
                entry.set_result(compute())
            except BaseException as exc:
                with self._lock:
                    self.memo.pop(key, None)  # not kept: the next caller tries again
                entry.set_exception(exc)
        return entry.result()  # type: ignore[no-any-return]

    @property
    def break_even(self) -> float:
        return float(self.settings.get("break_even_pct", str(DEFAULT_BREAK_EVEN * 100))) / 100

    @property
    def basis(self) -> Basis:
        return "tokens" if self.settings.get("allocation_basis") == "tokens" else "requests"

    @property
    def is_demo(self) -> bool:
        return self.settings.get("workspace_kind") == "demo"


def load_workspace(engine: Engine) -> Workspace:
    """Read the store's small frames and its day versions (before any day's rows: see `ledger_cache`)."""
    from margin_core.store import repo, sync_runs

    url = engine.url
    sqlite_file = (url.database or "") if url.get_backend_name() == "sqlite" else None
    if sqlite_file not in (None, "", ":memory:"):
        try:
            return load_workspace_file(str(sqlite_file))
        except light.NotReady:
            pass
    with engine.begin() as connection:
        store_id = repo.store_id(connection)
    location = url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        settings = repo.read_settings(connection)
        versions = repo.day_versions(connection)
        source_days = repo.source_days(connection)
        sync_status = sync_runs.latest_runs(connection)
        tables = _tables(
            (location, store_id),
            settings,
            lambda: (repo.read_small_frames(engine), repo.read_price_override_rows(connection)),
        )
    return _assemble(
        tables,
        read=partial(repo.read_days, engine),
        folder=cache_folder(location, sqlite_file=sqlite_file),
        store_id=store_id,
        versions=versions,
        source_days=source_days,
        sync_status=sync_status,
        settings=settings,
    )


def load_workspace_url(url: str | None) -> Workspace:
    """`load_workspace` for a URL; a SQLite file is read without SQLAlchemy (a CLI report starts fast)."""
    from margin_core import settings

    url = url or settings.database_url()
    if url.startswith("sqlite:///") and "?" not in url:
        database = url.removeprefix("sqlite:///")
        if database not in ("", ":memory:"):
            try:
                return load_workspace_file(database)
            except light.NotReady:  # no file yet, or tables of an older version: SQLAlchemy creates them
                pass
    from margin_core.store.db import make_engine

    return load_workspace(make_engine(url))


def load_workspace_file(database: str) -> Workspace:
    """`load_workspace` of a SQLite store file through the stdlib driver; NotReady when it is not one."""
    connection = light.connect(database)
    try:
        store_id = light.store_id(connection)
        connection.execute("BEGIN")  # one snapshot: the day versions before any day's rows
        settings = light.settings(connection)
        versions = light.day_versions(connection)
        source_days = light.source_days(connection)
        sync_status = light.sync_status(connection)
        tables = _tables(
            (str(Path(database).resolve()), store_id),
            settings,
            lambda: (light.read_small_frames(connection), light.price_override_rows(connection)),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return _assemble(
        tables,
        read=partial(light.read_days, database),
        folder=cache_folder(f"sqlite:///{database}", sqlite_file=database),
        store_id=store_id,
        versions=versions,
        source_days=source_days,
        sync_status=sync_status,
        settings=settings,
    )


@dataclass(frozen=True, slots=True)
class _Tables:
    """A snapshot's small tables, customer links resolved, and the rules digest of its day ledger."""

    frames: dict[str, pl.DataFrame]
    overrides: pl.DataFrame
    mappings: pl.DataFrame
    digest: str


# The small tables last read per store (its location and id) with the `tables_version` they were read at:
# an SDK batch moves only the data version (`repo.bump_version`), so the next snapshot keeps them.
_TABLES_KEPT = 8
_tables_read: dict[tuple[str, str], tuple[str, _Tables]] = {}


def _tables(
    store: tuple[str, str],
    settings: dict[str, str],
    read: Callable[[], tuple[dict[str, pl.DataFrame], list[tuple[Any, ...]]]],
) -> _Tables:
    """The store's small tables: those read before if no write changed them since, else read now (`read`
    runs in the snapshot's transaction)."""
    version = settings.get("tables_version", "0")  # "0": no write since a store's creation moved it
    kept = _tables_read.get(store)
    if kept is not None and kept[0] == version:
        return kept[1]
    frames, override_rows = read()
    aliases, overrides = frames["aliases"], prices.override_frame(override_rows)
    mappings = resolve_aliases(frames["mappings"], aliases)
    tables = _Tables(frames, overrides, mappings, rules_digest(mappings=mappings, aliases=aliases, overrides=overrides))
    _tables_read.pop(store, None)
    while len(_tables_read) >= _TABLES_KEPT:
        _tables_read.pop(next(iter(_tables_read)))
    _tables_read[store] = (version, tables)
    return tables


def forget() -> None:
    """Drop what this process keeps between snapshots: small tables and day frames (tests: a new process)."""
    _tables_read.clear()
    ledger_cache.forget()


def _assemble(
    tables: _Tables,
    *,
    read: DayReader,
    folder: Path | None,
    store_id: str,
    versions: dict[date, int],
    source_days: dict[str, tuple[date, date]],
    sync_status: dict[str, tuple[str, date | None]],
    settings: dict[str, str],
) -> Workspace:
    days = DayLedger(
        read=read,
        store_id=store_id,
        versions=versions,
        mappings=tables.mappings,
        aliases=tables.frames["aliases"],
        overrides=tables.overrides,
        digest=tables.digest,
        folder=folder,
    )
    return Workspace(
        days=days,
        mappings=tables.mappings,
        customers=tables.frames["customers"],
        revenue=tables.frames["revenue"],
        api_keys=tables.frames["api_keys"],
        price_overrides=tables.overrides,
        settings=settings,
        version=int(settings.get("data_version", "0")),  # the store's change counter, read in the same snapshot
        source_days=source_days,
        sync_status=sync_status,
    )


def priced_store_frames(workspace: Workspace) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every usage row (estimated rows priced) and every rolled-up event (own cost in cost_micros) of the
    store, ids linked: the whole store read at once (the bench's export and tests; reports use the day
    ledger instead)."""
    return priced_frames(workspace.days.read(None), aliases=workspace.days.aliases, overrides=workspace.price_overrides)


__all__ = ["Workspace", "forget", "load_workspace", "priced_store_frames"]

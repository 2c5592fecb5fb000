"""Event ingest: de-duplicate on event_id, then roll up into `event_rollup` (rules §7).

One transaction per batch: the new events' 64-bit digests go into `event_seen` and their sums into the
rollup rows, so a batch is either wholly written or not at all, and a re-sent event is never counted
twice. Both statements are plain SQL that SQLite and PostgreSQL share.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Protocol, TypeVar

import polars as pl
from sqlalchemy import Connection, Engine

from connectors.records import EventRecord
from margin_core.store.db import begin_write
from margin_core.store.light import READ_SETTINGS
from margin_core.store.repo import (
    BUMP_VERSION,
    NEXT_DAY_VERSION,
    bump_version,
    touch_day_sql,
    touch_days,
    upsert_sql,
)
from margin_core.store.sqlite_writer import ChildWriter

ROLLUP_KEY = ("day", "customer_id", "feature", "provider", "model", "api_key_id", "metadata_json", "has_cost")
SUMMED = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "cost_micros",
    "latency_ms_sum",
)
_MICRO = Decimal("0.000001")
_UPSERT_ROWS = 100_000
_BESIDE_ROWS = 100_000  # a thread is worth it for an import's batch, not for an SDK's few events
_T = TypeVar("_T")
# Recording a batch's keys row by row (the child writer binds them all at once), and through a table of the
# batch's keys, returning the new ones (PostgreSQL; SQLite when some keys were seen before).
_SEEN_INSERT = "INSERT INTO event_seen (event_key) VALUES (?) ON CONFLICT (event_key) DO NOTHING"
_BATCH_KEY_TABLE = "CREATE TEMP TABLE IF NOT EXISTS batch_key (event_key BIGINT PRIMARY KEY)"
_BATCH_KEY_INSERT = "INSERT INTO batch_key (event_key) VALUES ({param})"
_RECORD_NEW = (
    "INSERT INTO event_seen (event_key) SELECT event_key FROM batch_key WHERE true ORDER BY event_key "
    "ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
)


class _Cursor(Protocol):
    """The DB-API cursor of either driver (sqlite3, psycopg), as ingest uses it."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, parameters: Sequence[object] = ..., /) -> object: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[object]], /) -> object: ...

    def fetchall(self) -> list[tuple[object, ...]]: ...


# The columns of a batch as `events_frame` builds it and `ingest_frame` takes it.
BATCH_COLUMNS = ("event_key", *ROLLUP_KEY, *SUMMED[1:])


def event_key(event_id: str) -> int:
    """The signed 64-bit digest `event_seen` keeps for an event id."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big", signed=True)


def metadata_json(metadata: Mapping[str, object]) -> str:
    """Canonical JSON for a metadata dict (sorted keys), so equal metadata rolls up together."""
    if not metadata:
        return "{}"
    return _canonical_json(tuple(sorted((str(k), str(v)) for k, v in metadata.items())))


@lru_cache(maxsize=4096)
def _canonical_json(items: tuple[tuple[str, str], ...]) -> str:
    # Capture sees the same few metadata dicts over and over: encode each once.
    return json.dumps(dict(items), separators=(",", ":"))


def usd_to_micros(amount: Decimal) -> int:
    """Dollars to integer micro-dollars, rounded half-even (rules §3)."""
    return int(amount.quantize(_MICRO, rounding=ROUND_HALF_EVEN) * 1_000_000)


def events_frame(records: Sequence[EventRecord]) -> pl.DataFrame:
    """The batch as one frame with its event keys, one column per rollup field."""
    return pl.DataFrame(
        {
            "event_key": [event_key(r.event_id) for r in records],
            "day": [r.ts.astimezone(UTC).date() for r in records],
            "customer_id": [r.customer_id for r in records],
            "feature": [r.feature for r in records],
            "provider": [r.provider for r in records],
            "model": [r.model for r in records],
            "api_key_id": [r.api_key_id for r in records],
            "metadata_json": [metadata_json(r.metadata) for r in records],
            "has_cost": [r.cost_usd is not None for r in records],
            "input_tokens": [r.input_tokens for r in records],
            "cached_input_tokens": [r.cached_input_tokens for r in records],
            "cache_write_tokens": [r.cache_write_tokens for r in records],
            "cache_write_1h_tokens": [r.cache_write_1h_tokens for r in records],
            "output_tokens": [r.output_tokens for r in records],
            "cost_micros": [0 if r.cost_usd is None else usd_to_micros(r.cost_usd) for r in records],
            "latency_ms_sum": [r.latency_ms or 0 for r in records],
        },
        schema_overrides={"day": pl.Date, "event_key": pl.Int64},
    )


def ingest_events(engine: Engine, records: Sequence[EventRecord]) -> int:
    """Write the events not seen before, in one transaction; return how many were new."""
    if not records:
        return 0
    return ingest_frame(engine, events_frame(records))


def ingest_frame(engine: Engine, batch: pl.DataFrame) -> int:
    """Write a frame of `events_frame`'s shape in its own transaction; events seen before are skipped.

    Several processes may write at once (rules §6). On SQLite the transaction takes the write lock first
    (`BEGIN IMMEDIATE`), so a second writer waits out the busy timeout instead of failing when it upgrades
    a read; on both stores `event_seen` answers which keys are new (`ON CONFLICT DO NOTHING RETURNING`),
    so two writers of one event id count it once.
    """
    with engine.begin() as connection:
        begin_write(connection)
        count = ingest_on(connection, batch)
        if count:
            bump_version(connection, days_only=True)  # the app's cached reports see the new events
    return count


def ingest_on(connection: Connection, batch: pl.DataFrame) -> int:
    """`ingest_frame` inside the caller's transaction (an import writes its batches in one); no version bump."""
    if batch.is_empty():
        return 0
    batch, keys = _distinct(batch)
    raw = connection.connection.driver_connection
    assert raw is not None
    sqlite = connection.dialect.name == "sqlite"
    begin_write(connection)  # SQLite: the savepoint below must sit inside the caller's transaction, never start one
    with _collector_paused():  # the parameter tuples are new containers: no cyclic collection meanwhile
        cursor = raw.cursor()
        try:
            # The usual batch is all new: polars rolls it up beside while the store records its keys.
            rolled_up = beside(lambda: _roll_up(batch), threaded=batch.height >= _BESIDE_ROWS)
            fresh = _record_new_sqlite(cursor, batch, keys) if sqlite else _record_new(cursor, batch, keys)
            rolled = rolled_up()
            if fresh.is_empty():
                return 0
            if fresh.height != batch.height:
                rolled = _roll_up(fresh)
            _upsert_rollup(cursor, rolled, param="?" if sqlite else "%s")
            touch_days(connection, rolled["day"].unique().cast(pl.String).to_list())  # the derived ledger's days
            return fresh.height
        finally:
            cursor.close()


def _distinct(batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The batch without the later events of an id it repeats (the first counts), and its keys sorted."""
    keys = batch["event_key"].sort()
    if (keys.slice(1) == keys.slice(0, keys.len() - 1)).any():
        batch = batch.filter(pl.col("event_key").is_first_distinct())
        keys = batch["event_key"].sort()
    return batch, keys


class ChildIngest:
    """`ingest_frame` of an import's batch by the child writer (`sqlite_writer`), in one transaction of the
    child's: the settings the import writes, the new keys in `event_seen`, their rollup rows, the touched
    days and the version bump, exactly as the in-process path writes them; whatever fails, nothing is
    written.

    `record_keys` may start early, with the keys of the file's rows while the parser still checks the rest
    (it takes the write lock then); `write` finishes with the parsed batch.
    """

    def __init__(self, writer: ChildWriter) -> None:
        self.writer = writer
        self._keys: int | None = None  # how many distinct keys the child is recording

    def record_keys(self, keys: pl.Series) -> None:
        """Start the transaction and record `keys` (the first of each counts) in `event_seen`, in a savepoint."""
        distinct = keys.unique().sort()
        self.writer.send("begin")
        self.writer.send("execute", sql=READ_SETTINGS)
        self.writer.send("execute", sql="SAVEPOINT ingest_keys")
        self.writer.send_many(_SEEN_INSERT, distinct.to_frame())
        self._keys = distinct.len()

    def write(
        self, batch: pl.DataFrame, *, check: Callable[[dict[str, str]], None], settings: Mapping[str, str]
    ) -> int:
        """Write the batch, after `check` saw the store's settings inside the transaction (an import refuses
        the demo workspace), with `settings` set; commit. Returns how many events were new."""
        writer = self.writer
        batch, keys = _distinct(batch)
        if self._keys is None:
            self.record_keys(keys)
        assert self._keys == batch.height, "the keys recorded are the batch's"
        # The usual batch is all new: its rollup rows go out a few days at a time, rolled up while the child
        # writes the keys and the days before; if some keys were seen, the savepoint takes them all back.
        parts = _send_rollup(writer, batch)
        writer.reply()
        check(dict(writer.reply()["rows"]))
        writer.reply()
        all_new = writer.reply()["changes"] == batch.height
        for _ in parts:
            writer.reply()
        if all_new:
            writer.execute("RELEASE ingest_keys")
            fresh = batch
        else:  # the same insert through a table of the keys returns the new ones; only theirs are rolled up
            writer.execute("ROLLBACK TO ingest_keys")
            writer.execute("RELEASE ingest_keys")
            writer.execute(_BATCH_KEY_TABLE)
            writer.execute("DELETE FROM batch_key")
            writer.send_many(_BATCH_KEY_INSERT.format(param="?"), keys.to_frame())
            writer.reply()
            new = writer.read_frame(_RECORD_NEW)["event_key"]
            fresh = batch.filter(pl.col("event_key").is_in(new))
            parts = _send_rollup(writer, fresh)
            for _ in parts:
                writer.reply()
        setting = upsert_sql("setting", columns=("key", "value"), key=("key",), marker="?")
        writer.send_many(setting, pl.DataFrame({"key": list(settings), "value": list(settings.values())}))
        writer.reply()
        if fresh.is_empty():
            writer.commit()
            return 0
        version = int(writer.execute(NEXT_DAY_VERSION)[0][0])
        days = pl.concat(parts).unique().sort().cast(pl.String)
        writer.send_many(touch_day_sql(sqlite=True), pl.DataFrame({"day": days, "version": version}))
        writer.send("execute", sql=BUMP_VERSION)  # the app's cached reports see the new events
        writer.send("commit")
        for _ in range(3):
            writer.reply()
        return fresh.height


_ROLLUP_PARTS = 4


def _send_rollup(writer: ChildWriter, fresh: pl.DataFrame) -> list[pl.Series]:
    """Send the batch's rollup upserts in parts of whole days, in key order; the days of each part."""
    if fresh.is_empty():
        return []
    per_day = fresh.group_by("day").len().sort("day")
    part = (per_day["len"].cum_sum() - 1) * _ROLLUP_PARTS // fresh.height
    parts = []
    for days in per_day["day"].to_frame().with_columns(part=part).partition_by("part", maintain_order=True):
        first, last = days["day"].min(), days["day"].max()
        rolled = _roll_up(fresh.filter(pl.col("day").is_between(first, last)))
        sql, bound = _rollup_upsert(rolled, param="?")
        writer.send_many(sql, rolled.select(_bindable(rolled[name]) for name in bound))
        parts.append(days["day"])
    return parts


def _bindable(column: pl.Series) -> pl.Series:
    """A column as the child binds it, with the values the in-process path gives sqlite3: days as ISO text,
    booleans as 0 or 1. Enum columns stay as they are: Arrow dictionaries, which ADBC binds as their texts
    (a smaller file, and no copy of each text)."""
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int64)
    if column.dtype == pl.Date:
        return column.cast(pl.String)
    return column


def beside(work: Callable[[], _T], *, threaded: bool = True) -> Callable[[], _T]:
    """Start `work` in a thread and return the call that waits for its result (or raises its error).

    Inline when `threaded` is false or no thread may start (the SDK flushes its last batch at interpreter
    exit, when new threads are refused): the same result either way, only later.
    """
    if threaded:
        outcome: list[_T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(work())
            except BaseException as exc:  # handed to the caller as it is
                failure.append(exc)

        thread = threading.Thread(target=run, name="margin-beside", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            pass  # at interpreter shutdown: do it here
        else:

            def result() -> _T:
                thread.join()
                if failure:
                    raise failure[0]
                return outcome[0]

            return result
    done = work()
    return lambda: done


def _roll_up(fresh: pl.DataFrame) -> pl.DataFrame:
    """One row per rollup key with its sums, in key order (upserts in key order touch each B-tree page once).

    The text keys are grouped and sorted as enums whose categories are their sorted values: integer work,
    the order of the text itself.
    """
    text = [name for name in ROLLUP_KEY if fresh.schema[name] == pl.String]
    return (
        fresh.with_columns(pl.col(name).cast(pl.Enum(fresh[name].unique().sort())) for name in text)
        .with_columns(pl.lit(1, pl.Int64).alias("requests"))
        .group_by(ROLLUP_KEY)
        .agg(pl.col(name).sum() for name in SUMMED)
        .sort(ROLLUP_KEY)
    )


def _record_new_sqlite(cursor: _Cursor, batch: pl.DataFrame, keys: pl.Series) -> pl.DataFrame:
    """Record the batch's keys in `event_seen` and return its events not seen before (SQLite).

    The keys travel as one JSON array that SQLite unpacks itself (`json_each`), in key order, with no
    Python object per key. The usual case, every key new, is one statement: inside a savepoint, the
    count of rows it inserted says so. Otherwise the savepoint is rolled back and the same insert
    returns the new keys. The caller holds the write lock (`BEGIN IMMEDIATE`): nobody writes in between.
    """
    keys_json = _json_array(keys)
    insert = (  # `WHERE true`: SQLite's parser needs it between an INSERT's SELECT and its ON CONFLICT.
        "INSERT INTO event_seen (event_key) SELECT value FROM json_each(?) WHERE true "
        "ON CONFLICT (event_key) DO NOTHING"
    )
    cursor.execute("SAVEPOINT ingest_keys")
    cursor.execute(insert, (keys_json,))
    if cursor.rowcount == batch.height:
        cursor.execute("RELEASE ingest_keys")
        return batch
    cursor.execute("ROLLBACK TO ingest_keys")
    cursor.execute("RELEASE ingest_keys")
    cursor.execute(f"{insert} RETURNING event_key", (keys_json,))
    new = [row[0] for row in cursor.fetchall()]
    return batch.filter(pl.col("event_key").is_in(new))


def _json_array(keys: pl.Series) -> str:
    return f"[{keys.cast(pl.String).str.join(',').item()}]"


def _record_new(cursor: _Cursor, batch: pl.DataFrame, keys: pl.Series) -> pl.DataFrame:
    """Record the batch's keys in `event_seen` and return its events not seen before (PostgreSQL)."""
    # The batch's keys go into a temporary table once; SQL then records the new ones and returns them,
    # with no key list in the SQL text and no second pass from Python.
    cursor.execute(_BATCH_KEY_TABLE)
    cursor.execute("DELETE FROM batch_key")
    cursor.executemany(_BATCH_KEY_INSERT.format(param="%s"), [(k,) for k in batch["event_key"].sort().to_list()])
    cursor.execute(_RECORD_NEW)
    new = [row[0] for row in cursor.fetchall()]
    return batch if len(new) == batch.height else batch.filter(pl.col("event_key").is_in(new))


def _upsert_rollup(cursor: _Cursor, rolled: pl.DataFrame, *, param: str) -> None:
    """Add the rolled-up rows to `event_rollup`, one parameter list per row built column-wise.

    A sum that is zero on every row of the batch (the 1-hour cache writes and latencies of a CSV import)
    is written as a literal and left out of the update: the same rows, fewer parameters to bind.
    """
    sql, bound = _rollup_upsert(rolled, param=param)
    for start in range(0, rolled.height, _UPSERT_ROWS):  # the driver's Python values a slice at a time
        part = rolled.slice(start, _UPSERT_ROWS)
        cursor.executemany(sql, zip(*(_python_values(part[c]) for c in bound), strict=True))


def _rollup_upsert(rolled: pl.DataFrame, *, param: str) -> tuple[str, list[str]]:
    """The upsert of one rolled-up row and the columns it binds, in order (see `_upsert_rollup`)."""
    zero = _all_zero(rolled)  # never `requests`: every row counts one request or more
    bound = [c for c in (*ROLLUP_KEY, *SUMMED) if c not in zero]
    columns = (*ROLLUP_KEY, *SUMMED)
    values = ", ".join("0" if c in zero else param for c in columns)
    updates = ", ".join(f"{c} = event_rollup.{c} + excluded.{c}" for c in SUMMED if c not in zero)
    sql = (
        f"INSERT INTO event_rollup ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET {updates}"
    )
    return sql, bound


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk write: each row's parameter tuple (and each fetched
    row) is a new container, so it would run a collection every few hundred rows (seconds over an import)
    and find no cycle; the tuples are freed by reference counting as before. Back on as it was, always."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _python_values(column: pl.Series) -> list[object]:
    """The column's values for the driver; the few distinct texts of a key (and days, as ISO text: no
    per-row date adapter) are built once and shared by every row that has them."""
    if column.dtype == pl.Date:
        distinct = column.unique()
        names = dict(zip(distinct.to_physical().to_list(), distinct.cast(pl.String).to_list(), strict=True))
        return [names[day] for day in column.to_physical().to_list()]
    if isinstance(column.dtype, pl.Enum):
        texts = column.dtype.categories.to_list()
        return [texts[code] for code in column.to_physical().to_list()]
    return column.to_list()


def _all_zero(rolled: pl.DataFrame) -> set[str]:
    flags = rolled.select((pl.col(name) == 0).all() for name in SUMMED).row(0)
    return {name for name, flag in zip(SUMMED, flags, strict=True) if flag}

"""The derived, day-partitioned ledger beside the store (rules §7, Live).

Attribution is decided per provider and day (rules §4.2), so a day is a natural partition: each day's
ledger rows, unattributed rows and unpriced tokens are one Parquet file in the cache folder (beside a SQLite
file; under data/cache/<hash of the URL> for PostgreSQL), stamped with what it was computed from: the
store's id, the day's version (`day_version`, moved by every write that touches the day, in the writer's
own transaction) and the rules digest (mappings, customer links, price overrides, the price package's
version and the engine's code). A reader recomputes only the days of its range whose file is missing,
unreadable or stamped otherwise, and reads only the days of its range. The cache is never the truth:
deleting it changes no number.

Files are written under a temporary name and renamed (atomic on POSIX), so a reader never sees half a file,
and several processes may rebuild at once: the last rename wins, and both wrote the same rows. The day
versions are read before the data, so a write landing in between makes a file look stale, never fresh.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from margin_core import schemas, settings
from margin_core.schemas import TOKEN_COLUMNS

if TYPE_CHECKING:
    from polars._typing import EngineType

UNPRICED = pl.Schema(
    {"day": pl.Date, "provider": pl.String, "model": pl.String, **dict.fromkeys(TOKEN_COLUMNS, pl.Int64)}
)
# A day's derived frames: the attribution ledger and its unattributed rows (rules §4.2), the tokens of models
# without a price, the ledger summed per customer, per feature/provider/model and per customer/provider/model
# (what most views sum), the usage rows' cost per provider and the events' coverage per key (the
# reconciliation's two sides), and the providers and models the day's rows name.
PARTS: dict[str, pl.Schema] = {
    "ledger": schemas.LEDGER,
    "unattributed": schemas.UNATTRIBUTED_ROWS,
    "unpriced": UNPRICED,
    "customers": schemas.CUSTOMER_DAYS,
    "usage": schemas.USAGE_DAYS,
    "customer_models": schemas.CUSTOMER_MODEL_DAYS,
    "usage_cost": schemas.USAGE_COST_DAYS,
    "coverage": schemas.ROW_COVERAGE,
    "models": schemas.MODEL_DAYS,
}
# One file holds every part of a day: the union of their columns, `part` naming each row's frame, and one
# `part == "stamp"` row carrying the stamp the day was computed from.
FILE_SCHEMA = pl.Schema(
    [
        ("part", pl.String),
        ("stamp", pl.String),
        *{name: dtype for schema in PARTS.values() for name, dtype in schema.items()}.items(),
    ]
)
_CODE = (
    "engine/attribution.py",
    "engine/ledger_sums.py",
    "engine/reconciliation.py",
    "engine/pricing.py",
    "engine/money.py",
    "prices.py",
    "schemas.py",
    "ledger_cache.py",
)
_RUN_ROWS = 500_000  # store rows (usage and events) of the days computed in one engine pass
_MEMO_DAYS = 4_000  # per-day frames kept in memory by stamp: the app's next snapshot reuses the unchanged days


@dataclass(frozen=True, slots=True)
class DayFrames:
    """The derived frames of some days, one per part of PARTS."""

    ledger: pl.DataFrame
    unattributed: pl.DataFrame
    unpriced: pl.DataFrame
    customers: pl.DataFrame
    usage: pl.DataFrame
    customer_models: pl.DataFrame
    usage_cost: pl.DataFrame
    coverage: pl.DataFrame
    models: pl.DataFrame

    @classmethod
    def of(cls, parts: dict[str, pl.DataFrame]) -> DayFrames:
        """From frames by part name; a missing part is empty."""
        return cls(**{name: parts[name] if name in parts else _empty(name) for name in PARTS})

    def parts(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in PARTS}


@cache
def _empty(part: str) -> pl.DataFrame:
    """An empty frame of a part's schema (made once: building a frame from a schema is not free)."""
    return pl.DataFrame(schema=PARTS[part])


@dataclass(slots=True)
class Stats:
    """What this process did: days recomputed from the store and day files read (tests and the bench)."""

    recomputed: list[date] = field(default_factory=list)
    files_read: int = 0
    files_rejected: int = 0


stats = Stats()
_memo: OrderedDict[tuple[date, str], DayFrames] = OrderedDict()
# Reads the store's usage and events of some days (every day for None): "usage" and "events" frames.
DayReader = Callable[[Sequence[date] | None], dict[str, pl.DataFrame]]


def resolve_aliases(frame: pl.DataFrame, aliases: pl.DataFrame) -> pl.DataFrame:
    """Replace app customer ids with the Stripe ids they are linked to (rules §8)."""
    if aliases.is_empty():
        return frame
    return (
        frame.join(aliases.rename({"alias": "customer_id", "customer_id": "_linked"}), on="customer_id", how="left")
        .with_columns(pl.coalesce("_linked", "customer_id").alias("customer_id"))
        .drop("_linked")
    )


def rules_digest(*, mappings: pl.DataFrame, aliases: pl.DataFrame, overrides: pl.DataFrame) -> str:
    """What every day's attribution depends on besides its own rows; any change invalidates every day."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for frame in (mappings, aliases, overrides):
        digest.update(frame.sort(frame.columns).write_csv().encode())
    digest.update(version("genai-prices").encode())
    root = Path(__file__).parent
    for name in _CODE:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:24]


def cache_folder(url: str, *, sqlite_file: str | None) -> Path | None:
    """The cache folder of a store: beside a SQLite file, else data/cache/<hash of the URL>; None in memory.

    `sqlite_file` is the path of a SQLite store's file, "" for an in-memory one, None for other databases.
    """
    override = os.environ.get("MARGIN_CACHE_DIR")
    if sqlite_file is not None:
        if sqlite_file in ("", ":memory:"):
            return None
        if not override:
            path = Path(sqlite_file).resolve()
            return path.parent / f"{path.name}.days"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (Path(override) if override else settings.DATA_DIR / "cache") / key


@dataclass(frozen=True, slots=True)
class DayLedger:
    """The derived ledger of one store snapshot: day versions read once, days computed or read on demand."""

    read: DayReader
    store_id: str
    versions: dict[date, int]  # every day with usage or events
    mappings: pl.DataFrame  # customer links resolved
    aliases: pl.DataFrame
    overrides: pl.DataFrame
    digest: str
    folder: Path | None

    def days(self, start: date | None, end: date | None) -> list[date]:
        """The days of [start, end) that hold data (every day when both are None)."""
        return sorted(d for d in self.versions if (start is None or d >= start) and (end is None or d < end))

    def stamp(self, day: date) -> str:
        return f"{self.store_id}/{self.versions[day]}/{self.digest}"

    def frames(self, start: date | None, end: date | None) -> DayFrames:
        """Every part of the range's days: from memory, else the day files, else recomputed and written."""
        wanted = self.days(start, end)
        found: dict[date, DayFrames] = {}
        for day in wanted:
            cached = _memo.get((day, self.stamp(day)))
            if cached is not None:
                _memo.move_to_end((day, self.stamp(day)))
                found[day] = cached
        to_read = [d for d in wanted if d not in found]
        if to_read and self.folder is not None:
            found.update(self._read_all(to_read))
        stale = [d for d in wanted if d not in found]
        if stale:
            stats.recomputed.extend(stale)
            computed = compute_days(
                self.read, stale, mappings=self.mappings, aliases=self.aliases, overrides=self.overrides
            )
            for day in stale:
                found[day] = computed[day]
                if self.folder is not None:
                    self._write(day, computed[day])
        for day in wanted:
            _remember((day, self.stamp(day)), found[day])
        return _concat([found[d] for d in wanted])

    def _path(self, day: date) -> Path:
        assert self.folder is not None
        return self.folder / f"{day.isoformat()}-{hashlib.sha256(self.stamp(day).encode()).hexdigest()[:20]}.parquet"

    def _read_all(self, days: list[date]) -> dict[date, DayFrames]:
        """The whole, rightly stamped files of `days`, in one read when all are (else file by file)."""
        present = [d for d in days if self._path(d).exists()]
        if not present:
            return {}
        try:
            files = pl.scan_parquet([self._path(d) for d in present])
            if files.collect_schema() != FILE_SCHEMA:
                raise ValueError("columns")
            # each part with its own columns only: the files' union of columns is mostly nulls
            queries = [files.filter(pl.col("part") == "stamp").select("day", "stamp")] + [
                files.filter(pl.col("part") == name).select(schema.names()) for name, schema in PARTS.items()
            ]
            marks, *found = pl.collect_all(queries, optimizations=pl.QueryOptFlags(comm_subplan_elim=False))
            expected = pl.DataFrame({"day": present, "stamp": [self.stamp(d) for d in present]}, schema=marks.schema)
            if not marks.sort("day").equals(expected) or not all(f["day"].is_in(present).all() for f in found):
                raise ValueError("stamps")
        except Exception:  # some file is not whole or not ours: find which, one by one
            with ThreadPoolExecutor(max_workers=4) as pool:
                read = dict(zip(present, pool.map(self._read, present), strict=True))
            return {day: frames for day, frames in read.items() if frames is not None}
        stats.files_read += len(present)
        by_part = {name: _runs_by_day(part) for name, part in zip(PARTS, found, strict=True)}
        return {
            day: DayFrames.of({name: runs[day] for name, runs in by_part.items() if day in runs}) for day in present
        }

    def _read(self, day: date) -> DayFrames | None:
        """The day's file if it is whole and carries the expected stamp; else None (then recomputed)."""
        path = self._path(day)
        if not path.exists():
            return None
        try:
            frame = pl.read_parquet(path)
            if frame.schema != FILE_SCHEMA:
                raise ValueError("columns")
            marks = frame.filter(pl.col("part") == "stamp")
            if marks.height != 1 or marks["stamp"][0] != self.stamp(day) or (frame["day"] != day).any():
                raise ValueError("stamp")
        except Exception:  # truncated, garbage or foreign: never trusted, recomputed and rewritten
            stats.files_rejected += 1
            return None
        stats.files_read += 1
        return split(frame)

    def _write(self, day: date, frames: DayFrames) -> None:
        """Write the day's file beside the reader's work (the frames are in memory already); a process
        exits only once its writes are done (`concurrent.futures` joins its workers at exit)."""
        future = _writer().submit(self._write_now, day, frames)
        with _writing_lock:
            _writing.add(future)
        future.add_done_callback(_written)

    def _write_now(self, day: date, frames: DayFrames) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(day)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            join(day, frames, stamp=self.stamp(day)).write_parquet(temporary, compression="lz4", statistics=False)
            os.replace(temporary, path)
        except OSError:  # a read-only or full disk: the numbers are right anyway, only the next read is slower
            temporary.unlink(missing_ok=True)
            return
        for other in self.folder.glob(f"{day.isoformat()}-*.parquet"):
            if other != path:
                other.unlink(missing_ok=True)


def join(day: date, frames: DayFrames, *, stamp: str) -> pl.DataFrame:
    """A day's parts as one frame of FILE_SCHEMA, with its stamp row."""
    mark = pl.DataFrame({"part": ["stamp"], "stamp": [stamp], "day": [day]}, schema_overrides={"day": pl.Date})
    parts = [frame.with_columns(pl.lit(name).alias("part")) for name, frame in frames.parts().items()]
    combined = pl.concat([mark, *parts], how="diagonal_relaxed")
    return combined.select(
        pl.col(name).cast(dtype) if name in combined.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in FILE_SCHEMA.items()
    )


def split(frame: pl.DataFrame) -> DayFrames:
    """A day file's frame back into its parts."""
    found = frame.partition_by("part", as_dict=True, include_key=False)
    return DayFrames.of(
        {name: found[(name,)].select(schema.names()) for name, schema in PARTS.items() if (name,) in found}
    )


def compute_days(
    read: DayReader, days: Iterable[date], *, mappings: pl.DataFrame, aliases: pl.DataFrame, overrides: pl.DataFrame
) -> dict[date, DayFrames]:
    """Attribute `days` from the store's rows (rules §4.1, §4.2), read at once, then computed in runs of
    consecutive days of at most _RUN_ROWS rows: attribution is decided per provider and day, so a run needs
    nothing of the others. A run is small enough for polars' in-memory engine (twice as fast as streaming on
    small frames) and bounds the memory of a rebuild."""
    days = sorted(set(days))
    frames = read(days)
    computed: dict[date, DayFrames] = {}
    for first, last in _runs(frames):
        run = {name: frame.filter(pl.col("day").is_between(first, last)) for name, frame in frames.items()}
        computed.update(_compute_run(run, mappings=mappings, aliases=aliases, overrides=overrides))
    return {day: computed.get(day, DayFrames.of({})) for day in days}


def _runs(frames: dict[str, pl.DataFrame]) -> list[tuple[date, date]]:
    """The frames' days cut into runs of consecutive days (first, last) of at most _RUN_ROWS rows (a bigger
    day alone)."""
    counts = pl.concat([frame.select("day") for frame in frames.values()]).group_by("day").len().sort("day")
    runs: list[tuple[date, date]] = []
    rows = 0
    for day, count in counts.iter_rows():
        if runs and rows + count <= _RUN_ROWS:
            runs[-1] = (runs[-1][0], day)
            rows += count
        else:
            runs.append((day, day))
            rows = count
    return runs


def _compute_run(
    frames: dict[str, pl.DataFrame], *, mappings: pl.DataFrame, aliases: pl.DataFrame, overrides: pl.DataFrame
) -> dict[date, DayFrames]:
    """Every part of the days of `frames` (one engine pass over all of them, then the sums every part keeps)."""
    from margin_core.engine import ledger_sums

    engine: EngineType = "in-memory"
    usage, events = priced_frames(frames, aliases=aliases, overrides=overrides, engine=engine)
    led, unattributed, row_coverage = attribution_of(usage, events, mappings=mappings)
    unpriced = (
        pl.concat(
            [
                frame.filter(~pl.col("price_known")).select("day", "provider", "model", *TOKEN_COLUMNS)
                for frame in (events, usage)
            ]
        )
        .group_by("day", "provider", "model")
        .agg(pl.col(TOKEN_COLUMNS).sum())
        .cast(dict(UNPRICED))  # type: ignore[arg-type]
    )
    named = pl.concat([frame.lazy().select(schemas.MODEL_DAYS.names()) for frame in (usage, events)]).unique()
    ledger, unattributed_rows, unpriced_tokens, usage_cost, coverage, models = pl.collect_all(
        [
            led,
            unattributed,
            unpriced.lazy(),
            ledger_sums.usage_cost_days(usage.lazy()),
            ledger_sums.coverage_days(row_coverage),
            named,
        ],
        engine=engine,
    )
    customers, usage_sums, customer_models = pl.collect_all(
        [
            ledger_sums.customer_days(ledger.lazy()),
            ledger_sums.usage_days(ledger.lazy()),
            ledger_sums.customer_model_days(ledger.lazy()),
        ],
        engine=engine,
    )
    collected = {
        "ledger": ledger,
        "unattributed": unattributed_rows,
        "unpriced": unpriced_tokens,
        "customers": customers,
        "usage": usage_sums,
        "customer_models": customer_models,
        "usage_cost": usage_cost,
        "coverage": coverage,
        "models": models,
    }
    by_day = {name: _by_day(frame.select(PARTS[name].names())) for name, frame in collected.items()}
    days = sorted({day for parts in by_day.values() for day in parts})
    return {day: DayFrames.of({name: parts[day] for name, parts in by_day.items() if day in parts}) for day in days}


def attribution_of(
    usage: pl.DataFrame, events: pl.DataFrame, *, mappings: pl.DataFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The engine's attribution (rules §4.2) of priced usage and events, and each row's coverage: the
    per-day computation."""
    from margin_core.engine import attribution

    return attribution.attribute_with_coverage(usage.lazy(), events=events.lazy(), mappings=mappings.lazy())


def priced_frames(
    frames: dict[str, pl.DataFrame], *, aliases: pl.DataFrame, overrides: pl.DataFrame, engine: EngineType = "auto"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Usage with estimated rows priced and events with their own cost, ids linked (rules §4.1, §8)."""
    from margin_core import prices
    from margin_core.engine import attribution, pricing

    usage, events = frames["usage"], resolve_aliases(frames["events"], aliases)
    rate_keys = pl.concat(
        [
            events.filter(~pl.col("has_cost")).select("provider", "model", "day"),
            usage.filter(pl.col("cost_source") == "estimated").select("provider", "model", "day"),
        ]
    )
    rates = prices.rate_table(rate_keys, overrides=overrides).lazy()
    priced_events = attribution.order_events(pricing.price_events(events.lazy(), rates=rates))
    priced_usage = pricing.price_estimated_usage(usage.lazy(), rates=rates)
    collected = pl.collect_all([priced_usage, priced_events], engine=engine)
    return collected[0], collected[1]


def _runs_by_day(frame: pl.DataFrame) -> dict[date, pl.DataFrame]:
    """A frame whose days come in runs (files read in order) as slices per day, without a copy."""
    runs = frame.select(pl.col("day").rle()).unnest("day")
    slices, offset = {}, 0
    for length, day in runs.iter_rows():
        slices[day] = frame.slice(offset, length)
        offset += length
    return slices


def _by_day(frame: pl.DataFrame) -> dict[date, pl.DataFrame]:
    return {key[0]: part for key, part in frame.partition_by("day", as_dict=True).items()}


def _concat(found: list[DayFrames]) -> DayFrames:
    if not found:
        return DayFrames.of({})
    return DayFrames.of({name: pl.concat([f.parts()[name] for f in found], rechunk=False) for name in PARTS})


def _remember(key: tuple[date, str], frames: DayFrames) -> None:
    _memo[key] = frames
    _memo.move_to_end(key)
    while len(_memo) > _MEMO_DAYS:
        _memo.popitem(last=False)


@cache
def _writer() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="margin-day-files")


_writing: set[Future[None]] = set()
_writing_lock = threading.Lock()


def _written(future: Future[None]) -> None:
    with _writing_lock:
        _writing.discard(future)
    if (error := future.exception()) is not None:  # a bug, not a full disk: say so (the numbers stay right)
        logging.getLogger(__name__).error("writing a day file of the derived ledger failed: %r", error)


def flush() -> None:
    """Wait until every day file this process started writing is on disk (tests, and a reader of the folder)."""
    with _writing_lock:
        pending = list(_writing)
    for future in pending:
        future.result()


def forget() -> None:
    """Drop this process's in-memory day frames (tests: the next read comes from the files or the store)."""
    _memo.clear()

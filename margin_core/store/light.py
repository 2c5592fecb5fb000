"""Reads of a SQLite store file without SQLAlchemy: what a new CLI process needs for a report (rules §7).

SQLAlchemy and SQLModel take most of a new process's start-up; a report of a SQLite file needs neither.
Small frames and the day versions come through the stdlib driver; bulk frames through ADBC in a child
process (`sqlite_reader` says why). `db` uses the same child read and dtype rules.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from connectors.records import USAGE_PROVIDERS
from margin_core import schemas
from margin_core.errors import MarginError

Query = tuple[str, pl.Schema]
CUSTOMER_COLUMNS = ("customer_id", "name", "email", "tier", "segment", "region", "metadata_json", "source")
API_KEYS = pl.Schema({"provider": pl.String, "api_key_id": pl.String, "name": pl.String, "project_id": pl.String})
_USAGE_COLUMNS = ", ".join(c if c != "usage_id" else "id AS usage_id" for c in schemas.USAGE.names())
SNAPSHOT: dict[str, Query] = {
    "usage": (f"SELECT {_USAGE_COLUMNS} FROM provider_usage", schemas.USAGE),
    "events": (f"SELECT {', '.join(schemas.EVENTS.names())} FROM event_rollup", schemas.EVENTS),
    "mappings": ("SELECT provider, dimension, value, customer_id FROM usage_mapping", schemas.MAPPINGS),
    "customers": (f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM customer", schemas.CUSTOMERS),
    "aliases": ("SELECT alias, customer_id FROM customeralias", schemas.ALIASES),
    "revenue": (f"SELECT {', '.join(schemas.REVENUE.names())} FROM revenue_line", schemas.REVENUE),
    "api_keys": ("SELECT provider, api_key_id, name, project_id FROM api_key_label", API_KEYS),
}
BULK = ("usage", "events")  # the frames the derived day ledger stands for
# The same statement `repo.store_id` runs when it creates the id (stores written before `day_version`).
RECORD_DAYS = (
    "INSERT INTO day_version (day, version) SELECT day, 1 FROM "
    "(SELECT DISTINCT day FROM provider_usage UNION SELECT DISTINCT day FROM event_rollup) d WHERE true "
    "ON CONFLICT (day) DO NOTHING"
)

# The first and last day of each source: one MIN and one MAX per statement, so each is an index lookup
# (SQLite answers MIN and MAX in one SELECT with a scan). The events' name is "events".
SOURCE_DAYS: dict[str, str] = {
    **{
        provider: f"SELECT (SELECT MIN(day) FROM provider_usage WHERE provider = '{provider}'), "
        f"(SELECT MAX(day) FROM provider_usage WHERE provider = '{provider}')"
        for provider in USAGE_PROVIDERS
    },
    "events": "SELECT (SELECT MIN(day) FROM event_rollup), (SELECT MAX(day) FROM event_rollup)",
}

# The newest run of each source (the same statement for both drivers).
LATEST_RUNS = (
    "SELECT provider, status, rows_written, error, started_at, finished_at FROM sync_run r WHERE id = "
    "(SELECT MAX(id) FROM sync_run s WHERE s.provider = r.provider)"
)


def as_date(value: date | str) -> date:
    """A DATE column's value: SQLite hands back ISO text to plain SQL, PostgreSQL a date."""
    return value if isinstance(value, date) else date.fromisoformat(value)


class StoreReadError(MarginError):
    """A bulk read of the store failed."""


class NotReady(Exception):
    """The file is not a store this path can read (missing, or older tables): the caller uses SQLAlchemy."""


def connect(database: str) -> sqlite3.Connection:
    """A connection to an existing store file with the store's pragmas; NotReady when it is not one."""
    path = Path(database)
    if not path.is_file():
        raise NotReady(database)
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=10000")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:  # not a database, or not writable: SQLAlchemy's path says so in its words
        raise NotReady(database) from exc
    if not {"day_version", "setting", "event_rollup", "provider_usage", "sync_run"} <= tables:
        connection.close()
        raise NotReady(database)
    return connection


def store_id(connection: sqlite3.Connection) -> str:
    """As `repo.store_id`: the store's random identity, created (with the days recorded) on first use."""
    found = connection.execute("SELECT value FROM setting WHERE key = 'store_id'").fetchone()
    if found:
        return str(found[0])
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(RECORD_DAYS)
        connection.execute(
            "INSERT INTO setting (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING", (uuid.uuid4().hex,)
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return str(connection.execute("SELECT value FROM setting WHERE key = 'store_id'").fetchone()[0])


def day_versions(connection: sqlite3.Connection) -> dict[date, int]:
    return {date.fromisoformat(day): int(v) for day, v in connection.execute("SELECT day, version FROM day_version")}


def source_days(connection: sqlite3.Connection) -> dict[str, tuple[date, date]]:
    """As `repo.source_days`."""
    found = {name: connection.execute(sql).fetchone() for name, sql in SOURCE_DAYS.items()}
    return {name: (as_date(row[0]), as_date(row[1])) for name, row in found.items() if row and row[0] is not None}


def sync_status(connection: sqlite3.Connection) -> dict[str, tuple[str, date | None]]:
    """As `sync_runs.latest_runs`."""
    return {row[0]: (row[1], run_day(row[5] or row[4])) for row in connection.execute(LATEST_RUNS)}


def run_day(moment: datetime | str | None) -> date | None:
    """The UTC day of a run's timestamp (SQLite hands back text, PostgreSQL a datetime)."""
    if moment is None:
        return None
    return (moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)).date()


READ_SETTINGS = "SELECT key, value FROM setting"


def settings(connection: sqlite3.Connection) -> dict[str, str]:
    return dict(connection.execute(READ_SETTINGS).fetchall())


def price_override_rows(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """As `repo.read_price_override_rows`: (provider, model, effective_from, five rates in USD per MTok)."""
    from decimal import Decimal

    found = connection.execute(
        "SELECT provider, model, effective_from, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok, "
        "cache_write_1h_per_mtok, output_per_mtok FROM price_override"
    ).fetchall()
    return [(r[0], r[1], date.fromisoformat(r[2]), *(Decimal(v) for v in r[3:])) for r in found]


def read_small(connection: sqlite3.Connection, queries: Mapping[str, Query]) -> dict[str, pl.DataFrame]:
    """Frames of exact schemas through the stdlib driver: up to a few days' rows, read column-wise."""
    return {name: _read_columns(connection, sql, schema) for name, (sql, schema) in queries.items()}


def _read_columns(connection: sqlite3.Connection, sql: str, schema: pl.Schema) -> pl.DataFrame:
    """One query's rows as one JSON array per column, built by SQLite in one pass and decoded by polars: no
    Python object per value (half the time of Python rows). Rows in one scan, so the arrays line up."""
    arrays = ", ".join(f"json_group_array({name})" for name in schema.names())
    found = connection.execute(f"SELECT COUNT(*), {arrays} FROM ({sql})").fetchone()
    if found[0] == 0:
        return pl.DataFrame(schema=schema)
    columns = {}
    for (name, dtype), text in zip(schema.items(), found[1:], strict=True):
        stored = pl.Int64 if dtype in (pl.Int64, pl.Boolean) else pl.String  # dates and timestamps are text
        columns[name] = pl.Series(name, [text]).str.json_decode(pl.List(stored)).explode()
    return conform(pl.DataFrame(columns), schema)


def read_in_child(database: str, queries: Mapping[str, str]) -> dict[str, pl.DataFrame]:
    """Read the queries in up to two child processes at once, the largest first on its own."""
    from margin_core.settings import REPO_ROOT

    groups = _balance(database, queries, workers=min(2, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="margin-read-") as out:
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "margin_core.store.sqlite_reader", database, out],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO_ROOT,
            )
            for _ in groups
        ]
        failures = []
        for child, group in zip(children, groups, strict=True):
            _, stderr = child.communicate(json.dumps([[name, queries[name]] for name in group]))
            if child.returncode != 0:
                failures.append(stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {child.returncode}")
        if failures:
            raise StoreReadError(f"reading the store {database} failed: {failures[0]}")
        # rechunk copies the frames into memory before the folder goes
        return {name: pl.read_ipc(Path(out) / f"{name}.arrow").rechunk() for name in queries}


def read_frames(database: str, queries: Mapping[str, Query], *, small: bool) -> dict[str, pl.DataFrame]:
    """Frames of exact schemas from a store file: in process when `small`, else in child processes."""
    if small:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
        try:
            return read_small(connection, queries)
        finally:
            connection.close()
    raw = read_in_child(str(Path(database).resolve()), {n: sql for n, (sql, _) in queries.items()})
    return {name: conform(raw[name], schema) for name, (_, schema) in queries.items()}


def day_queries(days: Sequence[date] | None) -> dict[str, Query]:
    """The usage and events queries restricted to `days` (ISO literals of dates, never outside text)."""
    if days is None:
        return {n: SNAPSHOT[n] for n in BULK}
    listed = ", ".join(f"'{d.isoformat()}'" for d in sorted(days))
    return {n: (f"{SNAPSHOT[n][0]} WHERE day IN ({listed})", SNAPSHOT[n][1]) for n in BULK}


def read_days(database: str, days: Sequence[date] | None) -> dict[str, pl.DataFrame]:
    """As `repo.read_days`, from a store file without SQLAlchemy."""
    return read_frames(database, day_queries(days), small=days is not None and len(days) <= 2)


def read_small_frames(connection: sqlite3.Connection) -> dict[str, pl.DataFrame]:
    """As `repo.read_small_frames`."""
    return read_small(connection, {n: q for n, q in SNAPSHOT.items() if n not in BULK})


def _balance(database: str, queries: Mapping[str, str], *, workers: int) -> list[list[str]]:
    """Split the queries into `workers` groups of about equal rows (greedy, largest first)."""
    if workers <= 1 or len(queries) <= 1:
        return [list(queries)]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        counts = {
            name: connection.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0] for name, sql in queries.items()
        }
    groups: list[list[str]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for name in sorted(counts, key=counts.__getitem__, reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(name)
        loads[lightest] += counts[name]
    return [group for group in groups if group]


def conform(raw: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """`raw` cast to exactly `schema` (dates and timestamps from SQLite's text, booleans from integers)."""
    if raw.is_empty():
        return pl.DataFrame(schema=schema)
    return raw.select(_cast(name, dtype, raw.schema[name]) for name, dtype in schema.items())


def _cast(name: str, dtype: pl.DataType, source: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.Date and source == pl.String:
        return column.str.to_date("%Y-%m-%d").alias(name)
    if dtype == pl.Boolean and source != pl.Boolean:
        return (column.cast(pl.Int64) != 0).alias(name)
    if isinstance(dtype, pl.Datetime) and source == pl.String:
        return column.str.to_datetime(time_zone="UTC").alias(name)
    return column.cast(dtype).alias(name)

"""Engines and the Arrow-native bulk read path (DESIGN §7).

`pl.read_database` on a SQLAlchemy connection builds Python rows one by one; bulk frames are read with
ADBC straight into Arrow, then cast to the frame's `pl.Schema`: PostgreSQL in process, a SQLite file in
a child process (`sqlite_reader` says why), in-memory SQLite (tests) through SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from margin_core import settings
from margin_core.errors import MarginError


class StoreReadError(MarginError):
    """A bulk read of the store failed."""


_ENGINES: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL waits for other processes too
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")  # 256 MiB: event_seen is a large B-tree of random keys
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default: MARGIN_DATABASE_URL or the embedded store) with the tables created."""
    url = url or settings.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:")
        if not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_tables(engine)
    return engine


def _create_tables(engine: Engine) -> None:
    """Create the missing tables, one process at a time: writers starting together on a fresh store would
    otherwise both try to create them (DESIGN §6)."""
    from sqlalchemy import inspect, text

    from margin_core.store import tables  # noqa: F401  (registers the tables)

    if set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names()):
        return  # the usual start: nothing to create, no lock (a read-only store still opens)
    with engine.begin() as connection:
        begin_write(connection)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(4242017)"))  # released at commit
        SQLModel.metadata.create_all(connection)


_CACHE_KIB = 262_144  # SQLite's page cache per connection (see _sqlite_pragmas)
_BULK_CACHE_KIB = 16_384


@contextmanager
def bulk_cache(connection: Connection, *, small: bool) -> Iterator[None]:
    """On SQLite, a small page cache for the duration of a bulk import, so the import's memory stays bounded
    by its batch (DESIGN §5) and not by the 256 MiB cache that random event keys need."""
    if not small or connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql(f"PRAGMA cache_size=-{_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size=-{_CACHE_KIB}")
        connection.exec_driver_sql("PRAGMA shrink_memory")


def begin_write(connection: Connection) -> None:
    """On SQLite, take the write lock now (`BEGIN IMMEDIATE`), at the start of the transaction.

    A deferred transaction that reads and then writes fails at once with "database is locked" when another
    process wrote in between; one that starts with the lock waits for it up to the busy timeout instead.
    PostgreSQL needs nothing: its writers wait for each other's rows.
    """
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def shared_engine(url: str | None = None) -> Engine:
    """One engine per URL for the process (the app, the CLI and the SDK share it)."""
    url = url or settings.database_url()
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


Query = tuple[str, pl.Schema]


def read_frame(engine: Engine, sql: str, *, schema: pl.Schema) -> pl.DataFrame:
    """Run `sql` and return its rows as a frame of exactly `schema` (dtypes survive empty results)."""
    return read_frames(engine, {"frame": (sql, schema)})["frame"]


def read_frames(engine: Engine, queries: Mapping[str, Query]) -> dict[str, pl.DataFrame]:
    """Run several bulk reads at once (one child process for a SQLite file); frames of exact schemas."""
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        raw = _read_sqlite_in_child(str(Path(database).resolve()), {n: sql for n, (sql, _) in queries.items()})
    elif url.get_backend_name() == "postgresql":
        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        raw = {name: pl.read_database_uri(sql, uri, engine="adbc") for name, (sql, _) in queries.items()}
    else:
        with engine.connect() as connection:
            raw = {
                name: pl.read_database(sql, connection=connection, infer_schema_length=None)
                for name, (sql, _) in queries.items()
            }
    return {name: _conform(raw[name], schema) for name, (_, schema) in queries.items()}


def _read_sqlite_in_child(database: str, queries: Mapping[str, str]) -> dict[str, pl.DataFrame]:
    """Read the queries in up to two child processes at once, the largest first on its own."""
    groups = _balance(database, queries, workers=min(2, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="margin-read-") as out:
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "margin_core.store.sqlite_reader", database, out],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=settings.REPO_ROOT,
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


def _balance(database: str, queries: Mapping[str, str], *, workers: int) -> list[list[str]]:
    """Split the queries into `workers` groups of about equal rows (greedy, largest first)."""
    if workers <= 1 or len(queries) <= 1:
        return [list(queries)]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = {
            name: connection.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0] for name, sql in queries.items()
        }
    groups: list[list[str]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for name in sorted(rows, key=rows.__getitem__, reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(name)
        loads[lightest] += rows[name]
    return [group for group in groups if group]


def _conform(raw: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
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

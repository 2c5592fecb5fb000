"""Engines and the Arrow-native bulk read path (rules §7).

`pl.read_database` on a SQLAlchemy connection builds Python rows one by one; bulk frames are read with
ADBC straight into Arrow, then cast to the frame's `pl.Schema`: PostgreSQL in process, a SQLite file in
a child process (`sqlite_reader` says why), in-memory SQLite (tests) through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from margin_core import settings
from margin_core.store import light, sqlite_writer
from margin_core.store.light import StoreReadError as StoreReadError

_ENGINES: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in sqlite_writer.PRAGMAS:  # the child writer's connections have the same
        cursor.execute(pragma)
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
    otherwise both try to create them (rules §6)."""
    from sqlalchemy import inspect, text

    from margin_core.store import tables  # noqa: F401  (registers the tables)

    if set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names()):
        return  # the usual start: nothing to create, no lock (a read-only store still opens)
    with engine.begin() as connection:
        begin_write(connection)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(4242017)"))  # released at commit
        SQLModel.metadata.create_all(connection)


_CACHE_KIB = sqlite_writer.CACHE_KIB  # SQLite's page cache per connection (see _sqlite_pragmas)
_BULK_CACHE_KIB = 16_384


@contextmanager
def bulk_cache(connection: Connection, *, small: bool) -> Iterator[None]:
    """On SQLite, a small page cache for the duration of a bulk import, so the import's memory stays bounded
    by its batch (rules §5) and not by the 256 MiB cache that random event keys need."""
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


def read_frames(engine: Engine, queries: Mapping[str, Query], *, small: bool = False) -> dict[str, pl.DataFrame]:
    """Run several bulk reads at once (one child process for a SQLite file); frames of exact schemas.

    `small`: a few thousand rows, read in process (a child process costs more than their Python rows).
    """
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not small:
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


# The SQLite file reads and the dtype rules live in `light` (no SQLAlchemy: the CLI's report starts without it).
_read_sqlite_in_child = light.read_in_child
_conform = light.conform

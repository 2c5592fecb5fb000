"""Engines and the Arrow-native bulk read path (DESIGN §7).

`pl.read_database` on a SQLAlchemy connection builds Python rows one by one; bulk frames are read with
ADBC (SQLite and PostgreSQL drivers) straight into Arrow, then cast to the frame's `pl.Schema`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from margin_core import settings

_ENGINES: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB: event_seen is a large B-tree of random keys
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
    from margin_core.store import tables  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(engine)
    return engine


def shared_engine(url: str | None = None) -> Engine:
    """One engine per URL for the process (the app, the CLI and the SDK share it)."""
    url = url or settings.database_url()
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


def _adbc_uri(engine: Engine) -> str | None:
    """The URI an ADBC driver takes for this engine, or None where ADBC cannot reach it (in-memory)."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        return None if database in ("", ":memory:") else f"sqlite:///{Path(database).resolve()}"
    if backend == "postgresql":
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


def read_frame(engine: Engine, sql: str, *, schema: pl.Schema) -> pl.DataFrame:
    """Run `sql` and return its rows as a frame of exactly `schema` (dtypes survive empty results)."""
    uri = _adbc_uri(engine)
    if uri is None:
        with engine.connect() as connection:
            raw = pl.read_database(sql, connection=connection, infer_schema_length=None)
    else:
        raw = pl.read_database_uri(sql, uri, engine="adbc")
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

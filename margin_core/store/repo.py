"""Reads and writes of the store. Functions take a connection and never commit: the use case does.

Bulk writes go through the DB-API `executemany` with one `INSERT … ON CONFLICT DO UPDATE` that SQLite
and PostgreSQL share; bulk reads through `db.read_frame` (Arrow-native).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, text

from margin_core import schemas
from margin_core.store.db import read_frame, read_frames
from margin_core.store.light import (
    BULK,
    CUSTOMER_COLUMNS,
    READ_SETTINGS,
    SNAPSHOT,
    SOURCE_DAYS,
    as_date,
    day_queries,
)
from margin_core.store.tables import PriceOverride

USAGE_KEY = schemas.USAGE_KEY
USAGE_VALUES = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
    "cost_micros",
    "cost_source",
    "source",
)
REVENUE_COLUMNS = (
    "source_id",
    "kind",
    "customer_id",
    "service_start",
    "service_end",
    "amount",
    "currency",
    "amount_usd_cents",
    "stripe_rate_to_usd",
    "plan",
    "description",
)


def upsert_sql(table: str, *, columns: Sequence[str], key: Sequence[str], marker: str) -> str:
    """The statement that inserts one row of `columns`, or replaces the row of the same `key`."""
    updates = [c for c in columns if c not in key]
    action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates) if updates else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) {action}"
    )


def _upsert(
    connection: Connection,
    table: str,
    *,
    columns: Sequence[str],
    key: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    rows = list(rows)
    if not rows:
        return 0
    sql = upsert_sql(table, columns=columns, key=key, marker="?" if connection.dialect.name == "sqlite" else "%s")
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return len(rows)


def bump_version(connection: Connection, *, days_only: bool = False) -> None:
    """Mark the store changed, so cached reports are recomputed (any sync, import or mapping).

    `data_version` moves on every write; `tables_version` too unless the write changed only usage or events
    of some days (`days_only`: an SDK batch), so a reader keeps the small tables it has (`workspace`)."""
    connection.execute(text(BUMP_DAYS_VERSION if days_only else BUMP_VERSION))


# One statement: two writers of a fresh store both creating the rows would collide (rules §6).
_BUMP = (
    "INSERT INTO setting (key, value) VALUES {rows} ON CONFLICT (key) DO UPDATE "
    "SET value = CAST(CAST(setting.value AS BIGINT) + 1 AS VARCHAR(20))"
)
BUMP_VERSION = _BUMP.format(rows="('data_version', '1'), ('tables_version', '1')")
BUMP_DAYS_VERSION = _BUMP.format(rows="('data_version', '1')")


def touch_days(connection: Connection, days: Iterable[date | str]) -> None:
    """Record that a write changed the usage or events of `days` (in the writer's transaction).

    Each touched day gets a version above every version written before, so a derived file stamped with an
    older one is never trusted again (`margin_core.ledger_cache`).
    """
    touched = sorted({d if isinstance(d, str) else d.isoformat() for d in days})
    if not touched:
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(NEXT_DAY_VERSION)
        version = int(cursor.fetchone()[0])
        cursor.executemany(
            touch_day_sql(sqlite=connection.dialect.name == "sqlite"), [(day, version) for day in touched]
        )
    finally:
        cursor.close()


NEXT_DAY_VERSION = "SELECT COALESCE(MAX(version), 0) + 1 FROM day_version"


def touch_day_sql(*, sqlite: bool) -> str:
    """`touch_days`' statement for one (day, version) row."""
    marker = "?" if sqlite else "%s"
    greatest = "MAX" if sqlite else "GREATEST"  # two writers touching one day at once still move it twice
    return (
        f"INSERT INTO day_version (day, version) VALUES ({marker}, {marker}) "
        f"ON CONFLICT (day) DO UPDATE SET version = {greatest}(excluded.version, day_version.version + 1)"
    )


def forget_day_versions(connection: Connection) -> None:
    """After a wholesale delete (a cleared store): a new store id, so no derived file is trusted again."""
    connection.execute(text("DELETE FROM day_version"))
    connection.execute(text("DELETE FROM setting WHERE key = 'store_id'"))


def store_id(connection: Connection) -> str:
    """The store's random identity, created on first use; stamps of derived files carry it.

    On creation, every day that already holds usage or events is recorded (stores written before
    `day_version` existed).
    """
    found = connection.execute(text("SELECT value FROM setting WHERE key = 'store_id'")).scalar()
    if found:
        return str(found)
    import uuid

    connection.execute(
        text(
            "INSERT INTO day_version (day, version) SELECT day, 1 FROM "
            "(SELECT DISTINCT day FROM provider_usage UNION SELECT DISTINCT day FROM event_rollup) d WHERE true "
            "ON CONFLICT (day) DO NOTHING"
        )
    )
    connection.execute(
        text("INSERT INTO setting (key, value) VALUES ('store_id', :v) ON CONFLICT (key) DO NOTHING"),
        {"v": uuid.uuid4().hex},
    )
    return str(connection.execute(text("SELECT value FROM setting WHERE key = 'store_id'")).scalar())


def day_versions(connection: Connection) -> dict[date, int]:
    """Every recorded day and its version (one row per day with data: a few thousand at most)."""
    rows = connection.execute(text("SELECT day, version FROM day_version")).all()
    return {as_date(day): int(version) for day, version in rows}


def data_version(engine: Engine) -> int:
    """The store's change counter."""
    with engine.connect() as connection:
        value = connection.execute(text("SELECT value FROM setting WHERE key = 'data_version'")).scalar()
    return int(value or 0)


# --- writes -------------------------------------------------------------------------------------


def upsert_usage(connection: Connection, frame: pl.DataFrame) -> int:
    """Insert or replace usage rows on their natural key (a re-import of a bucket replaces it)."""
    columns = (*USAGE_KEY, *USAGE_VALUES)
    touch_days(connection, frame["day"].unique().to_list())
    return _upsert(connection, "provider_usage", columns=columns, key=USAGE_KEY, rows=frame.select(columns).rows())


def delete_usage(connection: Connection, *, provider: str, start: date, end: date, source: str = "api") -> None:
    """Remove a provider's rows of a window before writing its fresh fetch (buckets may disappear)."""
    window = {"p": provider, "s": source, "a": start, "b": end}
    where = "provider = :p AND source = :s AND day >= :a AND day < :b"
    touch_days(
        connection, connection.execute(text(f"SELECT DISTINCT day FROM provider_usage WHERE {where}"), window).scalars()
    )
    connection.execute(
        text("DELETE FROM provider_usage WHERE provider = :p AND source = :s AND day >= :a AND day < :b"),
        {"p": provider, "s": source, "a": start, "b": end},
    )


def upsert_customers(connection: Connection, rows: Iterable[Sequence[Any]]) -> int:
    """Insert or replace customers: rows in CUSTOMER_COLUMNS order."""
    return _upsert(connection, "customer", columns=CUSTOMER_COLUMNS, key=("customer_id",), rows=rows)


def upsert_aliases(connection: Connection, rows: Iterable[tuple[str, str]]) -> int:
    """Link app customer ids (alias) to Stripe customer ids."""
    return _upsert(connection, "customeralias", columns=("alias", "customer_id"), key=("alias",), rows=rows)


def upsert_mappings(connection: Connection, rows: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert or replace (provider, dimension, value) → customer mappings."""
    return _upsert(
        connection,
        "usage_mapping",
        columns=("provider", "dimension", "value", "customer_id"),
        key=("provider", "dimension", "value"),
        rows=rows,
    )


def upsert_api_keys(connection: Connection, rows: Iterable[tuple[str, str, str, str]]) -> int:
    """Names of provider API keys: (provider, api_key_id, name, project_id)."""
    return _upsert(
        connection,
        "api_key_label",
        columns=("provider", "api_key_id", "name", "project_id"),
        key=("provider", "api_key_id"),
        rows=rows,
    )


def upsert_revenue(connection: Connection, rows: Iterable[Sequence[Any]]) -> int:
    """Insert or replace revenue lines on source_id: rows in REVENUE_COLUMNS order."""
    return _upsert(connection, "revenue_line", columns=REVENUE_COLUMNS, key=("source_id",), rows=rows)


def delete_revenue_not_in(connection: Connection, *, kinds: Sequence[str], keep: Sequence[str]) -> None:
    """Drop lines of these kinds that a full re-list no longer yields (an invoice voided since)."""
    keep_set = set(keep)
    existing = connection.execute(
        text(f"SELECT source_id FROM revenue_line WHERE kind IN ({', '.join(f':k{i}' for i in range(len(kinds)))})"),
        {f"k{i}": k for i, k in enumerate(kinds)},
    ).scalars()
    stale = [s for s in existing if s not in keep_set]
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        connection.execute(
            text(f"DELETE FROM revenue_line WHERE source_id IN ({', '.join(f':s{i}' for i in range(len(chunk)))})"),
            {f"s{i}": s for i, s in enumerate(chunk)},
        )


def upsert_exchange_rates(connection: Connection, rows: Iterable[tuple[str, str]]) -> int:
    """Set exchange rates (currency upper-case, rate as Decimal text); `fx.save_rates` also reconverts."""
    return _upsert(connection, "exchange_rate", columns=("currency", "rate_to_usd"), key=("currency",), rows=rows)


def read_foreign_revenue(connection: Connection) -> list[tuple[int, int, str, Decimal | None]]:
    """(id, amount, currency, Stripe's rate to USD) of every revenue line not in USD."""
    rows = connection.execute(
        text("SELECT id, amount, currency, stripe_rate_to_usd FROM revenue_line WHERE UPPER(currency) <> 'USD'")
    ).all()
    return [(r.id, r.amount, r.currency, Decimal(r.stripe_rate_to_usd) if r.stripe_rate_to_usd else None) for r in rows]


def set_revenue_usd_cents(connection: Connection, cents_by_id: Sequence[tuple[int, int | None]]) -> None:
    """Store each line's `amount_usd_cents` (None: no rate), by revenue line id."""
    if cents_by_id:
        connection.execute(
            text("UPDATE revenue_line SET amount_usd_cents = :cents WHERE id = :id"),
            [{"id": line_id, "cents": cents} for line_id, cents in cents_by_id],
        )


def set_setting(connection: Connection, key: str, value: str) -> None:
    """Set one key/value setting."""
    _upsert(connection, "setting", columns=("key", "value"), key=("key",), rows=[(key, value)])


PRICE_OVERRIDE_KEY = ("provider", "model", "effective_from")
PRICE_OVERRIDE_RATES = tuple(c for c in PriceOverride.model_fields if c.endswith("_per_mtok"))
PRICE_OVERRIDE_COLUMNS = (*PRICE_OVERRIDE_KEY, *PRICE_OVERRIDE_RATES)
"""The price_override columns after its id, from tables.PriceOverride: the key, then the five rates."""


def upsert_price_override(connection: Connection, row: Sequence[Any]) -> int:
    """(provider, model, effective_from, input, cached_input, cache_write, cache_write_1h, output per MTok)."""
    return _upsert(connection, "price_override", columns=PRICE_OVERRIDE_COLUMNS, key=PRICE_OVERRIDE_KEY, rows=[row])


def delete_price_override(connection: Connection, *, provider: str, model: str, effective_from: date) -> None:
    """Remove one override."""
    connection.execute(
        text("DELETE FROM price_override WHERE provider = :p AND model = :m AND effective_from = :d"),
        {"p": provider, "m": model, "d": effective_from},
    )


def delete_mapping(connection: Connection, *, provider: str, dimension: str, value: str) -> None:
    """Remove one usage mapping."""
    connection.execute(
        text("DELETE FROM usage_mapping WHERE provider = :p AND dimension = :d AND value = :v"),
        {"p": provider, "d": dimension, "v": value},
    )


def clear_tables(connection: Connection, tables: Iterable[str]) -> None:
    """Delete every row of these tables (names from the code, never from input)."""
    for table in tables:
        connection.execute(text(f"DELETE FROM {table}"))


def delete_setting(connection: Connection, key: str) -> None:
    """Remove one setting."""
    connection.execute(text("DELETE FROM setting WHERE key = :k"), {"k": key})


# --- reads --------------------------------------------------------------------------------------


def read_small_frames(engine: Engine) -> dict[str, pl.DataFrame]:
    """The frames of a snapshot that are not bulk (mappings, customers, aliases, revenue lines, key names),
    in process: the derived ledger stands for usage and events (`margin_core.ledger_cache`)."""
    return read_frames(engine, {n: q for n, q in SNAPSHOT.items() if n not in BULK}, small=True)


def read_days(engine: Engine, days: Sequence[date] | None) -> dict[str, pl.DataFrame]:
    """The usage rows and rolled-up events of `days` (every day when None); in process when they are few."""
    return read_frames(engine, day_queries(days), small=days is not None and len(days) <= 2)


def read_usage(engine: Engine) -> pl.DataFrame:
    """Every provider usage row."""
    return read_frame(engine, SNAPSHOT["usage"][0], schema=SNAPSHOT["usage"][1])


def read_events(engine: Engine) -> pl.DataFrame:
    """Every rolled-up event row."""
    return read_frame(engine, SNAPSHOT["events"][0], schema=SNAPSHOT["events"][1])


def source_days(connection: Connection) -> dict[str, tuple[date, date]]:
    """The first and last day with data of each provider's usage and of the events ("events"): index
    lookups, no scan; sources without data are left out."""
    found = {name: connection.execute(text(sql)).one() for name, sql in SOURCE_DAYS.items()}
    return {name: (as_date(row[0]), as_date(row[1])) for name, row in found.items() if row[0] is not None}


def read_settings(connection: Connection) -> dict[str, str]:
    return {row.key: row.value for row in connection.execute(text(READ_SETTINGS))}


def read_exchange_rates(connection: Connection) -> dict[str, Decimal]:
    rows = connection.execute(text("SELECT currency, rate_to_usd FROM exchange_rate"))
    return {row.currency.upper(): Decimal(row.rate_to_usd) for row in rows}


def read_price_override_rows(connection: Connection) -> list[tuple[Any, ...]]:
    """Price overrides as stored: (provider, model, effective_from, five rates in USD per MTok as Decimal)."""
    return [(*r[:3], *(Decimal(v) for v in r[3:])) for r in read_price_overrides(connection)]


def read_price_overrides(connection: Connection) -> list[tuple[Any, ...]]:
    """Price overrides by provider, model and date: (provider, model, effective_from, five rates as entered)."""
    rows = connection.execute(
        text(f"SELECT {', '.join(PRICE_OVERRIDE_COLUMNS)} FROM price_override ORDER BY provider, model, effective_from")
    ).all()
    return [(r[0], r[1], as_date(r[2]), *r[3:]) for r in rows]


def has_rows(connection: Connection, table: str) -> bool:
    """True when the table (a name from the code) holds at least one row."""
    return connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None


def customer_metadata(row: dict[str, str]) -> str:
    """Canonical JSON of a customer's metadata."""
    return json.dumps(dict(sorted(row.items())), separators=(",", ":"))

"""A usage import staged in a temporary table, then merged: memory stays bounded (rules §5).

An import reads its file in batches inside one transaction. Usage rows of one bucket are summed over the
whole file, wherever they are in it, so the batches go into a temporary table first; the merge sums them
per bucket and upserts the buckets (a re-import of a bucket replaces it, as before).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from margin_core.store.repo import USAGE_KEY, USAGE_VALUES, touch_days

_TABLE = "staged_usage"
_SUMMED = tuple(c for c in USAGE_VALUES if c not in ("cost_source", "source"))
_GROUP = (*USAGE_KEY, "cost_source", "source")


def start_usage(connection: Connection) -> None:
    """An empty staging table for this transaction's usage rows."""
    with _cursor(connection) as cursor:
        columns = ", ".join(
            f"{c} BIGINT" if c in _SUMMED else ("day DATE" if c == "day" else f"{c} TEXT")
            for c in (*USAGE_KEY, *USAGE_VALUES)
        )
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_TABLE} (line BIGINT, {columns})")
        cursor.execute(f"DELETE FROM {_TABLE}")


def stage_usage(connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Add rows of (line, *USAGE_KEY, *USAGE_VALUES)."""
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    width = 1 + len(USAGE_KEY) + len(USAGE_VALUES)
    with _cursor(connection) as cursor:
        cursor.executemany(f"INSERT INTO {_TABLE} VALUES ({', '.join([marker] * width)})", rows)


def mixed_cost_bucket(connection: Connection) -> tuple[int, int] | None:
    """(line, earlier line) of the first bucket given once with a cost and once without, if any."""
    key = ", ".join(USAGE_KEY)
    with _cursor(connection) as cursor:
        cursor.execute(
            f"SELECT MIN(CASE WHEN cost_source = 'reported' THEN line END) AS costed, "
            f"MIN(CASE WHEN cost_source = 'estimated' THEN line END) AS bare FROM {_TABLE} GROUP BY {key} "
            "HAVING COUNT(DISTINCT cost_source) > 1"
        )
        pairs = cursor.fetchall()
    if not pairs:
        return None
    line, earlier = min((max(a, b), min(a, b)) for a, b in pairs)
    return int(line), int(earlier)


def merge_usage(connection: Connection) -> int:
    """Upsert the staged rows summed per bucket; return the buckets written."""
    columns = (*USAGE_KEY, *USAGE_VALUES)
    select = ", ".join(f"SUM({c})" if c in _SUMMED else c for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in USAGE_VALUES)
    with _cursor(connection) as cursor:
        cursor.execute(f"SELECT DISTINCT day FROM {_TABLE}")
        touch_days(connection, [row[0] for row in cursor.fetchall()])  # the derived ledger's days
        cursor.execute(
            f"INSERT INTO provider_usage ({', '.join(columns)}) SELECT {select} FROM {_TABLE} WHERE true "
            f"GROUP BY {', '.join(_GROUP)} ORDER BY {', '.join(USAGE_KEY)} "
            f"ON CONFLICT ({', '.join(USAGE_KEY)}) DO UPDATE SET {updates}"
        )
        count = cursor.rowcount
        cursor.execute(f"DELETE FROM {_TABLE}")
    return int(count)


@contextmanager
def _cursor(connection: Connection) -> Iterator[Any]:
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        yield cursor
    finally:
        cursor.close()

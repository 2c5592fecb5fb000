"""Read what the SDK wrote: `event_rollup` rows through a separate engine, as the app would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from margin_core.store.db import make_engine

ROLLUP_COLUMNS = (
    "day, customer_id, feature, provider, model, api_key_id, metadata_json, has_cost, requests, input_tokens, "
    "cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, cost_micros"
)


def rollup(url: str) -> list[dict[str, Any]]:
    """Every event_rollup row as a dict (read with a separate engine, as the app would)."""
    engine = make_engine(url)  # creates the tables, so "nothing written yet" reads as no rows
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT {ROLLUP_COLUMNS} FROM event_rollup ORDER BY customer_id, model"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def totals(url: str, column: str, *, by: str = "customer_id") -> dict[str, int]:
    """Sum of `column` per value of `by`."""
    out: dict[str, int] = {}
    for row in rollup(url):
        out[row[by]] = out.get(row[by], 0) + int(row[column])
    return out

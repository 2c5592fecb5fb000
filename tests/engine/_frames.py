"""Frame builders shared by the attribution and reconciliation tests: one row per dict, defaults filled in."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from margin_core import schemas

DAY = date(2026, 3, 2)

USAGE_DEFAULTS: dict[str, Any] = {
    "day": DAY,
    "provider": "openai",
    "model": "gpt-4o",
    "api_key_id": "",
    "project_id": "",
    "user_id": "",
    "input_tokens": 0,
    "cached_input_tokens": 0,
    "cache_write_tokens": 0,
    "cache_write_1h_tokens": 0,
    "output_tokens": 0,
    "requests": 0,
    "cost_micros": 0,
    "cost_source": "reported",
    "source": "api",
}
EVENT_DEFAULTS: dict[str, Any] = {
    "day": DAY,
    "customer_id": "c1",
    "feature": "chat",
    "provider": "openai",
    "model": "gpt-4o",
    "api_key_id": "",
    "metadata_json": "{}",
    "has_cost": False,
    "requests": 1,
    "input_tokens": 0,
    "cached_input_tokens": 0,
    "cache_write_tokens": 0,
    "cache_write_1h_tokens": 0,
    "output_tokens": 0,
    "cost_micros": 0,
}


def usage(*rows: dict[str, Any]) -> pl.LazyFrame:
    """Provider usage rows, `usage_id` numbered from 0 in the order given."""
    return pl.DataFrame(
        [{**USAGE_DEFAULTS, "usage_id": i, **row} for i, row in enumerate(rows)], schema=schemas.USAGE
    ).lazy()


def events(*rows: dict[str, Any]) -> pl.LazyFrame:
    """SDK request events."""
    return pl.DataFrame([{**EVENT_DEFAULTS, **row} for row in rows], schema=schemas.EVENTS).lazy()


def mappings(*rows: tuple[str, str, str, str]) -> pl.LazyFrame:
    """Customer mappings as (provider, dimension, value, customer_id)."""
    return pl.DataFrame(rows, schema=schemas.MAPPINGS, orient="row").lazy()


LEDGER_DEFAULTS: dict[str, Any] = {
    "day": DAY,
    "customer_id": "c1",
    "feature": "chat",
    "provider": "openai",
    "model": "m",
    "metadata_json": "{}",
    "cost_micros": 0,
    "estimated_micros": 0,
    "requests": 0,
    "input_tokens": 0,
    "cached_input_tokens": 0,
    "cache_write_tokens": 0,
    "output_tokens": 0,
}


def ledger(*rows: dict[str, Any]) -> pl.LazyFrame:
    """Attribution ledger rows (LEDGER)."""
    return pl.DataFrame([{**LEDGER_DEFAULTS, **row} for row in rows], schema=schemas.LEDGER).lazy()

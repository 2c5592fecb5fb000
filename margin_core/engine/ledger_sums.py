"""The attribution ledger summed to the grains most views need (rules §4.2's output, §7 Live).

A day's ledger holds a row per customer, feature, provider, model and metadata; the per-customer reports,
the cost views, alerts and projections need far fewer rows. Sums are exact (integers), so summing the
per-day sums over a range gives the range's sums: the derived day ledger keeps both per day.
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.schemas import TOKEN_COLUMNS

_SUMMED = ("cost_micros", "estimated_micros", "requests", *TOKEN_COLUMNS)


def customer_days(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Per day and customer (null: unattributed): cost, estimated cost, requests and tokens (CUSTOMER_DAYS)."""
    return ledger.group_by("day", "customer_id").agg(pl.col(_SUMMED).sum()).select(schemas.CUSTOMER_DAYS.names())


def customer_model_days(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Per day, customer, provider and model: the same sums (CUSTOMER_MODEL_DAYS). Rows with tokens but no
    requests are summed apart from the others, so every summed row still has tokens without requests
    exactly where one of its rows had (the revenue basis of `dimensions.by_usage_attribute`)."""
    uncounted = ((pl.sum_horizontal(TOKEN_COLUMNS) > 0) & (pl.col("requests") == 0)).alias("_uncounted")
    return (
        ledger.group_by("day", "customer_id", "provider", "model", uncounted)
        .agg(pl.col(_SUMMED).sum())
        .select(schemas.CUSTOMER_MODEL_DAYS.names())
    )


def usage_cost_days(usage: pl.LazyFrame) -> pl.LazyFrame:
    """The usage rows' cost per day and provider (USAGE_COST_DAYS): what each provider reported."""
    return usage.group_by("day", "provider").agg(pl.col("cost_micros").sum()).select(schemas.USAGE_COST_DAYS.names())


def coverage_days(row_coverage: pl.LazyFrame) -> pl.LazyFrame:
    """Row coverage (attribution.coverage) summed per day, provider, key and mapped customer (ROW_COVERAGE)."""
    return (
        row_coverage.group_by("day", "provider", "api_key_id", "mapped_customer")
        .agg(pl.col("row_tokens", "covered_tokens").sum())
        .select(schemas.ROW_COVERAGE.names())
    )


def usage_days(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Per day, attributed or not, feature, provider and model: the same sums (USAGE_DAYS)."""
    attributed = pl.col("customer_id").is_not_null().alias("attributed")
    return (
        ledger.group_by("day", attributed, "feature", "provider", "model")
        .agg(pl.col(_SUMMED).sum())
        .select(schemas.USAGE_DAYS.names())
    )

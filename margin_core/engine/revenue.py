"""Recognized revenue per customer per day (rules §4.3, fixtures/stripe/README rule 6).

Each revenue item of N US cents over D service days gives every day |N| div D, one more cent to the
first |N| mod D days, then N's sign. Only the days inside the range are generated, so the cost of a
report is bounded by its range, not by the length of annual contracts.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core import schemas


def recognize_daily(revenue: pl.LazyFrame, *, start: date, end: date) -> pl.LazyFrame:
    """DAILY_REVENUE rows (customer_id, day, plan, revenue_cents) for the days of [start, end).

    Items without a USD amount (no exchange rate) add nothing here; `unconverted` lists them.
    """
    schemas.require(revenue, schemas.REVENUE, frame_name="revenue")
    days = (pl.col("service_end") - pl.col("service_start")).dt.total_days().clip(lower_bound=1)
    first = pl.max_horizontal(pl.col("service_start"), pl.lit(start))
    last = pl.min_horizontal(
        pl.max_horizontal(pl.col("service_end"), pl.col("service_start") + pl.duration(days=1)), pl.lit(end)
    )
    amount = pl.col("amount_usd_cents")
    per_day = amount.abs() // pl.col("_days")
    extra = amount.abs() % pl.col("_days")
    index = (pl.col("day") - pl.col("service_start")).dt.total_days()
    return (
        revenue.filter(amount.is_not_null() & (first < last))
        .with_columns(days.alias("_days"), pl.date_ranges(first, last, closed="left").alias("day"))
        .explode("day")
        .select(
            "customer_id",
            "day",
            "plan",
            (amount.sign() * (per_day + (index < extra).cast(pl.Int64))).cast(pl.Int64).alias("revenue_cents"),
        )
    )


def unconverted(revenue: pl.LazyFrame, *, start: date, end: date) -> pl.LazyFrame:
    """Items touching the range that have no USD amount: flagged, never silently dropped (rules §4.3)."""
    return revenue.filter(
        pl.col("amount_usd_cents").is_null()
        & (pl.col("service_start") < pl.lit(end))
        & (pl.max_horizontal(pl.col("service_end"), pl.col("service_start") + pl.duration(days=1)) > pl.lit(start))
    ).select("customer_id", "source_id", "amount", "currency")

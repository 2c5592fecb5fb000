"""Margins and status (rules §4.4) per customer and over time; amounts stay integer micro-dollars."""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core.engine.granularity import Granularity, bucket_period, period_starts
from margin_core.engine.money import MICROS_PER_CENT
from margin_core.vocabulary import UNATTRIBUTED

DEFAULT_BREAK_EVEN = 0.20


def margin_pct(revenue_micros: int, cost_micros: int) -> float | None:
    """`with_margin`'s margin_pct for one pair of totals: (revenue − cost) / revenue, None when revenue ≤ 0."""
    return (revenue_micros - cost_micros) / revenue_micros if revenue_micros > 0 else None


def with_margin(frame: pl.LazyFrame, *, break_even: float = DEFAULT_BREAK_EVEN) -> pl.LazyFrame:
    """Add margin_micros, margin_pct (null when revenue ≤ 0) and status, decided on exact values."""
    revenue, cost = pl.col("revenue_micros"), pl.col("cost_micros")
    margin = revenue - cost
    pct = pl.when(revenue > 0).then(margin.cast(pl.Float64) / revenue.cast(pl.Float64)).otherwise(None)
    # margin/revenue < threshold ⇔ margin·10^6 < threshold·10^6·revenue, in integers (revenue > 0).
    threshold_ppm = round(break_even * 1_000_000)
    below_threshold = margin.cast(pl.Int128) * 1_000_000 < revenue.cast(pl.Int128) * threshold_ppm
    status = (
        pl.when(margin < 0)
        .then(pl.lit("unprofitable"))
        .when((revenue <= 0) | below_threshold)
        .then(pl.lit("break_even"))
        .otherwise(pl.lit("profitable"))
    )
    return frame.with_columns(margin.alias("margin_micros"), pct.alias("margin_pct"), status.alias("status"))


def revenue_by_customer(daily: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id, revenue_micros from DAILY_REVENUE rows."""
    return daily.group_by("customer_id").agg(
        (pl.col("revenue_cents").sum() * MICROS_PER_CENT).cast(pl.Int64).alias("revenue_micros")
    )


def customer_margins(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    customers: pl.LazyFrame,
    unconverted: pl.LazyFrame | None = None,
    break_even: float = DEFAULT_BREAK_EVEN,
) -> pl.LazyFrame:
    """One row per customer with revenue or cost in the range, plus the `(unattributed)` row (rules §4.8).

    `ledger` is the ledger or its per-day sums (CUSTOMER_DAYS): customer_id, cost_micros, estimated_micros.

    `unconverted` (customer_id) lists customers whose revenue has no exchange rate: they keep their row,
    with the amount adding 0 (rules §4.3).
    """
    costs = ledger.group_by(pl.col("customer_id").fill_null(UNATTRIBUTED)).agg(
        pl.col("cost_micros").sum(), pl.col("estimated_micros").sum()
    )
    revenue = revenue_by_customer(daily_revenue)
    listed = [
        revenue.filter(pl.col("revenue_micros") != 0).select("customer_id"),
        costs.filter(pl.col("cost_micros") != 0).select("customer_id"),
        pl.LazyFrame({"customer_id": [UNATTRIBUTED]}),
    ]
    if unconverted is not None:
        listed.append(unconverted.select("customer_id"))
    ids = pl.concat(listed).unique()
    names = customers.select("customer_id", pl.col("name").alias("customer_name"), "tier")
    table = (
        ids.join(revenue, on="customer_id", how="left")
        .join(costs, on="customer_id", how="left")
        .join(names, on="customer_id", how="left")
        .with_columns(
            pl.col("revenue_micros", "cost_micros", "estimated_micros").fill_null(0),
            pl.when(pl.col("customer_id") == UNATTRIBUTED)
            .then(pl.lit(UNATTRIBUTED))
            .otherwise(pl.col("customer_name").fill_null(pl.col("customer_id")))
            .alias("customer_name"),
            pl.col("tier").fill_null(""),
        )
    )
    return with_margin(table, break_even=break_even).with_columns(
        pl.when(pl.col("customer_id") == UNATTRIBUTED)
        .then(pl.lit("unprofitable"))
        .otherwise(pl.col("status"))
        .alias("status")
    )


def margin_over_time(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    start: date,
    end: date,
    granularity: Granularity,
    break_even: float = DEFAULT_BREAK_EVEN,
) -> pl.LazyFrame:
    """Revenue, cost and margin per period; every period of the range, zeros included (`ledger`: the
    ledger or any of its per-day sums, day and cost_micros)."""
    revenue = daily_revenue.group_by(bucket_period(pl.col("day"), granularity)).agg(
        (pl.col("revenue_cents").sum() * MICROS_PER_CENT).cast(pl.Int64).alias("revenue_micros")
    )
    cost = ledger.group_by(bucket_period(pl.col("day"), granularity)).agg(pl.col("cost_micros").sum())
    table = (
        period_starts(start, end, granularity)
        .join(revenue, on="period_start", how="left")
        .join(cost, on="period_start", how="left")
        .with_columns(pl.col("revenue_micros", "cost_micros").fill_null(0), pl.lit(granularity).alias("granularity"))
    )
    return with_margin(table, break_even=break_even).sort("period_start")

"""What the attribution must add up to, shown (rules §4.2 invariant, §4.8): event coverage per provider and
key, and the reconciliation of every provider's cost per month.
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas


def coverage_by_key(row_coverage: pl.LazyFrame) -> pl.LazyFrame:
    """Per provider, key and the customer its rows are mapped to (null: unmapped): the rows' tokens, the part
    their candidate events cover (each row at most its own tokens) and `coverage`, their ratio (null where
    the rows carry no tokens)."""
    schemas.require(row_coverage, schemas.ROW_COVERAGE, frame_name="row_coverage")
    return (
        row_coverage.group_by("provider", "api_key_id", pl.col("mapped_customer").alias("customer_id"))
        .agg(pl.col("row_tokens").sum(), pl.col("covered_tokens").sum())
        .with_columns(
            pl.when(pl.col("row_tokens") > 0)
            .then(pl.col("covered_tokens") / pl.col("row_tokens"))
            .otherwise(None)
            .alias("coverage")
        )
    )


def reconcile(usage_cost: pl.LazyFrame, *, ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Per provider and month: the usage rows' cost (the provider's report wherever it gives one), what the
    ledger attributes of it and leaves unattributed, their `difference` (0 by the invariant), the events
    counted at their own cost on provider-days without usage (`own_cost_micros`, on top), the total
    `cost_micros` (what the `providers` report shows) and the part of it Margin estimated.

    `usage_cost` is the usage rows' cost per day and provider (USAGE_COST_DAYS: a day and provider with
    usage rows has a row); `ledger` the ledger summed per day and provider, attributed or not (USAGE_DAYS).
    Both cover the same range.
    """
    schemas.require(usage_cost, schemas.USAGE_COST_DAYS, frame_name="usage_cost")
    schemas.require(ledger, schemas.USAGE_DAYS, frame_name="ledger")
    month = pl.col("day").dt.truncate("1mo").alias("month")
    reported = usage_cost.group_by("provider", month).agg(pl.col("cost_micros").sum().alias("reported_micros"))
    usage_days = usage_cost.select("day", "provider").unique().with_columns(pl.lit(True).alias("usage_day"))
    on_usage_day = pl.col("usage_day").fill_null(False)
    attributed = pl.col("attributed")
    ledger_sums = (
        ledger.join(usage_days, on=["day", "provider"], how="left", validate="m:1")
        .group_by("provider", month)
        .agg(
            _sum_where(on_usage_day & attributed).alias("attributed_micros"),
            _sum_where(on_usage_day & ~attributed).alias("unattributed_micros"),
            _sum_where(~on_usage_day).alias("own_cost_micros"),
            pl.col("estimated_micros").sum(),
        )
    )
    money = ["reported_micros", "attributed_micros", "unattributed_micros", "own_cost_micros", "estimated_micros"]
    return (
        reported.join(ledger_sums, on=["provider", "month"], how="full", coalesce=True)
        .with_columns(pl.col(money).fill_null(0))
        .with_columns(
            (pl.col("reported_micros") - pl.col("attributed_micros") - pl.col("unattributed_micros")).alias(
                "difference_micros"
            ),
            (pl.col("reported_micros") + pl.col("own_cost_micros")).alias("cost_micros"),
        )
        .select(
            "provider",
            "month",
            "reported_micros",
            "attributed_micros",
            "unattributed_micros",
            "difference_micros",
            "own_cost_micros",
            "cost_micros",
            "estimated_micros",
        )
    )


def _sum_where(condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.col("cost_micros")).otherwise(0).sum()

"""Month-end forecast (rules §4.9): a projection, never mixed into reported figures.

The projection of the month in progress is its month-to-date figure plus the mean of the last 7
complete days times the days left (today included: it is not complete). "Today" is an argument: the
engine has no clock. The 7 days are the 7 complete days before today, reaching into the previous
month early in a month.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from margin_core.engine.money import MICROS_PER_CENT

FORECAST = pl.Schema(
    {
        "measure": pl.String,  # revenue, cost, margin
        "provider": pl.String,  # cost per provider; "" for the totals
        "month_start": pl.Date,
        "month_to_date_micros": pl.Int64,
        "last_7_days_micros": pl.Int64,
        "days_left": pl.Int64,
        "projected_micros": pl.Int64,
    }
)


def month_bounds(today: date) -> tuple[date, date]:
    """The month in progress on `today` as [first day, first day of the next month)."""
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following


def _project(daily: pl.LazyFrame, *, keys: list[str], today: date) -> pl.LazyFrame:
    """Per key: month-to-date, last 7 complete days and the projection of `amount_micros` (per day rows)."""
    first, following = month_bounds(today)
    days_left = (following - today).days
    week_start = today - timedelta(days=7)
    day = pl.col("day")
    amount = pl.col("amount_micros").cast(pl.Int128)
    mtd = amount.filter((day >= first) & (day < today)).sum()
    last7 = amount.filter((day >= week_start) & (day < today)).sum()
    # mean × days left, rounded half-up from the exact integers
    projected = (
        pl.col("month_to_date_micros") + (pl.col("last_7_days_micros").cast(pl.Int128) * days_left * 2 + 7) // 14
    )
    return (
        daily.filter((day >= min(first, week_start)) & (day < today))
        .group_by(keys)
        .agg(mtd.cast(pl.Int64).alias("month_to_date_micros"), last7.cast(pl.Int64).alias("last_7_days_micros"))
        .with_columns(
            pl.lit(first).alias("month_start"),
            pl.lit(days_left, pl.Int64).alias("days_left"),
            projected.cast(pl.Int64).alias("projected_micros"),
        )
    )


def month_end_forecast(cost: pl.LazyFrame, *, daily_revenue: pl.LazyFrame, today: date) -> pl.LazyFrame:
    """Revenue, cost (total and per provider) and margin projected to the end of `today`'s month.

    `cost` has day, provider, cost_micros (the ledger); `daily_revenue` day, revenue_cents. Margin is the
    projected revenue minus the projected total cost. Providers without cost in the window are left out.
    """
    per_provider = _project(
        cost.select("day", "provider", pl.col("cost_micros").alias("amount_micros")), keys=["provider"], today=today
    ).with_columns(pl.lit("cost").alias("measure"))
    total_cost = _project(
        cost.select("day", pl.lit("").alias("provider"), pl.col("cost_micros").alias("amount_micros")),
        keys=["provider"],
        today=today,
    ).with_columns(pl.lit("cost").alias("measure"))
    revenue = _project(
        daily_revenue.select(
            "day",
            pl.lit("").alias("provider"),
            (pl.col("revenue_cents") * MICROS_PER_CENT).cast(pl.Int64).alias("amount_micros"),
        ),
        keys=["provider"],
        today=today,
    ).with_columns(pl.lit("revenue").alias("measure"))
    columns = list(FORECAST.names())
    empty = pl.LazyFrame(
        {"provider": [""], "month_to_date_micros": [0], "last_7_days_micros": [0], "projected_micros": [0]},
        schema={k: FORECAST[k] for k in ("provider", "month_to_date_micros", "last_7_days_micros", "projected_micros")},
    )
    sums = ["month_to_date_micros", "last_7_days_micros", "projected_micros"]
    rev_total = pl.concat([revenue.select("provider", *sums), empty]).group_by("provider").agg(pl.col(sums).sum())
    cost_total = pl.concat([total_cost.select("provider", *sums), empty]).group_by("provider").agg(pl.col(sums).sum())
    first, following = month_bounds(today)
    margin = (
        rev_total.join(cost_total, on="provider", suffix="_cost")
        .select(
            pl.lit("margin").alias("measure"),
            "provider",
            pl.lit(first).alias("month_start"),
            *((pl.col(s) - pl.col(f"{s}_cost")).alias(s) for s in sums),
            pl.lit((following - today).days, pl.Int64).alias("days_left"),
        )
        .select(columns)
    )
    totals = [
        rev_total.with_columns(
            pl.lit("revenue").alias("measure"),
            pl.lit(first).alias("month_start"),
            pl.lit((following - today).days, pl.Int64).alias("days_left"),
        ).select(columns),
        cost_total.with_columns(
            pl.lit("cost").alias("measure"),
            pl.lit(first).alias("month_start"),
            pl.lit((following - today).days, pl.Int64).alias("days_left"),
        ).select(columns),
    ]
    return pl.concat([*totals, per_provider.select(columns), margin], how="vertical").cast(FORECAST)

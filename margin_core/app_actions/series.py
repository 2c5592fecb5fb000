"""Margin over time: revenue, cost and margin per period, split by a dimension, and period-on-period change."""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core import reports
from margin_core.engine import granularity, margins
from margin_core.engine.granularity import Granularity, change_in_points
from margin_core.engine.margins import with_margin
from margin_core.errors import ConfigError
from margin_core.vocabulary import ALL_OTHERS
from margin_core.workspace import Workspace

SPLITS = ("customer", "tier", "feature", "model", "provider")


def over_time_split(
    workspace: Workspace, *, start: date, end: date, grain: Granularity, by: str, top: int = 6
) -> pl.DataFrame:
    """Revenue, cost and margin per period and per value of `by` (customer, tier, feature, model,
    provider): each period is its own report range, so values add up to the unsplit series. Values past
    the `top` by cost are summed as `ALL_OTHERS`, "(all others)"."""
    if by not in SPLITS:
        raise ConfigError(f"cannot split by {by!r}; one of {', '.join(SPLITS)}")
    # Attribution is per day: compute the range's ledger and revenue once, then slice them per period.
    ledger = reports.ledger(workspace, start=start, end=end)[0].collect().lazy()
    daily = reports.daily_revenue(workspace, start=start, end=end).collect().lazy()
    customers = workspace.customers.lazy()
    starts = granularity.period_starts(start, end, grain).collect()["period_start"].to_list()
    lazy_frames = []
    for index, period in enumerate(starts):
        following = starts[index + 1] if index + 1 < len(starts) else end
        first, last = max(period, start), min(following, end)
        inside = (pl.col("day") >= first) & (pl.col("day") < last)
        led, rev = ledger.filter(inside), daily.filter(inside)
        if by == "customer":
            rows = margins.customer_margins(led, daily_revenue=rev, customers=customers).select(
                pl.col("customer_name").alias("value"), "revenue_micros", "cost_micros"
            )
        else:
            rows = reports.dimension_rows(led, daily_revenue=rev, workspace=workspace, dimension=by).select(
                pl.col(by).alias("value"), "revenue_micros", "cost_micros"
            )
        lazy_frames.append(rows.with_columns(pl.lit(period).alias("period_start")))
    frames = pl.collect_all(lazy_frames)
    if not frames:
        return pl.DataFrame(
            schema={"period_start": pl.Date, "value": pl.String, "revenue_micros": pl.Int64, "cost_micros": pl.Int64}
        )
    stacked = pl.concat(frames)
    ranking = (
        stacked.group_by("value")
        .agg(pl.col("cost_micros").sum(), pl.col("revenue_micros").sum())
        .sort("cost_micros", "revenue_micros", "value", descending=[True, True, False])
    )
    keep = ranking.head(top)["value"].to_list()
    grouped = (
        stacked.with_columns(
            pl.when(pl.col("value").is_in(keep)).then(pl.col("value")).otherwise(pl.lit(ALL_OTHERS)).alias("value")
        )
        .group_by("period_start", "value")
        .agg(pl.col("revenue_micros").sum(), pl.col("cost_micros").sum())
    )
    return (
        with_margin(grouped.lazy(), break_even=workspace.break_even)
        .sort("period_start", "value")
        .collect()
        .select("period_start", "value", "revenue_micros", "cost_micros", "margin_micros", "margin_pct", "status")
    )


def with_change_in_points(series: pl.DataFrame) -> pl.DataFrame:
    """Add `change_pts`: each period's margin_pct against the previous period's, in points."""
    previous = series["margin_pct"].shift(1).to_list()
    current = series["margin_pct"].to_list()
    changes = [change_in_points(p, c) for p, c in zip(previous, current, strict=True)]
    return series.with_columns(pl.Series("change_pts", changes, dtype=pl.Float64))


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The range of the same length just before [start, end)."""
    return start - (end - start), start

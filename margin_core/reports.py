"""The reports of DESIGN §5 for a range, from a workspace snapshot; one place for every column rule.

Frames returned here keep money as integer micro-dollars (`*_micros`); `to_cli_frame` turns them
into the CLI's columns (USD with two decimals, margin_pct with four, rounded half-up only there).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from margin_core.engine import attribution, dimensions, granularity, margins, revenue, usage_patterns
from margin_core.vocabulary import REPORT_KINDS as REPORT_KINDS  # re-exported: pages, bench and tests read them here
from margin_core.vocabulary import ReportKind as ReportKind
from margin_core.workspace import Workspace

_DIMENSION_TAIL = ["revenue_usd", "cost_usd", "margin_usd", "margin_pct", "requests", "tokens"]
COLUMNS: dict[str, list[str]] = {
    "customers": [
        "customer_id",
        "customer_name",
        "tier",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "status",
        "estimated_cost_usd",
    ],
    "models": ["model", "provider", *_DIMENSION_TAIL],
    "providers": ["provider", *_DIMENSION_TAIL],
    "features": ["feature", *_DIMENSION_TAIL],
    "tiers": ["tier", *_DIMENSION_TAIL],
    "segments": ["segment", *_DIMENSION_TAIL],
    "usage-patterns": ["usage_pattern", *_DIMENSION_TAIL],
    "over-time": ["period_start", "granularity", "revenue_usd", "cost_usd", "margin_usd", "margin_pct"],
    "unattributed": ["provider", "dimension", "value", "cost_usd", "requests", "first_day", "last_day"],
    "alerts": ["kind", "subject", "previous", "current", "change_pct", "first_day"],
}


def _in_range(start: date, end: date) -> pl.Expr:
    return (pl.col("day") >= start) & (pl.col("day") < end)


def ledger(workspace: Workspace, *, start: date, end: date) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The range's attribution ledger and unattributed rows.

    Attribution is decided day by day (DESIGN §4.2): once `prepare` attributed the whole snapshot, every
    range is a filter of it; before that, only the range is attributed (a one-off CLI report).
    """
    key = ("ledger",) if ("ledger",) in workspace.memo else ("ledger", start, end)
    led, unattributed_rows = workspace.remember(key, lambda: _attribute(workspace, start=start, end=end))
    return led.lazy().filter(_in_range(start, end)), unattributed_rows.lazy().filter(_in_range(start, end))


def prepare(workspace: Workspace) -> Workspace:
    """Attribute the whole snapshot once, so that every later range and page only groups (the app)."""
    workspace.remember(("ledger",), lambda: _attribute(workspace, start=None, end=None))
    return workspace


def _attribute(workspace: Workspace, *, start: date | None, end: date | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    usage, events = workspace.usage.lazy(), workspace.events.lazy()
    if start is not None and end is not None:
        usage, events = usage.filter(_in_range(start, end)), events.filter(_in_range(start, end))
    led, unattributed_rows = attribution.attribute(usage, events=events, mappings=workspace.mappings.lazy())
    collected = pl.collect_all([led, unattributed_rows])
    return collected[0], collected[1]


def daily_revenue(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """Recognized revenue per customer, day and plan in the range, US cents."""
    daily = workspace.remember(
        ("daily_revenue", start, end),
        lambda: revenue.recognize_daily(workspace.revenue.lazy(), start=start, end=end).collect(),
    )
    return daily.lazy()


def customer_margins(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The `customers` report, in micro-dollars."""
    led, _ = ledger(workspace, start=start, end=end)
    return margins.customer_margins(
        led,
        daily_revenue=daily_revenue(workspace, start=start, end=end),
        customers=workspace.customers.lazy(),
        unconverted=revenue.unconverted(workspace.revenue.lazy(), start=start, end=end),
        break_even=workspace.break_even,
    ).collect()


def dimension_margins(workspace: Workspace, *, start: date, end: date, dimension: str) -> pl.DataFrame:
    """Cross-subsidy rows for one dimension: feature, model, provider, tier, segment, region, meta:<key>,
    cmeta:<key> (a customer metadata key) or usage_pattern (DESIGN §4.5 v3)."""
    led, _ = ledger(workspace, start=start, end=end)
    daily = daily_revenue(workspace, start=start, end=end)
    if dimension == "usage_pattern":
        return usage_patterns.by_usage_pattern(
            led, daily_revenue=daily, customers=workspace.customers.lazy(), break_even=workspace.break_even
        ).collect()
    if dimension in dimensions.CUSTOMER_COLUMNS or dimension.startswith("cmeta:"):
        attribute = dimension.replace("cmeta:", "meta:")
        frame = dimensions.by_customer_attribute(
            led,
            daily_revenue=daily,
            customers=workspace.customers.lazy(),
            attribute=attribute,
            break_even=workspace.break_even,
        )
        return frame.rename({"value": dimension.removeprefix("cmeta:")}).collect()
    values = ["provider", "model"] if dimension == "model" else [dimension]
    return dimensions.by_usage_attribute(
        led, daily_revenue=daily, values=values, basis=workspace.basis, break_even=workspace.break_even
    ).collect()


def over_time(
    workspace: Workspace, *, start: date, end: date, grain: granularity.Granularity | None = None
) -> pl.DataFrame:
    """Revenue, cost and margin per day, week or month (adaptive unless `grain` is given)."""
    led, _ = ledger(workspace, start=start, end=end)
    return margins.margin_over_time(
        led,
        daily_revenue=daily_revenue(workspace, start=start, end=end),
        start=start,
        end=end,
        granularity=grain or granularity.choose_granularity(start, end),
        break_even=workspace.break_even,
    ).collect()


def unattributed(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """Unattributed spend grouped by (provider, dimension, value), largest first."""
    _, rows = ledger(workspace, start=start, end=end)
    return (
        rows.group_by("provider", "dimension", "value")
        .agg(
            pl.col("cost_micros").sum(),
            pl.col("requests").sum(),
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
        )
        .sort("cost_micros", "provider", "value", descending=[True, False, False])
        .collect()
    )


def report(
    workspace: Workspace,
    kind: ReportKind,
    *,
    start: date,
    end: date,
    grain: granularity.Granularity | None = None,
) -> pl.DataFrame:
    """Any report of DESIGN §5 with its exact columns (money in micro-dollars until `to_cli_frame`);
    `grain` overrides the adaptive granularity of `over-time`."""
    if kind == "customers":
        frame = customer_margins(workspace, start=start, end=end).sort("customer_id")
    elif kind == "over-time":
        frame = over_time(workspace, start=start, end=end, grain=grain)
    elif kind == "unattributed":
        frame = unattributed(workspace, start=start, end=end)
    elif kind == "alerts":  # without the store's sync runs: the CLI adds them (alerting.for_store)
        from margin_core import alerting

        frame = alerting.evaluate(workspace, last_day=end - timedelta(days=1))
    else:
        dimension = {
            "models": "model",
            "providers": "provider",
            "features": "feature",
            "tiers": "tier",
            "segments": "segment",
            "usage-patterns": "usage_pattern",
        }[kind]
        frame = dimension_margins(workspace, start=start, end=end, dimension=dimension)
        frame = frame.sort("cost_micros", descending=True)
    return frame


def usd(micros: pl.Expr) -> pl.Expr:
    """Micro-dollars as dollar text with two decimals, rounded half-up (away from zero): exact."""
    cents = (micros.abs().cast(pl.Int64) + 5_000) // 10_000
    sign = pl.when((micros < 0) & (cents > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2))


def pct4(margin_micros: pl.Expr, revenue_micros: pl.Expr) -> pl.Expr:
    """margin / revenue as text with four decimals, rounded half-up (away from zero) from the exact
    integers, never from a float; null where revenue ≤ 0 (DESIGN §4.4, §4.8)."""
    margin, revenue = margin_micros.cast(pl.Int128), revenue_micros.cast(pl.Int128)
    scaled = ((margin.abs() * 20_000 + revenue) // (revenue * 2)).cast(pl.Int64)  # |m|/r × 10^4, half up
    return pl.when(revenue > 0).then(_fraction_text(scaled, negative=margin < 0)).otherwise(None)


def _fraction_text(scaled: pl.Expr, *, negative: pl.Expr) -> pl.Expr:
    """Ten-thousandths (non-negative integers) as "0.1234", with a minus sign where negative and non-zero."""
    sign = pl.when(negative & (scaled > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        sign, (scaled // 10_000).cast(pl.String), pl.lit("."), (scaled % 10_000).cast(pl.String).str.zfill(4)
    )


def printable(frame: pl.DataFrame) -> pl.DataFrame:
    """Money and percentages as printed text: each `*_micros` as `*_usd` (two decimals) in its place and
    margin_pct with four decimals, both rounded half-up only here (DESIGN §4.8)."""
    converted = frame.with_columns(
        usd(pl.col(c)).alias(c.replace("_micros", "_usd")) for c in frame.columns if c.endswith("_micros")
    )
    if "margin_pct" in frame.columns:
        if {"margin_micros", "revenue_micros"} <= set(frame.columns):
            pct = pct4(pl.col("margin_micros"), pl.col("revenue_micros"))
        else:  # a derived frame without the integers: from the float, half away from zero
            scaled = (pl.col("margin_pct").abs() * 10_000).round(0, mode="half_away_from_zero").cast(pl.Int64)
            pct = _fraction_text(scaled, negative=pl.col("margin_pct") < 0)
        converted = converted.with_columns(pct.alias("margin_pct"))
    return converted.select(c.replace("_micros", "_usd") for c in frame.columns)


def to_cli_frame(frame: pl.DataFrame, kind: ReportKind) -> pl.DataFrame:
    """The report's CLI columns: USD as exact 2-decimal text, margin_pct as exact 4-decimal text."""
    if kind == "alerts":
        from margin_core import alerting

        return alerting.to_cli_frame(frame)
    converted = printable(frame).rename({"estimated_usd": "estimated_cost_usd"}, strict=False)
    if "revenue_usd" in COLUMNS[kind] and "revenue_usd" not in converted.columns:
        converted = converted.with_columns(pl.lit("0.00").alias("revenue_usd"))
    return converted.select(COLUMNS[kind])

"""The reports of rules §5 for a range, from a workspace snapshot; one place for every column rule.

Frames returned here keep money as integer micro-dollars (`*_micros`); `to_cli_frame` turns them
into the CLI's columns (USD with two decimals, margin_pct with four, rounded half-up only there).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from margin_core.engine import dimensions, granularity, margins, revenue, usage_patterns
from margin_core.ledger_cache import DayFrames
from margin_core.schemas import TOKEN_COLUMNS
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

    Attribution is decided day by day (rules §4.2): the derived day ledger (`ledger_cache`) gives the
    range's days, recomputing only those changed since they were cached. Once `prepare` gathered every
    day, each range is a filter of it.
    """
    return _part(workspace, "ledger", start=start, end=end), _part(workspace, "unattributed", start=start, end=end)


def customer_days(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """The range's ledger summed per day and customer (CUSTOMER_DAYS; customer null: unattributed)."""
    return _part(workspace, "customers", start=start, end=end)


def usage_days(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """The range's ledger summed per day, attributed or not, feature, provider and model (USAGE_DAYS)."""
    return _part(workspace, "usage", start=start, end=end)


def usage_cost_days(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """The range's usage rows' cost per day and provider (USAGE_COST_DAYS)."""
    return _part(workspace, "usage_cost", start=start, end=end)


def coverage_days(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """The range's event coverage per day, provider, key and mapped customer (ROW_COVERAGE)."""
    return _part(workspace, "coverage", start=start, end=end)


def unpriced_days(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """The range's tokens of models without a price, per day, provider and model (rules §4.1)."""
    return _part(workspace, "unpriced", start=start, end=end)


def models_seen(workspace: Workspace) -> pl.DataFrame:
    """Every (provider, model) the store's usage rows and request events name, on any day."""
    seen = _part(workspace, "models", start=date.min, end=date.max)
    return seen.select("provider", "model").unique().sort("provider", "model").collect()


def unpriced_models(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """Models without a price in the range, with the tokens they carry (never a silent $0, rules §4.1)."""
    return (
        unpriced_days(workspace, start=start, end=end)
        .group_by("provider", "model")
        .agg(pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"))
        .sort("tokens", descending=True)
        .collect()
    )


def prepare(workspace: Workspace) -> Workspace:
    """Gather every day's derived frames once, so that every later range and page only groups (the app)."""
    workspace.remember(("days",), lambda: workspace.days.frames(None, None))
    return workspace


def _part(workspace: Workspace, name: str, *, start: date, end: date) -> pl.LazyFrame:
    """One part of the derived day ledger (ledger_cache.PARTS) over [start, end)."""
    frames = _days(workspace, start=start, end=end)
    return frames.parts()[name].lazy().filter(_in_range(start, end))


def _days(workspace: Workspace, *, start: date, end: date) -> DayFrames:
    key = ("days",) if ("days",) in workspace.memo else ("days", start, end)
    return workspace.remember(key, lambda: workspace.days.frames(start, end))


def daily_revenue(workspace: Workspace, *, start: date, end: date) -> pl.LazyFrame:
    """Recognized revenue per customer, day and plan in the range, US cents."""
    daily = workspace.remember(
        ("daily_revenue", start, end),
        lambda: revenue.recognize_daily(workspace.revenue.lazy(), start=start, end=end).collect(),
    )
    return daily.lazy()


def customer_margins(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The `customers` report, in micro-dollars."""
    return margins.customer_margins(
        customer_days(workspace, start=start, end=end),
        daily_revenue=daily_revenue(workspace, start=start, end=end),
        customers=workspace.customers.lazy(),
        unconverted=revenue.unconverted(workspace.revenue.lazy(), start=start, end=end),
        break_even=workspace.break_even,
    ).collect()


def dimension_margins(workspace: Workspace, *, start: date, end: date, dimension: str) -> pl.DataFrame:
    """Cross-subsidy rows for one dimension: feature, model, provider, tier, segment, region, meta:<key>,
    cmeta:<key> (a customer metadata key) or usage_pattern (rules §4.5 v3)."""
    if dimension in ("model", "provider"):  # their sums per customer answer them exactly, with fewer rows
        led = _part(workspace, "customer_models", start=start, end=end)
    else:
        led, _ = ledger(workspace, start=start, end=end)
    daily = daily_revenue(workspace, start=start, end=end)
    return dimension_rows(led, daily_revenue=daily, workspace=workspace, dimension=dimension).collect()


def dimension_rows(
    led: pl.LazyFrame, *, daily_revenue: pl.LazyFrame, workspace: Workspace, dimension: str
) -> pl.LazyFrame:
    """The one dispatch from a dimension to its engine rule, over a ledger and its daily revenue: the value
    in a column named after the dimension (`cmeta:k` → `k`; `model` beside `provider`)."""
    customers, break_even = workspace.customers.lazy(), workspace.break_even
    if dimension == "usage_pattern":
        return usage_patterns.by_usage_pattern(
            led, daily_revenue=daily_revenue, customers=customers, break_even=break_even
        )
    if dimension in dimensions.CUSTOMER_COLUMNS or dimension.startswith("cmeta:"):
        frame = dimensions.by_customer_attribute(
            led,
            daily_revenue=daily_revenue,
            customers=customers,
            attribute=dimension.replace("cmeta:", "meta:"),
            break_even=break_even,
        )
        return frame.rename({"value": dimension.removeprefix("cmeta:")})
    values = ["provider", "model"] if dimension == "model" else [dimension]
    return dimensions.by_usage_attribute(
        led, daily_revenue=daily_revenue, values=values, basis=workspace.basis, break_even=break_even
    )


def over_time(
    workspace: Workspace, *, start: date, end: date, grain: granularity.Granularity | None = None
) -> pl.DataFrame:
    """Revenue, cost and margin per day, week or month (adaptive unless `grain` is given)."""
    return margins.margin_over_time(
        usage_days(workspace, start=start, end=end),
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
    """Any report of rules §5 with its exact columns (money in micro-dollars until `to_cli_frame`);
    `grain` overrides the adaptive granularity of `over-time`. Once per snapshot and arguments."""
    return workspace.remember(
        ("report", kind, start, end, grain), lambda: _computed(workspace, kind, start, end, grain)
    )


def _computed(
    workspace: Workspace, kind: ReportKind, start: date, end: date, grain: granularity.Granularity | None
) -> pl.DataFrame:
    if kind == "customers":
        frame = customer_margins(workspace, start=start, end=end).sort("customer_id")
    elif kind == "over-time":
        frame = over_time(workspace, start=start, end=end, grain=grain)
    elif kind == "unattributed":
        frame = unattributed(workspace, start=start, end=end)
    elif kind == "alerts":  # the snapshot's sync runs included: a failed sync is an alert
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

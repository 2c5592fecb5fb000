"""The founder's answers (rules §1, §4.9): investor view figures, one customer's page, alerts, the month-end
forecast, and whether a period can be compared with the one before it.
"""

from __future__ import annotations

import contextlib
import io
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine

from margin_core import alerting, insights, reports
from margin_core.app_actions.series import with_change_in_points
from margin_core.app_actions.views import ledger_rows, plan_history
from margin_core.engine import forecast, usage_patterns
from margin_core.engine.granularity import period_starts
from margin_core.engine.margins import with_margin
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import UNATTRIBUTED
from margin_core.workspace import Workspace

PATTERN_ORDER = ("power", "regular", "light", "none", UNATTRIBUTED)


# --- comparisons ----------------------------------------------------------------------------------


def data_starts(workspace: Workspace) -> dict[str, date]:
    """The first day with data of every source that has any: each provider's usage, SDK events, revenue."""
    starts = {source: first for source, (first, _) in workspace.source_days.items()}
    if not workspace.revenue.is_empty():
        starts["revenue"] = workspace.revenue["service_start"].min()  # type: ignore[assignment]
    return starts


def comparable_from(workspace: Workspace) -> date | None:
    """The first day on which every source has data: a period starting on or after it can be compared
    with the one before it only if that one starts on or after it too (None: no data at all)."""
    starts = data_starts(workspace)
    return max(starts.values()) if starts else None


def can_compare(workspace: Workspace, *, start: date, end: date) -> bool:
    """True when the period of the same length before [start, end) has data for every source."""
    first = comparable_from(workspace)
    return first is not None and start - (end - start) >= first


# --- alerts and forecast --------------------------------------------------------------------------


def alerts(workspace: Workspace, *, last_day: date) -> pl.DataFrame:
    """Every alert holding on `last_day` (engine.alerts.ALERTS columns) with a sentence per alert."""

    def evaluate() -> pl.DataFrame:
        found = alerting.evaluate(workspace, last_day=last_day)
        sentences = [alerting.sentence(row) for row in found.iter_rows(named=True)]
        return found.with_columns(pl.Series("text", sentences, dtype=pl.String))

    return workspace.remember(("alerts", last_day), evaluate)


def start_overview(workspace: Workspace, *, start: date, end: date) -> None:
    """Begin the Overview's two longest computations, the alerts of its last day and the models report, each
    in a background thread: the page draws its other parts meanwhile (polars works outside the GIL), then
    finds them done or waits for them (`Workspace.remember`). An error reaches the page when it asks."""
    for compute in (
        lambda: alerts(workspace, last_day=end - timedelta(days=1)),
        lambda: reports.report(workspace, "models", start=start, end=end),
    ):
        threading.Thread(target=_quietly, args=(compute,), name="margin-overview", daemon=True).start()


def _quietly(compute: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # the page computes it again and shows the error
        compute()


def alerts_csv_frame(found: pl.DataFrame) -> pl.DataFrame:
    """The `alerts` report's columns of shown alerts."""
    return alerting.to_cli_frame(found)


def month_forecast(workspace: Workspace, *, today: date) -> pl.DataFrame:
    """The projection to the end of `today`'s month: revenue, cost (total and per provider), margin."""
    first, _ = forecast.month_bounds(today)
    start = min(first, today - timedelta(days=7))
    cost = reports.usage_days(workspace, start=start, end=today)
    daily = reports.daily_revenue(workspace, start=start, end=today)
    return forecast.month_end_forecast(cost, daily_revenue=daily, today=today).collect()


# --- investor view --------------------------------------------------------------------------------


def last_full_months(today: date, months: int) -> tuple[date, date]:
    """The `months` calendar months before `today`'s month, as [start, end)."""
    end = today.replace(day=1)
    start = end
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    return start, end


def _with_cost_share(frame: pl.DataFrame) -> pl.DataFrame:
    share = (
        pl.when(pl.col("revenue_micros") > 0)
        .then(pl.col("cost_micros") / pl.col("revenue_micros"))
        .otherwise(None)
        .alias("cost_share")
    )
    return frame.with_columns(share)


@dataclass(frozen=True, slots=True)
class InvestorView:
    """Every number of the Investor view for a range."""

    headline: dict[str, Any]
    tiers: pl.DataFrame
    patterns: pl.DataFrame
    months: pl.DataFrame
    concentration: dict[str, Any]


def investor_view(workspace: Workspace, *, start: date, end: date) -> InvestorView:
    """LLM cost as % of revenue and gross margin overall, by tier and by usage pattern; margin and cost per
    million tokens by month; concentration of tokens (rules §1, "Investor question")."""
    led, _ = reports.ledger(workspace, start=start, end=end)
    daily = reports.daily_revenue(workspace, start=start, end=end)
    tiers = _with_cost_share(reports.dimension_margins(workspace, start=start, end=end, dimension="tier"))
    patterns = _with_cost_share(reports.dimension_margins(workspace, start=start, end=end, dimension="usage_pattern"))
    order = {p: i for i, p in enumerate(PATTERN_ORDER)}
    patterns = patterns.sort(pl.col("usage_pattern").replace_strict(order, default=len(order), return_dtype=pl.Int64))
    tiers = tiers.sort("revenue_micros", descending=True)
    series = with_change_in_points(reports.over_time(workspace, start=start, end=end, grain="month"))
    tokens = (
        led.group_by(pl.col("day").dt.truncate("1mo").alias("period_start"))
        .agg(pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"))
        .collect()
    )
    months = (
        series.join(tokens, on="period_start", how="left")
        .with_columns(pl.col("tokens").fill_null(0))
        .with_columns(
            pl.when(pl.col("tokens") > 0)
            .then(pl.col("cost_micros") / pl.col("tokens"))  # micro-dollars per token = dollars per million
            .otherwise(None)
            .alias("cost_per_mtok_usd"),
        )
        .pipe(_with_cost_share)
        .sort("period_start")
    )
    revenue = int(series["revenue_micros"].sum())
    cost = int(series["cost_micros"].sum())
    headline = {
        "revenue_micros": revenue,
        "cost_micros": cost,
        "margin_micros": revenue - cost,
        "margin_pct": (revenue - cost) / revenue if revenue > 0 else None,
        "cost_share": cost / revenue if revenue > 0 else None,
    }
    found = usage_patterns.concentration(led, daily_revenue=daily).collect()
    return InvestorView(
        headline=headline,
        tiers=tiers,
        patterns=patterns,
        months=months,
        concentration=found.row(0, named=True) if found.height else {},
    )


def concentration_frame(found: dict[str, Any]) -> pl.DataFrame:
    """The concentration figures as a one-row table (for its CSV)."""
    if not found:
        return pl.DataFrame(schema={"top_customers": pl.Int64})
    keys = [
        "top_customers",
        "all_customers",
        "top_tokens",
        "total_tokens",
        "token_share",
        "top_cost_micros",
        "total_cost_micros",
        "cost_share",
        "top_revenue_micros",
        "total_revenue_micros",
        "revenue_share",
    ]
    return pl.DataFrame([{k: found[k] for k in keys}])


def investor_pack(pngs: dict[str, bytes], csvs: dict[str, str]) -> bytes:
    """A ZIP of the charts (PNG) and the CSVs of every number on the Investor view."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        for name, data in pngs.items():
            pack.writestr(f"charts/{name}.png", data)
        for name, text in csvs.items():
            pack.writestr(f"data/{name}.csv", text)
    return buffer.getvalue()


# --- one customer ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """Everything the customer page shows for one customer and range."""

    customer_id: str
    name: str
    tier: str
    totals: dict[str, Any]
    series: pl.DataFrame
    features: pl.DataFrame
    models: pl.DataFrame
    providers: pl.DataFrame
    rise: dict[str, Any]
    plans: pl.DataFrame


def customer_page(workspace: Workspace, *, customer_id: str, start: date, end: date, grain: str) -> CustomerPage:
    """One customer's revenue, cost and margin over time, totals against the average customer's, by feature
    and model, share per provider, the week its usage rose most, and plan history (rules §1)."""
    summary = ledger_rows(workspace, start=start, end=end)
    attributed = summary.filter(pl.col("customer_id").is_not_null())
    mine = attributed.filter(pl.col("customer_id") == customer_id)
    daily = (
        reports.daily_revenue(workspace, start=start, end=end).filter(pl.col("customer_id") == customer_id).collect()
    )
    revenue = int(daily["revenue_cents"].sum() or 0) * 10_000
    usage = insights.customer_usage(attributed)
    count = max(usage.height, 1)

    def total(frame: pl.DataFrame, column: str) -> int:
        return int(frame[column].sum() or 0)

    tokens = int(mine.select(pl.sum_horizontal(TOKEN_COLUMNS).sum()).item() or 0)
    cost = total(mine, "cost_micros")
    totals = {
        "revenue_micros": revenue,
        "cost_micros": cost,
        "margin_micros": revenue - cost,
        "margin_pct": (revenue - cost) / revenue if revenue > 0 else None,
        "tokens": tokens,
        "requests": total(mine, "requests"),
        "avg_tokens": total(usage, "tokens") / count,
        "avg_requests": total(usage, "requests") / count,
        "avg_cost_micros": total(usage, "cost_micros") // count,
        "customers": usage.height,
    }
    grain_expr = {"day": "1d", "week": "1w", "month": "1mo"}[grain]
    periods = period_starts(start, end, grain).collect()  # type: ignore[arg-type]
    cost_series = mine.group_by(pl.col("day").dt.truncate(grain_expr).alias("period_start")).agg(
        pl.col("cost_micros").sum()
    )
    revenue_series = daily.group_by(pl.col("day").dt.truncate(grain_expr).alias("period_start")).agg(
        (pl.col("revenue_cents").sum() * 10_000).cast(pl.Int64).alias("revenue_micros")
    )
    series = (
        periods.join(revenue_series, on="period_start", how="left")
        .join(cost_series, on="period_start", how="left")
        .with_columns(pl.col("revenue_micros", "cost_micros").fill_null(0), pl.lit(grain).alias("granularity"))
    )
    series = with_margin(series.lazy(), break_even=workspace.break_even).collect().sort("period_start")
    by_provider = (
        mine.group_by("provider")
        .agg(pl.col("cost_micros").sum(), pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"))
        .with_columns((pl.col("cost_micros") / pl.col("cost_micros").sum()).alias("share"))
        .sort("cost_micros", descending=True)
    )
    whole_weeks = (pl.col("day").dt.truncate("1w") >= start) & (
        pl.col("day").dt.truncate("1w") <= end - timedelta(days=7)
    )
    weekly = (
        mine.filter(whole_weeks)  # only ISO weeks wholly inside the range compare like with like
        .group_by(pl.col("day").dt.truncate("1w").alias("week"))
        .agg(pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"), pl.col("cost_micros").sum())
        .sort("week")
        .with_columns(
            pl.col("tokens").shift(1).alias("tokens_before"), pl.col("cost_micros").shift(1).alias("cost_before")
        )
        .with_columns((pl.col("tokens") - pl.col("tokens_before")).alias("rise"))
        .filter(pl.col("rise") > 0)
        .sort("rise", "week", descending=[True, False])
    )
    rise = weekly.row(0, named=True) if weekly.height else {}
    row = workspace.customers.filter(pl.col("customer_id") == customer_id)
    name = row["name"][0] if row.height and row["name"][0] else customer_id
    tier = row["tier"][0] if row.height else ""
    return CustomerPage(
        customer_id=customer_id,
        name=name,
        tier=tier or "",
        totals=totals,
        series=series,
        features=insights.customer_profile(attributed, customer_id=customer_id, by="feature"),
        models=insights.customer_profile(attributed, customer_id=customer_id, by="model"),
        providers=by_provider,
        rise=rise,
        plans=plan_history(workspace, customer_id=customer_id),
    )


def customer_choices(workspace: Workspace) -> pl.DataFrame:
    """customer_id and a label ("Acme Corp · enterprise · cus_1") of every customer, by name."""
    return workspace.customers.select(
        "customer_id",
        pl.concat_str(
            pl.when(pl.col("name") == "").then(pl.col("customer_id")).otherwise(pl.col("name")),
            pl.lit(" · "),
            pl.when(pl.col("tier") == "").then(pl.lit("no tier")).otherwise(pl.col("tier")),
            pl.lit(" · "),
            pl.col("customer_id"),
        ).alias("label"),
    ).sort("label")


# --- alert settings -------------------------------------------------------------------------------


def alert_settings(workspace: Workspace) -> dict[str, float]:
    """The alert thresholds in use: spike ratio, spike minimum in dollars, unattributed share in percent."""
    limits = alerting.thresholds(workspace)
    return {
        "spike_ratio": limits.spike_ratio,
        "spike_min_usd": limits.spike_min_micros / 1_000_000,
        "unattributed_pct": limits.unattributed_max * 100,
    }


def save_alert_settings(engine: Engine, *, spike_ratio: float, spike_min_usd: float, unattributed_pct: float) -> None:
    """Save the alert thresholds of rules §4.9 (the store's version moves, so alerts are evaluated again)."""
    from margin_core.errors import ConfigError
    from margin_core.store import repo

    if spike_ratio < 1:
        raise ConfigError(f"spike ratio {spike_ratio:g} must be at least 1 (2 means the cost doubled)")
    if spike_min_usd < 0:
        raise ConfigError(f"spike minimum ${spike_min_usd:g} must not be negative")
    if not 0 <= unattributed_pct <= 100:
        raise ConfigError(f"unattributed share {unattributed_pct:g}% must be between 0 and 100")
    with engine.begin() as connection:
        repo.set_setting(connection, "alert_spike_ratio", f"{spike_ratio:g}")
        repo.set_setting(connection, "alert_spike_min_usd", f"{spike_min_usd:.2f}")
        repo.set_setting(connection, "alert_unattributed_pct", f"{unattributed_pct:g}")
        repo.bump_version(connection)

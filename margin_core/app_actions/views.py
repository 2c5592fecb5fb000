"""Page-shaped reads of a workspace snapshot: ledger rows, per-day sums with names, the Overview's insights, the
customer table, plan history, headline totals, cost breakdowns, source freshness, metadata keys and the names
of provider keys.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Engine

from connectors.records import USAGE_PROVIDERS
from margin_core import insights, reports
from margin_core.app_actions.clock import as_utc
from margin_core.app_actions.providers import PROVIDER_NAMES
from margin_core.engine.margins import margin_pct
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.store import sync_runs
from margin_core.vocabulary import UNATTRIBUTED
from margin_core.workspace import Workspace

STATUSES = ("profitable", "break_even", "unprofitable")


def ledger_rows(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The range's attribution ledger (LEDGER rows; customer null: unattributed), for per-customer detail."""
    ledger, _ = reports.ledger(workspace, start=start, end=end)
    return ledger.collect()


def cost_usage(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The range's cost, requests and tokens per day, feature, provider and model, attributed or not
    (USAGE_DAYS, from the derived day sums): what `cost_by_day` and `tokens_by_model` sum."""
    return reports.usage_days(workspace, start=start, end=end).collect()


def customer_daily(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The range's cost, requests and tokens per day and customer (from the derived day sums), with
    customer_name: the name, else the id; "(unattributed)" for null."""
    names = workspace.customers.lazy().select("customer_id", pl.col("name").alias("customer_name"))
    return (
        reports.customer_days(workspace, start=start, end=end)
        .join(names, on="customer_id", how="left")
        .with_columns(
            pl.when(pl.col("customer_id").is_null())
            .then(pl.lit(UNATTRIBUTED))
            .when(pl.col("customer_name").is_null() | (pl.col("customer_name") == ""))
            .then(pl.col("customer_id"))
            .otherwise(pl.col("customer_name"))
            .alias("customer_name")
        )
        .collect()
    )


def overview_insights(
    workspace: Workspace, *, start: date, end: date, customers: pl.DataFrame, models: pl.DataFrame
) -> list[insights.Insight]:
    """The range's weightiest insights from the derived day sums; the ledger only for a spike's features."""
    unattributed = (
        reports.usage_days(workspace, start=start, end=end)
        .filter(~pl.col("attributed"))
        .group_by("provider", "model")
        .agg(pl.col("cost_micros").sum())
        .collect()
    )
    ledger, _ = reports.ledger(workspace, start=start, end=end)
    return insights.top_insights(
        daily=customer_daily(workspace, start=start, end=end),
        customers=customers,
        models=models,
        unattributed=unattributed,
        detail=ledger,
    )


def customer_table(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The customers report (micro-dollars) with segment, region, requests and tokens for filtering."""
    table = reports.report(workspace, "customers", start=start, end=end)
    attributes = workspace.customers.select("customer_id", "segment", "region")
    usage = insights.customer_usage(reports.customer_days(workspace, start=start, end=end).collect())
    usage = usage.select("customer_id", "requests", "tokens")
    return (
        table.join(attributes, on="customer_id", how="left")
        .join(usage, on="customer_id", how="left")
        .with_columns(
            pl.col("segment", "region").fill_null(""),
            pl.col("requests", "tokens").fill_null(0),
        )
    )


def plan_history(workspace: Workspace, *, customer_id: str) -> pl.DataFrame:
    """A customer's revenue lines: the plan history the customer page shows (rules §8)."""
    return (
        workspace.revenue.filter(pl.col("customer_id") == customer_id)
        .select(
            "service_start",
            "service_end",
            "plan",
            "kind",
            "source_id",
            (pl.col("amount_usd_cents") * 10_000).alias("amount_micros"),
            "currency",
        )
        .sort("service_start", "source_id", descending=[True, False])
    )


def totals(customers: pl.DataFrame) -> dict[str, Any]:
    """Headline figures of a customers report: revenue, cost, margin, shares and status counts."""
    revenue = int(customers["revenue_micros"].sum())
    cost = int(customers["cost_micros"].sum())
    unattributed = int(customers.filter(pl.col("customer_id") == UNATTRIBUTED)["cost_micros"].sum())
    real = customers.filter(pl.col("customer_id") != UNATTRIBUTED)
    counts = {status: real.filter(pl.col("status") == status).height for status in STATUSES}
    return {
        "revenue_micros": revenue,
        "cost_micros": cost,
        "margin_micros": revenue - cost,
        "margin_pct": margin_pct(revenue, cost),
        "cost_share": cost / revenue if revenue > 0 else None,
        "unattributed_micros": unattributed,
        "unattributed_share": unattributed / cost if cost > 0 else None,
        "customers": real.height,
        "status_counts": counts,
    }


def cost_by_day(daily: pl.DataFrame) -> pl.DataFrame:
    """Cost per day, provider and model; reported and estimated parts."""
    return (
        daily.group_by("day", "provider", "model")
        .agg(pl.col("cost_micros").sum(), pl.col("estimated_micros").sum(), pl.col("requests").sum())
        .with_columns((pl.col("cost_micros") - pl.col("estimated_micros")).alias("reported_micros"))
        .sort("day", "provider", "model")
    )


def tokens_by_model(daily: pl.DataFrame) -> pl.DataFrame:
    """Tokens of each type, requests and cost per provider and model, largest cost first."""
    return (
        daily.group_by("provider", "model")
        .agg(pl.col(c).sum() for c in ("requests", *TOKEN_COLUMNS, "cost_micros", "estimated_micros"))
        .with_columns(pl.sum_horizontal(TOKEN_COLUMNS).alias("tokens"))
        .sort("cost_micros", "provider", "model", descending=[True, False, False])
    )


def freshness(engine: Engine, workspace: Workspace) -> pl.DataFrame:
    """Per source: the last day with data, the last sync and its result."""
    runs = sync_runs.latest_rows(engine)
    days = workspace.source_days
    rows: list[dict[str, Any]] = []
    for provider in USAGE_PROVIDERS:
        run = runs.get(provider)
        rows.append(
            {
                "source": f"{PROVIDER_NAMES[provider]} usage",
                "last_day": days[provider][1] if provider in days else None,
                "last_sync": as_utc(run.finished_at) if run else None,
                "result": run.status if run else "",
            }
        )
    last_event = days["events"][1] if "events" in days else None
    rows.append({"source": "SDK events", "last_day": last_event, "last_sync": None, "result": ""})
    stripe = runs.get("stripe")
    last_revenue = workspace.revenue["service_start"].max() if not workspace.revenue.is_empty() else None
    rows.append(
        {
            "source": "Stripe revenue",
            "last_day": last_revenue,
            "last_sync": as_utc(stripe.finished_at) if stripe else None,
            "result": stripe.status if stripe else "",
        }
    )
    return pl.DataFrame(
        rows,
        schema={"source": pl.String, "last_day": pl.Date, "last_sync": pl.Datetime("us", "UTC"), "result": pl.String},
    )


def metadata_keys(workspace: Workspace) -> tuple[list[str], list[str]]:
    """The event metadata keys and the customer metadata keys present in the store."""

    def keys(series: pl.Series) -> list[str]:
        found: set[str] = set()
        for raw in series.unique().to_list():
            if raw and raw != "{}":
                found.update(json.loads(raw))
        return sorted(found)

    ledger, _ = reports.ledger(workspace, start=date.min, end=date.max)  # every event is in the ledger
    event_metadata = ledger.select("metadata_json").unique().collect().to_series()
    return keys(event_metadata), keys(workspace.customers["metadata_json"])


def dimension_choices(workspace: Workspace) -> dict[str, str]:
    """Cross-subsidy dimensions: id → label (meta:<key> for events, cmeta:<key> for customers)."""
    choices = {d: d.capitalize() for d in ("feature", "model", "provider", "tier", "segment", "region")}
    choices["usage_pattern"] = "Usage pattern (power, regular, light)"
    event_keys, customer_keys = metadata_keys(workspace)
    choices.update({f"meta:{k}": f"Event metadata: {k}" for k in event_keys})
    choices.update({f"cmeta:{k}": f"Customer metadata: {k}" for k in customer_keys})
    return choices


def key_labels(workspace: Workspace) -> dict[tuple[str, str], str]:
    """Names of provider API keys by (provider, api_key_id), as their admin APIs list them."""
    return {(p, k): n for p, k, n, _ in workspace.api_keys.iter_rows() if n}


def unconverted_revenue(workspace: Workspace, *, start: date, end: date) -> list[str]:
    """One line per revenue item in the range without an exchange rate (rules §4.3)."""
    from margin_core import output

    return list(output.unconverted_warnings(workspace, start=start, end=end))

"""The numbers that make attribution defensible (rules §4.2 step 3, §4.8): how much of each provider key's
traffic the request events cover, and every provider's cost per month, reconciled to the micro-dollar."""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core import reports
from margin_core.engine import reconciliation
from margin_core.workspace import Workspace


def coverage(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """Per provider and key over the range: the key's name where one is set, the customer its rows are mapped
    to (null: unmapped), row tokens, the tokens request events cover and `coverage` (0–1, null without
    tokens); least covered first."""

    table = reconciliation.coverage_by_key(reports.coverage_days(workspace, start=start, end=end)).collect()
    labels = workspace.api_keys.select("provider", "api_key_id", pl.col("name").alias("key_label")).unique(
        subset=["provider", "api_key_id"], keep="first"
    )
    return (
        table.join(labels, on=["provider", "api_key_id"], how="left")
        .with_columns(pl.col("key_label").fill_null(""))
        .sort("coverage", "provider", "api_key_id", "customer_id", nulls_last=True)
        .select("provider", "api_key_id", "key_label", "customer_id", "row_tokens", "covered_tokens", "coverage")
    )


def reconciliation_table(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """Per provider and month: reported, attributed, unattributed, their difference (0), events at their own
    cost, the total the `providers` report shows, and the part Margin estimated (micro-dollars)."""
    return (
        reconciliation.reconcile(
            reports.usage_cost_days(workspace, start=start, end=end),
            ledger=reports.usage_days(workspace, start=start, end=end),
        )
        .sort("month", "provider")
        .collect()
    )

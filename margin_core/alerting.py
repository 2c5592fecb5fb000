"""Alerts as a use case (rules §4.9): evaluate the engine's rules on a workspace, list them as the
`alerts` report, and post new ones to an optional webhook after a sync.

Settings (the store's settings table): `alert_spike_ratio` (default 2), `alert_spike_min_usd` (50),
`alert_unattributed_pct` (15). The webhook (`MARGIN_ALERT_WEBHOOK_URL`) receives `{"text": …}` once per
alert; the alerts already sent are remembered in the setting `alerts_sent`.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

from margin_core import reports
from margin_core.engine import alerts as rules
from margin_core.errors import MarginError
from margin_core.workspace import Workspace

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine

WEBHOOK_ENV = "MARGIN_ALERT_WEBHOOK_URL"
SENT_KEY = "alerts_sent"
COLUMNS = ["kind", "subject", "previous", "current", "change_pct", "first_day"]
SOURCE_NAMES = {"openai": "OpenAI usage", "anthropic": "Anthropic usage", "openrouter": "OpenRouter usage"}


def thresholds(workspace: Workspace) -> rules.Thresholds:
    """The alert settings of the workspace, defaults where unset."""
    values = workspace.settings
    return rules.Thresholds(
        spike_ratio=float(values.get("alert_spike_ratio", "2")),
        spike_min_micros=int(Decimal(values.get("alert_spike_min_usd", "50")) * 1_000_000),
        unattributed_max=float(values.get("alert_unattributed_pct", "15")) / 100,
        break_even=workspace.break_even,
    )


def sources(workspace: Workspace) -> pl.DataFrame:
    """Each source with data or a sync run: newest day, last sync status and day, whether its newest day
    is checked (usage and events are daily; Stripe revenue is checked by its sync only)."""
    rows = []
    runs = workspace.sync_status
    last = {source: last for source, (_, last) in workspace.source_days.items()}
    for provider, name in SOURCE_NAMES.items():
        status, on = runs.get(provider, ("", None))
        if provider in last or status:
            rows.append((name, last.get(provider), status, on if status == "failed" else None, True))
    if "events" in last:
        rows.append(("SDK events", last["events"], "", None, True))
    status, on = runs.get("stripe", ("", None))
    if status:
        rows.append(("Stripe revenue", None, status, on if status == "failed" else None, False))
    return pl.DataFrame(
        rows,
        schema={
            "source": pl.String,
            "last_day": pl.Date,
            "status": pl.String,
            "failed_on": pl.Date,
            "checks_freshness": pl.Boolean,
        },
        orient="row",
    )


def evaluate(workspace: Workspace, *, last_day: date) -> pl.DataFrame:
    """Every alert that holds on `last_day` (ALERTS schema, ordered: sources first, then largest rise), the
    snapshot's sync runs included (a failed sync is an alert)."""
    limits = thresholds(workspace)
    start, end = last_day - timedelta(days=rules.LOOKBACK + 62), last_day + timedelta(days=1)
    by_customer = reports.customer_days(workspace, start=start, end=end)
    by_usage = reports.usage_days(workspace, start=start, end=end)
    daily = reports.daily_revenue(workspace, start=start, end=end)
    customers = workspace.customers.lazy()
    # tokens of models without a price, per day, from the first day on (an alert names the first day)
    unpriced = reports.unpriced_days(workspace, start=date.min, end=end)
    frames = [
        rules.source_alerts(sources(workspace).lazy(), last_day=last_day),
        rules.cost_spikes(by_customer, by_usage, customers=customers, last_day=last_day, thresholds=limits),
        rules.unattributed_share(by_customer, last_day=last_day, thresholds=limits),
        rules.worse_statuses(
            by_customer, daily_revenue=daily, customers=customers, last_day=last_day, thresholds=limits
        ),
        rules.unpriced_models(unpriced, last_day=last_day),
    ]
    return rules.ordered(pl.concat(frames)).collect()


def to_cli_frame(found: pl.DataFrame) -> pl.DataFrame:
    """The `alerts` report's columns (rules §5): change_pct as a fraction with four decimals."""
    scaled = (pl.col("change_pct").abs() * 10_000).round(0, mode="half_away_from_zero").cast(pl.Int64)
    sign = pl.when((pl.col("change_pct") < 0) & (scaled > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    text = pl.concat_str(
        sign, (scaled // 10_000).cast(pl.String), pl.lit("."), (scaled % 10_000).cast(pl.String).str.zfill(4)
    )
    return found.with_columns(text.alias("change_pct")).select(COLUMNS)


KIND_TEXT = {
    "cost_spike": "LLM cost jumped",
    "status_worse": "Margin status worse",
    "unattributed_share": "Unattributed cost above the threshold",
    "unpriced_model": "Model without a price",
    "sync_failed": "Sync failed",
    "source_stale": "Source out of date",
}


def sentence(alert: dict[str, object]) -> str:
    """One line for a person: "LLM cost jumped — customer Acme: $70.00 → $210.00 (+200%) over the last 7
    days, since 2026-11-17"."""
    kind = str(alert["kind"])
    subject, previous, current = alert["subject"], alert["previous"], alert["current"]
    before: str | None
    now: str
    if kind == "cost_spike":
        before, now = f"${Decimal(str(previous)):,}", f"${Decimal(str(current)):,}"
    elif kind == "unattributed_share":
        before = f"{float(str(previous)) * 100:.1f}%" if previous is not None else None
        now = f"{float(str(current)) * 100:.1f}%"
    else:
        before, now = (None if previous is None else str(previous)), str(current)
    figures = f"{before} → {now}" if before is not None else f"{now}"
    change = alert["change_pct"]
    if isinstance(change, float):
        figures += f" ({change * 100:+.0f}%)"
    window = {"cost_spike": " over the last 7 days", "unattributed_share": " of cost over the last 7 days"}.get(
        kind, ""
    )
    if kind == "status_worse":
        window = " over the last 31 days"
    return f"{KIND_TEXT.get(kind, kind)} — {subject}: {figures}{window}, since {alert['first_day']}"


def alert_id(alert: dict[str, object]) -> str:
    """What makes an alert the same alert on a later evaluation: its kind, subject and first day."""
    return f"{alert['kind']}|{alert['subject']}|{alert['first_day']}"


def notify(engine: Engine, workspace: Workspace, *, last_day: date, client: httpx.Client | None = None) -> int:
    """Post each alert not sent before to MARGIN_ALERT_WEBHOOK_URL (when set); return how many were sent.

    Called after a sync. An alert counts as sent once the webhook accepted it (2xx); a failure is raised
    as MarginError after the alerts sent so far are remembered."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return 0
    import httpx

    from margin_core.store import repo

    found = evaluate(workspace, last_day=last_day)
    with engine.connect() as connection:
        sent = set(json.loads(repo.read_settings(connection).get(SENT_KEY, "[]")))
    fresh = [a for a in found.iter_rows(named=True) if alert_id(a) not in sent]
    posted = 0
    own = client is None
    http = client or httpx.Client(timeout=10.0)
    try:
        for alert in fresh:
            try:
                response = http.post(url, json={"text": sentence(alert)})
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise MarginError(
                    f"alert webhook: {exc}; {posted} alert(s) sent, the rest retried after the next sync"
                ) from exc
            sent.add(alert_id(alert))
            posted += 1
    finally:
        if own:
            http.close()
        if posted:
            with engine.begin() as connection:
                repo.set_setting(connection, SENT_KEY, json.dumps(sorted(sent)))
    return posted


def notify_after_sync(engine: Engine, *, today: date) -> int:
    """`notify` for the complete days before `today`, loading the workspace only when a webhook is set."""
    if not os.environ.get(WEBHOOK_ENV, "").strip():
        return 0
    from margin_core.workspace import load_workspace

    return notify(engine, load_workspace(engine), last_day=today - timedelta(days=1))

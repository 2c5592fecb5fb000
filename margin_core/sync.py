"""Use case: run the connectors into the store (rules §4.7, §5).

A provider's window is written in one transaction once every page of every endpoint has arrived, with its
`sync_run` row; a failure writes nothing for that provider, keeps what earlier syncs wrote and records
the error, so the next sync fetches the window again. Writes are idempotent. A window without usage is a
normal sync (`ok`, 0 rows). When the last good window ended before the provider's API reaches back, the
days in between are a gap: recorded with the sync_run (`sync_gap`), said in the result, and the sync
goes on with what it can fetch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from sqlalchemy import Connection, Engine

from connectors import anthropic, openai, openrouter, stripe_revenue
from connectors.errors import ConnectorError
from connectors.records import SOURCES, RevenueLineRecord
from margin_core import currency, secrets, settings
from margin_core.errors import MarginError
from margin_core.ingest import ensure_not_demo
from margin_core.provider_usage import usage_rows
from margin_core.store import connections, repo, sync_runs, writers

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]
PROVIDERS = SOURCES
BACKFILL_DAYS = {"openai": 31, "anthropic": 31, "openrouter": 30}
SETTLE_DAYS = 3
STRIPE_KINDS = ("invoice_line", "credit_note", "one_off_charge", "refund")
NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "stripe": "Stripe"}
# How the days an API no longer returns can still be loaded (rules §4.7: the providers' exported CSVs).
GAP_FILL = {
    "openai": "export them from the OpenAI dashboard (Usage → Export: usage and costs) and import the CSVs "
    "with `python -m margin_core import provider-export FILE…` or on the Import / Export page",
    "anthropic": "export them from the Anthropic Console (Usage and Cost → Export) and import the CSVs with "
    "`python -m margin_core import provider-export FILE…` or on the Import / Export page",
    "openrouter": "export them from openrouter.ai/activity and import them as a usage CSV "
    "(`python -m margin_core import usage FILE` or the Import / Export page)",
}


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one provider's sync did."""

    provider: str
    status: str  # ok | failed
    rows_written: int = 0
    error: str = ""
    window: tuple[date, date] | None = None
    gap: tuple[date, date] | None = None  # days before the window that the API no longer reaches

    @property
    def line(self) -> str:
        """One line for the CLI: provider, status, rows, window, and the gap or the error."""
        text = f"{self.provider}: {self.status}, {self.rows_written} rows"
        if self.window is not None:
            text += f" ({self.window[0]} to {self.window[1]}, end exclusive)"
        if self.gap is not None:
            text += f" — {gap_message(self.provider, self.gap)}"
        if self.error:
            text += f" — {self.error}"
        return text


def gap_message(provider: str, gap: tuple[date, date]) -> str:
    """Which days could not be fetched, why, and how the provider's exported CSVs fill them."""
    first, end = gap
    days = (end - first).days
    last = end - timedelta(days=1)
    span = f"{first}" if days == 1 else f"{first} to {last}"
    reach = BACKFILL_DAYS.get(provider, 0)
    return (
        f"{span} ({days} day{'s' if days != 1 else ''}) missing: the {NAMES.get(provider, provider)} API only "
        f"reaches back {reach} days and the last good sync ended before that; "
        f"{GAP_FILL.get(provider, 'import those days from CSV')}"
    )


def available_keys(engine: Engine) -> dict[str, str]:
    """Keys saved in the app (decrypted), else from the environment, per provider."""
    keys: dict[str, str] = {}
    for kind, token in connections.read_secrets(engine).items():
        keys[kind] = secrets.decrypt(token)
    for provider in PROVIDERS:
        if provider not in keys and (value := settings.key_from_env(provider)):
            keys[provider] = value
    return keys


def sync_all(
    engine: Engine,
    *,
    only: str | None = None,
    today: date,
    days: int | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[SyncResult]:
    """Sync every provider that has a key (or only `only`); one provider's failure does not stop the others.

    `stop` is asked before each provider: once it says so, the providers not yet started are left for the
    next run (the one under way has committed its window whole, or nothing).
    """
    say = progress or (lambda _message: None)
    keys = available_keys(engine)
    if only and only not in keys:
        raise MarginError(f"no key for {only}: save one on the Connections page or set {settings.KEY_ENV[only][0]}")
    with engine.connect() as connection:
        ensure_not_demo(connection)
    results = []
    for provider in PROVIDERS:
        if (only and provider != only) or provider not in keys:
            continue
        if stop is not None and stop():
            break
        if provider == "stripe":
            result = sync_stripe(engine, api_key=keys[provider], progress=say)
        else:
            result = sync_provider(engine, provider, api_key=keys[provider], today=today, days=days, progress=say)
        say(result.line)
        results.append(result)
    if results:
        _notify_alerts(engine, today=today, say=say)
    return results


def _notify_alerts(engine: Engine, *, today: date, say: Progress) -> None:
    """Post new alerts to MARGIN_ALERT_WEBHOOK_URL after a sync (rules §4.9); a webhook failure never fails
    the sync: it is said, and the alerts not sent are tried again after the next one."""
    from margin_core import alerting  # lazily: reports and the engine load only when a webhook is set

    try:
        sent = alerting.notify_after_sync(engine, today=today)
    except MarginError as exc:
        logger.warning("%s", exc)
        say(str(exc))
        return
    if sent:
        say(f"alerts: {sent} new alert(s) posted to the webhook")


def sync_window(engine: Engine, provider: str, *, today: date, days: int | None) -> tuple[date, date]:
    """Backfill on the first sync, else from the last good window's end (at most 3 settled days back)."""
    return plan_window(engine, provider, today=today, days=days)[0]


def plan_window(
    engine: Engine, provider: str, *, today: date, days: int | None
) -> tuple[tuple[date, date], tuple[date, date] | None]:
    """The window to fetch, and the gap before it: days after the last good window the API cannot reach."""
    limit = BACKFILL_DAYS[provider]
    last = sync_runs.last_good_end(engine, provider)
    earliest = today - timedelta(days=limit)
    if last is None:
        return (max(earliest, today - timedelta(days=days or limit)), today), None
    gap = (last, earliest) if last < earliest else None
    return (max(earliest, min(last, today - timedelta(days=SETTLE_DAYS))), today), gap


UsageConnector: TypeAlias = openai.OpenAIConnector | anthropic.AnthropicConnector | openrouter.OpenRouterConnector
KEY_FORMATS: dict[str, Callable[[str], None]] = {
    "openai": openai.validate_key_format,
    "anthropic": anthropic.validate_key_format,
    "openrouter": openrouter.validate_key_format,
    "stripe": stripe_revenue.validate_key_format,
}
"""Per source: raises ConnectorError when a key's format is wrong, before any call."""


@contextmanager
def usage_connector(provider: str, api_key: str) -> Iterator[UsageConnector]:
    """A usage provider's connector over a client to its base URL (MARGIN_<P>_BASE_URL), closed on exit."""
    base = settings.base_url(provider)
    connector: UsageConnector
    if provider == "openai":
        client = openai.make_client(api_key, base_url=base)
        connector = openai.OpenAIConnector(client)
    elif provider == "anthropic":
        client = anthropic.make_client(api_key, base_url=base)
        connector = anthropic.AnthropicConnector(client)
    else:
        client = openrouter.make_client(api_key, base_url=base)
        connector = openrouter.OpenRouterConnector(client)
    with closing(client):
        yield connector


def stripe_connector(api_key: str) -> stripe_revenue.StripeRevenue:
    """Stripe revenue over a client to its base URL (MARGIN_STRIPE_BASE_URL)."""
    return stripe_revenue.StripeRevenue(stripe_revenue.make_client(api_key, base_url=settings.base_url("stripe")))


def sync_provider(
    engine: Engine, provider: str, *, api_key: str, today: date, days: int | None = None, progress: Progress
) -> SyncResult:
    """Fetch the provider's window, join reported cost onto usage and write it all in one transaction."""
    (start, end), gap = plan_window(engine, provider, today=today, days=days)
    if gap is not None:
        progress(f"{provider}: {gap_message(provider, gap)}")
    progress(f"{provider}: fetching {start} to {end}")
    started = datetime.now(UTC)
    try:
        with usage_connector(provider, api_key) as connector:
            fetched = connector.fetch_window(start=start, end=end, on_progress=progress)
        usage = usage_rows(fetched, source="api")
    except (ConnectorError, MarginError) as exc:
        return _failed(engine, provider, (start, end), started, str(exc), gap=gap)
    except Exception as exc:  # a bug of ours must not stop the other providers or go unrecorded
        logger.exception("%s sync failed unexpectedly", provider)
        return _failed(engine, provider, (start, end), started, f"unexpected {type(exc).__name__}: {exc}", gap=gap)
    with engine.begin() as connection:
        repo.delete_usage(connection, provider=provider, start=start, end=end)
        written = repo.upsert_usage(connection, usage)
        repo.upsert_api_keys(connection, [(k.provider, k.api_key_id, k.name, k.project_id) for k in fetched.api_keys])
        sync_runs.record_sync_run(connection, provider, (start, end), started, "ok", written, "", gap=gap)
        repo.bump_version(connection)
    return SyncResult(provider, "ok", written, window=(start, end), gap=gap)


def sync_stripe(engine: Engine, *, api_key: str, progress: Progress) -> SyncResult:
    """Re-list Stripe in full (invoices change status long after creation) and replace its revenue."""
    started = datetime.now(UTC)
    progress("stripe: listing customers, subscriptions, invoices, credit notes, charges and refunds")
    with engine.connect() as connection:
        stored = repo.read_settings(connection)
    try:
        fetched = stripe_connector(api_key).fetch_all(
            on_progress=progress,
            tier_key=stored.get("stripe_tier_key", "tier"),
            segment_key=stored.get("stripe_segment_key", "segment"),
            region_key=stored.get("stripe_region_key", "region"),
        )
    except (ConnectorError, MarginError) as exc:
        return _failed(engine, "stripe", None, started, str(exc))
    except Exception as exc:  # a bug of ours must not stop the other providers or go unrecorded
        logger.exception("stripe sync failed unexpectedly")
        return _failed(engine, "stripe", None, started, f"unexpected {type(exc).__name__}: {exc}")
    link_key = stored.get("customer_link_key", "app_customer_id")
    with engine.begin() as connection:
        writers.upsert_customer_records(connection, fetched.customers, source="stripe")
        aliases = [(c.metadata[link_key], c.customer_id) for c in fetched.customers if c.metadata.get(link_key)]
        aliases += [(c.email, c.customer_id) for c in fetched.customers if c.email]
        repo.upsert_aliases(connection, aliases)
        lines = with_usd_cents(connection, fetched.revenue_lines)
        repo.delete_revenue_not_in(connection, kinds=STRIPE_KINDS, keep=[line.source_id for line, _ in lines])
        written = writers.upsert_revenue_records(connection, lines)
        sync_runs.record_sync_run(connection, "stripe", None, started, "ok", written, "")
        repo.bump_version(connection)
    return SyncResult("stripe", "ok", written)


def with_usd_cents(
    connection: Connection, records: list[RevenueLineRecord]
) -> list[tuple[RevenueLineRecord, int | None]]:
    """Each revenue line with its amount in US cents, converted with the rate table first (rules §4.3)."""
    table = repo.read_exchange_rates(connection)
    return [(r, currency.usd_cents(r.amount, r.currency, table=table, stripe_rate=r.rate_to_usd)) for r in records]


def _failed(
    engine: Engine,
    provider: str,
    window: tuple[date, date] | None,
    started: datetime,
    error: str,
    *,
    gap: tuple[date, date] | None = None,
) -> SyncResult:
    logger.warning("%s sync failed: %s", provider, error)
    with engine.begin() as connection:
        sync_runs.record_sync_run(connection, provider, window, started, "failed", 0, error, gap=gap)
    return SyncResult(provider, "failed", 0, error, window, gap)


def sync_gaps(engine: Engine) -> list[tuple[str, date, date, str]]:
    """Every recorded gap, newest first: (provider, first day, end day exclusive, message)."""
    return [(provider, a, b, gap_message(provider, (a, b))) for provider, a, b in sync_runs.read_gaps(engine)]

"""The canonical tables of rules §3 as SQLModel classes.

Money is integer (`*_micros`, minor units, US cents): SQLite turns `Numeric` into floats. Exact decimals
that are not money totals (exchange rates, per-token prices) are stored as text and parsed as Decimal.
Key parts a row does not have are "" (never NULL), so the unique natural keys hold for upserts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


def _bigint() -> int:
    """A 64-bit integer column defaulting to 0 (token counts, requests, money in minor units)."""
    return Field(default=0, sa_type=BigInteger)  # type: ignore[no-any-return]


class Customer(SQLModel, table=True):
    customer_id: str = Field(primary_key=True)
    name: str = ""
    email: str = ""
    tier: str = ""
    segment: str = ""
    region: str = ""
    metadata_json: str = "{}"
    source: str = ""


class CustomerAlias(SQLModel, table=True):
    """Links an app's own customer id (SDK events, mappings) to the Stripe customer id (rules §8)."""

    alias: str = Field(primary_key=True)
    customer_id: str


class ProviderUsage(SQLModel, table=True):
    __tablename__ = "provider_usage"
    __table_args__ = (
        UniqueConstraint("day", "provider", "model", "api_key_id", "project_id", "user_id", name="uq_usage_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    provider: str
    model: str
    api_key_id: str = ""
    project_id: str = ""
    user_id: str = ""
    input_tokens: int = _bigint()
    cached_input_tokens: int = _bigint()
    cache_write_tokens: int = _bigint()
    cache_write_1h_tokens: int = _bigint()
    output_tokens: int = _bigint()
    requests: int = _bigint()
    cost_micros: int = _bigint()
    cost_source: str = "reported"  # reported | estimated
    source: str = "api"  # api | csv


class UsageMapping(SQLModel, table=True):
    __tablename__ = "usage_mapping"
    __table_args__ = (UniqueConstraint("provider", "dimension", "value", name="uq_mapping_key"),)
    id: int | None = Field(default=None, primary_key=True)
    provider: str  # a provider, or "*" for every provider
    dimension: str  # api_key_id | project_id | user_id
    value: str
    customer_id: str


class ApiKeyLabel(SQLModel, table=True):
    """Names of provider API keys as their admin APIs list them, shown beside ids when mapping."""

    __tablename__ = "api_key_label"
    provider: str = Field(primary_key=True)
    api_key_id: str = Field(primary_key=True)
    name: str = ""
    project_id: str = ""


class EventRollup(SQLModel, table=True):
    """Request events rolled up on write to one row per key (rules §7); `event_seen` de-duplicates first.

    `has_cost` splits events whose provider or caller gave a cost (summed in `cost_micros`) from those
    the engine prices at report time from their tokens (rules §4.1).
    """

    __tablename__ = "event_rollup"  # the unique key leads with `day`: no index of its own needed
    __table_args__ = (
        UniqueConstraint(
            "day",
            "customer_id",
            "feature",
            "provider",
            "model",
            "api_key_id",
            "metadata_json",
            "has_cost",
            name="uq_event_rollup_key",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    day: date
    customer_id: str
    feature: str
    provider: str
    model: str
    api_key_id: str = ""
    metadata_json: str = "{}"
    has_cost: bool = False
    requests: int = _bigint()
    input_tokens: int = _bigint()
    cached_input_tokens: int = _bigint()
    cache_write_tokens: int = _bigint()
    cache_write_1h_tokens: int = _bigint()
    output_tokens: int = _bigint()
    cost_micros: int = _bigint()
    latency_ms_sum: int = _bigint()


class EventSeen(SQLModel, table=True):
    """The 64-bit digest of every event_id written, so a re-sent event is never counted twice."""

    __tablename__ = "event_seen"
    # In SQLite only `INTEGER PRIMARY KEY` is the rowid itself; BIGINT would add a second index.
    event_key: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    )


class RevenueLine(SQLModel, table=True):
    __tablename__ = "revenue_line"
    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True)
    kind: str  # invoice_line | credit_note | one_off_charge | refund | csv
    customer_id: str = Field(index=True)
    service_start: date
    service_end: date
    amount: int = _bigint()
    currency: str
    amount_usd_cents: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    stripe_rate_to_usd: str | None = None  # the rate Stripe applied, text Decimal
    plan: str = ""
    description: str = ""


class Setting(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str


class ExchangeRate(SQLModel, table=True):
    __tablename__ = "exchange_rate"
    currency: str = Field(primary_key=True)  # upper case ISO code
    rate_to_usd: str  # Decimal as text


class PriceOverride(SQLModel, table=True):
    """A negotiated or routed price, per million tokens, from `effective_from` on (rules §4.1)."""

    __tablename__ = "price_override"
    __table_args__ = (UniqueConstraint("provider", "model", "effective_from", name="uq_price_override"),)
    id: int | None = Field(default=None, primary_key=True)
    provider: str
    model: str
    effective_from: date
    input_per_mtok: str = "0"
    cached_input_per_mtok: str = "0"
    cache_write_per_mtok: str = "0"
    cache_write_1h_per_mtok: str = "0"
    output_per_mtok: str = "0"


class Connection(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(unique=True)  # openai | anthropic | openrouter | stripe
    label: str = ""
    secret_encrypted: str
    status: str = "connected"
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
    last_synced_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_error: str = ""


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"
    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(index=True)
    window_start: date | None = None
    window_end: date | None = None
    started_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    status: str = "running"  # running | ok | failed
    rows_written: int = 0
    error: str = ""


class DayVersion(SQLModel, table=True):
    """The days whose usage or events a write touched, with a counter that changes on each touch.

    Written in the writer's own transaction; the derived ledger cache (`margin_core.ledger_cache`) stamps
    each day's file with it, so a reader recomputes exactly the days changed since (rules §7, Live).
    """

    __tablename__ = "day_version"
    day: date = Field(primary_key=True)
    version: int = Field(default=0, sa_type=BigInteger)


class SyncGap(SQLModel, table=True):
    """Days a sync could not fetch: its provider's API no longer reaches back to them (rules §4.7)."""

    __tablename__ = "sync_gap"
    id: int | None = Field(default=None, primary_key=True)
    sync_run_id: int = Field(index=True)  # the sync_run that found the gap
    provider: str = Field(index=True)
    gap_start: date
    gap_end: date  # exclusive

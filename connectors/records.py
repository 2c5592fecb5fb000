"""The vocabulary shared by connectors, sync and store: frozen records, exact money.

Money is exact: provider dollars are `Decimal` (parsed with `parse_float=Decimal`), Stripe amounts
integer minor units. Key parts a record does not have are the empty string, never None (rules §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

USAGE_PROVIDERS = ("openai", "anthropic", "openrouter")
"""The LLM providers Margin syncs usage and cost from."""
SOURCES = (*USAGE_PROVIDERS, "stripe")
"""Everything Margin syncs and keeps a connection for: the usage providers, then Stripe revenue."""
PROVIDERS = (*USAGE_PROVIDERS, "other")
"""The values a usage or event record's `provider` may take (`other`: any provider Margin does not sync)."""


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One provider usage bucket: tokens of one (day, model, key, project, user).

    `cost_usd` is set only where the usage endpoint itself reports dollars (OpenRouter); otherwise the
    sync gives the row its share of the cost endpoint's figure (rules §4.2). `web_search_requests`
    only weighs that split (Anthropic web searches, $0.01 each) and is not stored.
    """

    provider: str
    day: date
    model: str
    api_key_id: str = ""
    project_id: str = ""
    user_id: str = ""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    web_search_requests: int = 0
    cost_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CostRecord:
    """Reported dollars at the cost endpoint's finest grain (OpenAI day/project/key, Anthropic day/workspace)."""

    provider: str
    day: date
    amount_usd: Decimal
    project_id: str = ""
    api_key_id: str = ""
    line_item: str = ""


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A provider API key as its admin/management API lists it, for mapping keys to customers."""

    provider: str
    api_key_id: str
    name: str
    project_id: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProviderFetch:
    """Everything one provider sync fetched for a window; written in one transaction (rules §4.7)."""

    provider: str
    usage: list[UsageRecord] = field(default_factory=list)
    costs: list[CostRecord] = field(default_factory=list)
    api_keys: list[ApiKeyRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer as Stripe, the SDK or a CSV knows it. `metadata` holds custom dimensions."""

    customer_id: str
    name: str = ""
    email: str = ""
    tier: str = ""
    segment: str = ""
    region: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = "stripe"


@dataclass(frozen=True, slots=True)
class RevenueLineRecord:
    """One revenue item (rules §3 revenue_line): `amount` in minor units over [service_start, service_end).

    `rate_to_usd` is the rate Stripe applied where it gives one (the balance transaction of the paying
    charge); the rate table in settings wins over it (rules §4.3).
    """

    kind: str  # invoice_line | credit_note | one_off_charge | refund | csv
    customer_id: str
    source_id: str
    service_start: date
    service_end: date
    amount: int
    currency: str
    plan: str = ""
    description: str = ""
    rate_to_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One request event captured by the SDK or imported from CSV (rules §3 request_event)."""

    event_id: str
    ts: datetime
    customer_id: str
    feature: str
    provider: str
    model: str
    api_key_id: str = ""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    latency_ms: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

"""Provider usage rows with their share of reported cost (rules §4.2), from an API fetch or an export."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import polars as pl

from connectors.records import ProviderFetch
from margin_core import prices, schemas
from margin_core.engine.cost_join import allocate_reported_cost
from margin_core.store.events import usd_to_micros

# The reported-cost grain of each provider (rules §4.2); OpenRouter's usage carries its own dollars.
COST_GRAIN = {"openai": ["day", "provider", "project_id", "api_key_id"], "anthropic": ["day", "provider", "project_id"]}


TOKEN_AND_COUNT_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
    "web_search_requests",
)


def usage_rows(fetched: ProviderFetch, *, source: str) -> pl.DataFrame:
    """The fetch's usage rows with their share of reported cost (rules §4.2), ready for the store."""
    records = fetched.usage
    frame = pl.DataFrame(
        {
            "day": [r.day for r in records],
            "provider": [r.provider for r in records],
            "model": [r.model for r in records],
            "api_key_id": [r.api_key_id for r in records],
            "project_id": [r.project_id for r in records],
            "user_id": [r.user_id for r in records],
            "input_tokens": [r.input_tokens for r in records],
            "cached_input_tokens": [r.cached_input_tokens for r in records],
            "cache_write_tokens": [r.cache_write_tokens for r in records],
            "cache_write_1h_tokens": [r.cache_write_1h_tokens for r in records],
            "output_tokens": [r.output_tokens for r in records],
            "requests": [r.requests for r in records],
            "web_search_requests": [r.web_search_requests for r in records],
            "reported_micros": [None if r.cost_usd is None else usd_to_micros(r.cost_usd) for r in records],
        },
        # every dtype given: a window without usage (rules §4.7), or a cost export imported without its usage
        # export, has no usage rows at all
        schema_overrides={
            "day": pl.Date,
            **dict.fromkeys(("provider", "model", "api_key_id", "project_id", "user_id"), pl.String),
            **dict.fromkeys(TOKEN_AND_COUNT_COLUMNS, pl.Int64),
            "reported_micros": pl.Int64,
        },
    )
    grain = COST_GRAIN.get(fetched.provider, ["day", "provider", "project_id", "api_key_id"])
    if "api_key_id" in grain and not any(cost.api_key_id for cost in fetched.costs):
        grain = [g for g in grain if g != "api_key_id"]  # e.g. a cost export grouped by project only
    totals: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    for cost in fetched.costs:
        fields = {
            "day": cost.day,
            "provider": cost.provider,
            "project_id": cost.project_id,
            "api_key_id": cost.api_key_id,
        }
        totals[tuple(fields[g] for g in grain)] += cost.amount_usd  # summed exactly, rounded once per grain
    costs = pl.DataFrame(
        [(*key, usd_to_micros(amount)) for key, amount in totals.items()],
        schema=[*((g, pl.Date if g == "day" else pl.String) for g in grain), ("cost_micros", pl.Int64)],
        orient="row",
    )
    rates = prices.rate_table(
        frame.select("provider", "model", "day"), overrides=pl.DataFrame(schema=schemas.PRICE_OVERRIDES)
    )
    joined = allocate_reported_cost(frame.lazy(), costs=costs.lazy(), grain=grain, rates=rates.lazy()).collect()
    return joined.with_columns(pl.lit(source).alias("source"))

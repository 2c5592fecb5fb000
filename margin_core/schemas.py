"""One `pl.Schema` per frame that crosses a module boundary, and the check engine functions run on input."""

from __future__ import annotations

import polars as pl

from margin_core.errors import SchemaError

TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
# provider_usage's natural key (rules §4.8): a re-import of the same bucket replaces it.
USAGE_KEY = ("day", "provider", "model", "api_key_id", "project_id", "user_id")

USAGE = pl.Schema(
    {
        "usage_id": pl.Int64,
        "day": pl.Date,
        "provider": pl.String,
        "model": pl.String,
        "api_key_id": pl.String,
        "project_id": pl.String,
        "user_id": pl.String,
        "input_tokens": pl.Int64,
        "cached_input_tokens": pl.Int64,
        "cache_write_tokens": pl.Int64,
        "cache_write_1h_tokens": pl.Int64,
        "output_tokens": pl.Int64,
        "requests": pl.Int64,
        "cost_micros": pl.Int64,
        "cost_source": pl.String,
        "source": pl.String,
    }
)

# Request events, rolled up on write (rules §7): one row per key, `requests` events in it.
EVENTS = pl.Schema(
    {
        "day": pl.Date,
        "customer_id": pl.String,
        "feature": pl.String,
        "provider": pl.String,
        "model": pl.String,
        "api_key_id": pl.String,
        "metadata_json": pl.String,
        "has_cost": pl.Boolean,
        "requests": pl.Int64,
        "input_tokens": pl.Int64,
        "cached_input_tokens": pl.Int64,
        "cache_write_tokens": pl.Int64,
        "cache_write_1h_tokens": pl.Int64,
        "output_tokens": pl.Int64,
        "cost_micros": pl.Int64,
    }
)

MAPPINGS = pl.Schema({"provider": pl.String, "dimension": pl.String, "value": pl.String, "customer_id": pl.String})

CUSTOMERS = pl.Schema(
    {
        "customer_id": pl.String,
        "name": pl.String,
        "email": pl.String,
        "tier": pl.String,
        "segment": pl.String,
        "region": pl.String,
        "metadata_json": pl.String,
        "source": pl.String,
    }
)

ALIASES = pl.Schema({"alias": pl.String, "customer_id": pl.String})

REVENUE = pl.Schema(
    {
        "kind": pl.String,
        "customer_id": pl.String,
        "source_id": pl.String,
        "service_start": pl.Date,
        "service_end": pl.Date,
        "amount": pl.Int64,
        "currency": pl.String,
        "amount_usd_cents": pl.Int64,
        "plan": pl.String,
        "description": pl.String,
    }
)

# Per-token rates in atto-dollars (1e-18 USD): exact for every published price, Int128 products never
# overflow. `known` is False where neither an override nor genai-prices has the model (rules §4.1).
RATES = pl.Schema(
    {
        "provider": pl.String,
        "model": pl.String,
        "day": pl.Date,
        "input_atto": pl.Int64,
        "cached_input_atto": pl.Int64,
        "cache_write_atto": pl.Int64,
        "cache_write_1h_atto": pl.Int64,
        "output_atto": pl.Int64,
        "known": pl.Boolean,
    }
)

PRICE_OVERRIDES = pl.Schema(
    {
        "provider": pl.String,
        "model": pl.String,
        "effective_from": pl.Date,
        "input_atto": pl.Int64,
        "cached_input_atto": pl.Int64,
        "cache_write_atto": pl.Int64,
        "cache_write_1h_atto": pl.Int64,
        "output_atto": pl.Int64,
    }
)

# The attribution ledger: every cost, request and token of a range, each on one customer (or none).
LEDGER = pl.Schema(
    {
        "day": pl.Date,
        "customer_id": pl.String,  # null: unattributed
        "feature": pl.String,
        "provider": pl.String,
        "model": pl.String,
        "metadata_json": pl.String,
        "cost_micros": pl.Int64,
        "estimated_micros": pl.Int64,
        "requests": pl.Int64,
        "input_tokens": pl.Int64,
        "cached_input_tokens": pl.Int64,
        "cache_write_tokens": pl.Int64,
        "output_tokens": pl.Int64,
    }
)

# The ledger summed per day and customer (null: unattributed): what every per-customer report sums.
CUSTOMER_DAYS = pl.Schema(
    {
        "day": pl.Date,
        "customer_id": pl.String,
        "cost_micros": pl.Int64,
        "estimated_micros": pl.Int64,
        "requests": pl.Int64,
        **dict.fromkeys(TOKEN_COLUMNS, pl.Int64),
    }
)

# The ledger summed per day, feature, provider and model, attributed and unattributed apart: what the
# cost views, alerts and projections sum without a customer.
USAGE_DAYS = pl.Schema(
    {
        "day": pl.Date,
        "attributed": pl.Boolean,
        "feature": pl.String,
        "provider": pl.String,
        "model": pl.String,
        "cost_micros": pl.Int64,
        "estimated_micros": pl.Int64,
        "requests": pl.Int64,
        **dict.fromkeys(TOKEN_COLUMNS, pl.Int64),
    }
)

# The ledger summed per day, customer, provider and model, rows with tokens but no requests apart from the
# others (so a sum keeps whether a customer has any: the model report's revenue basis, rules §4.5): what the
# model and provider cross-subsidy sums, with half the ledger's rows.
CUSTOMER_MODEL_DAYS = pl.Schema(
    {
        "day": pl.Date,
        "customer_id": pl.String,
        "provider": pl.String,
        "model": pl.String,
        "cost_micros": pl.Int64,
        "estimated_micros": pl.Int64,
        "requests": pl.Int64,
        **dict.fromkeys(TOKEN_COLUMNS, pl.Int64),
    }
)

# The providers and models a day's usage rows and request events name.
MODEL_DAYS = pl.Schema({"day": pl.Date, "provider": pl.String, "model": pl.String})

# The usage rows' cost (the provider's report wherever it gives one) per day and provider.
USAGE_COST_DAYS = pl.Schema({"day": pl.Date, "provider": pl.String, "cost_micros": pl.Int64})

# Per usage row, or summed per day, provider, key and mapped customer: the row's tokens and the part its
# candidate events cover (rules §4.2 step 3).
ROW_COVERAGE = pl.Schema(
    {
        "day": pl.Date,
        "provider": pl.String,
        "api_key_id": pl.String,
        "mapped_customer": pl.String,
        "row_tokens": pl.Int64,
        "covered_tokens": pl.Int64,
    }
)

UNATTRIBUTED_ROWS = pl.Schema(
    {
        "day": pl.Date,
        "provider": pl.String,
        "dimension": pl.String,
        "value": pl.String,
        "model": pl.String,
        "cost_micros": pl.Int64,
        "requests": pl.Int64,
        "cost_source": pl.String,
    }
)

DAILY_REVENUE = pl.Schema({"customer_id": pl.String, "day": pl.Date, "plan": pl.String, "revenue_cents": pl.Int64})


def require(frame: pl.LazyFrame | pl.DataFrame, schema: pl.Schema, *, frame_name: str) -> None:
    """Raise SchemaError naming the missing and available columns when `frame` lacks any of `schema`."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [name for name in schema.names() if name not in names]
    if missing:
        raise SchemaError(f"{frame_name} is missing column(s) {missing}; it has {names}")

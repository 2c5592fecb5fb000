"""Price overrides (rules §4.1): negotiated or routed prices that win over genai-prices from a date on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import polars as pl
from sqlalchemy import Engine

from margin_core import prices
from margin_core.app_actions.store import _bump
from margin_core.errors import ConfigError
from margin_core.reports import models_seen, unpriced_models
from margin_core.store import repo
from margin_core.workspace import Workspace

RATE_FIELDS = ("input", "cached_input", "cache_write", "cache_write_1h", "output")


def price_overrides(engine: Engine) -> pl.DataFrame:
    """Every override with its rates in USD per million tokens (as entered)."""
    with engine.connect() as connection:
        rows = repo.read_price_overrides(connection)
    schema = {"provider": pl.String, "model": pl.String, "effective_from": pl.Date}
    schema |= {f"{name}_per_mtok": pl.String for name in RATE_FIELDS}
    return pl.DataFrame(rows, schema=schema, orient="row")


def save_price_override(
    engine: Engine, *, provider: str, model: str, effective_from: date, per_mtok: dict[str, str]
) -> None:
    """Validate and save one override (USD per million tokens per token type); raises ConfigError."""
    provider = prices.override_provider(provider)
    if not model.strip():
        raise ConfigError("the model name is required, exactly as the provider reports it")
    rates = []
    for name in RATE_FIELDS:
        raw = (per_mtok.get(name) or "0").strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{name}: {raw!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"{name}: a price per million tokens must be 0 or more")
        rates.append(str(value))
    row = (provider, model.strip(), effective_from, *rates)
    _bump(engine, lambda connection: repo.upsert_price_override(connection, row))


def delete_price_override(engine: Engine, *, provider: str, model: str, effective_from: date) -> None:
    """Remove one override; genai-prices applies again from that date."""
    _bump(
        engine,
        lambda connection: repo.delete_price_override(
            connection, provider=provider, model=model, effective_from=effective_from
        ),
    )


def override_choices(workspace: Workspace) -> tuple[list[str], list[str]]:
    """The providers and the models found in request events and usage rows, for the override form (any
    other name may be typed)."""
    found = models_seen(workspace)
    providers = sorted(set(found["provider"].unique().to_list()) - {""})
    models = sorted(set(found["model"].unique().to_list()) - {""})
    return providers, models


def unpriced_notes(workspace: Workspace, *, start: date, end: date) -> list[str]:
    """One sentence per model without a price whose tokens the range holds (the CLI prints the same lines)."""
    return prices.unpriced_lines(unpriced_models(workspace, start=start, end=end))

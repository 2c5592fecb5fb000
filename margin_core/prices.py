"""The price table: per-token rates per (provider, model, day) from overrides, else `genai-prices`.

Looked up once per distinct key (rules §4.1) and cached for the process; the engine joins the result.
genai-prices counts `input_tokens` as all input, so each rate is probed with the matching split.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

import polars as pl

from margin_core import schemas
from margin_core.errors import ConfigError

_PROBE = 1_000  # small enough to stay in every model's first price tier
_ATTO_PER_USD = 10**18
_GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "openrouter": "openrouter"}
RATE_NAMES = ("input_atto", "cached_input_atto", "cache_write_atto", "cache_write_1h_atto", "output_atto")


def override_provider(name: str) -> str:
    """A price override's provider: any non-empty name (Bedrock, Vertex, Groq…: whatever `record()` or an
    import stored), exactly as events and usage carry it; raises ConfigError."""
    provider = name.strip()
    if not provider:
        raise ConfigError("the provider name is required, exactly as your events or usage carry it")
    if provider == "*" or len(provider) > 100 or not provider.isprintable():
        raise ConfigError(f"{name!r} is not a provider name")
    return provider


def per_mtok_to_atto(per_million: Decimal) -> int:
    """USD per million tokens to atto-dollars per token (1 USD/MTok = 10^12 atto per token)."""
    return int((per_million * 10**12).to_integral_value())


def override_frame(rows: Iterable[tuple[Any, ...]]) -> pl.DataFrame:
    """Stored price overrides (provider, model, effective_from, five USD-per-MTok rates) as PRICE_OVERRIDES."""
    converted = [(provider, model, day, *(per_mtok_to_atto(v) for v in rates)) for provider, model, day, *rates in rows]
    return pl.DataFrame(converted, schema=schemas.PRICE_OVERRIDES, orient="row")


def _atto_per_token(usd_for_probe: Decimal) -> int:
    return int((usd_for_probe * _ATTO_PER_USD / _PROBE).to_integral_value())


Rates = tuple[int, int, int, int, int]


def package_rates(provider: str, model: str, day: date) -> Rates | None:
    """The five rates genai-prices gives for `model` on `day`, or None when it does not know the model."""
    static = _static_rates(provider, model)
    if static is not None:
        return static
    return _dated_rates(provider, model, day)


@lru_cache(maxsize=4_096)
def _static_rates(provider: str, model: str) -> Rates | None:
    # Most models have one price for all time; only models with dated prices need a lookup per day.
    try:
        from genai_prices import Usage, calc_price  # imported on first price: the CLI starts without it

        found = calc_price(Usage(input_tokens=_PROBE), model_ref=model, provider_id=_GENAI_PROVIDER.get(provider))
    except LookupError:
        return None
    if isinstance(found.model.prices, list):
        return None
    return _dated_rates(provider, model, date(2000, 1, 1))


@lru_cache(maxsize=65_536)
def _dated_rates(provider: str, model: str, day: date) -> Rates | None:
    from genai_prices import Usage, calc_price

    when = datetime.combine(day, time(12), tzinfo=UTC)
    provider_id = _GENAI_PROVIDER.get(provider)
    probes = (
        Usage(input_tokens=_PROBE),
        Usage(input_tokens=_PROBE, cache_read_tokens=_PROBE),
        Usage(input_tokens=_PROBE, cache_write_tokens=_PROBE),
        Usage(input_tokens=_PROBE, cache_write_tokens=_PROBE, cache_write_1h_tokens=_PROBE),
        Usage(output_tokens=_PROBE),
    )
    try:
        prices = [
            calc_price(probe, model_ref=model, provider_id=provider_id, genai_request_timestamp=when).total_price
            for probe in probes
        ]
    except LookupError:
        return None
    rates = tuple(_atto_per_token(Decimal(p)) for p in prices)
    return rates[0], rates[1], rates[2], rates[3], rates[4]


def rate_table(keys: pl.DataFrame, *, overrides: pl.DataFrame) -> pl.DataFrame:
    """Rates (RATES schema) for each distinct (provider, model, day) of `keys`.

    An override (PRICE_OVERRIDES) applies from its effective date on and wins over the package.
    """
    # Cast first: a window without usage gives an empty frame whose columns have no type (null), which
    # the asof join's `by` refuses against the overrides' strings (a quiet window is a normal sync).
    distinct = (
        keys.select(pl.col("provider").cast(pl.String), pl.col("model").cast(pl.String), pl.col("day").cast(pl.Date))
        .unique()
        .sort("provider", "model", "day")
    )
    with_override = distinct.join_asof(
        overrides.sort("effective_from"),
        left_on="day",
        right_on="effective_from",
        by=["provider", "model"],
        strategy="backward",
        check_sortedness=False,
    )
    rows: list[tuple[object, ...]] = []
    for provider, model, day, *override in with_override.select(
        "provider", "model", "day", *RATE_NAMES, "effective_from"
    ).iter_rows():
        if override[-1] is not None:
            rows.append((provider, model, day, *override[:-1], True))
            continue
        rates = package_rates(provider, model, day)
        rows.append((provider, model, day, *(rates or (0, 0, 0, 0, 0)), rates is not None))
    return pl.DataFrame(rows, schema=schemas.RATES, orient="row")


def unpriced_lines(unpriced: pl.DataFrame) -> list[str]:
    """One sentence per model without a price that carries tokens (provider, model, tokens), largest first:
    never a silent $0 (rules §4.1)."""
    return [
        f"{model} ({provider}) has no price: its {tokens:,} tokens are counted at $0 until a price override is set"
        for provider, model, tokens in unpriced.filter(pl.col("tokens") > 0)
        .sort("tokens", "provider", "model", descending=[True, False, False])
        .select("provider", "model", "tokens")
        .iter_rows()
    ]

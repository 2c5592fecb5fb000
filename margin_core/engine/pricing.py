"""Token pricing (rules §4.1): rates per (provider, model, day) joined once, exact integer arithmetic.

Rates come from `margin_core.prices` as atto-dollars per token (RATES schema); the engine only joins
and multiplies, so pricing stays columnar however many events there are.
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.engine.money import ATTO_PER_MICRO, round_half_even_div

RATE_KEY = ("provider", "model", "day")


def token_cost_atto() -> pl.Expr:
    """List-price cost in atto-dollars of a row with token columns and joined rates (1-hour writes apart)."""
    five_minute_writes = pl.col("cache_write_tokens") - pl.col("cache_write_1h_tokens")
    terms = [
        pl.col("input_tokens").cast(pl.Int128) * pl.col("input_atto"),
        pl.col("cached_input_tokens").cast(pl.Int128) * pl.col("cached_input_atto"),
        five_minute_writes.cast(pl.Int128) * pl.col("cache_write_atto"),
        pl.col("cache_write_1h_tokens").cast(pl.Int128) * pl.col("cache_write_1h_atto"),
        pl.col("output_tokens").cast(pl.Int128) * pl.col("output_atto"),
    ]
    return pl.sum_horizontal(terms).fill_null(0)


def with_rates(frame: pl.LazyFrame, *, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Join each row's rates on (provider, model, day); a row without rates gets 0 and known=False."""
    schemas.require(rates, schemas.RATES, frame_name="rates")
    rate_columns = [c for c in schemas.RATES.names() if c.endswith("_atto")]
    return frame.join(rates, on=list(RATE_KEY), how="left", validate="m:1").with_columns(
        *(pl.col(c).fill_null(0) for c in rate_columns),
        pl.col("known").fill_null(False),
    )


def price_events(events: pl.LazyFrame, *, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Each event row's own cost: the given cost where it has one, else its tokens at its day's rates.

    Adds `price_known` (False for a priced row whose model has no price: cost 0, flagged, never silent).
    """
    schemas.require(events, schemas.EVENTS, frame_name="events")
    priced = with_rates(events, rates=rates)
    return priced.with_columns(
        pl.when(pl.col("has_cost"))
        .then(pl.col("cost_micros"))
        .otherwise(round_half_even_div(token_cost_atto(), ATTO_PER_MICRO))
        .alias("cost_micros"),
        (pl.col("has_cost") | pl.col("known")).alias("price_known"),
    ).drop(c for c in schemas.RATES.names() if c not in RATE_KEY)


def price_estimated_usage(usage: pl.LazyFrame, *, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Fill `cost_micros` of usage rows marked `estimated` from their tokens (rules §4.1)."""
    schemas.require(usage, schemas.USAGE, frame_name="usage")
    priced = with_rates(usage, rates=rates)
    estimated = pl.col("cost_source") == "estimated"
    return priced.with_columns(
        pl.when(estimated)
        .then(round_half_even_div(token_cost_atto(), ATTO_PER_MICRO))
        .otherwise(pl.col("cost_micros"))
        .alias("cost_micros"),
        (~estimated | pl.col("known")).alias("price_known"),
    ).drop(c for c in schemas.RATES.names() if c not in RATE_KEY)

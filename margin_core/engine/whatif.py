"""Pricing what-ifs (rules §1, pricing decision): the cost of the same tokens on another model."""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.engine.money import ATTO_PER_MICRO, round_half_even_div
from margin_core.engine.pricing import token_cost_atto


def cost_on_model(tokens_by_day: pl.LazyFrame, *, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Each day's tokens (the four token columns) priced at `rates` of that day (RATES, one model).

    Returns day, new_cost_micros and known (False where the model has no price that day). The same
    token counts are assumed on the new model: tokenizers differ, so this is an estimate.
    """
    schemas.require(rates, schemas.RATES, frame_name="rates")
    rate_columns = [c for c in schemas.RATES.names() if c.endswith("_atto")]
    return (
        tokens_by_day.join(rates.select("day", *rate_columns, "known"), on="day", how="left", validate="1:1")
        .with_columns(
            *(pl.col(c).fill_null(0) for c in rate_columns),
            pl.col("known").fill_null(False),
            pl.lit(0, pl.Int64).alias("cache_write_1h_tokens"),  # the ledger keeps 1-hour writes inside writes
        )
        .select("day", round_half_even_div(token_cost_atto(), ATTO_PER_MICRO).alias("new_cost_micros"), "known")
    )


__all__ = ["cost_on_model"]

"""Reported cost onto usage rows (rules §4.2, first paragraph).

Usage endpoints give tokens per (key, model); cost endpoints give dollars per coarser grain. Each
grain's reported micro-dollars are split over its usage rows by largest remainder, weighted by list
price (1-hour cache writes at their own rate, web searches at $0.01 each). Reported cost no usage row
carries becomes a row of its own, model `(other)`, so nothing reported is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from margin_core.engine.money import ATTO_PER_MICRO, allocate_largest_remainder, round_half_even_div
from margin_core.engine.pricing import token_cost_atto, with_rates
from margin_core.schemas import USAGE_KEY
from margin_core.vocabulary import OTHER_MODEL

WEB_SEARCH_ATTO = 10**16  # $0.01 per search
_ATTO_PER_PICO = 10**6  # weights in pico-dollars keep cost × weight inside Int128
TOKENS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
)


def allocate_reported_cost(
    usage: pl.LazyFrame,
    *,
    costs: pl.LazyFrame,
    grain: Sequence[str],
    rates: pl.LazyFrame,
) -> pl.LazyFrame:
    """Usage rows with `cost_micros` and `cost_source`; plus `(other)` rows for uncarried reported cost.

    `usage` has the usage key, the token columns, `requests`, `web_search_requests` and `reported_micros`
    (the usage endpoint's own dollars, e.g. OpenRouter; null elsewhere). `costs` has `grain` and
    `cost_micros`, one row per grain.
    """
    grain = list(grain)
    weighted = with_rates(usage, rates=rates).with_columns(
        ((token_cost_atto() + pl.col("web_search_requests").cast(pl.Int128) * WEB_SEARCH_ATTO) // _ATTO_PER_PICO)
        .cast(pl.Int128)
        .alias("weight"),
        round_half_even_div(token_cost_atto(), ATTO_PER_MICRO).alias("list_micros"),
    )
    grain_costs = costs.select(*grain, pl.col("cost_micros").alias("grain_micros"))
    joined = weighted.join(grain_costs, on=grain, how="left", validate="m:1")
    own = joined.filter(pl.col("reported_micros").is_not_null()).with_columns(
        pl.col("reported_micros").alias("cost_micros"), pl.lit("reported").alias("cost_source")
    )
    # Token sums weigh a grain whose rows all have no list price (unknown or fine-tuned models).
    tokens = pl.sum_horizontal("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
    unpriced_grain = pl.col("weight").sum().over(grain) == 0
    split = allocate_largest_remainder(
        joined.filter(pl.col("reported_micros").is_null() & pl.col("grain_micros").is_not_null()).with_columns(
            pl.when(unpriced_grain).then(tokens.cast(pl.Int128)).otherwise(pl.col("weight")).alias("weight")
        ),
        group=grain,
        total="grain_micros",
        weight="weight",
        tie_break=[c for c in USAGE_KEY if c not in grain],
        out="cost_micros",
    ).with_columns(pl.lit("reported").alias("cost_source"))
    estimated = joined.filter(pl.col("reported_micros").is_null() & pl.col("grain_micros").is_null()).with_columns(
        pl.col("list_micros").alias("cost_micros"), pl.lit("estimated").alias("cost_source")
    )
    carried = usage.select(grain).unique()
    other = (
        costs.join(carried, on=grain, how="anti")
        .with_columns(
            *(pl.lit("").alias(c) for c in ("api_key_id", "project_id", "user_id") if c not in grain),
            pl.lit(OTHER_MODEL).alias("model"),
            *(pl.lit(0, pl.Int64).alias(c) for c in (*TOKENS, "requests")),
            pl.lit("reported").alias("cost_source"),
        )
        .filter(pl.col("cost_micros") != 0)
    )
    columns = [*USAGE_KEY, *TOKENS, "requests", "cost_micros", "cost_source"]
    return pl.concat([frame.select(columns) for frame in (own, split, estimated, other)], how="vertical_relaxed")

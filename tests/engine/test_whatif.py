"""What switching a feature's model would cost, hand-computed."""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core import schemas
from margin_core.engine.whatif import cost_on_model


def test_tokens_are_priced_at_the_new_models_rates_of_each_day() -> None:
    tokens = pl.LazyFrame(
        {
            "day": [date(2026, 3, 1), date(2026, 3, 2)],
            "input_tokens": [1_000_000, 2_000_000],
            "cached_input_tokens": [400_000, 0],
            "cache_write_tokens": [0, 0],
            "output_tokens": [500_000, 1],
        }
    )
    # gpt-4o-mini: $0.15 / $0.075 / - / - / $0.60 per million tokens; no price on 2 March
    rates = pl.LazyFrame(
        [(None, None, date(2026, 3, 1), 150_000_000_000, 75_000_000_000, 0, 0, 600_000_000_000, True)],
        schema=schemas.RATES,
        orient="row",
    )
    got = cost_on_model(tokens, rates=rates).collect().sort("day")
    # 1 M × 0.15 + 0.4 M × 0.075 + 0.5 M × 0.60 = 0.15 + 0.03 + 0.30 = $0.48
    assert got["new_cost_micros"].to_list() == [480_000, 0]
    assert got["known"].to_list() == [True, False]

"""Reported cost onto usage rows (rules §4.2, first paragraph), hand-computed."""

from __future__ import annotations

from datetime import date

import polars as pl

from margin_core import schemas
from margin_core.engine.cost_join import allocate_reported_cost

DAY = date(2026, 3, 2)
GRAIN = ["day", "provider", "project_id", "api_key_id"]


def _usage(*rows: tuple[str, int, int, int]) -> pl.LazyFrame:
    return pl.DataFrame(
        [
            {
                "day": DAY,
                "provider": "openai",
                "model": model,
                "api_key_id": "k",
                "project_id": "p",
                "user_id": "",
                "input_tokens": inp,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "cache_write_1h_tokens": 0,
                "output_tokens": out,
                "requests": 1,
                "web_search_requests": searches,
                "reported_micros": None,
            }
            for model, inp, out, searches in rows
        ],
        schema_overrides={"reported_micros": pl.Int64},
    ).lazy()


def _rates(*rows: tuple[str, int, int]) -> pl.LazyFrame:
    return pl.DataFrame(
        [("openai", m, DAY, i, 0, 0, 0, o, True) for m, i, o in rows], schema=schemas.RATES, orient="row"
    ).lazy()


def _costs(micros: int) -> pl.LazyFrame:
    return pl.LazyFrame(
        {"day": [DAY], "provider": ["openai"], "project_id": ["p"], "api_key_id": ["k"], "cost_micros": [micros]}
    )


def _by_model(frame: pl.LazyFrame) -> dict[str, int]:
    return dict(frame.collect().select("model", "cost_micros").iter_rows())


def test_the_grain_is_split_by_list_price_web_searches_included() -> None:
    usage = _usage(("a", 1_000_000, 0, 0), ("b", 0, 0, 100))  # a: $1.00 at list; b: 100 searches = $1.00
    got = allocate_reported_cost(usage, costs=_costs(3_000_001), grain=GRAIN, rates=_rates(("a", 10**12, 0)))
    assert _by_model(got) == {"a": 1_500_001, "b": 1_500_000}  # the odd micro to the tie-break's first


def test_a_grain_of_unpriced_models_is_split_by_tokens() -> None:
    usage = _usage(("my-finetune-x", 100, 0, 0), ("my-finetune-y", 300, 0, 0))
    got = allocate_reported_cost(usage, costs=_costs(1_000_000), grain=GRAIN, rates=_rates())
    assert _by_model(got) == {"my-finetune-x": 250_000, "my-finetune-y": 750_000}


def test_reported_cost_without_usage_becomes_an_other_row_and_uncosted_rows_are_estimated() -> None:
    usage = _usage(("a", 2_000_000, 0, 0))
    costs = pl.concat(
        [
            _costs(5),
            pl.LazyFrame(
                {
                    "day": [DAY],
                    "provider": ["openai"],
                    "project_id": ["p2"],
                    "api_key_id": [""],
                    "cost_micros": [7_000_000],
                }
            ),
        ]
    )
    got = allocate_reported_cost(usage, costs=costs, grain=GRAIN, rates=_rates(("a", 10**12, 0))).collect()
    rows = {(r["model"], r["project_id"]): (r["cost_micros"], r["cost_source"]) for r in got.iter_rows(named=True)}
    assert rows == {("a", "p"): (5, "reported"), ("(other)", "p2"): (7_000_000, "reported")}
    alone = allocate_reported_cost(
        usage, costs=_costs(0).filter(pl.lit(False)), grain=GRAIN, rates=_rates(("a", 10**12, 0))
    ).collect()
    assert alone.select("cost_micros", "cost_source").row(0) == (2_000_000, "estimated")

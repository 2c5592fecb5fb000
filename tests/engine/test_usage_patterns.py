"""Usage pattern (rules §4.5 v3) and concentration, hand-computed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from margin_core import schemas
from margin_core.engine import usage_patterns

DAY = date(2026, 11, 3)


def ledger(rows: Sequence[tuple[str | None, int, int]]) -> pl.LazyFrame:
    """(customer_id, input tokens, cost micros) rows on one day."""
    return pl.DataFrame(
        [
            {
                "day": DAY,
                "customer_id": c,
                "feature": "chat",
                "provider": "openai",
                "model": "gpt-4o",
                "metadata_json": "{}",
                "cost_micros": cost,
                "estimated_micros": 0,
                "requests": 1,
                "input_tokens": tokens,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "output_tokens": 0,
            }
            for c, tokens, cost in rows
        ],
        schema=schemas.LEDGER,
    ).lazy()


def revenue(rows: list[tuple[str, int]]) -> pl.LazyFrame:
    return pl.DataFrame(
        [{"customer_id": c, "day": DAY, "plan": "", "revenue_cents": cents} for c, cents in rows],
        schema=schemas.DAILY_REVENUE,
    ).lazy()


ELEVEN = [(f"c{i:02d}", (11 - i) * 100, (11 - i) * 1_000_000) for i in range(11)]  # c00 has most tokens


def test_eleven_customers_two_power_four_regular_five_light() -> None:
    # 10% of 11 = 1.1 → 2 power (rounded up); 50% of 11 = 5.5 → 5 light (rounded down); 4 regular.
    out = usage_patterns.usage_patterns(ledger([*ELEVEN, (None, 5_000, 9_000_000)])).collect()
    expected = pl.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(11)],
            "tokens": [(11 - i) * 100 for i in range(11)],
            "usage_pattern": ["power"] * 2 + ["regular"] * 4 + ["light"] * 5,
        }
    )
    assert_frame_equal(out, expected, check_row_order=False)


def test_ties_go_by_customer_id_and_customers_without_tokens_are_none() -> None:
    rows = [("b", 100, 0), ("a", 100, 0), ("c", 50, 0), ("z", 0, 5)]
    out = usage_patterns.usage_patterns(ledger(rows)).collect().sort("customer_id")
    # 3 with tokens: 1 power (a wins the tie with b), 1 light (c), 1 regular (b).
    assert out.rows() == [("a", 100, "power"), ("b", 100, "regular"), ("c", 50, "light")]
    customers = pl.LazyFrame({"customer_id": ["a", "y"], "name": ["A", "Y"]})
    full = usage_patterns.with_usage_pattern(customers, ledger=ledger(rows), daily_revenue=revenue([("x", 100)]))
    patterns = dict(full.select("customer_id", "usage_pattern").collect().iter_rows())
    assert patterns == {"a": "power", "b": "regular", "c": "light", "z": "none", "y": "none", "x": "none"}


def test_by_usage_pattern_sums_revenue_and_cost_per_pattern_with_unattributed_row() -> None:
    rows = [("a", 1_000, 3_000_000), ("b", 500, 1_000_000), ("c", 10, 100_000), (None, 70, 700_000)]
    customers = pl.LazyFrame({"customer_id": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"], "tier": [""] * 4})
    out = usage_patterns.by_usage_pattern(
        ledger(rows), daily_revenue=revenue([("a", 1_000), ("c", 500), ("d", 200)]), customers=customers
    ).collect()
    got = {r["usage_pattern"]: (r["revenue_micros"], r["cost_micros"]) for r in out.iter_rows(named=True)}
    # 3 with tokens → a power, c light, b regular; d has revenue only → none.
    assert got == {
        "power": (10_000_000, 3_000_000),
        "regular": (0, 1_000_000),
        "light": (5_000_000, 100_000),
        "none": (2_000_000, 0),
        "(unattributed)": (0, 700_000),
    }


def test_concentration_top_20_percent_rounded_up() -> None:
    # 11 customers → 20% = 2.2 → top 3: c00, c01, c02 with 1100+1000+900 = 3000 of 6600 tokens.
    rev = revenue([("c00", 10_000), ("c05", 30_000)])
    out = usage_patterns.concentration(ledger([*ELEVEN, (None, 400, 4_000_000)]), daily_revenue=rev).collect()
    row = out.row(0, named=True)
    assert row["top_customers"] == 3
    assert row["top_tokens"] == 3_000 and row["total_tokens"] == 6_600
    assert row["top_cost_micros"] == 30_000_000 and row["total_cost_micros"] == 66_000_000
    assert row["token_share"] == 3_000 / 6_600
    assert row["cost_share"] == 30 / 66
    assert row["revenue_share"] == 0.25


def test_concentration_is_empty_without_tokens() -> None:
    assert usage_patterns.concentration(ledger([("a", 0, 5)]), daily_revenue=revenue([])).collect().is_empty()


@given(tokens=st.lists(st.integers(0, 50), min_size=1, max_size=40), seed=st.integers(0, 1000))
def test_patterns_partition_the_customers_and_ignore_input_order(tokens: list[int], seed: int) -> None:
    rows = [(f"c{i:02d}", t, 0) for i, t in enumerate(tokens)]
    out = usage_patterns.usage_patterns(ledger(rows)).collect()
    n = sum(1 for t in tokens if t > 0)
    counts = dict(out.group_by("usage_pattern").len().iter_rows())
    assert counts.get("power", 0) == (n + 9) // 10
    assert counts.get("light", 0) == (n // 2 if n > 1 else 0)
    shuffled = ledger(rows).collect().sample(fraction=1.0, shuffle=True, seed=seed).lazy()
    assert_frame_equal(usage_patterns.usage_patterns(shuffled).collect(), out, check_row_order=False)

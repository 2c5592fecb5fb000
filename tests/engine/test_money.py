"""Exact integer money (rules §4.2, §4.3): half-even division and largest-remainder splits."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from margin_core.engine.money import allocate_largest_remainder, round_half_even_div


def _divide(numerators: list[int], divisor: int) -> list[int]:
    frame = pl.DataFrame({"n": numerators}, schema={"n": pl.Int64})
    return frame.select(round_half_even_div(pl.col("n"), divisor).alias("q"))["q"].to_list()


def _split(frame: pl.DataFrame) -> pl.DataFrame:
    """Split each group's total over its rows; rows keyed by `id`, sorted for comparison."""
    out = allocate_largest_remainder(frame.lazy(), group=["g"], total="total", weight="w", tie_break=["id"])
    return out.collect().select("g", "id", "allocated").sort("g", "id")


def _parts(total: int, weights: list[int]) -> list[int]:
    frame = pl.DataFrame(
        {"g": [1] * len(weights), "id": list(range(1, len(weights) + 1)), "total": total, "w": weights}
    )
    return _split(frame)["allocated"].to_list()


# --- half-even division ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "divisor", "expected"),
    [
        (5, 2, 2),  # 2.5 → 2: an exact half goes to the even neighbour
        (7, 2, 4),  # 3.5 → 4
        (25, 10, 2),  # 2.5 → 2
        (15, 10, 2),  # 1.5 → 2
        (-5, 2, -2),  # −2.5 → −2
        (-7, 2, -4),  # −3.5 → −4
        (-1, 2, 0),  # −0.5 → 0
        (1, 3, 0),  # 0.33 → 0: not a half, to the nearest
        (2, 3, 1),  # 0.67 → 1
        (-2, 3, -1),
        (1_500_000_000_000, 10**12, 2),  # 1.5 µ$ of atto-dollars → 2 µ$
        (2_500_000_000_000, 10**12, 2),  # 2.5 µ$ → 2 µ$
    ],
)
def test_division_rounds_to_the_nearest_and_exact_halves_to_even(numerator: int, divisor: int, expected: int) -> None:
    assert _divide([numerator], divisor) == [expected]


@given(
    numerators=st.lists(st.integers(-(10**18), 10**18), min_size=1, max_size=20),
    divisor=st.integers(1, 10**12),
)
def test_division_agrees_with_decimal_half_even(numerators: list[int], divisor: int) -> None:
    expected = [int((Decimal(n) / Decimal(divisor)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)) for n in numerators]
    assert _divide(numerators, divisor) == expected


# --- largest-remainder splits ----------------------------------------------------------------------


def test_a_split_gives_the_leftover_units_to_the_largest_remainders() -> None:
    # 100 by 1:2 is 33.33 and 66.67: floors 33 and 66, the one unit left goes to the larger remainder.
    assert _parts(100, [1, 2]) == [33, 67]
    # 10 by 1:1:1 is 3.33 each: one unit left, every remainder equal, so the smallest id takes it.
    assert _parts(10, [1, 1, 1]) == [4, 3, 3]


def test_an_exact_half_goes_to_the_smallest_tie_break() -> None:
    assert _parts(1, [1, 1]) == [1, 0]
    assert _parts(3, [5, 5]) == [2, 1]


def test_all_zero_weights_split_the_total_equally() -> None:
    assert _parts(7, [0, 0, 0]) == [3, 2, 2]
    assert _parts(0, [0, 0]) == [0, 0]


def test_a_negative_total_still_sums_exactly() -> None:
    parts = _parts(-10, [1, 1, 1])
    assert sum(parts) == -10
    assert sorted(parts) == [-4, -3, -3]


def test_groups_are_split_independently() -> None:
    frame = pl.DataFrame(
        {"g": [1, 1, 2, 2, 2], "id": [1, 2, 3, 4, 5], "total": [5, 5, 9, 9, 9], "w": [1, 1, 0, 0, 0]},
    )
    assert _split(frame)["allocated"].to_list() == [3, 2, 3, 3, 3]


split_cases = st.lists(
    st.tuples(
        st.integers(1, 4),  # group
        st.integers(0, 10**9),  # weight (micro-dollars or tokens)
    ),
    min_size=1,
    max_size=30,
)


@given(
    rows=split_cases, totals=st.lists(st.integers(-(10**13), 10**13), min_size=4, max_size=4), seed=st.integers(0, 99)
)
def test_parts_sum_to_the_total_whatever_the_order(rows: list[tuple[int, int]], totals: list[int], seed: int) -> None:
    frame = pl.DataFrame(
        {
            "g": [g for g, _ in rows],
            "id": list(range(len(rows))),
            "total": [totals[g - 1] for g, _ in rows],
            "w": [w for _, w in rows],
        },
        schema={"g": pl.Int64, "id": pl.Int64, "total": pl.Int64, "w": pl.Int64},
    )
    out = _split(frame)

    sums = out.group_by("g").agg(pl.col("allocated").sum()).sort("g")
    expected = frame.group_by("g").agg(pl.col("total").first()).sort("g")
    assert sums["allocated"].to_list() == expected["total"].to_list()

    # Each part is its exact share rounded down or up: never more than one unit away.
    joined = out.join(frame, on=["g", "id"])
    for g, _id, allocated, total, weight in joined.select("g", "id", "allocated", "total", "w").iter_rows():
        group = frame.filter(pl.col("g") == g)
        weight_sum, count = int(group["w"].sum()), group.height
        share = Decimal(total) * weight / weight_sum if weight_sum else Decimal(total) / count
        assert abs(Decimal(allocated) - share) < 1

    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    assert_frame_equal(_split(shuffled), out)

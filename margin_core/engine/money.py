"""Exact integer money: half-even rounding of scaled integers and largest-remainder splits."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

MICROS_PER_CENT = 10_000
ATTO_PER_MICRO = 10**12


def round_half_even_div(numerator: pl.Expr, divisor: int | pl.Expr) -> pl.Expr:
    """`numerator / divisor` rounded half to even, as Int64 (numerator may be Int128; divisor > 0)."""
    n = numerator.cast(pl.Int128)
    if isinstance(divisor, pl.Expr):
        divisor = divisor.cast(pl.Int128)
    quotient = n // divisor
    twice_rest = (n - quotient * divisor) * 2
    round_up = (twice_rest > divisor) | ((twice_rest == divisor) & (quotient % 2 != 0))
    return (quotient + round_up.cast(pl.Int128)).cast(pl.Int64)


def allocate_largest_remainder(
    parts: pl.LazyFrame,
    *,
    group: Sequence[str],
    total: str,
    weight: str,
    tie_break: Sequence[str],
    out: str = "allocated",
) -> pl.LazyFrame:
    """Split each group's `total` (one value per group, repeated on its rows) over its rows by `weight`.

    Floors of the exact shares, then one more unit to the rows with the largest remainders (ties to the
    smallest `tie_break`), so the parts sum to the total exactly. A group whose weights are all 0 is
    split equally.
    """
    group = list(group)
    weights = pl.col(weight).cast(pl.Int128)
    weight_sum = weights.sum().over(group)
    effective = pl.when(weight_sum == 0).then(pl.lit(1, pl.Int128)).otherwise(weights)
    effective_sum = pl.when(weight_sum == 0).then(pl.len().over(group).cast(pl.Int128)).otherwise(weight_sum)
    exact = pl.col(total).cast(pl.Int128) * pl.col("_w")
    # Rows are sorted by group, so a row's rank in its group is its index minus the group's first index:
    # no per-group window for the rank (the slowest step on millions of rows).
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    group_starts = pl.any_horizontal(pl.col(g).ne_missing(pl.col(g).shift(1)) for g in group) | (index == 0)
    rank = index - pl.when(group_starts).then(index).otherwise(None).forward_fill()
    leftover = pl.col(total) - pl.col("_floor").sum().over(group)
    return (
        parts.with_columns(effective.alias("_w"), effective_sum.alias("_wsum"))
        .with_columns(
            (exact // pl.col("_wsum")).cast(pl.Int64).alias("_floor"), (exact % pl.col("_wsum")).alias("_rest")
        )
        .sort([*group, "_rest", *tie_break], descending=[False] * len(group) + [True] + [False] * len(tie_break))
        .with_columns((pl.col("_floor") + (rank < leftover).cast(pl.Int64)).alias(out))
        .drop("_w", "_wsum", "_floor", "_rest")
    )

"""Trailing sums per key and day: the week-over-week and month-over-month comparisons of alerts and insights.

Each key gets one slot per day of [first, last] in a dense column per value (zeros where it had no row), all
keys one after another, so a plain rolling sum over the column is every key's own window: only days whose
windows lie inside their key's slots are returned. No join of keys with days, no per-key window expression.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl


def trailing_sums(
    daily: pl.LazyFrame, *, key: str, values: list[str], width: int, first: date, last: date, evaluated: int
) -> pl.DataFrame:
    """For each key with a row in [first, last] (null keys left out) and each of the last `evaluated` days of
    that range: `<value>_now`, the sum over the `width` days ending with the day, and `<value>_before`, over
    the `width` days before them. Rows by key (sorted), then day; rows on one key and day add up."""
    span = (last - first).days + 1
    if not 0 < evaluated <= span - 2 * width + 1:
        raise ValueError(f"{evaluated} days of {span} cannot each have two windows of {width} days before them")
    inside = (
        daily.filter(pl.col("day").is_between(first, last) & pl.col(key).is_not_null())
        .select(pl.col(key).cast(pl.String), "day", *values)
        .collect()
    )
    keys = inside[key].unique().sort()
    # a key's number is its place in sorted order: its code as an enum of the sorted keys (no join)
    number = pl.col(key).cast(pl.Enum(keys)).to_physical().cast(pl.Int64)
    slot = number * span + (pl.col("day") - pl.lit(first)).dt.total_days()
    sums = inside.lazy().group_by(slot.alias("_slot")).agg(pl.col(values).sum()).collect()
    rows = pl.int_range(keys.len() * evaluated, eager=True)  # the evaluated days of each key
    key_no, day_no = rows // evaluated, rows % evaluated
    at = key_no * span + (span - evaluated) + day_no
    columns = {}
    for value in values:
        dense = pl.zeros(keys.len() * span, dtype=sums.schema[value], eager=True).scatter(sums["_slot"], sums[value])
        now = dense.rolling_sum(width)
        columns[f"{value}_now"] = now.gather(at)
        columns[f"{value}_before"] = now.shift(width).gather(at)
    days = pl.date_range(last - timedelta(days=evaluated - 1), last, "1d", eager=True)
    return pl.DataFrame({key: keys.gather(key_no), "day": days.gather(day_no), **columns})

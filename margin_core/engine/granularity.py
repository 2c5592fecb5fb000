"""Time buckets for series (rules §4.6): day up to 45 days, ISO week up to 190, else calendar month."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import polars as pl

Granularity = Literal["day", "week", "month"]
_EVERY = {"day": "1d", "week": "1w", "month": "1mo"}


def choose_granularity(start: date, end: date) -> Granularity:
    """The adaptive granularity of a half-open range [start, end)."""
    span = (end - start).days
    if span <= 45:
        return "day"
    if span <= 190:
        return "week"
    return "month"


def bucket_period(day: pl.Expr, granularity: Granularity) -> pl.Expr:
    """The period start of each day: itself, its ISO week's Monday, or the 1st of its month."""
    return day.dt.truncate(_EVERY[granularity]).alias("period_start")


def period_starts(start: date, end: date, granularity: Granularity) -> pl.LazyFrame:
    """Every period start of [start, end); the first may begin before `start`."""
    if end <= start:
        return pl.LazyFrame(schema={"period_start": pl.Date})
    days = pl.date_range(start, end - timedelta(days=1), interval="1d", eager=False)
    return pl.LazyFrame().select(bucket_period(days, granularity)).unique().sort("period_start")


def change_in_points(previous_pct: float | None, current_pct: float | None) -> float | None:
    """Period-over-period change of a percentage, in points (58% → 42% is −16)."""
    if previous_pct is None or current_pct is None:
        return None
    return (current_pct - previous_pct) * 100

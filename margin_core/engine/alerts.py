"""Alerts (rules §4.9), evaluated over complete days ending with a given last day.

Rules:
- `cost_spike` (customer, feature, model): LLM cost over the last 7 days at least `spike_ratio` × the 7
  days before and at least `spike_min_micros` more;
- `status_worse`: a customer's status over the last 31 days worse than over the 31 before;
- `unattributed_share`: unattributed cost above `unattributed_max` of all cost over the last 7 days;
- `unpriced_model`: a model without a price that carries tokens in the last 7 days;
- `sync_failed` / `source_stale`: a source whose last sync failed, or whose newest day is older than 2
  days (on the day after `last_day`).

Each alert has a kind, a subject, the previous and current figures (as printed text: money in USD with
two decimals, shares as fractions with four, statuses by name), change_pct (a fraction; null where it
does not apply) and first_day: the first day of the unbroken run of days, up to `last_day`, on which the
rule held (evaluated back `LOOKBACK` days). Pure polars; the day is an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from margin_core import schemas
from margin_core.engine.margins import DEFAULT_BREAK_EVEN
from margin_core.engine.money import MICROS_PER_CENT
from margin_core.engine.windows import trailing_sums
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import UNATTRIBUTED

LOOKBACK = 31  # days back that first_day is searched
STATUS_RANK = {"unprofitable": 0, "break_even": 1, "profitable": 2}
ALERTS = pl.Schema(
    {
        "kind": pl.String,
        "subject": pl.String,
        "previous": pl.String,
        "current": pl.String,
        "change_pct": pl.Float64,
        "first_day": pl.Date,
        "weight": pl.Int64,  # for ordering: the rise in micro-dollars where there is one
    }
)
ORDER = ("sync_failed", "source_stale", "cost_spike", "unattributed_share", "status_worse", "unpriced_model")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The settings of rules §4.9."""

    spike_ratio: float = 2.0
    spike_min_micros: int = 50_000_000
    unattributed_max: float = 0.15
    break_even: float = DEFAULT_BREAK_EVEN


def money_text(micros: pl.Expr) -> pl.Expr:
    """Micro-dollars as "1234.56" (half-up, exact)."""
    cents = (micros.abs().cast(pl.Int64) + 5_000) // 10_000
    sign = pl.when((micros < 0) & (cents > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2))


def fraction_text(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """part / whole (non-negative integers, whole > 0) as "0.1234", half-up from the integers."""
    scaled = (part.cast(pl.Int128) * 20_000 + whole.cast(pl.Int128)) // (whole.cast(pl.Int128) * 2)
    scaled = scaled.cast(pl.Int64)
    return pl.concat_str(
        (scaled // 10_000).cast(pl.String), pl.lit("."), (scaled % 10_000).cast(pl.String).str.zfill(4)
    )


def _holding(
    daily: pl.LazyFrame,
    *,
    key: str,
    values: list[str],
    width: int,
    last_day: date,
    held: pl.Expr,
    derived: Sequence[pl.Expr] = (),
) -> pl.LazyFrame:
    """The rows of `last_day` on which `held` holds for a key, with first_day (`_held_since`). `held` reads
    each value's windows, `<value>_now` (the `width` days ending with the day) and `<value>_before` (the
    `width` days before them), and the `derived` columns. The last day's windows are summed for every key
    first; the evaluated days only for the keys it holds for then (a key's first_day is its own rows')."""
    recent = pl.col("day") > last_day - timedelta(days=width)
    holds_last = (
        daily.filter(
            pl.col("day").is_between(last_day - timedelta(days=2 * width - 1), last_day) & pl.col(key).is_not_null()
        )
        .group_by(key)
        .agg(
            *(pl.col(v).filter(recent).sum().alias(f"{v}_now") for v in values),
            *(pl.col(v).filter(~recent).sum().alias(f"{v}_before") for v in values),
        )
        .with_columns(derived)
        .filter(held)
        .select(key)
    )
    first = last_day - timedelta(days=LOOKBACK - 1 + 2 * width - 1)
    windows = trailing_sums(
        daily.join(holds_last, on=key, how="semi"),
        key=key,
        values=values,
        width=width,
        first=first,
        last=last_day,
        evaluated=LOOKBACK,
    )
    return _held_since(windows.lazy().with_columns(derived), key=key, held=held, last_day=last_day)


def _held_since(frame: pl.LazyFrame, *, key: str, held: pl.Expr, last_day: date) -> pl.LazyFrame:
    """Rows of `last_day` where `held`, with first_day: the day after the last evaluated day it did not
    hold (or the first evaluated day)."""
    evaluated = frame.with_columns(held.fill_null(False).alias("_held"))
    broke = (
        evaluated.filter(~pl.col("_held"))
        .group_by(key)
        .agg((pl.col("day").max() + timedelta(days=1)).alias("_after_break"))
    )
    start = evaluated.group_by(key).agg(pl.col("day").min().alias("_first_evaluated"))
    return (
        evaluated.filter((pl.col("day") == last_day) & pl.col("_held"))
        .join(broke, on=key, how="left")
        .join(start, on=key, how="left")
        .with_columns(pl.coalesce("_after_break", "_first_evaluated").alias("first_day"))
        .drop("_held", "_after_break", "_first_evaluated")
    )


def cost_spikes(
    customer_days: pl.LazyFrame,
    usage_days: pl.LazyFrame,
    *,
    customers: pl.LazyFrame,
    last_day: date,
    thresholds: Thresholds = Thresholds(),
) -> pl.LazyFrame:
    """Customers, features (of attributed cost) and models whose 7-day cost jumped (rules §4.9), from the
    ledger summed per day and customer (CUSTOMER_DAYS) and per feature and model (USAGE_DAYS)."""
    schemas.require(customer_days, schemas.CUSTOMER_DAYS, frame_name="customer_days")
    schemas.require(usage_days, schemas.USAGE_DAYS, frame_name="usage_days")
    names = customers.select("customer_id", pl.col("name").alias("_name"))
    keyed = {
        "customer": customer_days.filter(pl.col("customer_id").is_not_null()).select(
            "day", pl.col("customer_id").alias("key"), "cost_micros"
        ),
        "feature": usage_days.filter(pl.col("attributed")).select("day", pl.col("feature").alias("key"), "cost_micros"),
        "model": usage_days.select("day", pl.col("model").alias("key"), "cost_micros"),
    }
    ratio_ppm = round(thresholds.spike_ratio * 1_000_000)
    current, previous = pl.col("current").cast(pl.Int128), pl.col("previous").cast(pl.Int128)
    held = (
        (current * 1_000_000 >= previous * ratio_ppm)
        & (current - previous >= thresholds.spike_min_micros)
        & (current > 0)
    )
    weeks = [pl.col("cost_micros_now").alias("current"), pl.col("cost_micros_before").alias("previous")]
    found = []
    for what, frame in keyed.items():
        alerts = _holding(
            frame, key="key", values=["cost_micros"], width=7, last_day=last_day, held=held, derived=weeks
        )
        if what == "customer":
            subject = pl.coalesce(pl.col("_name").replace("", None), pl.col("key"))
            alerts = alerts.join(names, left_on="key", right_on="customer_id", how="left")
        else:
            subject = pl.col("key")
        found.append(
            alerts.select(
                pl.lit("cost_spike").alias("kind"),
                pl.concat_str(pl.lit(f"{what} "), subject).alias("subject"),
                money_text(pl.col("previous")).alias("previous"),
                money_text(pl.col("current")).alias("current"),
                pl.when(pl.col("previous") > 0)
                .then((pl.col("current") - pl.col("previous")) / pl.col("previous"))
                .otherwise(None)
                .cast(pl.Float64)
                .alias("change_pct"),
                "first_day",
                (pl.col("current") - pl.col("previous")).cast(pl.Int64).alias("weight"),
            )
        )
    return pl.concat(found)


def _status_rank(revenue: pl.Expr, cost: pl.Expr, break_even: float) -> pl.Expr:
    """0 unprofitable, 1 break_even, 2 profitable (rules §4.4, exact); null without revenue and cost."""
    margin = revenue.cast(pl.Int128) - cost.cast(pl.Int128)
    threshold_ppm = round(break_even * 1_000_000)
    return (
        pl.when((revenue == 0) & (cost == 0))
        .then(None)
        .when(margin < 0)
        .then(0)
        .when((revenue <= 0) | (margin * 1_000_000 < revenue.cast(pl.Int128) * threshold_ppm))
        .then(1)
        .otherwise(2)
    )


def worse_statuses(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    customers: pl.LazyFrame,
    last_day: date,
    thresholds: Thresholds = Thresholds(),
) -> pl.LazyFrame:
    """Customers whose status over the last 31 days is worse than over the 31 before (`ledger`: the ledger
    or its per-day sums per customer, CUSTOMER_DAYS)."""
    costs = ledger.filter(pl.col("customer_id").is_not_null()).select(
        "day", "customer_id", pl.col("cost_micros").alias("cost"), pl.lit(0, pl.Int64).alias("revenue")
    )
    revenue = daily_revenue.select(
        "day",
        "customer_id",
        pl.lit(0, pl.Int64).alias("cost"),
        (pl.col("revenue_cents") * MICROS_PER_CENT).cast(pl.Int64).alias("revenue"),
    )
    statuses = [
        _status_rank(pl.col("revenue_now"), pl.col("cost_now"), thresholds.break_even).alias("now"),
        _status_rank(pl.col("revenue_before"), pl.col("cost_before"), thresholds.break_even).alias("before"),
    ]
    alerts = _holding(
        pl.concat([costs, revenue]),
        key="customer_id",
        values=["cost", "revenue"],
        width=31,
        last_day=last_day,
        held=pl.col("now") < pl.col("before"),
        derived=statuses,
    )
    labels = list(STATUS_RANK)
    names = customers.select("customer_id", pl.col("name").alias("_name"))
    return alerts.join(names, on="customer_id", how="left").select(
        pl.lit("status_worse").alias("kind"),
        pl.concat_str(pl.lit("customer "), pl.coalesce(pl.col("_name").replace("", None), "customer_id")).alias(
            "subject"
        ),
        pl.col("before").replace_strict(list(range(3)), labels, return_dtype=pl.String).alias("previous"),
        pl.col("now").replace_strict(list(range(3)), labels, return_dtype=pl.String).alias("current"),
        pl.lit(None, pl.Float64).alias("change_pct"),
        "first_day",
        (pl.col("revenue_before") - pl.col("cost_before") - pl.col("revenue_now") + pl.col("cost_now"))
        .cast(pl.Int64)
        .alias("weight"),
    )


def unattributed_share(ledger: pl.LazyFrame, *, last_day: date, thresholds: Thresholds = Thresholds()) -> pl.LazyFrame:
    """Unattributed cost above `unattributed_max` of all cost over the last 7 days (`ledger`: the ledger or
    its per-day sums per customer, CUSTOMER_DAYS)."""
    daily = ledger.select(
        "day",
        pl.lit(UNATTRIBUTED).alias("key"),
        pl.col("cost_micros").alias("total"),
        pl.when(pl.col("customer_id").is_null()).then(pl.col("cost_micros")).otherwise(0).alias("part"),
    )
    max_ppm = round(thresholds.unattributed_max * 1_000_000)
    held = (pl.col("total_now") > 0) & (
        pl.col("part_now").cast(pl.Int128) * 1_000_000 > pl.col("total_now").cast(pl.Int128) * max_ppm
    )
    alerts = _holding(daily, key="key", values=["total", "part"], width=7, last_day=last_day, held=held)
    share_now = pl.col("part_now") / pl.col("total_now")
    share_before = pl.col("part_before") / pl.col("total_before")
    return alerts.select(
        pl.lit("unattributed_share").alias("kind"),
        pl.lit("unattributed cost").alias("subject"),
        pl.when(pl.col("total_before") > 0)
        .then(fraction_text(pl.col("part_before").clip(0), pl.col("total_before")))
        .otherwise(None)
        .alias("previous"),
        fraction_text(pl.col("part_now").clip(0), pl.col("total_now")).alias("current"),
        pl.when((pl.col("total_before") > 0) & (pl.col("part_before") > 0))
        .then((share_now - share_before) / share_before)
        .otherwise(None)
        .cast(pl.Float64)
        .alias("change_pct"),
        "first_day",
        pl.col("part_now").cast(pl.Int64).alias("weight"),
    )


def unpriced_models(unpriced: pl.LazyFrame, *, last_day: date) -> pl.LazyFrame:
    """Models without a price that carry tokens in the 7 days ending with `last_day`.

    `unpriced` has day, provider, model and the token columns of every unpriced event and usage row.
    first_day is the first day of the data on which the model carried unpriced tokens."""
    tokens = pl.sum_horizontal(TOKEN_COLUMNS)
    frame = unpriced.filter(pl.col("day") <= last_day).with_columns(tokens.alias("tokens")).filter(pl.col("tokens") > 0)
    recent = pl.col("day") > last_day - timedelta(days=7)
    return (
        frame.group_by("provider", "model")
        .agg(pl.col("tokens").filter(recent).sum().alias("recent"), pl.col("day").min().alias("first_day"))
        .filter(pl.col("recent") > 0)
        .select(
            pl.lit("unpriced_model").alias("kind"),
            pl.concat_str(pl.lit("model "), "provider", pl.lit("/"), "model").alias("subject"),
            pl.lit(None, pl.String).alias("previous"),
            pl.concat_str(pl.col("recent").cast(pl.String), pl.lit(" tokens")).alias("current"),
            pl.lit(None, pl.Float64).alias("change_pct"),
            "first_day",
            pl.lit(0, pl.Int64).alias("weight"),
        )
    )


def source_alerts(sources: pl.LazyFrame, *, last_day: date) -> pl.LazyFrame:
    """Sources whose last sync failed, or whose newest day is older than 2 days on the day after
    `last_day`. `sources` has source, last_day (newest day with data, null: none), status (the last
    sync's, "" when never synced), failed_on (the day of that sync), checks_freshness (bool: revenue
    has no daily data, so only its sync is checked)."""
    failed = sources.filter(pl.col("status") == "failed").select(
        pl.lit("sync_failed").alias("kind"),
        pl.concat_str(pl.lit("source "), "source").alias("subject"),
        pl.lit("ok").alias("previous"),
        pl.lit("failed").alias("current"),
        pl.lit(None, pl.Float64).alias("change_pct"),
        pl.col("failed_on").alias("first_day"),
        pl.lit(0, pl.Int64).alias("weight"),
    )
    stale = sources.filter(
        pl.col("checks_freshness")
        & pl.col("last_day").is_not_null()
        & (pl.col("last_day") < last_day - timedelta(days=1))
    ).select(
        pl.lit("source_stale").alias("kind"),
        pl.concat_str(pl.lit("source "), "source").alias("subject"),
        pl.lit(None, pl.String).alias("previous"),
        pl.concat_str(pl.lit("newest day "), pl.col("last_day").cast(pl.String)).alias("current"),
        pl.lit(None, pl.Float64).alias("change_pct"),
        (pl.col("last_day") + timedelta(days=2)).alias("first_day"),
        pl.lit(0, pl.Int64).alias("weight"),
    )
    return pl.concat([failed, stale])


def ordered(alerts: pl.LazyFrame) -> pl.LazyFrame:
    """Alerts of every rule in one frame: by kind (sources first), then largest weight, then subject."""
    rank = pl.col("kind").replace_strict(list(ORDER), list(range(len(ORDER))), return_dtype=pl.Int64)
    return alerts.cast(ALERTS).sort(rank, pl.col("weight"), pl.col("subject"), descending=[False, True, False])

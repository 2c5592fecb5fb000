"""Attribution of provider cost to customers (DESIGN §4.2, conventions §4.8).

The result is a ledger (LEDGER schema): every micro-dollar of a range's provider usage on one customer
(or on none: unattributed), every request event counted once with its tokens, and the events of
provider-days without usage at their own cost. Reports only group the ledger.
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.engine.money import allocate_largest_remainder

DIMENSIONS = ("api_key_id", "project_id", "user_id")  # mapping precedence
UNSPECIFIED_FEATURE = "(unspecified)"
EVENT_KEY = ("customer_id", "feature", "api_key_id", "metadata_json", "has_cost")  # tie-break order


def model_key(column: str = "model") -> pl.Expr:
    """The join key of a model string: its lower-cased text after the last `/` (DESIGN §4.8)."""
    return pl.col(column).str.to_lowercase().str.replace(r"^.*/", "").alias("model_key")


def order_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """Number events in roll-up key order (`event_row`): the tie-break of every split, whatever the input order.

    A snapshot numbers its events once; ranges filtered from it keep the numbers.
    """
    return events.sort("day", "provider", "model", *EVENT_KEY).with_row_index("event_row")


def map_usage(usage: pl.LazyFrame, *, mappings: pl.LazyFrame) -> pl.LazyFrame:
    """Add `mapped_customer`: api_key_id over project_id over user_id; own provider over `*`."""
    candidates = []
    for dimension in DIMENSIONS:
        of_dimension = mappings.filter((pl.col("dimension") == dimension) & (pl.col("value") != ""))
        for provider_specific in (True, False):
            table = of_dimension.filter(
                (pl.col("provider") != "*") if provider_specific else (pl.col("provider") == "*")
            )
            name = f"_m_{dimension}_{'own' if provider_specific else 'any'}"
            on = ["provider", dimension] if provider_specific else [dimension]
            renamed = table.select(
                *(["provider"] if provider_specific else []),
                pl.col("value").alias(dimension),
                pl.col("customer_id").alias(name),
            ).unique(subset=on, keep="first")
            usage = usage.join(renamed, on=on, how="left", validate="m:1")
            candidates.append(name)
    return usage.with_columns(pl.coalesce(candidates).alias("mapped_customer")).drop(candidates)


def _candidates(usage: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """(usage row, event row) pairs: same day, provider and model key, same key where both carry one."""
    on = ["day", "provider", "model_key"]
    rows = usage.select("usage_id", "api_key_id", "mapped_customer", *on)
    evs = events.select("event_row", "customer_id", "api_key_id", "weight_cost", "weight_tokens", *on)
    keyed_rows = rows.filter(pl.col("api_key_id") != "")
    keyed_events = evs.filter(pl.col("api_key_id") != "")
    same_key = keyed_rows.join(keyed_events, on=[*on, "api_key_id"], how="inner")
    keyless_events = keyed_rows.join(evs.filter(pl.col("api_key_id") == "").drop("api_key_id"), on=on, how="inner")
    keyless_rows = rows.filter(pl.col("api_key_id") == "").drop("api_key_id").join(evs.drop("api_key_id"), on=on)
    columns = ["usage_id", "event_row", "customer_id", "mapped_customer", "weight_cost", "weight_tokens"]
    pairs = pl.concat([f.select(columns) for f in (same_key, keyless_events, keyless_rows)])
    return pairs.filter(pl.col("mapped_customer").is_null() | (pl.col("customer_id") == pl.col("mapped_customer")))


def attribute(
    usage: pl.LazyFrame, *, events: pl.LazyFrame, mappings: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The ledger and the unattributed rows of one range.

    `usage` has USAGE's columns with final `cost_micros`; `events` has EVENTS' columns with each row's
    own cost in `cost_micros` (given or priced). Both are already restricted to the range.
    """
    schemas.require(usage, schemas.USAGE, frame_name="usage")
    schemas.require(events, schemas.EVENTS, frame_name="events")
    schemas.require(mappings, schemas.MAPPINGS, frame_name="mappings")
    usage = map_usage(usage.with_columns(model_key()), mappings=mappings)
    if "event_row" not in events.collect_schema().names():
        events = order_events(events)
    events = events.with_columns(model_key()).with_columns(
        pl.col("cost_micros").alias("weight_cost"),
        pl.sum_horizontal(schemas.TOKEN_COLUMNS).alias("weight_tokens"),
    )
    pairs = _candidates(usage, events)
    # Weights are the events' costs, or their tokens where every candidate of the row costs 0.
    all_free = pl.col("weight_cost").sum().over("usage_id") == 0
    pairs = pairs.with_columns(
        pl.when(all_free).then(pl.col("weight_tokens")).otherwise(pl.col("weight_cost")).alias("w")
    )
    row_costs = usage.select("usage_id", "cost_micros", "cost_source", "day", "provider", "model")
    split = allocate_largest_remainder(
        pairs.join(row_costs, on="usage_id", how="inner", validate="m:1"),
        group=["usage_id"],
        total="cost_micros",
        weight="w",
        tie_break=["event_row"],
        out="part_micros",
    )
    # Each event's parts, per model string of the rows it was split from (nearly always one).
    parts = (
        split.with_columns(_estimated("part_micros"))
        .group_by("event_row", pl.col("model").alias("row_model"))
        .agg(pl.col("part_micros").sum(), pl.col("estimated_micros").sum().alias("estimated_part"))
        .with_columns((pl.col("row_model") == pl.col("row_model").min().over("event_row")).alias("first"))
    )

    lonely = usage.join(pairs.select("usage_id").unique(), on="usage_id", how="anti")
    lonely_ledger = lonely.select(
        "day",
        pl.col("mapped_customer").alias("customer_id"),
        pl.lit(UNSPECIFIED_FEATURE).alias("feature"),
        "provider",
        "model",
        pl.lit("{}").alias("metadata_json"),
        "cost_micros",
        _estimated("cost_micros"),
        "requests",
        *schemas.TOKEN_COLUMNS,
    )
    unattributed = lonely.filter(pl.col("mapped_customer").is_null()).select(
        "day",
        "provider",
        pl.when(pl.col("api_key_id") != "")
        .then(pl.lit("api_key_id"))
        .when(pl.col("project_id") != "")
        .then(pl.lit("project_id"))
        .when(pl.col("user_id") != "")
        .then(pl.lit("user_id"))
        .otherwise(pl.lit("none"))
        .alias("dimension"),
        pl.coalesce(pl.when(pl.col(c) != "").then(pl.col(c)) for c in DIMENSIONS).fill_null("").alias("value"),
        "model",
        "cost_micros",
        "requests",
        "cost_source",
    )

    # Every event is one ledger row per row model it was split over (its cost parts there) and counts its
    # requests and tokens once, under the first such model; an event no row took keeps its own model and,
    # on a provider-day without usage rows, its own cost (step 5).
    covered = usage.select("day", "provider").unique().with_columns(pl.lit(True).alias("covered"))
    once = pl.col("first").fill_null(True)
    own = pl.when(pl.col("covered") | ~once).then(0).otherwise(pl.col("cost_micros")).cast(pl.Int64)
    event_ledger = (
        events.join(parts, on="event_row", how="left")
        .join(covered, on=["day", "provider"], how="left", validate="m:1")
        .with_columns(pl.col("covered").fill_null(False))
        .select(
            "day",
            "customer_id",
            "feature",
            "provider",
            pl.coalesce("row_model", "model").alias("model"),
            "metadata_json",
            (pl.col("part_micros").fill_null(0) + own).alias("cost_micros"),
            (pl.col("estimated_part").fill_null(0) + own).alias("estimated_micros"),
            *(pl.when(once).then(pl.col(c)).otherwise(0).alias(c) for c in ("requests", *schemas.TOKEN_COLUMNS)),
        )
    )
    ledger_key = ["day", "customer_id", "feature", "provider", "model", "metadata_json"]
    ledger = (
        pl.concat([lonely_ledger, event_ledger], how="vertical_relaxed")
        .group_by(ledger_key)  # one row per key: every report after this groups fewer rows
        .agg(pl.exclude(ledger_key).sum())
        .cast(dict(schemas.LEDGER))  # type: ignore[arg-type]
    )
    return ledger, unattributed.cast(dict(schemas.UNATTRIBUTED))  # type: ignore[arg-type]


def _estimated(column: str) -> pl.Expr:
    return (
        pl.when(pl.col("cost_source") == "estimated")
        .then(pl.col(column))
        .otherwise(0)
        .cast(pl.Int64)
        .alias("estimated_micros")
    )

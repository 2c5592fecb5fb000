"""Attribution of provider cost to customers (rules §4.2, conventions §4.8).

The result is a ledger (LEDGER schema): every micro-dollar of a range's provider usage on one customer
(or on none: unattributed), every request event counted once with its tokens, and the events of
provider-days without usage at their own cost. Reports only group the ledger.

`attribute` composes the steps: map each usage row, pair it with its candidate events, measure how much of
the row their tokens cover (`_with_coverage`), split the covered cost over the events (`_split`), and keep
what no event took with the row (`_rows_without_events`, `_unattributed`) beside the events' own rows
(`_event_ledger`).
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.engine.money import allocate_largest_remainder, round_half_even_div
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import UNSPECIFIED

DIMENSIONS = ("api_key_id", "project_id", "user_id")  # mapping precedence
EVENT_KEY = ("customer_id", "feature", "api_key_id", "metadata_json", "has_cost")  # tie-break order
LEDGER_KEY = ["day", "customer_id", "feature", "provider", "model", "metadata_json"]


def model_key(column: str = "model") -> pl.Expr:
    """The join key of a model string: its lower-cased text after the last `/` (rules §4.8)."""
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
    """(usage row, event row) pairs: same day, provider and model key, same key where both carry one.

    Each pair carries the event's weights, requests and tokens; a keyless event pairs with every row.
    """
    on = ["day", "provider", "model_key"]
    rows = usage.select("usage_id", "api_key_id", "mapped_customer", *on)
    evs = events.select(
        "event_row", "customer_id", "api_key_id", "weight_cost", "weight_tokens", "requests", *TOKEN_COLUMNS, *on
    )
    keyed_rows = rows.filter(pl.col("api_key_id") != "")
    keyed_events = evs.filter(pl.col("api_key_id") != "")
    same_key = keyed_rows.join(keyed_events, on=[*on, "api_key_id"], how="inner")
    keyless_events = keyed_rows.join(evs.filter(pl.col("api_key_id") == "").drop("api_key_id"), on=on, how="inner")
    keyless_rows = rows.filter(pl.col("api_key_id") == "").drop("api_key_id").join(evs.drop("api_key_id"), on=on)
    columns = [
        "usage_id",
        "event_row",
        "customer_id",
        "mapped_customer",
        "weight_cost",
        "weight_tokens",
        "requests",
        *TOKEN_COLUMNS,
    ]
    pairs = pl.concat([f.select(columns) for f in (same_key, keyless_events, keyless_rows)])
    return pairs.filter(pl.col("mapped_customer").is_null() | (pl.col("customer_id") == pl.col("mapped_customer")))


def _prepared(
    usage: pl.LazyFrame, events: pl.LazyFrame, mappings: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Checked inputs: usage rows with their mapped customer, events numbered and weighted, and the pairs."""
    schemas.require(usage, schemas.USAGE, frame_name="usage")
    schemas.require(events, schemas.EVENTS, frame_name="events")
    schemas.require(mappings, schemas.MAPPINGS, frame_name="mappings")
    usage = map_usage(usage.with_columns(model_key()), mappings=mappings)
    if "event_row" not in events.collect_schema().names():
        events = order_events(events)
    events = events.with_columns(model_key()).with_columns(
        pl.col("cost_micros").alias("weight_cost"),
        pl.sum_horizontal(TOKEN_COLUMNS).alias("weight_tokens"),
    )
    return usage, events, _candidates(usage, events)


def _with_coverage(usage: pl.LazyFrame, pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Each row's coverage by its candidate events (§4.2 step 3): `covered_micros` goes to the events; a row
    not fully covered (or without candidates) keeps an uncovered rest, `has_rest`, with `rest_micros`, its
    requests and per token column its tokens beyond the candidates' (never below 0)."""
    candidate_totals = pairs.group_by("usage_id").agg(
        pl.col("weight_tokens").sum().alias("candidate_tokens"),
        pl.col("requests").sum().alias("candidate_requests"),
        *(pl.col(c).sum().alias(f"candidate_{c}") for c in TOKEN_COLUMNS),
        pl.lit(True).alias("has_candidates"),
    )
    row_tokens = pl.sum_horizontal(TOKEN_COLUMNS)
    has_candidates = pl.col("has_candidates")
    fully_covered = has_candidates & ((pl.col("candidate_tokens") >= row_tokens) | (row_tokens == 0))
    share = round_half_even_div(
        pl.col("cost_micros").cast(pl.Int128) * pl.col("candidate_tokens"), pl.max_horizontal(row_tokens, 1)
    )
    covered = pl.when(fully_covered).then(pl.col("cost_micros")).when(has_candidates).then(share).otherwise(0)
    candidate = [f"candidate_{c}" for c in ("tokens", "requests", *TOKEN_COLUMNS)]
    return (
        usage.join(candidate_totals, on="usage_id", how="left", validate="1:1")
        .with_columns(pl.col(candidate).fill_null(0), has_candidates.fill_null(False))
        .with_columns(
            covered.cast(pl.Int64).alias("covered_micros"),
            (~fully_covered).alias("has_rest"),
            pl.min_horizontal("candidate_tokens", row_tokens).alias("covered_tokens"),
            row_tokens.alias("row_tokens"),
        )
        .with_columns(
            (pl.col("cost_micros") - pl.col("covered_micros")).alias("rest_micros"),
            (pl.col("requests") - pl.col("candidate_requests")).clip(lower_bound=0).alias("rest_requests"),
            *((pl.col(c) - pl.col(f"candidate_{c}")).clip(lower_bound=0).alias(f"rest_{c}") for c in TOKEN_COLUMNS),
        )
        .drop(*candidate, "has_candidates")
    )


def _split(pairs: pl.LazyFrame, rows: pl.LazyFrame) -> pl.LazyFrame:
    """Each event's parts of the rows' covered cost, per model string of those rows (nearly always one).

    Weights are the events' costs, or their tokens where every candidate of the row costs 0.
    """
    all_free = pl.col("weight_cost").sum().over("usage_id") == 0
    split_weight = pl.when(all_free).then(pl.col("weight_tokens")).otherwise(pl.col("weight_cost"))
    covered = rows.select("usage_id", "covered_micros", "cost_source", "model")
    split = allocate_largest_remainder(
        pairs.select("usage_id", "event_row", "weight_cost", "weight_tokens")
        .with_columns(split_weight.alias("split_weight"))
        .join(covered, on="usage_id", how="inner", validate="m:1"),
        group=["usage_id"],
        total="covered_micros",
        weight="split_weight",
        tie_break=["event_row"],
        out="part_micros",
    )
    return (
        split.with_columns(_estimated("part_micros"))
        .group_by("event_row", pl.col("model").alias("row_model"))
        .agg(pl.col("part_micros").sum(), pl.col("estimated_micros").sum().alias("estimated_part"))
        .with_columns((pl.col("row_model") == pl.col("row_model").min().over("event_row")).alias("is_first_model"))
    )


def _rows_without_events(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Ledger rows of what no event took: a row without candidates whole, or a row's uncovered rest.

    Mapped: its customer, feature `(unspecified)`; unmapped: no customer (unattributed).
    """
    return rows.filter(pl.col("has_rest")).select(
        "day",
        pl.col("mapped_customer").alias("customer_id"),
        pl.lit(UNSPECIFIED).alias("feature"),
        "provider",
        "model",
        pl.lit("{}").alias("metadata_json"),
        pl.col("rest_micros").alias("cost_micros"),
        _estimated("rest_micros"),
        pl.col("rest_requests").alias("requests"),
        *(pl.col(f"rest_{c}").alias(c) for c in TOKEN_COLUMNS),
    )


def _unattributed(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The unmapped rests, kept with the first of key, project and user the row carries (step 4)."""
    return (
        rows.filter(pl.col("has_rest") & pl.col("mapped_customer").is_null())
        .select(
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
            pl.col("rest_micros").alias("cost_micros"),
            pl.col("rest_requests").alias("requests"),
            "cost_source",
        )
        .cast(dict(schemas.UNATTRIBUTED_ROWS))  # type: ignore[arg-type]
    )


def _event_ledger(events: pl.LazyFrame, *, parts: pl.LazyFrame, usage: pl.LazyFrame) -> pl.LazyFrame:
    """Every event is one ledger row per row model it was split over (its cost parts there) and counts its
    requests and tokens once, under the first such model; an event no row took keeps its own model and,
    on a provider-day without usage rows, its own cost (step 5)."""
    covered_days = usage.select("day", "provider").unique().with_columns(pl.lit(True).alias("covered_day"))
    counts_here = pl.col("is_first_model").fill_null(True)
    own_cost = pl.when(pl.col("covered_day") | ~counts_here).then(0).otherwise(pl.col("cost_micros")).cast(pl.Int64)
    return (
        events.join(parts, on="event_row", how="left")
        .join(covered_days, on=["day", "provider"], how="left", validate="m:1")
        .with_columns(pl.col("covered_day").fill_null(False))
        .select(
            "day",
            "customer_id",
            "feature",
            "provider",
            pl.coalesce("row_model", "model").alias("model"),
            "metadata_json",
            (pl.col("part_micros").fill_null(0) + own_cost).alias("cost_micros"),
            (pl.col("estimated_part").fill_null(0) + own_cost).alias("estimated_micros"),
            *(pl.when(counts_here).then(pl.col(c)).otherwise(0).alias(c) for c in ("requests", *TOKEN_COLUMNS)),
        )
    )


def _one_row_per_key(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """One row per ledger key: every report after this groups fewer rows."""
    return (
        ledger.group_by(LEDGER_KEY).agg(pl.exclude(LEDGER_KEY).sum()).cast(dict(schemas.LEDGER))  # type: ignore[arg-type]
    )


def attribute(
    usage: pl.LazyFrame, *, events: pl.LazyFrame, mappings: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The ledger and the unattributed rows of one range.

    `usage` has USAGE's columns with final `cost_micros`; `events` has EVENTS' columns with each row's
    own cost in `cost_micros` (given or priced). Both are already restricted to the range.
    """
    ledger, unattributed, _ = attribute_with_coverage(usage, events=events, mappings=mappings)
    return ledger, unattributed


def attribute_with_coverage(
    usage: pl.LazyFrame, *, events: pl.LazyFrame, mappings: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """`attribute`, and `coverage` from the same prepared rows (the derived day ledger keeps all three)."""
    usage, events, pairs = _prepared(usage, events, mappings)
    # Pairs and rows feed several steps: cached once (the optimizer recomputed them, 2-3x slower on the bench).
    pairs = pairs.cache()
    rows = usage.pipe(_with_coverage, pairs).cache()
    parts = pairs.pipe(_split, rows)
    ledger = pl.concat(
        [rows.pipe(_rows_without_events), events.pipe(_event_ledger, parts=parts, usage=usage)],
        how="vertical_relaxed",
    ).pipe(_one_row_per_key)
    return ledger, rows.pipe(_unattributed), rows.select(_COVERAGE_COLUMNS)


def coverage(usage: pl.LazyFrame, *, events: pl.LazyFrame, mappings: pl.LazyFrame) -> pl.LazyFrame:
    """Per usage row (day, provider, api_key_id, project_id, model, mapped_customer): `row_tokens` and
    `covered_tokens`, its candidate events' tokens but at most the row's (rules §4.2 step 3). A range's
    coverage is their sums' ratio."""
    usage, _, pairs = _prepared(usage, events, mappings)
    return usage.pipe(_with_coverage, pairs).select(_COVERAGE_COLUMNS)


_COVERAGE_COLUMNS = (
    "day",
    "provider",
    "api_key_id",
    "project_id",
    "model",
    "mapped_customer",
    "row_tokens",
    "covered_tokens",
)


def _estimated(column: str) -> pl.Expr:
    return (
        pl.when(pl.col("cost_source") == "estimated")
        .then(pl.col(column))
        .otherwise(0)
        .cast(pl.Int64)
        .alias("estimated_micros")
    )

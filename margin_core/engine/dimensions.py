"""Cross-subsidy by dimension (rules §4.5): revenue, cost and margin per value of any dimension.

Customer attributes (tier, segment, region, customer metadata) take each customer's revenue and cost
whole. Usage attributes (feature, model, provider, event metadata) take cost as attributed and each
customer's revenue split over its values by requests (or tokens), falling back to tokens (for a
customer with no requests, or with usage that has tokens but no requests), then cost, then a
`(no usage)` row, so every report's revenue adds up to the same total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

from margin_core.engine.margins import DEFAULT_BREAK_EVEN, revenue_by_customer, with_margin
from margin_core.engine.money import allocate_largest_remainder
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import NO_USAGE, UNATTRIBUTED

NONE = "(none)"
CUSTOMER_COLUMNS = ("tier", "segment", "region")
Basis = Literal["requests", "tokens"]


def _metadata_value(source: str, key: str, *, name: str) -> pl.Expr:
    return pl.col(source).str.json_path_match(f"$.{key}").fill_null(NONE).replace("", NONE).alias(name)


def _usage_totals(frame: pl.LazyFrame, values: Sequence[str]) -> pl.LazyFrame:
    return frame.group_by(values).agg(
        pl.col("cost_micros").sum(),
        pl.col("requests").sum(),
        pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"),
    )


def by_customer_attribute(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    customers: pl.LazyFrame,
    attribute: str,
    break_even: float = DEFAULT_BREAK_EVEN,
) -> pl.LazyFrame:
    """Rows per value of a customer attribute (tier, segment, region, or `meta:<key>`)."""
    if attribute.startswith("meta:"):
        value = _metadata_value("metadata_json", attribute.removeprefix("meta:"), name="value")
    else:
        value = pl.col(attribute).replace("", NONE).alias("value")
    lookup = customers.select("customer_id", value)
    attach = [
        pl.when(pl.col("customer_id").is_null())
        .then(pl.lit(UNATTRIBUTED))
        .otherwise(pl.col("value").fill_null(NONE))
        .alias("value")
    ]
    usage = _usage_totals(ledger.join(lookup, on="customer_id", how="left").with_columns(attach), ["value"])
    revenue = (
        revenue_by_customer(daily_revenue)
        .join(lookup, on="customer_id", how="left")
        .with_columns(attach)
        .group_by("value")
        .agg(pl.col("revenue_micros").sum())
    )
    return _finish(usage, revenue, ["value"], break_even=break_even)


def by_usage_attribute(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    values: Sequence[str],
    basis: Basis = "requests",
    break_even: float = DEFAULT_BREAK_EVEN,
) -> pl.LazyFrame:
    """Rows per value of usage attributes: `["feature"]`, `["provider", "model"]`, `["meta:<key>"]`, …

    Unattributed cost goes to an `(unattributed)` feature or metadata value; models and providers keep
    it under their own value (rules §4.8).
    """
    names = [v.removeprefix("meta:") for v in values]
    keyed = ledger.with_columns(
        _metadata_value("metadata_json", name, name=name) if value.startswith("meta:") else pl.col(value)
        for value, name in zip(values, names, strict=True)
    )
    if not set(names) <= {"model", "provider"}:
        keyed = keyed.with_columns(
            pl.when(pl.col("customer_id").is_null()).then(pl.lit(UNATTRIBUTED)).otherwise(pl.col(n)).alias(n)
            for n in names
            if n not in ("model", "provider")
        )
    usage = _usage_totals(keyed, names)
    revenue = _allocate_revenue(keyed, daily_revenue=daily_revenue, values=names, basis=basis)
    return _finish(usage, revenue, names, break_even=break_even)


def _allocate_revenue(
    keyed: pl.LazyFrame, *, daily_revenue: pl.LazyFrame, values: Sequence[str], basis: Basis
) -> pl.LazyFrame:
    """Each customer's range revenue split over its values by its share of `basis` (exact micro-dollars)."""
    values = list(values)
    tokens = pl.sum_horizontal(TOKEN_COLUMNS)
    shares = (
        keyed.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id", *values)
        .agg(
            pl.col("requests").sum(),
            tokens.sum().alias("tokens"),
            pl.col("cost_micros").sum().alias("cost"),
            ((tokens > 0) & (pl.col("requests") == 0)).any().alias("tokens_without_requests"),
        )
    )
    # Requests are a fair basis only where every request is counted: a customer any of whose usage has
    # tokens but no requests (Anthropic rows, an uncovered rest without requests) goes by its tokens.
    uncounted = pl.col("tokens_without_requests").any().over("customer_id")
    order = ["requests", "tokens", "cost"] if basis == "requests" else ["tokens", "requests", "cost"]
    # The first measure this customer has any of, in the order of the basis (rules §4.5 fallbacks).
    usable = {m: pl.col(m).sum().over("customer_id") > 0 for m in order}
    usable["requests"] = usable["requests"] & ~uncounted
    chosen = pl.coalesce(pl.when(usable[m]).then(pl.col(m)) for m in order).fill_null(0)
    weighted = shares.with_columns(chosen.alias("weight")).filter(pl.col("weight").sum().over("customer_id") > 0)
    revenue = revenue_by_customer(daily_revenue)
    allocated = allocate_largest_remainder(
        weighted.filter(pl.col("weight") > 0).join(revenue, on="customer_id", how="inner"),
        group=["customer_id"],
        total="revenue_micros",
        weight="weight",
        tie_break=values,
        out="part",
    )
    no_usage = revenue.join(weighted.select("customer_id").unique(), on="customer_id", how="anti").with_columns(
        pl.lit(NO_USAGE).alias(v) for v in values
    )
    return (
        pl.concat(
            [
                allocated.select(*values, pl.col("part").alias("revenue_micros")),
                no_usage.select(*values, "revenue_micros"),
            ]
        )
        .group_by(values)
        .agg(pl.col("revenue_micros").sum())
    )


def _finish(usage: pl.LazyFrame, revenue: pl.LazyFrame, values: Sequence[str], *, break_even: float) -> pl.LazyFrame:
    values = list(values)
    table = (
        usage.join(revenue, on=values, how="full", coalesce=True)
        .with_columns(pl.col("revenue_micros", "cost_micros", "requests", "tokens").fill_null(0))
        .filter((pl.col("revenue_micros") != 0) | (pl.col("cost_micros") != 0) | (pl.col("requests") != 0))
    )
    return with_margin(table, break_even=break_even)

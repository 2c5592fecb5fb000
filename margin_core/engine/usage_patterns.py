"""Usage pattern (rules §4.5, v3) and concentration: who consumes the tokens.

A customer's usage pattern over a range comes from its attributed tokens: `power` for the top 10% of
customers with tokens (rounded up to a whole customer), `light` for the bottom 50% (rounded down),
`regular` for the rest; customers without tokens are `none`. Ties go by customer_id (the smaller id
ranks first), so the result never depends on input order.
"""

from __future__ import annotations

import polars as pl

from margin_core import schemas
from margin_core.engine.dimensions import by_customer_attribute
from margin_core.engine.margins import DEFAULT_BREAK_EVEN, revenue_by_customer
from margin_core.schemas import TOKEN_COLUMNS

POWER, REGULAR, LIGHT, NO_TOKENS = "power", "regular", "light", "none"
PATTERNS = (POWER, REGULAR, LIGHT, NO_TOKENS)


def customer_tokens(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id, tokens, cost_micros of every attributed customer in the ledger."""
    return (
        ledger.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"), pl.col("cost_micros").sum())
    )


def _ranked(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """Customers with tokens, largest first (ties by customer_id), with their 0-based rank and the count."""
    return (
        customer_tokens(ledger)
        .filter(pl.col("tokens") > 0)
        .sort("tokens", "customer_id", descending=[True, False])
        .with_row_index("rank")
        .with_columns(pl.col("rank").cast(pl.Int64), pl.len().cast(pl.Int64).alias("customers"))
    )


def usage_patterns(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id, tokens, usage_pattern for every customer with attributed tokens in the ledger."""
    schemas.require(ledger, schemas.LEDGER, frame_name="ledger")
    n = pl.col("customers")
    power_count = (n + 9) // 10  # 10%, rounded up
    light_count = n // 2  # 50%, rounded down
    pattern = (
        pl.when(pl.col("rank") < power_count)
        .then(pl.lit(POWER))
        .when(pl.col("rank") >= n - light_count)
        .then(pl.lit(LIGHT))
        .otherwise(pl.lit(REGULAR))
        .alias("usage_pattern")
    )
    return _ranked(ledger).select("customer_id", "tokens", pattern)


def with_usage_pattern(customers: pl.LazyFrame, *, ledger: pl.LazyFrame, daily_revenue: pl.LazyFrame) -> pl.LazyFrame:
    """The customers frame with a `usage_pattern` column, covering every customer id of the customers table,
    the revenue and the ledger (`none` for those without tokens)."""
    ids = pl.concat(
        [
            customers.select("customer_id"),
            daily_revenue.select("customer_id"),
            ledger.filter(pl.col("customer_id").is_not_null()).select("customer_id"),
        ]
    ).unique()
    patterns = usage_patterns(ledger).select("customer_id", "usage_pattern")
    return (
        ids.join(customers, on="customer_id", how="left")
        .join(patterns, on="customer_id", how="left")
        .with_columns(pl.col("usage_pattern").fill_null(NO_TOKENS))
    )


def by_usage_pattern(
    ledger: pl.LazyFrame,
    *,
    daily_revenue: pl.LazyFrame,
    customers: pl.LazyFrame,
    break_even: float = DEFAULT_BREAK_EVEN,
) -> pl.LazyFrame:
    """Cross-subsidy rows per usage pattern (a customer attribute), `(unattributed)` included (rules §4.4)."""
    schemas.require(daily_revenue, schemas.DAILY_REVENUE, frame_name="daily_revenue")
    lookup = with_usage_pattern(customers, ledger=ledger, daily_revenue=daily_revenue)
    return by_customer_attribute(
        ledger, daily_revenue=daily_revenue, customers=lookup, attribute="usage_pattern", break_even=break_even
    ).rename({"value": "usage_pattern"})


def concentration(ledger: pl.LazyFrame, *, daily_revenue: pl.LazyFrame, top_share: float = 0.2) -> pl.LazyFrame:
    """The top `top_share` of customers by tokens (rounded up to a whole customer, ties by customer_id):
    their tokens, cost and revenue, and their shares of the attributed tokens, the attributed cost and
    all revenue of the range. One row; none when no customer has tokens."""
    share_ppm = round(top_share * 1_000_000)
    revenue = revenue_by_customer(daily_revenue)
    ranked = (
        _ranked(ledger).join(revenue, on="customer_id", how="left").with_columns(pl.col("revenue_micros").fill_null(0))
    )
    top_count = (pl.col("customers") * share_ppm + 999_999) // 1_000_000
    top = ranked.filter(pl.col("rank") < top_count).select(
        pl.len().cast(pl.Int64).alias("top_customers"),
        pl.col("tokens").sum().alias("top_tokens"),
        pl.col("cost_micros").sum().alias("top_cost_micros"),
        pl.col("revenue_micros").sum().alias("top_revenue_micros"),
    )
    totals = customer_tokens(ledger).select(
        pl.len().cast(pl.Int64).alias("all_customers"),
        pl.col("tokens").sum().alias("total_tokens"),
        pl.col("cost_micros").sum().alias("total_cost_micros"),
    )
    total_revenue = revenue.select(pl.col("revenue_micros").sum().alias("total_revenue_micros"))

    def share(part: str, whole: str, name: str) -> pl.Expr:
        return (
            pl.when(pl.col(whole) > 0)
            .then(pl.col(part).cast(pl.Float64) / pl.col(whole).cast(pl.Float64))
            .otherwise(None)
            .alias(name)
        )

    return (
        top.join(totals, how="cross")
        .join(total_revenue, how="cross")
        .filter(pl.col("top_customers") > 0)
        .with_columns(
            share("top_tokens", "total_tokens", "token_share"),
            share("top_cost_micros", "total_cost_micros", "cost_share"),
            share("top_revenue_micros", "total_revenue_micros", "revenue_share"),
        )
    )

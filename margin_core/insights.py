"""Auto-written insights and display text over report frames: pure functions, no I/O, no clock.

Money arrives as integer micro-dollars (`*_micros`), as the reports give it; text rounds only at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from margin_core.engine.windows import trailing_sums
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import NO_USAGE, UNATTRIBUTED

MINUS = "\u2212"  # a real minus sign: "−$1,234", "−16 pts"
MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Insight:
    """One finding: a short title, a sentence, and its weight in micro-dollars for ranking."""

    kind: str
    title: str
    text: str
    weight_micros: int


# --- text -----------------------------------------------------------------------------------------


def usd_text(micros: int | None) -> str:
    """Dollars as "$1,234" (cents kept below $10: "$7.25"); negatives with a minus sign; None as "—"."""
    if micros is None:
        return "—"
    sign = MINUS if micros < 0 else ""
    cents = (abs(micros) + 5_000) // 10_000
    if cents >= 1_000:
        return f"{sign}${(abs(micros) + MICROS // 2) // MICROS:,}"
    if cents == 0:
        return "$0"
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def pct_text(fraction: float | None, *, signed: bool = False) -> str:
    """A fraction as a whole percentage: 0.42 → "42%", −0.16 → "−16%"; None → "—"."""
    if fraction is None:
        return "—"
    value = round(fraction * 100)
    sign = MINUS if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}{abs(value):,}%"


def pts_text(points: float | None) -> str:
    """A change of a percentage in points: −16.2 → "−16 pts", 3 → "+3 pts"."""
    if points is None:
        return "—"
    value = round(points)
    sign = MINUS if value < 0 else ("+" if value > 0 else "")
    return f"{sign}{abs(value)} pts"


def ratio_text(ratio: float) -> str:
    """ "60×", "2.4×"."""
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def tokens_text(tokens: int) -> str:
    """Token counts compactly: 1.2M, 340K, 900."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if tokens >= size:
            return f"{tokens / size:,.1f}{suffix}"
    return f"{tokens:,}"


# --- frames ---------------------------------------------------------------------------------------


def customer_usage(ledger: pl.DataFrame) -> pl.DataFrame:
    """customer_id (null → "(unattributed)"), requests, tokens and cost_micros per customer."""
    return ledger.group_by(pl.col("customer_id").fill_null(UNATTRIBUTED)).agg(
        pl.col("requests").sum(), pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"), pl.col("cost_micros").sum()
    )


def customer_profile(ledger: pl.DataFrame, *, customer_id: str, by: str) -> pl.DataFrame:
    """One customer's requests, tokens and cost per `by` value (feature, model, provider) against the
    average customer: the attributed total of that value divided by the number of customers with usage.
    """
    attributed = ledger.filter(pl.col("customer_id").is_not_null())
    customers = max(attributed["customer_id"].n_unique(), 1)
    measures = [
        pl.col("requests").sum(),
        pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"),
        pl.col("cost_micros").sum(),
    ]
    own = attributed.filter(pl.col("customer_id") == customer_id).group_by(by).agg(measures)
    average = attributed.group_by(by).agg(
        (pl.col("requests").sum() / customers).alias("avg_requests"),
        (pl.sum_horizontal(TOKEN_COLUMNS).sum() / customers).alias("avg_tokens"),
        (pl.col("cost_micros").sum() // customers).alias("avg_cost_micros"),
    )
    return (
        own.join(average, on=by, how="full", coalesce=True)
        .with_columns(pl.col("requests", "tokens", "cost_micros").fill_null(0))
        .with_columns(
            pl.when(pl.col("avg_cost_micros") > 0)
            .then(pl.col("cost_micros") / pl.col("avg_cost_micros"))
            .otherwise(None)
            .alias("cost_vs_average")
        )
        .filter((pl.col("requests") > 0) | (pl.col("tokens") > 0) | (pl.col("cost_micros") != 0))
        .sort("cost_micros", by, descending=[True, False])
    )


def concentration(customers: pl.DataFrame, usage: pl.DataFrame, *, top_share: float = 0.2) -> dict[str, float]:
    """The top `top_share` of customers by tokens: their share of tokens and of revenue."""
    table = (
        customers.filter(pl.col("customer_id") != UNATTRIBUTED)
        .select("customer_id", "revenue_micros")
        .join(usage.select("customer_id", "tokens"), on="customer_id", how="left")
        .with_columns(pl.col("tokens").fill_null(0))
        .sort("tokens", "customer_id", descending=[True, False])
    )
    total_tokens, total_revenue = int(table["tokens"].sum()), int(table["revenue_micros"].sum())
    if table.is_empty() or total_tokens <= 0:
        return {}
    count = max(1, round(table.height * top_share))
    head = table.head(count)
    return {
        "customers": float(count),
        "token_share": int(head["tokens"].sum()) / total_tokens,
        "revenue_share": int(head["revenue_micros"].sum()) / total_revenue if total_revenue > 0 else 0.0,
    }


# --- insights -------------------------------------------------------------------------------------


def cost_spike(
    daily: pl.DataFrame, *, detail: pl.LazyFrame | None = None, min_increase_micros: int = MICROS
) -> Insight | None:
    """The biggest week-over-week rise of one customer's LLM cost: any 7 days of the range against the 7
    days before them, so the spike is found wherever it falls.

    `daily` has day, customer_id (null: unattributed), customer_name, cost_micros; `detail` (day,
    customer_id, feature, cost_micros: the ledger) gives the features, else `daily` has them. The
    sentence says when, by how much and on which feature most of the rise came.
    """
    if daily.is_empty():
        return None
    first, last = daily["day"].min(), daily["day"].max()
    assert isinstance(first, date)
    assert isinstance(last, date)
    if (last - first).days < 13:
        return None
    frame = daily.with_columns(
        pl.col("customer_id").fill_null(UNATTRIBUTED), pl.col("customer_name").fill_null("Unattributed spend")
    )
    weeks = trailing_sums(
        frame.lazy(),
        key="customer_id",
        values=["cost_micros"],
        width=7,
        first=first,
        last=last,
        evaluated=(last - first).days - 12,  # every day with two whole weeks up to it
    )
    windows = (
        weeks.rename({"cost_micros_now": "recent_micros", "cost_micros_before": "earlier_micros"})
        .filter(pl.col("earlier_micros") > 0)
        .with_columns((pl.col("recent_micros") - pl.col("earlier_micros")).alias("rise"))
        # a spike is a rise of at least a quarter and a dollar; the largest in money wins
        .filter(pl.col("rise") >= min_increase_micros, pl.col("rise") * 4 >= pl.col("earlier_micros"))
        .sort("rise", "customer_id", "day", descending=[True, False, False])
    )
    if windows.is_empty():
        return None
    top = windows.row(0, named=True)
    change = top["rise"] / top["earlier_micros"]
    week_end = top["day"]
    week_start, before_start = week_end - timedelta(days=6), week_end - timedelta(days=13)
    name = frame.filter(pl.col("customer_id") == top["customer_id"])["customer_name"][0]
    rows = frame.lazy() if detail is None else detail.with_columns(pl.col("customer_id").fill_null(UNATTRIBUTED))
    mine = rows.filter(
        pl.col("customer_id") == top["customer_id"], pl.col("day") >= before_start, pl.col("day") <= week_end
    ).collect()
    recent = pl.when(pl.col("day") >= week_start).then(pl.col("cost_micros")).otherwise(0)
    earlier = pl.when(pl.col("day") < week_start).then(pl.col("cost_micros")).otherwise(0)
    features = (
        mine.group_by("feature")
        .agg((recent.sum() - earlier.sum()).alias("rise"))
        .sort("rise", "feature", descending=[True, False])
    )
    feature = features.row(0, named=True)
    where = f", mostly on {feature['feature']} (+{usd_text(feature['rise'])})" if feature["rise"] > 0 else ""
    text = (
        f"{name}'s LLM cost rose {pct_text(change)} week over week: "
        f"{usd_text(top['recent_micros'])} in {_span(week_start, week_end)} against "
        f"{usd_text(top['earlier_micros'])} the week before{where}."
    )
    return Insight("cost_spike", "Cost spike", text, top["rise"])


def _span(first: date, last: date) -> str:
    """ "Nov 20–26", "Nov 28 – Dec 4"."""
    if first.month == last.month:
        return f"{first:%b} {first.day}–{last.day}"
    return f"{first:%b} {first.day} – {last:%b} {last.day}"


def loss_maker_vs_profitable(customers: pl.DataFrame, usage: pl.DataFrame) -> Insight | None:
    """The worst loss-maker against the profitable customer on the priciest plan, with their inference ratio.

    `customers` is the customers report (micro-dollars); `usage` has customer_id, tokens, cost_micros. A
    customer's revenue in the range stands for its plan's price.
    """
    table = customers.filter(pl.col("customer_id") != UNATTRIBUTED).join(
        usage.select("customer_id", "tokens"), on="customer_id", how="left"
    )
    losers = table.filter(pl.col("margin_micros") < 0).sort("margin_micros", "customer_id")
    if losers.is_empty():
        return None
    loser = losers.row(0, named=True)
    richer = table.filter(
        pl.col("status") == "profitable", pl.col("revenue_micros") > max(loser["revenue_micros"], 0)
    ).sort("revenue_micros", "customer_id", descending=[True, False])
    loss = f"{loser['customer_name']} lost {usd_text(-loser['margin_micros'])} this period"
    if richer.is_empty():
        text = (
            f"{loss} ({usd_text(loser['cost_micros'])} of LLM cost on {usd_text(loser['revenue_micros'])} of revenue)."
        )
        return Insight("loss_maker", "Biggest loss-maker", text, -loser["margin_micros"])
    rich = richer.row(0, named=True)
    own, other = loser["tokens"] or 0, rich["tokens"] or 0
    if own <= 0 or other <= 0:  # no token counts (cost-only usage): compare cost instead
        own, other = loser["cost_micros"], rich["cost_micros"]
    ratio = own / other if other > 0 else None
    cheaper = 1 - max(loser["revenue_micros"], 0) / rich["revenue_micros"]
    uses = f"uses {ratio_text(ratio)} the inference of" if ratio and ratio >= 1 else "uses less inference than"
    plans = ""
    if loser["tier"] and rich["tier"] and loser["tier"] != rich["tier"]:
        plans = f" ({loser['tier']} vs {rich['tier']})"
    text = (
        f"{loser['customer_name']} {uses} {rich['customer_name']} on a plan that costs "
        f"{pct_text(cheaper)} less{plans}: {loss}."
    )
    return Insight("loss_maker", "Loss-maker on a cheap plan", text, -loser["margin_micros"])


def loss_making_models(
    models: pl.DataFrame, *, limit: int = 3, unattributed: pl.DataFrame | None = None
) -> Insight | None:
    """Models whose cost exceeds the revenue allocated to them (the `models` report, micro-dollars).

    `unattributed` (model, cost_micros; provider optional) is each model's unattributed spend: a model's
    cost includes it (rules §4.8) while no customer's revenue comes with it, so the text says how much of
    each loss it is."""
    losing = models.filter(pl.col("margin_micros") < 0).sort("margin_micros", "model")
    if losing.is_empty():
        return None
    keys = ["model"]
    if unattributed is not None and "provider" in unattributed.columns and "provider" in losing.columns:
        keys = ["provider", "model"]
    if unattributed is not None:
        spend = unattributed.group_by(keys).agg(pl.col("cost_micros").sum().alias("_unattributed"))
        losing = losing.join(spend, on=keys, how="left")
    else:
        losing = losing.with_columns(pl.lit(None, pl.Int64).alias("_unattributed"))
    parts = []
    for row in losing.head(limit).iter_rows(named=True):
        part = f"{row['model']} ({usd_text(row['margin_micros'])} on {usd_text(row['revenue_micros'])} of revenue"
        spent = row["_unattributed"] or 0
        if spent > 0:
            part += f"; {usd_text(spent)} of its cost is unattributed spend"
        parts.append(part + ")")
    more = f" and {losing.height - limit} more" if losing.height > limit else ""
    noun = "model loses" if losing.height == 1 else "models lose"
    text = f"{losing.height} {noun} money: {', '.join(parts)}{more}."
    return Insight("loss_models", "Loss-making models", text, -int(losing["margin_micros"].sum()))


def unattributed_by_model(daily: pl.DataFrame) -> pl.DataFrame | None:
    """provider, model, cost_micros of the unattributed rows of a ledger summary (customer_id null); None
    for a summary without models."""
    if not {"provider", "model"} <= set(daily.columns):
        return None
    return daily.filter(pl.col("customer_id").is_null()).group_by("provider", "model").agg(pl.col("cost_micros").sum())


def concentration_insight(customers: pl.DataFrame, usage: pl.DataFrame) -> Insight | None:
    """ "The top 20% of customers consume X% of tokens and bring Y% of revenue"."""
    found = concentration(customers, usage)
    if not found:
        return None
    count = int(found["customers"])
    who = "customer" if count == 1 else "customers"
    text = (
        f"The top 20% of customers by tokens ({count} {who}) consume {pct_text(found['token_share'])} of "
        f"tokens and bring {pct_text(found['revenue_share'])} of revenue."
    )
    return Insight("concentration", "Concentration", text, 0)


def top_insights(
    *,
    daily: pl.DataFrame,
    customers: pl.DataFrame,
    models: pl.DataFrame,
    unattributed: pl.DataFrame | None = None,
    detail: pl.LazyFrame | None = None,
    limit: int = 3,
) -> list[Insight]:
    """The `limit` weightiest insights of a range, largest money first; concentration fills a gap.

    `daily` is cost, requests and tokens per day and customer (with customer_name); `unattributed` the
    unattributed cost per provider and model (else taken from `daily`); `detail` the ledger (see cost_spike).
    """
    usage = customer_usage(daily)
    found = [
        insight
        for insight in (
            cost_spike(daily, detail=detail),
            loss_maker_vs_profitable(customers, usage),
            loss_making_models(
                models, unattributed=unattributed if unattributed is not None else unattributed_by_model(daily)
            ),
        )
        if insight is not None
    ]
    found.sort(key=lambda insight: -insight.weight_micros)
    if len(found) < limit and (extra := concentration_insight(customers, usage)) is not None:
        found.append(extra)
    return found[:limit]


def tier_pricing(tiers: pl.DataFrame, customers: pl.DataFrame, *, target: float, days: int) -> pl.DataFrame:
    """The pricing question: per tier, the revenue (and the price per customer per 30 days) that would reach
    a `target` gross margin at the measured LLM cost of its customers over a range of `days` days."""
    counts = (
        customers.filter(pl.col("customer_id") != UNATTRIBUTED, pl.col("revenue_micros") > 0)
        .group_by("tier")
        .agg(pl.len().alias("customers"))
    )
    per_30_days = 30 / max(days, 1)
    needed = (pl.col("cost_micros") / (1 - target)).round(0).cast(pl.Int64)
    return (
        tiers.filter(~pl.col("tier").is_in([UNATTRIBUTED, NO_USAGE]))
        .join(counts, on="tier", how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64), needed.alias("needed_revenue_micros"))
        .with_columns(
            pl.when(pl.col("customers") > 0)
            .then((pl.col("revenue_micros") / pl.col("customers") * per_30_days).round(0))
            .cast(pl.Int64)
            .alias("price_now_micros"),
            pl.when(pl.col("customers") > 0)
            .then((pl.col("needed_revenue_micros") / pl.col("customers") * per_30_days).round(0))
            .cast(pl.Int64)
            .alias("price_needed_micros"),
        )
        .with_columns(
            pl.when(pl.col("price_now_micros") > 0)
            .then(pl.col("price_needed_micros") / pl.col("price_now_micros") - 1)
            .alias("price_change")
        )
        .select(
            "tier",
            "customers",
            "revenue_micros",
            "cost_micros",
            "margin_pct",
            "needed_revenue_micros",
            "price_now_micros",
            "price_needed_micros",
            "price_change",
        )
        .sort("price_change", "tier", descending=[True, False], nulls_last=True)
    )

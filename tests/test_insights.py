"""Insights and display text: hand-computed cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl
import pytest

from margin_core import insights

M = 1_000_000  # micro-dollars per dollar


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "$0"),
        (7_250_000, "$7.25"),
        (9_994_999, "$9.99"),
        (10_000_000, "$10"),
        (1_234_499_999, "$1,234"),
        (1_234_500_000, "$1,235"),
        (-16_000_000, "−$16"),
        (-350_000, "−$0.35"),
        (None, "—"),
    ],
)
def test_usd_text(micros: int | None, text: str) -> None:
    assert insights.usd_text(micros) == text


def test_percent_and_points_text() -> None:
    assert insights.pct_text(0.42) == "42%"
    assert insights.pct_text(-0.164) == "−16%"
    assert insights.pct_text(0.25, signed=True) == "+25%"
    assert insights.pct_text(None) == "—"
    assert insights.pts_text(-16.2) == "−16 pts"
    assert insights.pts_text(3) == "+3 pts"
    assert insights.pts_text(0.2) == "0 pts"
    assert insights.ratio_text(60.4) == "60×"
    assert insights.ratio_text(2.44) == "2.4×"


def _daily(rows: Sequence[tuple[date, str | None, str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "customer_id": pl.String,
            "customer_name": pl.String,
            "feature": pl.String,
            "cost_micros": pl.Int64,
        },
        orient="row",
    )


def test_cost_spike_finds_the_week_and_the_feature() -> None:
    first = date(2026, 3, 1)
    rows = []
    for i in range(28):
        day = first + timedelta(days=i)
        spiking = date(2026, 3, 16) <= day <= date(2026, 3, 22)
        rows.append((day, "c", "Cobalt", "summarize", (50 if spiking else 10) * M))
        rows.append((day, "c", "Cobalt", "chat", 5 * M))
        rows.append((day, "a", "Acme", "chat", (12 if spiking else 10) * M))
    found = insights.cost_spike(_daily(rows))
    assert found is not None
    # 7 × $55 = $385 in Mar 16–22 against 7 × $15 = $105 the week before: +267%
    assert found.text == (
        "Cobalt's LLM cost rose 267% week over week: $385 in Mar 16–22 against $105 the week before, "
        "mostly on summarize (+$280)."
    )
    assert found.weight_micros == 280 * M


def test_no_spike_in_a_flat_or_short_range() -> None:
    first = date(2026, 3, 1)
    flat = [(first + timedelta(days=i), "a", "Acme", "chat", 10 * M) for i in range(28)]
    assert insights.cost_spike(_daily(flat)) is None
    short = [(first + timedelta(days=i), "a", "Acme", "chat", (10 + 10 * i) * M) for i in range(10)]
    assert insights.cost_spike(_daily(short)) is None


def _customers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["startup", "acme", "df", "(unattributed)"],
            "customer_name": ["StartupCo", "Acme Corp", "DataFlow", "(unattributed)"],
            "tier": ["starter", "enterprise", "pro", ""],
            "revenue_micros": [200 * M, 4_200 * M, 500 * M, 0],
            "cost_micros": [1_000 * M, 100 * M, 450 * M, 5_000 * M],
            "margin_micros": [-800 * M, 4_100 * M, 50 * M, -5_000 * M],
            "status": ["unprofitable", "profitable", "break_even", "unprofitable"],
        }
    )


def _usage() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["startup", "acme", "df"],
            "tokens": [6_000_000, 100_000, 900_000],
            "requests": [600, 10, 90],
            "cost_micros": [1_000 * M, 100 * M, 450 * M],
        }
    )


def test_loss_maker_against_a_pricier_profitable_customer() -> None:
    found = insights.loss_maker_vs_profitable(_customers(), _usage())
    assert found is not None
    assert found.text == (
        "StartupCo uses 60× the inference of Acme Corp on a plan that costs 95% less (starter vs enterprise): "
        "StartupCo lost $800 this period."
    )
    assert found.weight_micros == 800 * M  # (unattributed) is never the loss-maker


def test_no_loss_maker_when_everyone_makes_money() -> None:
    fine = _customers().filter(pl.col("margin_micros") > 0)
    assert insights.loss_maker_vs_profitable(fine, _usage()) is None


def test_loss_making_models() -> None:
    models = pl.DataFrame(
        {
            "model": ["opus", "mini", "turbo"],
            "provider": ["anthropic", "openai", "openai"],
            "revenue_micros": [500 * M, 3_000 * M, 1_000 * M],
            "margin_micros": [-7_000 * M, 2_900 * M, -120 * M],
        }
    )
    found = insights.loss_making_models(models)
    assert found is not None
    assert found.text == "2 models lose money: opus (−$7,000 on $500 of revenue), turbo (−$120 on $1,000 of revenue)."
    assert found.weight_micros == 7_120 * M
    internal = pl.DataFrame(
        {"provider": ["anthropic", "openai"], "model": ["opus", "mini"], "cost_micros": [6_500 * M, M]}
    )
    noted = insights.loss_making_models(models, unattributed=internal)
    assert noted is not None
    assert noted.text == (
        "2 models lose money: opus (−$7,000 on $500 of revenue; $6,500 of its cost is unattributed spend), "
        "turbo (−$120 on $1,000 of revenue)."
    )


def test_concentration_of_tokens_and_revenue() -> None:
    found = insights.concentration(_customers(), _usage())
    # 3 customers → the top 20% is 1: StartupCo, 6.0M of 7.0M tokens, $200 of $4,900 revenue
    assert found["customers"] == 1
    assert found["token_share"] == pytest.approx(6_000_000 / 7_000_000)
    assert found["revenue_share"] == pytest.approx(200 / 4_900)


def test_top_insights_are_ranked_by_money() -> None:
    first = date(2026, 3, 1)
    rows = [
        (first + timedelta(days=i), c, n, "chat", cost * M)
        for i in range(28)
        for c, n, cost in (("startup", "StartupCo", 30), ("acme", "Acme Corp", 4), ("df", "DataFlow", 15))
    ]
    daily = _daily(rows).with_columns(
        pl.lit(1, pl.Int64).alias("requests"),
        *(pl.lit(0, pl.Int64).alias(c) for c in ("cached_input_tokens", "cache_write_tokens", "output_tokens")),
        pl.col("cost_micros").alias("input_tokens"),
    )
    models = pl.DataFrame({"model": ["opus"], "revenue_micros": [10 * M], "margin_micros": [-50 * M]})
    found = insights.top_insights(daily=daily, customers=_customers(), models=models)
    assert [i.kind for i in found] == ["loss_maker", "loss_models", "concentration"]


def test_tier_pricing_for_a_target_margin() -> None:
    tiers = pl.DataFrame(
        {
            "tier": ["starter", "enterprise", "(unattributed)"],
            "revenue_micros": [200 * M, 4_200 * M, 0],
            "cost_micros": [1_000 * M, 100 * M, 5_000 * M],
            "margin_pct": [-4.0, 4_100 / 4_200, None],
        }
    )
    out = insights.tier_pricing(tiers, _customers(), target=0.5, days=30).to_dicts()
    assert [r["tier"] for r in out] == ["starter", "enterprise"]
    starter = out[0]
    assert starter["needed_revenue_micros"] == 2_000 * M  # $1,000 of cost at a 50% margin
    assert starter["price_now_micros"] == 200 * M
    assert starter["price_needed_micros"] == 2_000 * M
    assert starter["price_change"] == pytest.approx(9.0)


def test_customer_profile_against_the_average_customer() -> None:
    ledger = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b", None],
            "feature": ["chat", "search", "chat", "chat"],
            "requests": [10, 5, 30, 7],
            "input_tokens": [100, 50, 300, 70],
            "cached_input_tokens": [0, 0, 0, 0],
            "cache_write_tokens": [0, 0, 0, 0],
            "output_tokens": [10, 5, 30, 7],
            "cost_micros": [2 * M, 1 * M, 6 * M, 9 * M],
        }
    )
    out = insights.customer_profile(ledger, customer_id="a", by="feature")
    chat = out.filter(pl.col("feature") == "chat").row(0, named=True)
    assert chat["cost_micros"] == 2 * M
    assert chat["avg_cost_micros"] == 4 * M  # ($2 + $6) / 2 customers; unattributed left out
    assert chat["avg_requests"] == 20
    assert chat["cost_vs_average"] == pytest.approx(0.5)
    assert out["feature"].to_list() == ["chat", "search"]

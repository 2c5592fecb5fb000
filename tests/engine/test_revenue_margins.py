"""Revenue spreading (rules §4.3), margins and status (§4.4), granularity (§4.6), cross-subsidy (§4.5)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from margin_core import schemas
from margin_core.engine import dimensions, granularity, ledger_sums, margins, revenue
from tests.engine import _frames


def lines(*rows: dict[str, Any]) -> pl.LazyFrame:
    base = {"kind": "csv", "customer_id": "c", "source_id": "s", "currency": "usd", "plan": "", "description": ""}
    return pl.DataFrame(
        [{**base, "source_id": f"s{i}", "amount": r.get("amount_usd_cents"), **r} for i, r in enumerate(rows)],
        schema=schemas.REVENUE,
    ).lazy()


def test_fjord_310_over_28_days_gives_99_63_for_march_1_to_9() -> None:
    item = lines({"service_start": date(2026, 2, 10), "service_end": date(2026, 3, 10), "amount_usd_cents": 31_000})
    march = revenue.recognize_daily(item, start=date(2026, 3, 1), end=date(2026, 4, 1)).collect()
    assert march["revenue_cents"].sum() == 9_963
    february = revenue.recognize_daily(item, start=date(2026, 2, 1), end=date(2026, 3, 1)).collect().sort("day")
    assert february["revenue_cents"].sum() == 21_037
    assert february["revenue_cents"].head(5).to_list() == [1108, 1108, 1108, 1108, 1107]


def test_negative_items_spread_with_their_sign_and_unconverted_items_are_flagged() -> None:
    items = lines(
        {"service_start": date(2026, 3, 1), "service_end": date(2026, 3, 4), "amount_usd_cents": -100},
        {
            "service_start": date(2026, 3, 1),
            "service_end": date(2026, 3, 2),
            "amount_usd_cents": None,
            "currency": "chf",
            "amount": 500,
        },
    )
    days = revenue.recognize_daily(items, start=date(2026, 3, 1), end=date(2026, 4, 1)).collect().sort("day")
    assert days["revenue_cents"].to_list() == [-34, -33, -33]
    flagged = revenue.unconverted(items, start=date(2026, 3, 1), end=date(2026, 4, 1)).collect()
    assert flagged["currency"].to_list() == ["chf"]


@given(
    amount=st.integers(-(10**9), 10**9),
    length=st.integers(1, 400),
    cut=st.integers(0, 400),
)
def test_days_of_an_item_always_add_up_to_it(amount: int, length: int, cut: int) -> None:
    start = date(2026, 1, 1)
    item = lines({"service_start": start, "service_end": start + timedelta(days=length), "amount_usd_cents": amount})
    middle = start + timedelta(days=min(cut, length))
    before = int(revenue.recognize_daily(item, start=date(2025, 1, 1), end=middle).collect()["revenue_cents"].sum())
    after = int(revenue.recognize_daily(item, start=middle, end=date(2028, 1, 1)).collect()["revenue_cents"].sum())
    assert before + after == amount


@pytest.mark.parametrize(
    ("revenue_micros", "cost_micros", "status"),
    [
        (4_200_000_000, 1_890_000_000, "profitable"),
        (200_000_000, 12_000_000_000, "unprofitable"),
        (500_000_000, 413_000_000, "break_even"),  # 17.4%
        (100, 80, "profitable"),  # exactly 20% is not below the threshold
        (100, 81, "break_even"),
        (0, 0, "break_even"),
        (-50, 0, "unprofitable"),
    ],
)
def test_status_thresholds(revenue_micros: int, cost_micros: int, status: str) -> None:
    frame = pl.LazyFrame({"revenue_micros": [revenue_micros], "cost_micros": [cost_micros]})
    row = margins.with_margin(frame).collect().row(0, named=True)
    assert row["status"] == status
    assert row["margin_micros"] == revenue_micros - cost_micros
    if revenue_micros <= 0:
        assert row["margin_pct"] is None


@pytest.mark.parametrize(("days", "expected"), [(1, "day"), (45, "day"), (46, "week"), (190, "week"), (191, "month")])
def test_granularity_switches_at_45_and_190_days(days: int, expected: str) -> None:
    start = date(2026, 1, 1)
    assert granularity.choose_granularity(start, start + timedelta(days=days)) == expected


def test_change_in_points() -> None:
    assert granularity.change_in_points(0.58, 0.42) == pytest.approx(-16.0)
    assert granularity.change_in_points(None, 0.42) is None


def test_weeks_start_on_monday_and_every_period_is_listed() -> None:
    starts = granularity.period_starts(date(2026, 3, 4), date(2026, 3, 20), "week").collect()["period_start"]
    assert starts.to_list() == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]


def _ledger(rows: list[tuple[Any, ...]]) -> pl.LazyFrame:
    return _frames.ledger(
        *(
            {
                "day": date(2026, 3, 1),
                "customer_id": c,
                "feature": f,
                "cost_micros": cost,
                "requests": req,
                "input_tokens": tok,
            }
            for c, f, cost, req, tok in rows
        )
    )


def _daily(amounts: dict[str, int]) -> pl.LazyFrame:
    return pl.DataFrame(
        [{"customer_id": c, "day": date(2026, 3, 1), "plan": "", "revenue_cents": v} for c, v in amounts.items()],
        schema=schemas.DAILY_REVENUE,
    ).lazy()


def test_customer_revenue_follows_its_requests_across_features_with_fallbacks() -> None:
    ledger = _ledger(
        [
            ("a", "chat", 100, 3, 0),
            ("a", "search", 50, 1, 0),  # by requests: 3/4 and 1/4
            ("b", "chat", 10, 0, 30),
            ("b", "search", 10, 0, 10),  # no requests: by tokens
            (None, "(unattributed)", 7, 2, 0),
        ]
    )
    daily = _daily({"a": 400, "b": 100, "c": 50})  # c has no usage at all
    table = dimensions.by_usage_attribute(ledger, daily_revenue=daily, values=["feature"]).collect()
    revenue_by = dict(table.select("feature", "revenue_micros").iter_rows())
    assert revenue_by == {"chat": 3_750_000, "search": 1_250_000, "(no usage)": 500_000, "(unattributed)": 0}
    assert table["revenue_micros"].sum() == 5_500_000
    assert table["cost_micros"].sum() == 177


def test_customer_attribute_takes_revenue_and_cost_whole() -> None:
    ledger = _ledger([("a", "chat", 100, 1, 0), ("b", "chat", 300, 1, 0), (None, "(unattributed)", 5, 0, 0)])
    customers = (
        pl.DataFrame([{"customer_id": "a", "tier": "pro"}, {"customer_id": "b", "tier": ""}], schema_overrides={})
        .with_columns(
            *(pl.lit("").alias(c) for c in ("name", "email", "segment", "region", "source")),
            pl.lit("{}").alias("metadata_json"),
        )
        .lazy()
    )
    table = dimensions.by_customer_attribute(
        ledger, daily_revenue=_daily({"a": 10, "b": 20}), customers=customers, attribute="tier"
    ).collect()
    got = {v: (r, c) for v, r, c in table.select("value", "revenue_micros", "cost_micros").iter_rows()}
    assert got == {"pro": (100_000, 100), "(none)": (200_000, 300), "(unattributed)": (0, 5)}


def test_requests_basis_falls_back_to_tokens_for_a_customer_with_request_less_usage() -> None:
    from margin_core.engine.attribution import attribute

    usage = (
        pl.DataFrame(
            [
                {
                    "usage_id": 1,
                    "provider": "openai",
                    "model": "gpt-4o",
                    "api_key_id": "k_oa",
                    "requests": 10,
                    "input_tokens": 1_000,
                    "cost_micros": 40,
                },
                {
                    "usage_id": 2,
                    "provider": "anthropic",
                    "model": "claude-sonnet-4",
                    "api_key_id": "k_an",
                    "requests": 0,
                    "input_tokens": 3_000,
                    "cost_micros": 60,
                },
            ],
            schema_overrides=dict(schemas.USAGE),
        )
        .with_columns(
            pl.lit(date(2026, 3, 1)).alias("day"),
            *(pl.lit("").alias(c) for c in ("project_id", "user_id")),
            *(
                pl.lit(0, pl.Int64).alias(c)
                for c in ("cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
            ),
            pl.lit("reported").alias("cost_source"),
            pl.lit("api").alias("source"),
        )
        .select(schemas.USAGE.names())
    )
    maps = pl.DataFrame(
        [("*", "api_key_id", "k_oa", "x"), ("*", "api_key_id", "k_an", "x")], schema=schemas.MAPPINGS, orient="row"
    )
    no_events = pl.DataFrame(schema=schemas.EVENTS).lazy()
    ledger, _ = attribute(usage.lazy(), events=no_events, mappings=maps.lazy())
    daily = _daily({"x": 10_000})  # $100
    table = dimensions.by_usage_attribute(ledger, daily_revenue=daily, values=["provider"]).collect()
    # The Anthropic row has 3,000 tokens and no requests: x is allocated by tokens, 1,000 : 3,000
    assert dict(table.select("provider", "revenue_micros").iter_rows()) == {
        "openai": 25_000_000,
        "anthropic": 75_000_000,
    }
    # A customer whose usage all counts requests keeps the requests basis.
    counted = ledger.filter(pl.col("provider") == "openai").with_columns(pl.lit("chat").alias("feature"))
    both = pl.concat([counted, counted.with_columns(pl.lit("search").alias("feature"), pl.col("requests") * 3)])
    by_feature = dimensions.by_usage_attribute(both, daily_revenue=daily, values=["feature"]).collect()
    assert dict(by_feature.select("feature", "revenue_micros").iter_rows()) == {
        "chat": 25_000_000,
        "search": 75_000_000,
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", None]),
            st.sampled_from(["chat", "search"]),
            st.sampled_from(["m1", "m2"]),
            st.integers(0, 10**6),
            st.integers(0, 3),
            st.integers(0, 50),
        ),
        max_size=25,
    ),
    st.sampled_from(["requests", "tokens"]),
)
def test_model_reports_on_the_per_customer_model_sums_equal_them_on_the_ledger(
    rows: list[tuple[str | None, str, str, int, int, int]], basis: dimensions.Basis
) -> None:
    # Rows with tokens but no requests switch a customer's basis (rules §4.5): the sums keep them apart.
    ledger = _frames.ledger(
        *(
            {
                "day": date(2026, 3, 1 + i % 2),
                "customer_id": c,
                "feature": f,
                "model": m,
                "cost_micros": cost,
                "requests": req,
                "input_tokens": tok,
                "cache_write_tokens": tok // 3,
            }
            for i, (c, f, m, cost, req, tok) in enumerate(rows)
        )
    )
    daily = _daily({"a": 400, "b": 101, "c": 50})
    summed = ledger_sums.customer_model_days(ledger)
    for values in (["provider", "model"], ["provider"]):
        expected = dimensions.by_usage_attribute(ledger, daily_revenue=daily, values=values, basis=basis)
        found = dimensions.by_usage_attribute(summed, daily_revenue=daily, values=values, basis=basis)
        assert found.collect().sort(values).equals(expected.collect().sort(values))

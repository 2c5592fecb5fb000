"""Coverage per provider key and the monthly reconciliation (rules §4.2 step 3 and invariant, §4.8)."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from margin_core.engine.attribution import attribute, coverage
from margin_core.engine.ledger_sums import coverage_days, usage_cost_days, usage_days
from margin_core.engine.reconciliation import coverage_by_key, reconcile
from tests.engine._frames import events, mappings, usage


def test_coverage_per_key_caps_each_row_at_its_own_tokens() -> None:
    rows = usage(
        {"api_key_id": "k1", "input_tokens": 1_000, "cost_micros": 1_000_000},
        {"api_key_id": "k1", "day": date(2026, 3, 3), "input_tokens": 1_000},  # no event that day
        {"api_key_id": "k2", "input_tokens": 500},
        {"api_key_id": "k3", "provider": "anthropic", "input_tokens": 300},
    )
    evs = events(
        {"api_key_id": "k1", "input_tokens": 600},
        {"api_key_id": "k2", "input_tokens": 800},  # more than the row: the row counts as covered, 500
    )
    maps = mappings(("anthropic", "api_key_id", "k3", "dedicated"))
    row_coverage = coverage(rows, events=evs, mappings=maps)
    got = coverage_by_key(row_coverage).collect()
    expected = pl.DataFrame(
        {
            "provider": ["openai", "openai", "anthropic"],
            "api_key_id": ["k1", "k2", "k3"],
            "customer_id": [None, None, "dedicated"],
            "row_tokens": [2_000, 500, 300],
            "covered_tokens": [600, 500, 0],
            "coverage": [0.3, 1.0, 0.0],
        }
    )
    assert_frame_equal(got, expected, check_row_order=False)
    # the derived day ledger keeps coverage summed per day and key: the same table
    assert_frame_equal(coverage_by_key(coverage_days(row_coverage)).collect(), expected, check_row_order=False)


def test_reconciliation_per_provider_and_month_has_no_difference() -> None:
    rows = usage(
        {"api_key_id": "k1", "input_tokens": 1_000, "cost_micros": 1_000_000},  # 600 of 1,000 tokens covered
        {"api_key_id": "k2", "day": date(2026, 4, 1), "cost_micros": 250_000, "cost_source": "estimated"},
    )
    evs = events(
        {"api_key_id": "k1", "input_tokens": 600, "cost_micros": 7},
        {"provider": "bedrock", "model": "llama", "cost_micros": 42},  # no usage that provider-day: own cost
    )
    ledger, _ = attribute(rows, events=evs, mappings=mappings(("openai", "api_key_id", "k2", "y")))
    got = reconcile(usage_cost_days(rows), ledger=usage_days(ledger)).collect()
    expected = pl.DataFrame(
        {
            "provider": ["openai", "openai", "bedrock"],
            "month": [date(2026, 3, 1), date(2026, 4, 1), date(2026, 3, 1)],
            "reported_micros": [1_000_000, 250_000, 0],
            "attributed_micros": [600_000, 250_000, 0],
            "unattributed_micros": [400_000, 0, 0],
            "difference_micros": [0, 0, 0],
            "own_cost_micros": [0, 0, 42],
            "cost_micros": [1_000_000, 250_000, 42],
            "estimated_micros": [0, 250_000, 42],
        }
    )
    assert_frame_equal(got, expected, check_row_order=False)


@given(
    rows=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["", "k1", "k2"]), st.integers(-500, 10**9), st.integers(0, 900)),
        max_size=10,
        unique_by=lambda r: r[:2],
    ),
    evs=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["", "k1"]), st.sampled_from(["a", "b"]), st.integers(0, 900)),
        max_size=10,
        unique_by=lambda r: r[:3],
    ),
)
def test_every_month_reconciles_to_the_micro(rows, evs) -> None:
    first = date(2026, 3, 10).toordinal()
    usage_frame = usage(
        *[
            {"day": date.fromordinal(first + d), "api_key_id": k, "cost_micros": c, "output_tokens": t}
            for d, k, c, t in rows
        ]
    )
    event_frame = events(
        *[
            {"day": date.fromordinal(first + d), "api_key_id": k, "customer_id": c, "output_tokens": t}
            for d, k, c, t in evs
        ]
    )
    ledger, _ = attribute(usage_frame, events=event_frame, mappings=mappings(("*", "api_key_id", "k2", "b")))
    table = reconcile(usage_cost_days(usage_frame), ledger=usage_days(ledger)).collect()
    assert (table["difference_micros"] == 0).all()
    assert table["cost_micros"].sum() == ledger.select(pl.col("cost_micros").sum()).collect().item()

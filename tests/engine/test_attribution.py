"""Attribution (rules §4.2, §4.8) on hand-computed cases, and its invariant as a property."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from margin_core.engine.attribution import attribute
from tests.engine._frames import events, mappings, usage

NO_EVENTS = events().filter(pl.lit(False))
NO_MAPPINGS = mappings()


def cost_by_customer(ledger: pl.LazyFrame) -> dict[str | None, int]:
    return dict(ledger.group_by("customer_id").agg(pl.col("cost_micros").sum()).collect().iter_rows())


def test_api_key_mapping_wins_over_project_and_user() -> None:
    rows = usage({"api_key_id": "k1", "project_id": "p1", "user_id": "u1", "cost_micros": 1_000_000})
    maps = mappings(
        ("openai", "user_id", "u1", "by_user"),
        ("openai", "project_id", "p1", "by_project"),
        ("*", "api_key_id", "k1", "by_key"),
    )
    ledger, unattributed = attribute(rows, events=NO_EVENTS, mappings=maps)
    assert cost_by_customer(ledger) == {"by_key": 1_000_000}
    assert unattributed.collect().is_empty()


def test_project_mapping_wins_over_user_and_own_provider_over_star() -> None:
    rows = usage({"api_key_id": "k9", "project_id": "p1", "user_id": "u1", "cost_micros": 500})
    maps = mappings(
        ("*", "project_id", "p1", "star"),
        ("openai", "project_id", "p1", "own"),
        ("openai", "user_id", "u1", "by_user"),
        ("anthropic", "api_key_id", "k9", "other_provider"),
    )
    ledger, _ = attribute(rows, events=NO_EVENTS, mappings=maps)
    assert cost_by_customer(ledger) == {"own": 500}


def test_row_cost_splits_over_events_by_their_cost_to_the_micro() -> None:
    rows = usage({"api_key_id": "k1", "cost_micros": 10_000_000, "requests": 3})
    evs = events(
        {"customer_id": "a", "api_key_id": "k1", "cost_micros": 1_000},
        {"customer_id": "b", "api_key_id": "k1", "cost_micros": 2_000},
        {"customer_id": "c", "api_key_id": "k1", "cost_micros": 0},
    )
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    # exact shares 3,333,333.33 and 6,666,666.67: the leftover micro goes to the larger remainder, b
    assert cost_by_customer(ledger) == {"a": 3_333_333, "b": 6_666_667, "c": 0}
    requests = dict(ledger.group_by("customer_id").agg(pl.col("requests").sum()).collect().iter_rows())
    assert requests == {"a": 1, "b": 1, "c": 1}  # events count, the split row adds none of its own


def test_split_falls_back_to_tokens_when_every_event_costs_nothing() -> None:
    rows = usage({"cost_micros": 900})
    evs = events({"customer_id": "a", "input_tokens": 100}, {"customer_id": "b", "output_tokens": 200})
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    assert cost_by_customer(ledger) == {"a": 300, "b": 600}


def test_mapped_row_takes_only_its_customers_events() -> None:
    rows = usage({"api_key_id": "k1", "cost_micros": 1_000})
    evs = events(
        {"customer_id": "mapped", "feature": "search", "api_key_id": "k1", "cost_micros": 10},
        {"customer_id": "someone_else", "api_key_id": "k1", "cost_micros": 990},
    )
    ledger, _ = attribute(rows, events=evs, mappings=mappings(("openai", "api_key_id", "k1", "mapped")))
    costs = (
        ledger.filter(pl.col("cost_micros") != 0).group_by("customer_id", "feature").agg(pl.col("cost_micros").sum())
    )
    assert {(c, f): v for c, f, v in costs.collect().iter_rows()} == {("mapped", "search"): 1_000}


def test_mapped_row_without_events_goes_whole_to_its_customer_unspecified() -> None:
    rows = usage({"api_key_id": "k1", "cost_micros": 777, "requests": 5, "input_tokens": 40})
    ledger, _ = attribute(rows, events=NO_EVENTS, mappings=mappings(("openai", "api_key_id", "k1", "acme")))
    row = ledger.collect().row(0, named=True)
    assert (row["customer_id"], row["feature"], row["cost_micros"], row["requests"], row["input_tokens"]) == (
        "acme",
        "(unspecified)",
        777,
        5,
        40,
    )


def test_unmapped_row_without_events_is_unattributed_with_its_key() -> None:
    rows = usage({"api_key_id": "k_orphan", "project_id": "p1", "cost_micros": 4_200, "requests": 7})
    ledger, unattributed = attribute(rows, events=NO_EVENTS, mappings=NO_MAPPINGS)
    assert cost_by_customer(ledger) == {None: 4_200}
    got = unattributed.collect().select("dimension", "value", "cost_micros", "requests").row(0)
    assert got == ("api_key_id", "k_orphan", 4_200, 7)


def test_events_of_an_uncovered_provider_day_count_at_their_own_cost_as_estimated() -> None:
    rows = usage({"provider": "openai", "cost_micros": 100})
    evs = events(
        {"customer_id": "a", "provider": "anthropic", "model": "claude-sonnet-4", "cost_micros": 55},
        {"customer_id": "b", "provider": "openai", "model": "o3", "cost_micros": 66},  # covered day, no row: no cost
    )
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    totals = ledger.group_by("customer_id").agg(pl.col("cost_micros", "estimated_micros").sum()).collect()
    assert {c: (m, e) for c, m, e in totals.iter_rows()} == {"a": (55, 55), "b": (0, 0), None: (100, 0)}


def test_models_match_on_the_text_after_the_last_slash_case_insensitively() -> None:
    rows = usage({"provider": "openrouter", "model": "openai/GPT-4o", "cost_micros": 1_000})
    evs = events({"customer_id": "a", "provider": "openrouter", "model": "gpt-4o", "cost_micros": 5})
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    by_model = ledger.group_by("customer_id", "model").agg(pl.col("cost_micros").sum()).collect()
    assert set(by_model.iter_rows()) == {("a", "openai/GPT-4o", 1_000)}


def test_keyless_event_is_a_candidate_of_every_row_of_its_model() -> None:
    rows = usage({"api_key_id": "k1", "cost_micros": 300}, {"api_key_id": "k2", "cost_micros": 200})
    evs = events({"customer_id": "a", "api_key_id": "", "cost_micros": 1})
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    assert cost_by_customer(ledger) == {"a": 500}
    assert ledger.select(pl.col("requests").sum()).collect().item() == 1


usage_rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # day offset
        st.sampled_from(["openai", "anthropic"]),
        st.sampled_from(["m1", "m2"]),
        st.sampled_from(["", "k1", "k2", "k3"]),
        st.integers(-1_000, 10**12),  # cost micros (credits may be negative)
        st.integers(0, 12_000),  # tokens: events may cover all, part or none of them
    ),
    max_size=12,
    unique_by=lambda r: r[:4],
)
event_rows = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["openai", "anthropic"]),
        st.sampled_from(["m1", "M2", "x/m1"]),
        st.sampled_from(["", "k1", "k2"]),
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(["f1", "f2"]),
        st.integers(0, 10**7),
        st.integers(0, 5_000),
    ),
    max_size=20,
    unique_by=lambda r: r[:6],
)


@given(rows=usage_rows, evs=event_rows, mapped=st.booleans())
def test_attributed_plus_unattributed_equals_reported_cost_per_provider_and_day(rows, evs, mapped) -> None:
    usage_frame = usage(
        *[
            {
                "day": date(2026, 3, 1 + d),
                "provider": p,
                "model": m,
                "api_key_id": k,
                "cost_micros": c,
                "output_tokens": t,
            }
            for d, p, m, k, c, t in rows
        ]
    )
    event_frame = events(
        *[
            {
                "day": date(2026, 3, 1 + d),
                "provider": p,
                "model": m,
                "api_key_id": k,
                "customer_id": cu,
                "feature": f,
                "cost_micros": c,
                "input_tokens": t,
            }
            for d, p, m, k, cu, f, c, t in evs
        ]
    )
    maps = mappings(("*", "api_key_id", "k1", "c1")) if mapped else NO_MAPPINGS
    ledger, unattributed = attribute(usage_frame, events=event_frame, mappings=maps)
    covered = usage_frame.group_by("day", "provider").agg(pl.col("cost_micros").sum().alias("reported"))
    got = (
        ledger.join(covered, on=["day", "provider"], how="inner")
        .group_by("day", "provider")
        .agg(pl.col("cost_micros").sum().alias("attributed"))
        .join(covered, on=["day", "provider"], how="full", coalesce=True)
        .collect()
    )
    assert got.filter(pl.col("attributed").fill_null(0) != pl.col("reported")).is_empty()
    # The unattributed rows are the ledger's cost without a customer.
    unattributed_total = unattributed.select(pl.col("cost_micros").sum()).collect().item()
    ledger_unattributed = ledger.filter(pl.col("customer_id").is_null()).select(pl.col("cost_micros").sum())
    assert unattributed_total == ledger_unattributed.collect().item()
    # Input order never matters.
    shuffled = event_frame.collect().sample(fraction=1.0, shuffle=True, seed=7).lazy()
    again, _ = attribute(usage_frame, events=shuffled, mappings=maps)
    key = ["day", "customer_id", "feature", "provider", "model"]
    left = ledger.group_by(key).agg(pl.col("cost_micros").sum()).collect().sort(key, nulls_last=True)
    right = again.group_by(key).agg(pl.col("cost_micros").sum()).collect().sort(key, nulls_last=True)
    assert left.equals(right)


def test_an_event_split_over_rows_of_two_model_strings_keeps_each_rows_model_and_counts_once() -> None:
    rows = usage(
        {"provider": "openrouter", "model": "openai/gpt-4o", "api_key_id": "k1", "cost_micros": 300},
        {"provider": "openrouter", "model": "OpenAI/GPT-4o", "api_key_id": "k2", "cost_micros": 200},
    )
    evs = events({"customer_id": "a", "provider": "openrouter", "model": "gpt-4o", "cost_micros": 1, "input_tokens": 7})
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    got = ledger.select("model", "cost_micros", "requests", "input_tokens").collect().sort("model")
    assert got.rows() == [("OpenAI/GPT-4o", 200, 1, 7), ("openai/gpt-4o", 300, 0, 0)]


# rules §4.2 step 3: events take a row's cost only for the share their tokens cover.
THOUSAND_TOKEN_ROW = {
    "api_key_id": "k1",
    "cost_micros": 1_000_000,
    "requests": 10,
    "input_tokens": 700,
    "output_tokens": 300,
}
SIX_HUNDRED_TOKEN_EVENT = {
    "customer_id": "x",
    "api_key_id": "k1",
    "cost_micros": 9_000,
    "input_tokens": 500,
    "output_tokens": 100,
}


def totals_by_customer_and_feature(ledger: pl.LazyFrame) -> dict[tuple[str | None, str], tuple[int, ...]]:
    columns = ["cost_micros", "requests", "input_tokens", "output_tokens"]
    grouped = ledger.group_by("customer_id", "feature").agg(pl.col(columns).sum()).collect()
    return {(row[0], row[1]): tuple(row[2:]) for row in grouped.iter_rows()}


def test_partly_covered_row_leaves_its_uncovered_rest_unattributed_with_its_tokens() -> None:
    ledger, unattributed = attribute(
        usage(THOUSAND_TOKEN_ROW), events=events(SIX_HUNDRED_TOKEN_EVENT), mappings=NO_MAPPINGS
    )
    # 600 of 1,000 tokens: the event takes $0.600000; the rest keeps 200 input + 200 output and 10 − 1 requests
    assert totals_by_customer_and_feature(ledger) == {
        ("x", "chat"): (600_000, 1, 500, 100),
        (None, "(unspecified)"): (400_000, 9, 200, 200),
    }
    got = unattributed.collect().select("dimension", "value", "cost_micros", "requests").rows()
    assert got == [("api_key_id", "k1", 400_000, 9)]


def test_partly_covered_mapped_row_leaves_its_rest_to_its_customer_unspecified() -> None:
    maps = mappings(("openai", "api_key_id", "k1", "x"))
    ledger, unattributed = attribute(usage(THOUSAND_TOKEN_ROW), events=events(SIX_HUNDRED_TOKEN_EVENT), mappings=maps)
    assert totals_by_customer_and_feature(ledger) == {
        ("x", "chat"): (600_000, 1, 500, 100),
        ("x", "(unspecified)"): (400_000, 9, 200, 200),
    }
    assert unattributed.collect().is_empty()


def test_fully_covered_row_goes_whole_to_its_events() -> None:
    event = {**SIX_HUNDRED_TOKEN_EVENT, "input_tokens": 900, "output_tokens": 150}  # 1,050 ≥ 1,000 tokens
    ledger, unattributed = attribute(usage(THOUSAND_TOKEN_ROW), events=events(event), mappings=NO_MAPPINGS)
    assert totals_by_customer_and_feature(ledger) == {("x", "chat"): (1_000_000, 1, 900, 150)}
    assert unattributed.collect().is_empty()


def test_keyless_event_counts_in_full_in_each_row_it_covers() -> None:
    rows = usage(THOUSAND_TOKEN_ROW, {"api_key_id": "k2", "cost_micros": 500_000, "requests": 4, "input_tokens": 500})
    event = {**SIX_HUNDRED_TOKEN_EVENT, "api_key_id": ""}
    ledger, unattributed = attribute(rows, events=events(event), mappings=NO_MAPPINGS)
    # k1: 600 of 1,000 tokens → $0.600000, rest $0.400000; k2: 600 ≥ 500 tokens → the whole $0.500000
    assert totals_by_customer_and_feature(ledger) == {
        ("x", "chat"): (1_100_000, 1, 500, 100),
        (None, "(unspecified)"): (400_000, 9, 200, 200),
    }
    assert unattributed.collect().select("value", "cost_micros").rows() == [("k1", 400_000)]


def test_covered_share_rounds_half_even_and_splits_by_largest_remainder() -> None:
    rows = usage(
        {"api_key_id": "k1", "cost_micros": 5, "input_tokens": 4},  # 5 × 2/4 = 2.5 → 2
        {"api_key_id": "k2", "cost_micros": 7, "input_tokens": 4},  # 7 × 2/4 = 3.5 → 4
    )
    evs = events(
        {"customer_id": "a", "api_key_id": "k1", "input_tokens": 1, "cost_micros": 1},
        {"customer_id": "b", "api_key_id": "k1", "input_tokens": 1, "cost_micros": 1},
        {"customer_id": "a", "api_key_id": "k2", "input_tokens": 2, "cost_micros": 1},
    )
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    # k1's 2 micros: 1 each; k2's 4 micros all to a; rests 3 and 3 unattributed
    assert cost_by_customer(ledger) == {"a": 5, "b": 1, None: 6}


def test_candidates_without_tokens_take_nothing_of_a_row_with_tokens() -> None:
    rows = usage({"api_key_id": "k1", "cost_micros": 800, "requests": 3, "input_tokens": 100})
    evs = events({"customer_id": "a", "api_key_id": "k1", "cost_micros": 50})
    ledger, _ = attribute(rows, events=evs, mappings=NO_MAPPINGS)
    assert totals_by_customer_and_feature(ledger) == {
        ("a", "chat"): (0, 1, 0, 0),
        (None, "(unspecified)"): (800, 2, 100, 0),
    }

"""Month-end forecast and alerts (rules §4.9), hand-computed: each rule fires on its planted case and is
silent below its thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from margin_core import schemas
from margin_core.engine import alerts, forecast, ledger_sums, windows

L = date(2026, 11, 20)  # the last complete day the alerts look at
M = 1_000_000


def day(offset: int) -> date:
    return L + timedelta(days=offset)


def ledger_rows(rows: Sequence[tuple[date, str | None, str, str, int]]) -> pl.LazyFrame:
    """(day, customer_id, feature, model, cost micros)."""
    return pl.DataFrame(
        [
            {
                "day": d,
                "customer_id": c,
                "feature": f,
                "provider": "openai",
                "model": m,
                "metadata_json": "{}",
                "cost_micros": cost,
                "estimated_micros": 0,
                "requests": 1,
                "input_tokens": 10,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "output_tokens": 0,
            }
            for d, c, f, m, cost in rows
        ],
        schema=schemas.LEDGER,
    ).lazy()


def daily_revenue(rows: list[tuple[str, date, int]]) -> pl.LazyFrame:
    return pl.DataFrame(
        [{"customer_id": c, "day": d, "plan": "", "revenue_cents": cents} for c, d, cents in rows],
        schema=schemas.DAILY_REVENUE,
    ).lazy()


CUSTOMERS = pl.LazyFrame({"customer_id": ["a", "b", "c", "d", "e"], "name": ["Acme", "Beta", "Cobalt", "Delta", ""]})


# --- forecast -------------------------------------------------------------------------------------


def test_month_end_projection_is_month_to_date_plus_mean_of_last_7_days_times_days_left() -> None:
    today = date(2026, 11, 11)  # Nov 1-10 complete; 20 days left (Nov 11-30)
    cost_rows = [(date(2026, 10, 25) + timedelta(days=i), "openai", 10 * M) for i in range(20)]  # to Nov 13
    cost_rows += [(date(2026, 11, 9), "anthropic", 7 * M), (date(2026, 11, 10), "anthropic", 1)]
    cost = pl.DataFrame(
        cost_rows, schema={"day": pl.Date, "provider": pl.String, "cost_micros": pl.Int64}, orient="row"
    )
    revenue = daily_revenue(
        [("a", date(2026, 11, 1) + timedelta(days=i), 100) for i in range(10)] + [("a", date(2026, 10, 30), 500)]
    )
    out = forecast.month_end_forecast(cost.lazy(), daily_revenue=revenue, today=today).collect()
    got = {(r["measure"], r["provider"]): r for r in out.iter_rows(named=True)}
    openai = got[("cost", "openai")]
    # MTD Nov 1-10 = $100; last 7 complete days (Nov 4-10) = $70 → $10/day × 20 days = $200; → $300
    assert (openai["month_to_date_micros"], openai["last_7_days_micros"], openai["projected_micros"]) == (
        100 * M,
        70 * M,
        300 * M,
    )
    assert openai["days_left"] == 20 and openai["month_start"] == date(2026, 11, 1)
    # $7.000001 × 20 / 7 = $20.0000028..., rounded to the micro-dollar
    assert got[("cost", "anthropic")]["projected_micros"] == 7_000_001 + 20_000_003
    assert got[("cost", "")]["projected_micros"] == 300 * M + 27_000_004
    # revenue: MTD $10 (Oct 30 is outside the month, and outside the last 7 days); $7 / 7 × 20 = $20
    assert got[("revenue", "")]["projected_micros"] == 30 * M
    assert got[("margin", "")]["projected_micros"] == 30 * M - (300 * M + 27_000_004)
    assert got[("margin", "")]["month_to_date_micros"] == 10 * M - 107_000_001


# --- cost spikes ----------------------------------------------------------------------------------


def spike_sums() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The spike ledger summed as the derived day ledger keeps it: per customer, and per feature and model."""
    ledger = spike_ledger()
    return ledger_sums.customer_days(ledger), ledger_sums.usage_days(ledger)


def spike_ledger() -> pl.LazyFrame:
    rows: list[tuple[date, str | None, str, str, int]] = []
    for offset in range(-30, 1):
        recent = offset >= -6
        rows.append((day(offset), "a", "chat", "gpt-4o", (30 if recent else 10) * M))  # 3×, +$140: fires
        rows.append((day(offset), "b", "search", "gpt-4o", (3 if recent else 1) * M))  # 3×, +$14: silent
        rows.append((day(offset), "c", "docs", "claude", (190 if recent else 100) * M))  # 1.9×, +$630: silent
    return ledger_rows(rows)


def test_cost_spike_fires_for_customer_feature_and_model_with_first_day() -> None:
    out = alerts.cost_spikes(*spike_sums(), customers=CUSTOMERS, last_day=L).collect().sort("subject")
    assert out["subject"].to_list() == ["customer Acme", "feature chat", "model gpt-4o"]
    acme = out.row(0, named=True)
    assert (acme["previous"], acme["current"], acme["change_pct"]) == ("70.00", "210.00", 2.0)
    # 7 days ending L-3: 4 × $30 + 3 × $10 = $150 ≥ 2 × $70 and +$80: the first day it held (L-4: $130)
    assert acme["first_day"] == day(-3)
    model = out.row(2, named=True)
    assert (model["previous"], model["current"]) == ("77.00", "231.00")


def test_cost_spike_is_silent_below_its_settings() -> None:
    stricter = alerts.Thresholds(spike_ratio=3.5)
    assert alerts.cost_spikes(*spike_sums(), customers=CUSTOMERS, last_day=L, thresholds=stricter).collect().is_empty()
    richer = alerts.Thresholds(spike_min_micros=150 * M)  # Acme's +$140 is below $150; the model's +$154 is not
    out = alerts.cost_spikes(*spike_sums(), customers=CUSTOMERS, last_day=L, thresholds=richer).collect()
    assert out["subject"].to_list() == ["model gpt-4o"]


# --- status ---------------------------------------------------------------------------------------


def test_status_worse_over_31_days_than_the_31_before() -> None:
    rows, revenue = [], []
    for offset in range(-91, 1):
        rows.append((day(offset), "d", "chat", "gpt-4o", (90 if offset >= -30 else 10) * M))  # profitable → break-even
        rows.append((day(offset), "e", "chat", "gpt-4o", (20 if offset >= -30 else 10) * M))  # stays profitable
        revenue += [("d", day(offset), 10_000), ("e", day(offset), 10_000)]
    out = alerts.worse_statuses(
        ledger_rows(rows), daily_revenue=daily_revenue(revenue), customers=CUSTOMERS, last_day=L
    ).collect()
    assert out.select("subject", "previous", "current").rows() == [("customer Delta", "profitable", "break_even")]
    # 31 days ending d hold k days at $90: margin < 20% of $3,100 once 310 + 80k > 2,480, i.e. k ≥ 28: L-3
    assert out["first_day"].to_list() == [day(-3)]
    lenient = alerts.Thresholds(break_even=0.05)  # 10% margin is profitable at a 5% threshold: silent
    assert (
        alerts.worse_statuses(
            ledger_rows(rows), daily_revenue=daily_revenue(revenue), customers=CUSTOMERS, last_day=L, thresholds=lenient
        )
        .collect()
        .is_empty()
    )


# --- unattributed share ---------------------------------------------------------------------------


def share_ledger(last_week_unattributed: int) -> pl.LazyFrame:
    rows: list[tuple[date, str | None, str, str, int]] = []
    for offset in range(-30, 1):
        rows.append((day(offset), "a", "chat", "gpt-4o", 85 * M))
        rows.append(
            (day(offset), None, "(unspecified)", "gpt-4o", (last_week_unattributed if offset >= -6 else 15) * M)
        )
    return ledger_rows(rows)


def test_unattributed_share_above_15_percent_fires_and_exactly_15_is_silent() -> None:
    assert alerts.unattributed_share(share_ledger(15), last_day=L).collect().is_empty()  # 15% is not above 15%
    out = alerts.unattributed_share(share_ledger(16), last_day=L).collect()
    row = out.row(0, named=True)
    # $112 of $707 = 0.15841…; the week before $105 of $700 = 0.1500; one day at $16 is enough: L-6
    assert (row["previous"], row["current"], row["first_day"]) == ("0.1500", "0.1584", day(-6))
    assert (
        alerts.unattributed_share(share_ledger(16), last_day=L, thresholds=alerts.Thresholds(unattributed_max=0.16))
        .collect()
        .is_empty()
    )


# --- unpriced models and sources ------------------------------------------------------------------


def test_unpriced_model_with_tokens_in_the_last_7_days() -> None:
    frame = pl.DataFrame(
        {
            "day": [day(-20), day(-2), day(-7), day(-1)],
            "provider": ["openai", "openai", "openai", "anthropic"],
            "model": ["gpt-9", "gpt-9", "gpt-old", "claude-x"],
            "input_tokens": [5, 40, 100, 0],
            "cached_input_tokens": [0, 0, 0, 0],
            "cache_write_tokens": [0, 0, 0, 0],
            "output_tokens": [0, 2, 0, 0],
        }
    )
    out = alerts.unpriced_models(frame.lazy(), last_day=L).collect()
    # gpt-old's tokens are 8 days old; claude-x carries no tokens
    assert out.select("subject", "current", "first_day").rows() == [("model openai/gpt-9", "42 tokens", day(-20))]


def test_failed_and_stale_sources() -> None:
    sources = pl.LazyFrame(
        {
            "source": ["OpenAI usage", "Anthropic usage", "OpenRouter usage", "Stripe revenue"],
            "last_day": [day(-1), day(-2), None, day(-40)],
            "status": ["ok", "", "", "failed"],
            "failed_on": [None, None, None, L],
            "checks_freshness": [True, True, True, False],
        },
        schema_overrides={"last_day": pl.Date, "failed_on": pl.Date},
    )
    out = alerts.source_alerts(sources, last_day=L).collect().sort("kind")
    # the newest day is 2 days old on L+1 for OpenAI (fine), 3 days for Anthropic (stale since L)
    assert out.select("kind", "subject", "current", "first_day").rows() == [
        ("source_stale", "source Anthropic usage", "newest day 2026-11-18", L),
        ("sync_failed", "source Stripe revenue", "failed", L),
    ]


def test_ordered_puts_sources_first_then_largest_rise() -> None:
    frames = [
        alerts.cost_spikes(*spike_sums(), customers=CUSTOMERS, last_day=L),
        alerts.unattributed_share(share_ledger(16), last_day=L),
    ]
    out = alerts.ordered(pl.concat(frames)).collect()
    assert out["kind"].to_list() == ["cost_spike"] * 3 + ["unattributed_share"]
    assert out["subject"][0] == "model gpt-4o"  # +$154 before +$140


@given(
    costs=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["openai", "anthropic", "openrouter"]), st.integers(0, 10**9)),
        max_size=60,
    ),
    today_offset=st.integers(0, 40),
)
def test_provider_projections_add_up_to_the_total_and_ignore_order(
    costs: list[tuple[int, str, int]], today_offset: int
) -> None:
    first = date(2026, 10, 20)
    frame = pl.DataFrame(
        [(first + timedelta(days=d), p, c) for d, p, c in costs],
        schema={"day": pl.Date, "provider": pl.String, "cost_micros": pl.Int64},
        orient="row",
    )
    today = first + timedelta(days=today_offset)
    out = forecast.month_end_forecast(frame.lazy(), daily_revenue=daily_revenue([]), today=today).collect()
    providers = out.filter((pl.col("measure") == "cost") & (pl.col("provider") != ""))
    total = out.filter((pl.col("measure") == "cost") & (pl.col("provider") == "")).row(0, named=True)
    assert int(providers["month_to_date_micros"].sum()) == total["month_to_date_micros"]
    assert int(providers["last_7_days_micros"].sum()) == total["last_7_days_micros"]
    assert abs(int(providers["projected_micros"].sum()) - total["projected_micros"]) <= providers.height  # rounding
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3).lazy()
    again = forecast.month_end_forecast(shuffled, daily_revenue=daily_revenue([]), today=today).collect()
    assert_frame_equal(again, out, check_row_order=False)


def test_share_alerts_agree_on_the_ledger_and_its_sums_per_customer() -> None:
    # the derived day ledger hands the alerts per-customer sums: the same alerts as the ledger's rows
    ledger = share_ledger(16)
    summed = ledger_sums.customer_days(ledger)
    on_rows = alerts.unattributed_share(ledger, last_day=L).collect()
    assert on_rows.height == 1
    assert on_rows.equals(alerts.unattributed_share(summed, last_day=L).collect())


@given(
    st.lists(
        st.tuples(st.integers(-3, 120), st.sampled_from(["a", "b", "c", None]), st.integers(-5, 10**9)), max_size=40
    ),
    st.sampled_from([1, 3, 7, 31]),
)
def test_windows_are_each_keys_sums_over_its_own_days(rows: list[tuple[int, str | None, int]], width: int) -> None:
    """The rolling windows against a plain sum per key and evaluated day (rows on one key and day add up;
    days outside the windows and rows without a key count nowhere)."""
    frame = pl.DataFrame(
        {"day": [day(-back) for back, _, _ in rows], "key": [k for _, k, _ in rows], "v": [v for _, _, v in rows]},
        schema={"day": pl.Date, "key": pl.String, "v": pl.Int64},
    )
    reach = alerts.LOOKBACK - 1 + 2 * width - 1  # the oldest day a window of an evaluated day covers
    found = windows.trailing_sums(
        frame.lazy(), key="key", values=["v"], width=width, first=day(-reach), last=L, evaluated=alerts.LOOKBACK
    )

    def total(key: str, first: int, last: int) -> int:  # days back, first >= last
        return sum(v for back, k, v in rows if k == key and last <= back <= first)

    keys = sorted({k for back, k, _ in rows if k is not None and 0 <= back <= reach})  # keys with a day inside
    expected = [
        (key, day(-back), total(key, back + width - 1, back), total(key, back + 2 * width - 1, back + width))
        for key in keys
        for back in range(alerts.LOOKBACK - 1, -1, -1)
    ]
    assert found.rows() == expected

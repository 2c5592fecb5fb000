"""Revenue items beyond the README table: spreading them reproduces its months; refunds on invoices; credits."""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from connectors.records import RevenueLineRecord
from connectors.stripe_credits import credit_against, split_by_weight, spread_prefix
from connectors.stripe_revenue import StripeRevenue, make_client
from tests.connectors.stripe_fixture_server import StripeFixtureServer, by_id, load, serve

ACME, BOREALIS, KYOTO = "cus_TmAcmeAnalytics1", "cus_TmBorealisData2", "cus_TmKyotoLensKK03"
DELTA, EVERGREEN, FJORD = "cus_TmDeltaFreight4", "cus_TmEvergreenStd5", "cus_TmFjordLabsAS06"


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def spread(item: RevenueLineRecord) -> dict[date, int]:
    """Rule 6, written out independently of the connector: |N| div D a day, leftover units first."""
    days = (item.service_end - item.service_start).days
    per_day, leftover = divmod(abs(item.amount), days)
    sign = -1 if item.amount < 0 else 1
    return {item.service_start + timedelta(days=i): sign * (per_day + (1 if i < leftover else 0)) for i in range(days)}


def totals(items: list[RevenueLineRecord], *, start: date, end: date) -> dict[str, int]:
    """Minor units per customer over [start, end)."""
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item.customer_id] += sum(v for day, v in spread(item).items() if start <= day < end)
    return dict(out)


def fetch(overrides: dict[str, list[dict[str, Any]]] | None = None) -> list[RevenueLineRecord]:
    server = StripeFixtureServer(overrides)
    with serve(server) as base_url:
        return StripeRevenue(make_client("rk_test_fixture", base_url=base_url), page_size=5).fetch_all().revenue_lines


@pytest.fixture(scope="module")
def items() -> list[RevenueLineRecord]:
    return fetch()


def row(item: RevenueLineRecord) -> tuple[Any, ...]:
    return (item.kind, item.source_id, item.service_start, item.service_end, item.amount, item.plan)


# --- the README's months, from the items ---------------------------------------------------------------


def test_spread_adds_up_and_puts_leftover_units_first() -> None:
    fjord = RevenueLineRecord("invoice_line", FJORD, "il", d(2, 10), d(3, 10), 31000, "usd")
    days = spread(fjord)
    assert sum(days.values()) == 31000
    assert [days[d(2, day)] for day in (10, 13, 14)] == [1108, 1108, 1107]
    refund = RevenueLineRecord("refund", FJORD, "re", d(2, 1), d(2, 4), -100, "usd")
    assert list(spread(refund).values()) == [-34, -33, -33]


def test_march_per_customer_matches_the_readme(items) -> None:
    assert totals(items, start=d(3, 1), end=d(4, 1)) == {
        ACME: 47000,
        BOREALIS: 62000,
        KYOTO: 46500,
        DELTA: 410000,
        EVERGREEN: 0,
        FJORD: 9963,
    }


def test_february_per_customer_matches_the_readme(items) -> None:
    february = totals(items, start=d(2, 1), end=d(3, 1))
    assert {cid: v for cid, v in february.items() if cid != EVERGREEN} == {
        ACME: 31000,
        BOREALIS: 74400,
        KYOTO: 46500,
        DELTA: 280000,
        FJORD: 21037,
    }
    assert february.get(EVERGREEN, 0) == 0  # its only item starts on 25 Mar


def test_march_days_match_the_readme_arithmetic(items) -> None:
    daily: dict[tuple[str, date], int] = defaultdict(int)
    for item in items:
        for day, value in spread(item).items():
            daily[item.customer_id, day] += value
    assert [daily[BOREALIS, d(3, day)] for day in (20, 21, 22, 31)] == [2400, -6000, 2000, 2000]
    assert [daily[DELTA, d(3, day)] for day in (11, 12, 20, 21)] == [10000, 160000, -40000, 10000]
    assert [daily[ACME, d(3, day)] for day in (15, 16, 31)] == [1000, 2000, 2000]
    assert [daily[FJORD, d(3, day)] for day in (9, 10)] == [1107, 0]


# --- refunds on an invoice's charge (rule 5, not in the fixtures) ---------------------------------------


def refund(refund_id: str, *, charge: str, amount: int, created: int, status: str = "succeeded") -> dict[str, Any]:
    base = copy.deepcopy(by_id(load("refunds"), "re_TmDeltaWorkshop01"))
    base.update(id=refund_id, charge=charge, amount=amount, created=created, status=status, reason=None)
    base.update(payment_intent=charge.replace("ch_", "pi_"), balance_transaction=None)
    return base


MAR_11_NOON = 1773230400  # 2026-03-11 12:00 UTC
MAR_24_NOON = 1774353600  # 2026-03-24 12:00 UTC


def test_refund_on_an_invoice_charge_is_a_credit_for_its_tax_exclusive_share(items) -> None:
    # Acme's March invoice: total 33480 with tax, 31000 without. A 3348 refund is 3100 without tax,
    # i.e. 100/day over the line's 31 days; 1–10 Mar are delivered when it is made on 11 Mar.
    extra = refund("re_TmAcmePartial01", charge="ch_TmAcmeMar2026Pay", amount=3348, created=MAR_11_NOON)
    fetched = fetch({"refunds": [extra, *load("refunds")]})
    added = sorted(row(i) for i in fetched if i.source_id.startswith("re_TmAcmePartial01"))
    assert added == [
        ("refund", "re_TmAcmePartial01:il_TmAcmeMar2026Pro:catch_up", d(3, 11), d(3, 12), -1000, "Pro"),
        ("refund", "re_TmAcmePartial01:il_TmAcmeMar2026Pro:rest", d(3, 11), d(4, 1), -2100, "Pro"),
    ]
    assert [i for i in fetched if not i.source_id.startswith("re_TmAcmePartial01")] == items
    ours = [i for i in fetched if i.source_id.startswith("re_TmAcmePartial01")]
    assert {(i.customer_id, i.currency, i.description) for i in ours} == {(ACME, "usd", "")}


def test_refund_without_a_charge_is_tied_to_its_invoice_by_payment_intent() -> None:
    extra = refund("re_TmAcmePartial02", charge="ch_TmAcmeMar2026Pay", amount=3348, created=MAR_11_NOON)
    extra["charge"] = None  # e.g. a bank-transfer refund: only the PaymentIntent names the payment
    fetched = fetch({"refunds": [extra, *load("refunds")]})
    added = sorted((i.source_id, i.amount) for i in fetched if i.source_id.startswith("re_TmAcmePartial02"))
    assert added == [
        ("re_TmAcmePartial02:il_TmAcmeMar2026Pro:catch_up", -1000),
        ("re_TmAcmePartial02:il_TmAcmeMar2026Pro:rest", -2100),
    ]


def test_refund_on_an_invoice_is_split_over_its_lines_by_amount() -> None:
    # The upgrade invoice: lines −16000 (Pro) and +32000 (Business), total 17280, 16000 without tax.
    # A 1728 refund is 1600 without tax: −1600 on Pro and +3200 on Business (16 days, 8 delivered by 24 Mar).
    extra = refund("re_TmAcmeUpg01", charge="ch_TmAcmeUpgradePay", amount=1728, created=MAR_24_NOON)
    fetched = fetch({"refunds": [extra, *load("refunds")]})
    added = sorted(row(i) for i in fetched if i.source_id.startswith("re_TmAcmeUpg01"))
    assert added == [
        ("refund", "re_TmAcmeUpg01:il_TmAcmeUpgRemainBiz:catch_up", d(3, 24), d(3, 25), -1600, "Business"),
        ("refund", "re_TmAcmeUpg01:il_TmAcmeUpgRemainBiz:rest", d(3, 24), d(4, 1), -1600, "Business"),
        ("refund", "re_TmAcmeUpg01:il_TmAcmeUpgUnusedPro:catch_up", d(3, 24), d(3, 25), 800, "Pro"),
        ("refund", "re_TmAcmeUpg01:il_TmAcmeUpgUnusedPro:rest", d(3, 24), d(4, 1), 800, "Pro"),
    ]
    assert sum(i[4] for i in added) == -1600


def test_refund_share_is_rounded_half_even_and_spread_by_rule_6() -> None:
    # 1000 × 31000 / 33480 = 925.93 → 926; over 31 days: 29/day and 27 leftover units on the first days,
    # so 1–10 Mar hold 10 × 30 = 300.
    extra = refund("re_TmAcmeOdd01", charge="ch_TmAcmeMar2026Pay", amount=1000, created=MAR_11_NOON)
    fetched = fetch({"refunds": [extra, *load("refunds")]})
    added = sorted((i.source_id, i.amount) for i in fetched if i.source_id.startswith("re_TmAcmeOdd01"))
    assert added == [
        ("re_TmAcmeOdd01:il_TmAcmeMar2026Pro:catch_up", -300),
        ("re_TmAcmeOdd01:il_TmAcmeMar2026Pro:rest", -626),
    ]


def test_failed_refund_counts_for_nothing(items) -> None:
    extra = refund("re_TmAcmeFailed01", charge="ch_TmAcmeMar2026Pay", amount=3348, created=MAR_11_NOON, status="failed")
    assert fetch({"refunds": [extra, *load("refunds")]}) == items


def test_pending_refund_of_a_one_off_charge_counts(items) -> None:
    refunds = load("refunds")
    by_id(refunds, "re_TmDeltaWorkshop01")["status"] = "pending"
    assert fetch({"refunds": refunds}) == items


# --- credit notes --------------------------------------------------------------------------------------


def test_custom_credit_note_line_is_one_negative_item_on_the_effective_date(items) -> None:
    notes = load("credit_notes")
    line = notes[0]["lines"]["data"][0]
    line.update(type="custom_line_item", invoice_line_item=None, description="Goodwill credit")
    fetched = fetch({"credit_notes": notes})
    credit = [i for i in fetched if i.kind == "credit_note"]
    assert [(i.source_id, i.service_start, i.service_end, i.amount, i.currency, i.plan) for i in credit] == [
        ("cnli_TmBorealisSla01", d(3, 21), d(3, 22), -12400, "eur", "")
    ]
    assert credit[0].description == "Goodwill credit"


def test_void_credit_note_counts_for_nothing_and_its_refund_then_counts() -> None:
    notes = load("credit_notes")
    notes[0]["status"] = "void"
    fetched = fetch({"credit_notes": notes})
    assert not [i for i in fetched if i.kind == "credit_note"]
    refunds = [row(i) for i in fetched if i.source_id.startswith("re_TmBorealisCredit01")]
    assert sum(r[4] for r in refunds) == -12400  # a refund on the invoice's charge, tax 0: all of it


# --- the arithmetic on its own -------------------------------------------------------------------------

LINE = RevenueLineRecord("invoice_line", BOREALIS, "il_x", d(3, 1), d(4, 1), 74400, "eur", "Business")


def credits(credit: int, effective: date) -> list[tuple[str, date, date, int]]:
    out = credit_against(LINE, credit=credit, effective=effective, kind="credit_note", source_id="cn", description="")
    return [(i.source_id, i.service_start, i.service_end, i.amount) for i in out]


def test_credit_before_the_service_period_is_spread_over_all_of_it() -> None:
    assert credits(12400, d(2, 20)) == [("cn:rest", d(3, 1), d(4, 1), -12400)]


def test_credit_after_the_service_period_is_all_catch_up() -> None:
    assert credits(12400, d(4, 5)) == [("cn:catch_up", d(4, 5), d(4, 6), -12400)]


def test_credit_mid_period_catches_up_the_delivered_days() -> None:
    assert credits(12400, d(3, 21)) == [
        ("cn:catch_up", d(3, 21), d(3, 22), -8000),
        ("cn:rest", d(3, 21), d(4, 1), -4400),
    ]


def test_credit_items_keep_the_credited_line_identity() -> None:
    out = credit_against(LINE, credit=100, effective=d(3, 2), kind="credit_note", source_id="cn", description="x")
    assert {(i.customer_id, i.currency, i.plan, i.kind, i.description) for i in out} == {
        (BOREALIS, "eur", "Business", "credit_note", "x")
    }


@pytest.mark.parametrize(
    ("amount", "first", "expected"), [(31000, 4, 4432), (31000, 28, 31000), (-100, 1, -34), (5, 2, 4)]
)
def test_spread_prefix_is_rule_6(amount: int, first: int, expected: int) -> None:
    days = 3 if abs(amount) < 1000 else 28
    assert spread_prefix(amount, days=days, first=first) == expected


def test_split_by_weight_sums_exactly_even_with_negative_weights() -> None:
    assert split_by_weight(1600, [-16000, 32000]) == [-1600, 3200]
    assert split_by_weight(100, [1, 1, 1]) == [34, 33, 33]
    parts = split_by_weight(926, [310, 17, -5, 1])
    assert parts is not None
    assert sum(parts) == 926
    assert split_by_weight(100, [0, 0]) is None
    assert split_by_weight(100, [5, -10]) is None

"""The Stripe connector end to end: the real SDK against a local server replaying tests/fixtures/stripe."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import stripe

from connectors.records import RevenueLineRecord
from connectors.stripe_revenue import StripeFetch, StripeRevenue, make_client
from tests.connectors.stripe_fixture_server import StripeFixtureServer, by_id, load, serve

ACME, BOREALIS, KYOTO = "cus_TmAcmeAnalytics1", "cus_TmBorealisData2", "cus_TmKyotoLensKK03"
DELTA, EVERGREEN, FJORD = "cus_TmDeltaFreight4", "cus_TmEvergreenStd5", "cus_TmFjordLabsAS06"
PAGE = 4  # small pages, so that every list of more than four objects is really paginated


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# The fixtures README's "Revenue items" table, row for row.
README_ITEMS = {
    ("invoice_line", ACME, "il_TmAcmeFeb2026Pro", d(2, 1), d(3, 1), 31000, "usd", "Pro"),
    ("invoice_line", ACME, "il_TmAcmeMar2026Pro", d(3, 1), d(4, 1), 31000, "usd", "Pro"),
    ("invoice_line", ACME, "il_TmAcmeUpgUnusedPro", d(3, 16), d(4, 1), -16000, "usd", "Pro"),
    ("invoice_line", ACME, "il_TmAcmeUpgRemainBiz", d(3, 16), d(4, 1), 32000, "usd", "Business"),
    ("invoice_line", BOREALIS, "il_TmBorealisFeb2026Biz", d(2, 1), d(3, 1), 74400, "eur", "Business"),
    ("invoice_line", BOREALIS, "il_TmBorealisMar2026Biz", d(3, 1), d(4, 1), 74400, "eur", "Business"),
    ("credit_note", BOREALIS, "cnli_TmBorealisSla01:catch_up", d(3, 21), d(3, 22), -8000, "eur", "Business"),
    ("credit_note", BOREALIS, "cnli_TmBorealisSla01:rest", d(3, 21), d(4, 1), -4400, "eur", "Business"),
    ("invoice_line", KYOTO, "il_TmKyotoFeb2026Pro", d(2, 1), d(3, 1), 46500, "jpy", "Pro"),
    ("invoice_line", KYOTO, "il_TmKyotoMar2026Pro", d(3, 1), d(4, 1), 46500, "jpy", "Pro"),
    ("invoice_line", DELTA, "il_TmDeltaAnnual2026Ent", d(1, 15), d(1, 15, 2027), 3650000, "usd", "Enterprise"),
    ("one_off_charge", DELTA, "ch_TmDeltaWorkshop01", d(3, 12), d(3, 13), 150000, "usd", ""),
    ("refund", DELTA, "re_TmDeltaWorkshop01", d(3, 20), d(3, 21), -50000, "usd", ""),
    ("invoice_line", EVERGREEN, "il_TmEvergreenTrialSt", d(3, 25), d(4, 8), 0, "gbp", "Starter"),
    ("invoice_line", FJORD, "il_TmFjordFeb2026Pro", d(2, 10), d(3, 10), 31000, "usd", "Pro"),
}


def row(item: RevenueLineRecord) -> tuple[object, ...]:
    return (
        item.kind,
        item.customer_id,
        item.source_id,
        item.service_start,
        item.service_end,
        item.amount,
        item.currency,
        item.plan,
    )


def fetch(overrides: dict[str, list[dict[str, Any]]] | None = None, **kwargs: Any) -> StripeFetch:
    server = StripeFixtureServer(overrides)
    with serve(server) as base_url:
        return StripeRevenue(make_client("rk_test_fixture", base_url=base_url), page_size=PAGE).fetch_all(**kwargs)


@pytest.fixture(scope="module")
def recorded() -> tuple[StripeFixtureServer, StripeFetch, list[str]]:
    server = StripeFixtureServer()
    progress: list[str] = []
    with serve(server) as base_url:
        client = make_client("rk_test_fixture", base_url=base_url)
        fetched = StripeRevenue(client, page_size=PAGE).fetch_all(on_progress=progress.append)
    return server, fetched, progress


@pytest.fixture(scope="module")
def items(recorded: tuple[StripeFixtureServer, StripeFetch, list[str]]) -> list[RevenueLineRecord]:
    return recorded[1].revenue_lines


def by_source(items: list[RevenueLineRecord]) -> dict[str, RevenueLineRecord]:
    return {item.source_id: item for item in items}


# --- listing -------------------------------------------------------------------------------------------


def test_follows_starting_after_through_every_page(recorded) -> None:
    server = recorded[0]
    invoices = server.requests_to("/v1/invoices")
    assert [q.query.get("starting_after") for q in invoices] == [
        None,
        ["in_TmDeltaWorkshopVoid"],
        ["in_TmFjordFeb2026"],
    ]  # 12 invoices in pages of 4, 4 and 4
    assert all(q.query["limit"] == [str(PAGE)] for q in invoices)
    assert len(server.requests_to("/v1/charges")) == 3  # 11 charges
    assert server.requests_to("/v1/customers")[-1].query["starting_after"] == ["cus_TmBorealisData2"]


def test_lists_canceled_subscriptions_and_expands_balance_transactions(recorded) -> None:
    server = recorded[0]
    assert all(q.query["status"] == ["all"] for q in server.requests_to("/v1/subscriptions"))
    assert all(q.query["expand[0]"] == ["data.balance_transaction"] for q in server.requests_to("/v1/charges"))


def test_never_filters_by_created(recorded) -> None:
    assert not [seen for seen in recorded[0].seen if any(key.startswith("created") for key in seen.query)]


def test_sends_the_key_as_bearer_and_never_sets_the_global_key(recorded) -> None:
    assert {seen.headers["Authorization"] for seen in recorded[0].seen} == {"Bearer rk_test_fixture"}
    assert stripe.api_key is None


def test_reports_progress(recorded) -> None:
    progress = recorded[2]
    assert progress[-1] == "stripe: 6 customers, 15 revenue items"
    assert all(message.startswith("stripe: ") for message in progress)


# --- the README's revenue items --------------------------------------------------------------------------


def test_reproduces_the_readme_revenue_items_table(items) -> None:
    assert len(items) == len(README_ITEMS)
    assert {row(item) for item in items} == README_ITEMS


def test_void_invoice_counts_for_nothing(items) -> None:
    assert "il_TmDeltaWorkshopVoid" not in by_source(items)
    without_void = [inv for inv in load("invoices") if inv["status"] != "void"]
    assert fetch({"invoices": without_void}).revenue_lines == items


def test_draft_invoice_counts_for_nothing(items) -> None:
    invoices = load("invoices")
    draft = copy.deepcopy(by_id(invoices, "in_TmAcmeMar2026"))
    draft.update(id="in_TmAcmeDraft0401", status="draft")
    draft["lines"]["data"][0]["id"] = "il_TmAcmeDraft0401"
    assert fetch({"invoices": [draft, *invoices]}).revenue_lines == items


def test_uncollectible_invoice_counts_for_nothing(items) -> None:
    assert "il_TmFjordMar2026Pro" not in by_source(items)
    assert [item.source_id for item in items if item.customer_id == FJORD] == ["il_TmFjordFeb2026Pro"]


def test_failed_charges_count_for_nothing(items) -> None:
    sources = by_source(items)
    assert "ch_TmFjordMarFail1" not in sources
    assert "ch_TmFjordMarFail2" not in sources


def test_only_succeeded_one_off_charges_count(items) -> None:
    charges = load("charges")
    by_id(charges, "ch_TmFjordMarFail1")["payment_intent"] = "pi_TmFjordCardRetry"  # tied to no invoice
    pending = copy.deepcopy(by_id(charges, "ch_TmDeltaWorkshop01"))  # a bank debit not yet settled
    pending.update(id="ch_TmDeltaAch01", status="pending", payment_intent="pi_TmDeltaAch01", amount_refunded=0)
    assert fetch({"charges": [pending, *charges]}).revenue_lines == items


def test_charges_that_paid_an_invoice_are_not_one_off(items) -> None:
    assert [item.source_id for item in items if item.kind == "one_off_charge"] == ["ch_TmDeltaWorkshop01"]


def test_refund_listed_in_a_credit_note_is_not_counted_again(items) -> None:
    assert "re_TmBorealisCredit01" not in by_source(items)
    borealis = [item.amount for item in items if item.customer_id == BOREALIS]
    assert sum(borealis) == 2 * 74400 - 12400


def test_jpy_is_zero_decimal(items) -> None:
    kyoto = by_source(items)["il_TmKyotoFeb2026Pro"]
    assert (kyoto.amount, kyoto.currency) == (46500, "jpy")  # ¥46,500, not ¥465.00


def test_open_invoice_is_counted(items) -> None:
    march = by_source(items)["il_TmKyotoMar2026Pro"]
    assert (march.amount, march.service_start, march.service_end) == (46500, d(3, 1), d(4, 1))


def test_trial_line_is_a_zero_item_over_the_trial(items) -> None:
    trial = by_source(items)["il_TmEvergreenTrialSt"]
    assert (trial.amount, trial.service_start, trial.service_end, trial.plan) == (0, d(3, 25), d(4, 8), "Starter")


def test_proration_lines_are_ordinary_lines(items) -> None:
    sources = by_source(items)
    unused, remaining = sources["il_TmAcmeUpgUnusedPro"], sources["il_TmAcmeUpgRemainBiz"]
    assert (unused.kind, unused.amount, unused.plan) == ("invoice_line", -16000, "Pro")
    assert (remaining.kind, remaining.amount, remaining.plan) == ("invoice_line", 32000, "Business")
    assert unused.service_start == remaining.service_start == d(3, 16)


def test_exclusive_tax_is_never_revenue_and_discounts_are_netted(items) -> None:
    sources = by_source(items)
    assert sources["il_TmAcmeMar2026Pro"].amount == 31000  # the invoice total is 33480 with 8% tax
    assert sources["il_TmBorealisMar2026Biz"].amount == 93000 - 18600


def test_counted_invoice_lines_sum_to_total_excluding_tax(items) -> None:
    amounts = by_source(items)
    counted = [inv for inv in load("invoices") if inv["status"] in {"paid", "open"}]
    assert len(counted) == 10
    for invoice in counted:
        lines = [amounts[line["id"]].amount for line in invoice["lines"]["data"]]
        assert sum(lines) == invoice["total_excluding_tax"], invoice["id"]


def test_descriptions_come_from_stripe(items) -> None:
    sources = by_source(items)
    assert sources["il_TmAcmeUpgRemainBiz"].description == "Remaining time on Business after 16 Mar 2026"
    assert sources["ch_TmDeltaWorkshop01"].description == "Onboarding workshop (2 days, remote)"


def test_inclusive_tax_is_taken_out() -> None:
    invoices = load("invoices")
    invoice = by_id(invoices, "in_TmFjordFeb2026")
    line = invoice["lines"]["data"][0]
    line["taxes"] = [{"amount": 5167, "tax_behavior": "inclusive", "taxable_amount": 25833, "type": "tax_rate_details"}]
    invoice["total_excluding_tax"] = 31000 - 5167
    fjord = by_source(fetch({"invoices": invoices}).revenue_lines)["il_TmFjordFeb2026Pro"]
    assert fjord.amount == 31000 - 5167


def test_line_without_a_full_day_lands_on_the_finalization_date() -> None:
    invoices = load("invoices")
    workshop = by_id(invoices, "in_TmDeltaWorkshopVoid")
    workshop["status"] = "paid"  # a paid one-off invoice item: its period starts and ends on 5 Mar 10:00
    item = by_source(fetch({"invoices": invoices}).revenue_lines)["il_TmDeltaWorkshopVoid"]
    assert (item.service_start, item.service_end, item.amount, item.plan) == (
        d(3, 5),
        d(3, 6),
        150000,
        "Onboarding workshop",
    )


def test_lists_invoice_lines_beyond_the_embedded_ones(items) -> None:
    invoices = load("invoices")
    upgrade = by_id(invoices, "in_TmAcmeUpgrade0316")
    all_lines = upgrade["lines"]["data"]
    upgrade["lines"].update(data=all_lines[:1], has_more=True)
    server = StripeFixtureServer({"invoices": invoices})
    server.lists["/v1/invoices/in_TmAcmeUpgrade0316/lines"] = all_lines
    with serve(server) as base_url:
        fetched = StripeRevenue(make_client("rk_test_fixture", base_url=base_url), page_size=1).fetch_all()
    assert {row(item) for item in fetched.revenue_lines} == README_ITEMS
    assert len(server.requests_to("/v1/invoices/in_TmAcmeUpgrade0316/lines")) == 2  # pages of one


# --- exchange rates --------------------------------------------------------------------------------------


def test_rates_come_from_the_paying_charge_balance_transaction(items) -> None:
    charges = load("charges")
    pay = by_id(charges, "ch_TmBorealisMar26Pay")
    pay["balance_transaction"] = {
        "id": "txn_TmBorealisMar26Pay",
        "object": "balance_transaction",
        "amount": 81840,
        "currency": "usd",
        "exchange_rate": 1.1,
        "created": pay["created"],
        "status": "available",
        "type": "charge",
    }
    sources = by_source(fetch({"charges": charges}).revenue_lines)
    assert sources["il_TmBorealisMar2026Biz"].rate_to_usd == Decimal("1.1")
    assert sources["cnli_TmBorealisSla01:catch_up"].rate_to_usd == Decimal("1.1")  # the invoice it reduces
    assert sources["cnli_TmBorealisSla01:rest"].rate_to_usd == Decimal("1.1")
    assert sources["il_TmBorealisFeb2026Biz"].rate_to_usd is None  # its charge's transaction not expanded
    assert sources["il_TmKyotoMar2026Pro"].rate_to_usd is None  # open: nothing paid it yet


def test_no_rates_where_stripe_gives_none(items) -> None:
    assert {item.rate_to_usd for item in items} == {None}


# --- customers -------------------------------------------------------------------------------------------


def test_customers_take_tier_segment_region_from_metadata(recorded) -> None:
    customers = {c.customer_id: c for c in recorded[1].customers}
    assert len(customers) == 6
    acme = customers[ACME]
    assert (acme.name, acme.email, acme.source) == ("Acme Analytics Inc.", "billing@acme-analytics.example", "stripe")
    assert {cid: (c.tier, c.segment, c.region) for cid, c in customers.items()} == {
        ACME: ("business", "smb", "na"),
        BOREALIS: ("business", "mid_market", "emea"),
        KYOTO: ("pro", "smb", "apac"),
        DELTA: ("enterprise", "enterprise", "na"),
        EVERGREEN: ("starter", "self_serve", "emea"),
        FJORD: ("pro", "smb", "emea"),
    }
    assert acme.metadata == {"tier": "business", "segment": "smb", "region": "na", "crm_id": "acct-1001"}


def test_customers_fall_back_to_current_plan_and_billing_country() -> None:
    customers = load("customers")
    for customer in customers:
        customer["metadata"] = {"app_customer_id": f"app-{customer['id'][-1]}"}
    fetched = {c.customer_id: c for c in fetch({"customers": customers}).customers}
    assert {cid: (c.tier, c.segment, c.region) for cid, c in fetched.items()} == {
        ACME: ("Business", "", "US"),  # upgraded on 16 Mar: the current price is Business
        BOREALIS: ("Business", "", "DE"),
        KYOTO: ("Pro", "", "JP"),
        DELTA: ("Enterprise", "", "US"),
        EVERGREEN: ("Starter", "", "GB"),  # trialing is current
        FJORD: ("", "", "NO"),  # canceled: no current plan
    }
    assert fetched[ACME].metadata == {"app_customer_id": "app-1"}


def test_metadata_keys_are_settings() -> None:
    customers = load("customers")
    by_id(customers, ACME)["metadata"].update(plan_label="Gold", market="fintech", zone="us-east")
    fetched = fetch({"customers": customers}, tier_key="plan_label", segment_key="market", region_key="zone")
    acme = next(c for c in fetched.customers if c.customer_id == ACME)
    assert (acme.tier, acme.segment, acme.region) == ("Gold", "fintech", "us-east")

"""Stripe objects as real accounts produce them: only the always-present fields, or the nullable ones null.

Each object below carries only the fields stripe-python 16 (API version 2026-10-28.endive) types as not
`Optional` — the fields `stripe/openapi` spec3 lists as `required` and not `nullable` — plus, where a test
says so, optional ones set to null. They go through the real SDK and a local Stripe server, as a sync does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import PayloadError
from connectors.records import RevenueLineRecord
from connectors.stripe_revenue import StripeFetch, StripeRevenue, make_client
from tests.connectors.stripe_fixture_server import LISTS, StripeFixtureServer, serve

ROOT = Path(__file__).resolve().parents[2]
T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
T1 = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
MAR_10 = int(datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp())
MAR_12 = int(datetime(2026, 3, 12, 12, tzinfo=UTC).timestamp())


def fetch(**lists: list[dict[str, Any]]) -> StripeFetch:
    """fetch_all over exactly these lists (every other list empty)."""
    data = {name: lists.get(name, []) for name in LISTS}
    with serve(StripeFixtureServer(data)) as base_url:
        return StripeRevenue(make_client("rk_test_fixture", base_url=base_url), page_size=10).fetch_all()


def lst(*items: dict[str, Any], url: str = "/v1/x") -> dict[str, Any]:
    return {"object": "list", "data": list(items), "has_more": False, "url": url}


def customer(cid: str = "cus_1", **extra: Any) -> dict[str, Any]:
    return {"id": cid, "object": "customer", "created": T0, "livemode": False, **extra}


def line(lid: str = "il_1", *, amount: int = 3100, **extra: Any) -> dict[str, Any]:
    """An invoice line item with only its always-present fields."""
    return {
        "id": lid,
        "object": "line_item",
        "amount": amount,
        "currency": "usd",
        "livemode": False,
        "metadata": {},
        "period": {"start": T0, "end": T1},
        **extra,
    }


def invoice(iid: str = "in_1", *lines: dict[str, Any], total: int = 3100, **extra: Any) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "invoice",
        "created": T0,
        "currency": "usd",
        "livemode": False,
        "status": "paid",
        "customer": "cus_1",
        "total": total,
        "status_transitions": {},
        "lines": lst(*(lines or (line(),)), url=f"/v1/invoices/{iid}/lines"),
        **extra,
    }


def charge(chid: str = "ch_1", *, status: str = "succeeded", captured: int = 1000, **extra: Any) -> dict[str, Any]:
    return {
        "id": chid,
        "object": "charge",
        "amount": 1000,
        "amount_captured": captured,
        "captured": captured > 0,
        "created": MAR_10,
        "currency": "usd",
        "livemode": False,
        "metadata": {},
        "paid": status == "succeeded",
        "refunded": False,
        "status": status,
        **extra,
    }


def refund(rid: str = "re_1", *, charge_id: str | None = "ch_1", amount: int = 400, **extra: Any) -> dict[str, Any]:
    """A card refund: Stripe documents `description` on non-card refunds only, so it is absent here."""
    body = {"id": rid, "object": "refund", "amount": amount, "created": MAR_12, "currency": "usd", **extra}
    body.setdefault("status", "succeeded")
    if charge_id is not None:
        body["charge"] = charge_id
    return body


def credit_note(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "cn_1",
        "object": "credit_note",
        "amount": 500,
        "created": MAR_12,
        "currency": "usd",
        "customer": "cus_1",
        "invoice": "in_1",
        "livemode": False,
        "number": "CN-1",
        "refunds": [],
        "status": "issued",
        "total": 500,
        "type": "post_payment",
        "discount_amounts": [],
        "pretax_credit_amounts": [],
        "lines": lst(*lines, url="/v1/credit_notes/cn_1/lines"),
        **extra,
    }


def by_kind(items: list[RevenueLineRecord], kind: str) -> list[RevenueLineRecord]:
    return [item for item in items if item.kind == kind]


# --- the four Stripe cases of issue 12 ---------------------------------------------------------------


def test_a_card_refund_without_description_is_read() -> None:
    fetched = fetch(charges=[charge()], refunds=[refund()])
    (item,) = by_kind(fetched.revenue_lines, "refund")
    assert (item.customer_id, item.amount, item.description, item.service_start) == ("", -400, "", date(2026, 3, 12))


def test_a_card_refund_without_description_takes_its_reason() -> None:
    fetched = fetch(charges=[charge(customer="cus_1")], refunds=[refund(reason="requested_by_customer")])
    (item,) = by_kind(fetched.revenue_lines, "refund")
    assert (item.customer_id, item.amount, item.description) == ("cus_1", -400, "requested_by_customer")


def test_a_customer_with_null_name_and_no_business_name() -> None:
    fetched = fetch(customers=[customer(name=None, email="ops@acme.test")])
    (record,) = fetched.customers
    assert (record.customer_id, record.name, record.email) == ("cus_1", "", "ops@acme.test")


def test_a_custom_credit_note_line_without_invoice_line_item_is_credited_on_its_date() -> None:
    custom = {
        "id": "cnli_1",
        "object": "credit_note_line_item",
        "amount": 500,
        "type": "custom_line_item",
        "livemode": False,
        "discount_amounts": [],
        "pretax_credit_amounts": [],
        "description": "Goodwill credit",
    }
    fetched = fetch(invoices=[invoice()], credit_notes=[credit_note(custom)])
    (item,) = by_kind(fetched.revenue_lines, "credit_note")
    assert (item.source_id, item.customer_id, item.amount, item.service_start, item.service_end) == (
        "cnli_1",
        "cus_1",
        -500,
        date(2026, 3, 12),
        date(2026, 3, 13),
    )
    assert item.description == "Goodwill credit"


def test_an_invoice_line_whose_pricing_has_no_price_details() -> None:
    fetched = fetch(invoices=[invoice("in_1", line(pricing={"type": "price_details"}))])
    (item,) = by_kind(fetched.revenue_lines, "invoice_line")
    assert (item.amount, item.plan, item.service_start, item.service_end) == (
        3100,
        "",
        date(2026, 3, 1),
        date(2026, 4, 1),
    )


# --- refunds of charges that counted nothing ----------------------------------------------------------


def test_a_refund_of_a_never_captured_charge_counts_nothing() -> None:
    uncaptured = charge(captured=0, customer="cus_1")
    fetched = fetch(charges=[uncaptured], refunds=[refund(amount=1000, reason="expired_uncaptured_charge")])
    assert fetched.revenue_lines == []


def test_a_refund_of_a_failed_charge_counts_nothing() -> None:
    fetched = fetch(charges=[charge(status="failed", captured=0)], refunds=[refund()])
    assert fetched.revenue_lines == []


def test_a_refund_without_a_charge_counts_nothing() -> None:
    fetched = fetch(refunds=[refund(charge_id=None, payment_intent=None)])
    assert fetched.revenue_lines == []


def test_a_refund_of_a_counted_one_off_charge_still_counts() -> None:
    fetched = fetch(charges=[charge(customer="cus_1")], refunds=[refund()])
    assert [(i.kind, i.customer_id, i.amount) for i in fetched.revenue_lines] == [
        ("one_off_charge", "cus_1", 1000),
        ("refund", "cus_1", -400),
    ]


# --- minimal objects and nullable fields null ---------------------------------------------------------


def test_minimal_objects_of_every_list_give_the_right_records() -> None:
    """Only always-present fields: no name, email, address, metadata, description, pricing, taxes…"""
    product = {"id": "prod_1", "object": "product", "name": "Pro", "created": T0, "livemode": False}
    sub = {
        "id": "sub_1",
        "object": "subscription",
        "created": T0,
        "currency": "usd",
        "customer": "cus_1",
        "livemode": False,
        "metadata": {},
        "status": "active",
        "items": lst(
            {
                "id": "si_1",
                "object": "subscription_item",
                "created": T0,
                "metadata": {},
                "price": {"id": "price_1", "object": "price", "product": "prod_1", "currency": "usd"},
            }
        ),
    }
    payment = {
        "id": "inpay_1",
        "object": "invoice_payment",
        "created": T0,
        "currency": "usd",
        "invoice": "in_1",
        "status": "paid",
        "payment": {"type": "charge", "charge": "ch_inv"},
        "status_transitions": {},
    }
    fetched = fetch(
        products=[product],
        customers=[customer()],
        subscriptions=[sub],
        invoices=[invoice()],
        invoice_payments=[payment],
        charges=[charge("ch_inv", captured=3100), charge("ch_2")],
    )
    (record,) = fetched.customers
    assert (record.customer_id, record.name, record.email, record.tier, record.region, record.metadata) == (
        "cus_1",
        "",
        "",
        "Pro",
        "",
        {},
    )
    assert [(i.kind, i.source_id, i.customer_id, i.amount, i.description) for i in fetched.revenue_lines] == [
        ("invoice_line", "il_1", "cus_1", 3100, ""),
        ("one_off_charge", "ch_2", "", 1000, ""),
    ]


def test_nullable_fields_null_give_the_right_records() -> None:
    nulls: dict[str, Any] = dict.fromkeys(
        ("description", "pricing", "taxes", "discount_amounts", "pretax_credit_amounts")
    )
    inv = invoice(
        "in_1",
        line(**nulls),
        customer=None,
        effective_at=None,
        total_excluding_tax=None,
        status_transitions={"finalized_at": None},
    )
    chg = charge(customer=None, payment_intent=None, balance_transaction=None, description=None)
    ref = refund(description=None, reason=None, payment_intent=None, balance_transaction=None)
    cust = customer(name=None, business_name=None, email=None, address=None, metadata=None, description=None)
    fetched = fetch(customers=[cust], invoices=[inv], charges=[chg], refunds=[ref])
    assert fetched.customers[0].name == ""
    assert [(i.kind, i.customer_id, i.amount, i.plan, i.description, i.rate_to_usd) for i in fetched.revenue_lines] == [
        ("invoice_line", "", 3100, "", "", None),
        ("one_off_charge", "", 1000, "", "", None),
        ("refund", "", -400, "", "", None),
    ]


def test_a_one_day_line_with_finalized_at_null_falls_back_to_the_invoice_date() -> None:
    same_day = line(period={"start": MAR_10, "end": MAR_10})
    fetched = fetch(invoices=[invoice("in_1", same_day, effective_at=None, status_transitions={"finalized_at": None})])
    (item,) = fetched.revenue_lines
    assert (item.service_start, item.service_end) == (date(2026, 3, 1), date(2026, 3, 2))


def test_a_one_day_line_of_a_minimal_invoice_uses_its_created_date() -> None:
    """No `effective_at` and no `finalized_at` at all (both optional): the invoice's `created` day."""
    same_day = line(period={"start": MAR_10, "end": MAR_10})
    (item,) = fetch(invoices=[invoice("in_1", same_day)]).revenue_lines
    assert (item.service_start, item.service_end) == (date(2026, 3, 1), date(2026, 3, 2))


def test_a_null_address_country_and_an_invoice_status_null_are_read() -> None:
    draft_without_status = invoice("in_2", status=None)
    fetched = fetch(customers=[customer(address={"country": None})], invoices=[draft_without_status])
    assert fetched.customers[0].region == ""
    assert fetched.revenue_lines == []  # an invoice without a status counts for nothing


# --- errors name the object, its id and the field -----------------------------------------------------


def test_a_missing_always_present_field_names_object_id_and_field() -> None:
    broken = line("il_broken")
    del broken["period"]
    with pytest.raises(PayloadError) as caught:
        fetch(invoices=[invoice("in_9", broken)])
    message = str(caught.value)
    assert "invoice line il_broken" in message
    assert "invoice in_9" in message
    assert "field period" in message
    assert "pinned" not in message and "version" not in message
    assert "sync again" in message


def test_a_charge_without_status_names_the_charge() -> None:
    broken = charge("ch_broken")
    del broken["status"]
    with pytest.raises(PayloadError, match=r"stripe charge ch_broken: field status is missing"):
        fetch(charges=[broken])


@pytest.mark.parametrize("name", ["customers", "invoices", "charges", "refunds", "credit_notes"])
def test_an_empty_account_gives_no_records(name: str) -> None:
    fetched = fetch(**{name: []})
    assert (fetched.customers, fetched.revenue_lines) == ([], [])


def test_the_version_hint_appears_only_when_the_package_is_not_the_pinned_major(monkeypatch) -> None:
    import re

    import stripe

    from connectors import _stripe_fields

    pin = (ROOT / "requirements.txt").read_text()
    assert re.search(rf"^stripe>={_stripe_fields.PINNED_MAJOR}\.\d+,<{_stripe_fields.PINNED_MAJOR + 1}$", pin, re.M)
    assert _stripe_fields.version_hint() == ""
    monkeypatch.setattr(stripe, "VERSION", "15.2.0")
    assert "the installed stripe package is 15.2.0, not the 16.x" in _stripe_fields.version_hint()

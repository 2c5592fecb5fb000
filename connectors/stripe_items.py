"""Stripe objects → revenue items, by the rules of tests/fixtures/stripe/README.md (1–5) and rules §4.3.

Pure: no I/O. Items are not spread over days here; the engine does that (rule 6). Every field that
stripe-python types `Optional` (nullable or not always present in the API reference) is read with
`optional()`; the others inside `reading()`, so a missing one names the object, its id and the field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

import stripe

from connectors._stripe_fields import optional, optional_text, reading
from connectors.records import RevenueLineRecord
from connectors.stripe_credits import ONE_DAY, credit_against, split_by_weight

logger = logging.getLogger(__name__)

COUNTED_INVOICES = frozenset({"paid", "open"})  # draft, void and uncollectible count for nothing
COUNTED_REFUNDS = frozenset({"succeeded", "pending"})


class _Amount(Protocol):
    @property
    def amount(self) -> int: ...


class _Tax(Protocol):
    @property
    def amount(self) -> int: ...
    @property
    def tax_behavior(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StripeSnapshot:
    """Every Stripe object revenue recognition needs, each list fetched in full."""

    products: Mapping[str, str]  # product id -> name
    invoices: Sequence[stripe.Invoice]
    invoice_lines: Mapping[str, Sequence[stripe.InvoiceLineItem]]  # all lines, where `lines` was cut short
    invoice_payments: Sequence[stripe.InvoicePayment]
    credit_notes: Sequence[stripe.CreditNote]
    credit_note_lines: Mapping[str, Sequence[stripe.CreditNoteLineItem]]
    charges: Sequence[stripe.Charge]
    refunds: Sequence[stripe.Refund]


def build_revenue_lines(snapshot: StripeSnapshot) -> list[RevenueLineRecord]:
    """Every revenue item of the account: counted invoice lines, credits, one-off charges, refunds."""
    payments = _Payments(snapshot)
    counted = {inv.id: inv for inv in snapshot.invoices if optional(inv, "status") in COUNTED_INVOICES}
    items: list[RevenueLineRecord] = []
    by_invoice: dict[str, list[RevenueLineRecord]] = {}
    for invoice in counted.values():
        rate = payments.invoice_rate(invoice.id)
        with reading("invoice", invoice):
            lines = snapshot.invoice_lines.get(invoice.id, invoice.lines.data)
        by_invoice[invoice.id] = [_invoice_line(invoice, line, products=snapshot.products, rate=rate) for line in lines]
        _check_total(invoice, by_invoice[invoice.id])
        items.extend(by_invoice[invoice.id])
    by_line = {item.source_id: item for lines in by_invoice.values() for item in lines}

    covered_refunds: set[str] = set()
    for note in snapshot.credit_notes:
        with reading("credit note", note):
            if note.status != "issued" or ref_id(note.invoice) not in counted:
                continue
            covered_refunds.update(ref_id(optional(ref, "refund")) for ref in optional(note, "refunds") or [])
            covered_refunds.discard("")
            note_lines = snapshot.credit_note_lines.get(note.id, note.lines.data)
            rate = payments.invoice_rate(ref_id(note.invoice))
        items.extend(_credit_note_items(note, note_lines, by_line=by_line, rate=rate))

    for charge in snapshot.charges:
        if payments.counts_as_one_off(charge):
            items.append(_one_off_charge(charge, rate=payments.charge_rate(charge)))

    for refund in snapshot.refunds:
        if optional(refund, "status") in COUNTED_REFUNDS and refund.id not in covered_refunds:
            items.extend(_refund_items(refund, payments=payments, counted=counted, by_invoice=by_invoice))
    return items


class _Payments:
    """Which invoice each charge paid (via invoice_payments) and the rate each charge settled at."""

    def __init__(self, snapshot: StripeSnapshot) -> None:
        self._charges = {charge.id: charge for charge in snapshot.charges}
        self._by_intent: dict[str, stripe.Charge] = {}
        for charge in snapshot.charges:
            with reading("charge", charge):
                if charge.status == "succeeded" and (intent := ref_id(optional(charge, "payment_intent"))):
                    self._by_intent[intent] = charge
        self._invoice_by_payment: dict[str, str] = {}
        self._paying: dict[str, stripe.Charge] = {}
        for row in snapshot.invoice_payments:
            ref = _payment_ref(row)
            if not ref:
                continue
            with reading("invoice payment", row):
                invoice_id, status = ref_id(row.invoice), row.status
            # Rule 4: any row, whatever its status, ties the payment to an invoice.
            self._invoice_by_payment.setdefault(ref, invoice_id)
            paying = self._charges.get(ref) or self._by_intent.get(ref)
            if status == "paid" and paying is not None:
                self._paying.setdefault(invoice_id, paying)

    def charge(self, charge_id: str) -> stripe.Charge | None:
        """The listed charge with this id."""
        return self._charges.get(charge_id)

    def invoice_of(self, charge: stripe.Charge | None, *, payment_intent: str = "") -> str | None:
        """The invoice a charge (or, for a refund without one, a PaymentIntent) paid or tried to pay."""
        if charge is not None:
            payment_intent = ref_id(optional(charge, "payment_intent"))
            by_charge = self._invoice_by_payment.get(charge.id)
            if by_charge:
                return by_charge
        return self._invoice_by_payment.get(payment_intent) if payment_intent else None

    def counts_as_one_off(self, charge: stripe.Charge | None) -> bool:
        """Rule 4: a succeeded, captured charge that paid no invoice is revenue of its own."""
        if charge is None:
            return False
        with reading("charge", charge):
            captured = charge.status == "succeeded" and bool(charge.amount_captured)
        return captured and self.invoice_of(charge) is None

    def invoice_rate(self, invoice_id: str) -> Decimal | None:
        """The rate of the charge that paid the invoice (None for an open invoice)."""
        charge = self._paying.get(invoice_id)
        return None if charge is None else self.charge_rate(charge)

    @staticmethod
    def charge_rate(charge: stripe.Charge | None) -> Decimal | None:
        """USD per unit of the charge's currency, where its balance transaction was expanded and is in USD."""
        txn = optional(charge, "balance_transaction")
        if txn is None or isinstance(txn, str) or optional(txn, "currency") != "usd":
            return None
        rate = optional(txn, "exchange_rate")
        return None if rate is None else Decimal(str(rate))  # str() keeps 1.1 from becoming 1.100000000000000088…


def _invoice_line(
    invoice: stripe.Invoice,
    line: stripe.InvoiceLineItem,
    *,
    products: Mapping[str, str],
    rate: Decimal | None,
) -> RevenueLineRecord:
    """Rule 2: a line net of credits and inclusive tax over its service days, or one day if it has none."""
    with reading("invoice line", line, within=f"invoice {invoice.id}"):
        start, end = _day(line.period.start), _day(line.period.end)
        currency = line.currency
        amount = _net(
            line.amount,
            optional(line, "pretax_credit_amounts"),
            optional(line, "discount_amounts"),
            optional(line, "taxes"),
        )
    if start >= end:
        with reading("invoice", invoice):
            finalized = optional(optional(invoice, "status_transitions"), "finalized_at")
            moments = finalized, optional(invoice, "effective_at")
            start = _day(next((moment for moment in moments if moment), invoice.created))
        end = start + ONE_DAY
    # `pricing` is null on lines without a price, and its `price_details` absent when it is not a price.
    details = optional(optional(line, "pricing"), "price_details")
    product = ref_id(optional(details, "product"))
    return RevenueLineRecord(
        kind="invoice_line",
        customer_id=ref_id(optional(invoice, "customer")),
        source_id=line.id,
        service_start=start,
        service_end=end,
        amount=amount,
        currency=currency,
        plan=products.get(product, product),
        description=optional_text(line, "description"),
        rate_to_usd=rate,
    )


def _credit_note_items(
    note: stripe.CreditNote,
    lines: Sequence[stripe.CreditNoteLineItem],
    *,
    by_line: Mapping[str, RevenueLineRecord],
    rate: Decimal | None,
) -> list[RevenueLineRecord]:
    """Rule 3: each credit note line against its invoice line; a custom line on the effective date."""
    with reading("credit note", note):
        effective = _day(optional(note, "effective_at") or note.created)
        customer_id, currency = ref_id(note.customer), note.currency
    items: list[RevenueLineRecord] = []
    for cn_line in lines:
        with reading("credit note line", cn_line, within=f"credit note {note.id}"):
            credit = _net(
                cn_line.amount,
                optional(cn_line, "pretax_credit_amounts"),
                optional(cn_line, "discount_amounts"),
                optional(cn_line, "taxes"),
            )
        description = optional_text(cn_line, "description") or optional_text(note, "memo")
        # A `custom_line_item` line has no `invoice_line_item` at all: it is credited on the effective date.
        credited = by_line.get(optional_text(cn_line, "invoice_line_item"))
        if credited is not None:
            items.extend(
                credit_against(
                    credited,
                    credit=credit,
                    effective=effective,
                    kind="credit_note",
                    source_id=cn_line.id,
                    description=description,
                )
            )
            continue
        if optional(cn_line, "type") == "invoice_line_item":
            logger.warning("stripe credit note %s: line %s not found, credited on its date", note.id, cn_line.id)
        if credit:
            items.append(
                _one_day_item(
                    "credit_note", cn_line.id, customer_id, effective, -credit, currency, description, rate=rate
                )
            )
    return items


def _one_off_charge(charge: stripe.Charge, *, rate: Decimal | None) -> RevenueLineRecord:
    """Rule 4: a succeeded charge that paid no invoice, on the day it was made."""
    with reading("charge", charge):
        day, amount, currency = _day(charge.created), charge.amount_captured, charge.currency
    customer_id, description = ref_id(optional(charge, "customer")), optional_text(charge, "description")
    return _one_day_item("one_off_charge", charge.id, customer_id, day, amount, currency, description, rate=rate)


def _refund_items(
    refund: stripe.Refund,
    *,
    payments: _Payments,
    counted: Mapping[str, stripe.Invoice],
    by_invoice: Mapping[str, Sequence[RevenueLineRecord]],
) -> list[RevenueLineRecord]:
    """Rule 5: a refund no credit note covers; on an invoice charge, a credit for its tax-exclusive share.

    Only money that counted can be returned: a refund of a charge that was never counted (failed, never
    captured, or not among the listed charges) and of an invoice that does not count is nothing.
    """
    with reading("refund", refund):
        day, amount, currency = _day(refund.created), refund.amount, refund.currency
    # A card refund has no `description`; `charge`, `payment_intent` and `reason` may be null too.
    charge = payments.charge(ref_id(optional(refund, "charge")))
    invoice_id = payments.invoice_of(charge, payment_intent=ref_id(optional(refund, "payment_intent")))
    description = optional_text(refund, "description") or optional_text(refund, "reason")
    if invoice_id is None:
        if not payments.counts_as_one_off(charge):
            logger.info("stripe refund %s: its charge counted for nothing, so the refund does too", refund.id)
            return []
        customer = ref_id(optional(charge, "customer")) or ref_id(optional(refund, "customer"))
        rate = payments.charge_rate(charge)
        return [_one_day_item("refund", refund.id, customer, day, -amount, currency, description, rate=rate)]
    invoice = counted.get(invoice_id)
    with reading("invoice", invoice):
        total = 0 if invoice is None else invoice.total
    if invoice is None or not total:
        return []  # its invoice counts for nothing, so neither does money returned on it
    excluding = optional(invoice, "total_excluding_tax")
    excluding_tax = total if excluding is None else excluding
    share = round(Fraction(amount * excluding_tax, total))  # half-even
    lines = by_invoice.get(invoice_id, [])
    parts = split_by_weight(share, [line.amount for line in lines])
    if parts is None:
        logger.warning("stripe refund %s: invoice %s has no positive lines, refunded on its day", refund.id, invoice_id)
        rate, customer = payments.invoice_rate(invoice_id), ref_id(optional(invoice, "customer"))
        return [_one_day_item("refund", refund.id, customer, day, -share, currency, description, rate=rate)]
    items: list[RevenueLineRecord] = []
    for line, part in zip(lines, parts, strict=True):
        items.extend(
            credit_against(
                line,
                credit=part,
                effective=day,
                kind="refund",
                source_id=f"{refund.id}:{line.source_id}",
                description=description,
            )
        )
    return items


def _one_day_item(
    kind: str,
    source_id: str,
    customer_id: str,
    day: date,
    amount: int,
    currency: str,
    description: str,
    *,
    rate: Decimal | None,
) -> RevenueLineRecord:
    """A revenue line recognised on one day (rules 3-5: custom credit-note lines, one-off charges, refunds)."""
    return RevenueLineRecord(
        kind=kind,
        customer_id=customer_id,
        source_id=source_id,
        service_start=day,
        service_end=day + ONE_DAY,
        amount=amount,
        currency=currency,
        description=description,
        rate_to_usd=rate,
    )


def _check_total(invoice: stripe.Invoice, items: Sequence[RevenueLineRecord]) -> None:
    """Rule 2's check: the lines of a counted invoice add up to its total excluding tax."""
    total = sum(item.amount for item in items)
    expected = optional(invoice, "total_excluding_tax")
    if expected is not None and total != expected:
        logger.warning("stripe invoice %s: lines sum to %d, total_excluding_tax is %d", invoice.id, total, expected)


def _net(
    amount: int,
    pretax_credits: Sequence[_Amount] | None,
    discounts: Sequence[_Amount] | None,
    taxes: Sequence[_Tax] | None,
) -> int:
    """Amount net of pre-tax credits (discounts where Stripe gives no credits) and inclusive tax."""
    credits = pretax_credits if pretax_credits is not None else discounts or []
    inclusive = sum(tax.amount for tax in taxes or [] if tax.tax_behavior == "inclusive")
    return amount - sum(credit.amount for credit in credits) - inclusive


def _payment_ref(row: stripe.InvoicePayment) -> str:
    """The PaymentIntent or charge id behind an invoice payment row ('' for out-of-band records)."""
    payment = optional(row, "payment")
    return ref_id(optional(payment, "payment_intent")) or ref_id(optional(payment, "charge"))


def ref_id(ref: str | stripe.StripeObject | None) -> str:
    """The id of an expandable field, whether Stripe sent the id or the object."""
    if ref is None or isinstance(ref, str):
        return ref or ""
    return str(getattr(ref, "id", ""))


def _day(timestamp: int) -> date:
    """The UTC date of a Unix timestamp."""
    return datetime.fromtimestamp(timestamp, UTC).date()

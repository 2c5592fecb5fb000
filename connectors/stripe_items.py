"""Stripe objects → revenue items, by the rules of tests/fixtures/stripe/README.md (1–5) and DESIGN §4.3.

Pure: no I/O. Items are not spread over days here; the engine does that (rule 6).
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
    counted = {inv.id: inv for inv in snapshot.invoices if inv.status in COUNTED_INVOICES}
    items: list[RevenueLineRecord] = []
    by_invoice: dict[str, list[RevenueLineRecord]] = {}
    for invoice in counted.values():
        rate = payments.invoice_rate(invoice.id)
        lines = snapshot.invoice_lines.get(invoice.id, invoice.lines.data)
        by_invoice[invoice.id] = [_invoice_line(invoice, line, products=snapshot.products, rate=rate) for line in lines]
        _check_total(invoice, by_invoice[invoice.id])
        items.extend(by_invoice[invoice.id])
    by_line = {item.source_id: item for lines in by_invoice.values() for item in lines}

    covered_refunds: set[str] = set()
    for note in snapshot.credit_notes:
        if note.status != "issued" or ref_id(note.invoice) not in counted:
            continue
        covered_refunds.update(ref_id(ref.refund) for ref in note.refunds or [] if ref.refund)
        note_lines = snapshot.credit_note_lines.get(note.id, note.lines.data)
        rate = payments.invoice_rate(ref_id(note.invoice))
        items.extend(_credit_note_items(note, note_lines, by_line=by_line, rate=rate))

    for charge in snapshot.charges:
        if charge.status == "succeeded" and payments.invoice_of(charge) is None and charge.amount_captured:
            items.append(_one_off_charge(charge, rate=payments.charge_rate(charge)))

    for refund in snapshot.refunds:
        if refund.status in COUNTED_REFUNDS and refund.id not in covered_refunds:
            items.extend(_refund_items(refund, payments=payments, counted=counted, by_invoice=by_invoice))
    return items


class _Payments:
    """Which invoice each charge paid (via invoice_payments) and the rate each charge settled at."""

    def __init__(self, snapshot: StripeSnapshot) -> None:
        self._charges = {charge.id: charge for charge in snapshot.charges}
        self._by_intent = {
            intent: charge
            for charge in snapshot.charges
            if charge.status == "succeeded" and (intent := ref_id(charge.payment_intent))
        }
        self._invoice_by_payment: dict[str, str] = {}
        self._paying: dict[str, stripe.Charge] = {}
        for row in snapshot.invoice_payments:
            ref = _payment_ref(row)
            if not ref:
                continue
            # Rule 4: any row, whatever its status, ties the payment to an invoice.
            self._invoice_by_payment.setdefault(ref, ref_id(row.invoice))
            charge = self._charges.get(ref) or self._by_intent.get(ref)
            if row.status == "paid" and charge is not None:
                self._paying.setdefault(ref_id(row.invoice), charge)

    def charge(self, charge_id: str) -> stripe.Charge | None:
        """The listed charge with this id."""
        return self._charges.get(charge_id)

    def invoice_of(self, charge: stripe.Charge | None, *, payment_intent: str = "") -> str | None:
        """The invoice a charge (or, for a refund without one, a PaymentIntent) paid or tried to pay."""
        if charge is not None:
            payment_intent = ref_id(charge.payment_intent)
            by_charge = self._invoice_by_payment.get(charge.id)
            if by_charge:
                return by_charge
        return self._invoice_by_payment.get(payment_intent) if payment_intent else None

    def invoice_rate(self, invoice_id: str) -> Decimal | None:
        """The rate of the charge that paid the invoice (None for an open invoice)."""
        charge = self._paying.get(invoice_id)
        return None if charge is None else self.charge_rate(charge)

    @staticmethod
    def charge_rate(charge: stripe.Charge | None) -> Decimal | None:
        """USD per unit of the charge's currency, where its balance transaction was expanded and is in USD."""
        txn = None if charge is None else charge.balance_transaction
        if txn is None or isinstance(txn, str) or txn.currency != "usd" or txn.exchange_rate is None:
            return None
        return Decimal(str(txn.exchange_rate))  # str() keeps 1.1 from becoming 1.100000000000000088…


def _invoice_line(
    invoice: stripe.Invoice,
    line: stripe.InvoiceLineItem,
    *,
    products: Mapping[str, str],
    rate: Decimal | None,
) -> RevenueLineRecord:
    """Rule 2: a line net of credits and inclusive tax over its service days, or one day if it has none."""
    start, end = _day(line.period.start), _day(line.period.end)
    if start >= end:
        moments = invoice.status_transitions.finalized_at, invoice.effective_at, invoice.created
        start = _day(next(moment for moment in moments if moment))
        end = start + ONE_DAY
    product = line.pricing.price_details.product if line.pricing and line.pricing.price_details else ""
    return RevenueLineRecord(
        kind="invoice_line",
        customer_id=ref_id(invoice.customer),
        source_id=line.id,
        service_start=start,
        service_end=end,
        amount=_net(line.amount, line.pretax_credit_amounts, line.discount_amounts, line.taxes),
        currency=line.currency,
        plan=products.get(product, product),
        description=line.description or "",
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
    effective = _day(note.effective_at or note.created)
    items: list[RevenueLineRecord] = []
    for cn_line in lines:
        credit = _net(cn_line.amount, cn_line.pretax_credit_amounts, cn_line.discount_amounts, cn_line.taxes)
        description = cn_line.description or note.memo or ""
        credited = by_line.get(cn_line.invoice_line_item or "")
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
        if cn_line.type == "invoice_line_item":
            logger.warning("stripe credit note %s: line %s not found, credited on its date", note.id, cn_line.id)
        if credit:
            items.append(
                RevenueLineRecord(
                    kind="credit_note",
                    customer_id=ref_id(note.customer),
                    source_id=cn_line.id,
                    service_start=effective,
                    service_end=effective + ONE_DAY,
                    amount=-credit,
                    currency=note.currency,
                    description=description,
                    rate_to_usd=rate,
                )
            )
    return items


def _one_off_charge(charge: stripe.Charge, *, rate: Decimal | None) -> RevenueLineRecord:
    """Rule 4: a succeeded charge that paid no invoice, on the day it was made."""
    day = _day(charge.created)
    return RevenueLineRecord(
        kind="one_off_charge",
        customer_id=ref_id(charge.customer),
        source_id=charge.id,
        service_start=day,
        service_end=day + ONE_DAY,
        amount=charge.amount_captured,
        currency=charge.currency,
        description=charge.description or "",
        rate_to_usd=rate,
    )


def _refund_items(
    refund: stripe.Refund,
    *,
    payments: _Payments,
    counted: Mapping[str, stripe.Invoice],
    by_invoice: Mapping[str, Sequence[RevenueLineRecord]],
) -> list[RevenueLineRecord]:
    """Rule 5: a refund no credit note covers; on an invoice charge, a credit for its tax-exclusive share."""
    day = _day(refund.created)
    charge = payments.charge(ref_id(refund.charge))
    invoice_id = payments.invoice_of(charge, payment_intent=ref_id(refund.payment_intent))
    description = refund.description or refund.reason or ""
    if invoice_id is None:
        customer = ref_id(charge.customer) if charge is not None else ""
        return [
            RevenueLineRecord(
                kind="refund",
                customer_id=customer or ref_id(refund.customer),
                source_id=refund.id,
                service_start=day,
                service_end=day + ONE_DAY,
                amount=-refund.amount,
                currency=refund.currency,
                description=description,
                rate_to_usd=payments.charge_rate(charge),
            )
        ]
    invoice = counted.get(invoice_id)
    if invoice is None or not invoice.total:
        return []  # its invoice counts for nothing, so neither does money returned on it
    excluding_tax = invoice.total if invoice.total_excluding_tax is None else invoice.total_excluding_tax
    share = round(Fraction(refund.amount * excluding_tax, invoice.total))  # half-even
    lines = by_invoice.get(invoice_id, [])
    parts = split_by_weight(share, [line.amount for line in lines])
    if parts is None:
        logger.warning("stripe refund %s: invoice %s has no positive lines, refunded on its day", refund.id, invoice_id)
        rate = payments.invoice_rate(invoice_id)
        return [
            RevenueLineRecord(
                kind="refund",
                customer_id=ref_id(invoice.customer),
                source_id=refund.id,
                service_start=day,
                service_end=day + ONE_DAY,
                amount=-share,
                currency=refund.currency,
                description=description,
                rate_to_usd=rate,
            )
        ]
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


def _check_total(invoice: stripe.Invoice, items: Sequence[RevenueLineRecord]) -> None:
    """Rule 2's check: the lines of a counted invoice add up to its total excluding tax."""
    total = sum(item.amount for item in items)
    if invoice.total_excluding_tax is not None and total != invoice.total_excluding_tax:
        logger.warning(
            "stripe invoice %s: lines sum to %d, total_excluding_tax is %d",
            invoice.id,
            total,
            invoice.total_excluding_tax,
        )


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
    payment = row.payment
    return ref_id(getattr(payment, "payment_intent", None)) or ref_id(getattr(payment, "charge", None))


def ref_id(ref: str | stripe.StripeObject | None) -> str:
    """The id of an expandable field, whether Stripe sent the id or the object."""
    if ref is None or isinstance(ref, str):
        return ref or ""
    return str(getattr(ref, "id", ""))


def _day(timestamp: int) -> date:
    """The UTC date of a Unix timestamp."""
    return datetime.fromtimestamp(timestamp, UTC).date()

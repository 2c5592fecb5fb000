"""Stripe: customers and revenue items of one account, re-listed in full on every sync (rules §5).

Invoices change status long after they are created (open → paid, void, uncollectible) and an annual
invoice from last year still earns revenue today, so nothing is filtered by `created`.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import stripe

from connectors._http import DeadlineTransport
from connectors._stripe_calls import KEY_HINT, PROVIDER, Sleep, call_with_backoff, iter_list
from connectors._stripe_fields import optional, reading, version_hint
from connectors.errors import AuthError, PayloadError
from connectors.records import CustomerRecord, RevenueLineRecord
from connectors.stripe_customers import build_customers
from connectors.stripe_items import COUNTED_INVOICES, StripeSnapshot, build_revenue_lines

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.stripe.com"
PAGE_SIZE = 100  # Stripe's maximum `limit`
_KEY_FORMAT = re.compile(r"(rk|sk)_(live|test)_[A-Za-z0-9]+")

Progress = Callable[[str], None] | None


def make_client(api_key: str, *, base_url: str = DEFAULT_BASE_URL) -> stripe.StripeClient:
    """A Stripe client of its own for `api_key` (never the global `stripe.api_key`), over httpx."""
    http_client = stripe.HTTPXClient(allow_sync_methods=True)
    # The overall deadline of rules §7 on every Stripe request, as on the other providers' (connectors/_http.py):
    # the SDK's own client, with the same TLS settings, over a DeadlineTransport.
    verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
    http_client._client = httpx.Client(verify=verify, transport=DeadlineTransport(httpx.HTTPTransport(verify=verify)))
    return stripe.StripeClient(
        api_key,
        http_client=http_client,
        max_network_retries=2,
        base_addresses={"api": base_url},
    )


def validate_key_format(api_key: str) -> None:
    """Accept a restricted key (`rk_live_…`, `rk_test_…`, recommended) or a secret key (`sk_…`)."""
    if _KEY_FORMAT.fullmatch(api_key):
        return
    if api_key.startswith("pk_"):
        problem = "a publishable key (pk_…) cannot read invoices"
    elif api_key != api_key.strip():
        problem = "the key has spaces or a line break around it"
    else:
        problem = "this is not a Stripe secret or restricted key"
    raise AuthError(f"stripe: {problem}; {KEY_HINT}.", provider=PROVIDER)


@dataclass(frozen=True, slots=True)
class StripeFetch:
    """Everything one Stripe sync fetched: all customers and all revenue items of the account."""

    customers: list[CustomerRecord]
    revenue_lines: list[RevenueLineRecord]


class StripeRevenue:
    """Lists a Stripe account through an injected client; `fetch_all` turns it into records."""

    def __init__(self, client: stripe.StripeClient, *, page_size: int = PAGE_SIZE, sleep: Sleep = time.sleep) -> None:
        self._client = client  # make_client(key, base_url=MARGIN_STRIPE_BASE_URL)
        self._page_size = page_size
        self._sleep = sleep

    def test_key(self) -> None:
        """One cheap call that proves the key is accepted and may read customers."""
        call_with_backoff(lambda: self._client.v1.customers.list({"limit": 1}), endpoint="customers", sleep=self._sleep)

    def iter_customers(self) -> Iterator[stripe.Customer]:
        """Yield every customer."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(lambda: v1.customers.list({"limit": limit}), endpoint="customers", sleep=self._sleep)

    def iter_products(self) -> Iterator[stripe.Product]:
        """Yield every product, archived ones included (old invoice lines still name them)."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(lambda: v1.products.list({"limit": limit}), endpoint="products", sleep=self._sleep)

    def iter_subscriptions(self) -> Iterator[stripe.Subscription]:
        """Yield every subscription, canceled ones included (Stripe omits them unless `status=all`)."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(
            lambda: v1.subscriptions.list({"limit": limit, "status": "all"}),
            endpoint="subscriptions",
            sleep=self._sleep,
        )

    def iter_invoices(self) -> Iterator[stripe.Invoice]:
        """Yield every invoice, whatever its status; each embeds its first lines."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(lambda: v1.invoices.list({"limit": limit}), endpoint="invoices", sleep=self._sleep)

    def iter_invoice_lines(self, invoice_id: str) -> Iterator[stripe.InvoiceLineItem]:
        """Yield every line of one invoice (a listed invoice embeds only the first ones)."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(
            lambda: v1.invoices.line_items.list(invoice_id, {"limit": limit}),
            endpoint=f"invoices/{invoice_id}/lines",
            sleep=self._sleep,
        )

    def iter_invoice_payments(self) -> Iterator[stripe.InvoicePayment]:
        """Yield every invoice payment: which PaymentIntent or charge paid which invoice."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(
            lambda: v1.invoice_payments.list({"limit": limit}), endpoint="invoice_payments", sleep=self._sleep
        )

    def iter_credit_notes(self) -> Iterator[stripe.CreditNote]:
        """Yield every credit note; each embeds its first lines."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(lambda: v1.credit_notes.list({"limit": limit}), endpoint="credit_notes", sleep=self._sleep)

    def iter_credit_note_lines(self, credit_note_id: str) -> Iterator[stripe.CreditNoteLineItem]:
        """Yield every line of one credit note."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(
            lambda: v1.credit_notes.line_items.list(credit_note_id, {"limit": limit}),
            endpoint=f"credit_notes/{credit_note_id}/lines",
            sleep=self._sleep,
        )

    def iter_charges(self, *, expand_balance_transaction: bool = True) -> Iterator[stripe.Charge]:
        """Yield every charge, with its balance transaction (the rate Stripe settled at) where asked."""
        v1, limit = self._client.v1, self._page_size
        expand = ["data.balance_transaction"] if expand_balance_transaction else []
        return iter_list(
            lambda: v1.charges.list({"limit": limit, "expand": expand}), endpoint="charges", sleep=self._sleep
        )

    def iter_refunds(self) -> Iterator[stripe.Refund]:
        """Yield every refund."""
        v1, limit = self._client.v1, self._page_size
        return iter_list(lambda: v1.refunds.list({"limit": limit}), endpoint="refunds", sleep=self._sleep)

    def fetch_all(
        self,
        *,
        on_progress: Progress = None,
        tier_key: str = "tier",
        segment_key: str = "segment",
        region_key: str = "region",
    ) -> StripeFetch:
        """List everything, then build customers and revenue items; returns only once all has arrived."""

        def report(message: str) -> None:
            if on_progress is not None:
                on_progress(message)

        products = {product.id: _product_name(product) for product in self.iter_products()}
        report(f"stripe: {len(products)} products")
        customers = list(self.iter_customers())
        subscriptions = list(self.iter_subscriptions())
        report(f"stripe: {len(customers)} customers, {len(subscriptions)} subscriptions")
        invoices = list(self.iter_invoices())
        invoice_lines = {
            inv.id: list(self.iter_invoice_lines(inv.id))
            for inv in invoices
            if optional(inv, "status") in COUNTED_INVOICES and _has_more_lines("invoice", inv)
        }
        payments = list(self.iter_invoice_payments())
        report(f"stripe: {len(invoices)} invoices, {len(payments)} invoice payments")
        notes = list(self.iter_credit_notes())
        note_lines = {
            note.id: list(self.iter_credit_note_lines(note.id))
            for note in notes
            if _has_more_lines("credit note", note)
        }
        charges = self._list_charges()
        refunds = list(self.iter_refunds())
        report(f"stripe: {len(notes)} credit notes, {len(charges)} charges, {len(refunds)} refunds")
        snapshot = StripeSnapshot(
            products=products,
            invoices=invoices,
            invoice_lines=invoice_lines,
            invoice_payments=payments,
            credit_notes=notes,
            credit_note_lines=note_lines,
            charges=charges,
            refunds=refunds,
        )
        try:
            records = build_customers(
                customers,
                subscriptions=subscriptions,
                products=products,
                tier_key=tier_key,
                segment_key=segment_key,
                region_key=region_key,
            )
            lines = build_revenue_lines(snapshot)
        except (AttributeError, TypeError) as exc:  # a field read outside `reading()`: still name it
            raise PayloadError(
                f"stripe: a listed object lacks a field Stripe documents as always present ({exc}); sync again "
                f"later, and if it persists report this message{version_hint()}.",
                provider=PROVIDER,
            ) from exc
        report(f"stripe: {len(records)} customers, {len(lines)} revenue items")
        return StripeFetch(customers=records, revenue_lines=lines)

    def _list_charges(self) -> list[stripe.Charge]:
        """Charges with their balance transactions; without them if the key may not read balances."""
        try:
            return list(self.iter_charges(expand_balance_transaction=True))
        except AuthError as exc:
            if not isinstance(exc.__cause__, stripe.PermissionError):
                raise
            # Only the exchange rates are lost: the sync then converts with the settings rate table.
            logger.warning("stripe charges: no Read access to Balance, listing charges without their rates")
            return list(self.iter_charges(expand_balance_transaction=False))


def _product_name(product: stripe.Product) -> str:
    with reading("product", product):
        return str(product.name)


def _has_more_lines(kind: str, obj: stripe.Invoice | stripe.CreditNote) -> bool:
    """True when the embedded `lines` list was cut short and the rest must be listed."""
    with reading(kind, obj):
        return bool(obj.lines.has_more)

"""Stripe customers → CustomerRecord: tier, segment and region from metadata, with fallbacks (DESIGN §8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import stripe

from connectors.records import CustomerRecord
from connectors.stripe_items import ref_id

# A subscription in these states no longer says what the customer is on.
ENDED_SUBSCRIPTIONS = frozenset({"canceled", "incomplete", "incomplete_expired"})


def build_customers(
    customers: Iterable[stripe.Customer],
    *,
    subscriptions: Iterable[stripe.Subscription],
    products: Mapping[str, str],
    tier_key: str = "tier",
    segment_key: str = "segment",
    region_key: str = "region",
) -> list[CustomerRecord]:
    """One record per customer: tier from metadata else the current plan, region else the billing country."""
    plans = current_plans(subscriptions, products=products)
    records = []
    for customer in customers:
        raw = customer.metadata.to_dict() if customer.metadata is not None else {}
        metadata = {str(key): str(value) for key, value in raw.items()}
        country = customer.address.country if customer.address is not None else None
        records.append(
            CustomerRecord(
                customer_id=customer.id,
                name=customer.name or customer.business_name or "",
                email=customer.email or "",
                tier=metadata.get(tier_key) or plans.get(customer.id, ""),
                segment=metadata.get(segment_key, ""),
                region=metadata.get(region_key) or country or "",
                metadata=metadata,
                source="stripe",
            )
        )
    return records


def current_plans(subscriptions: Iterable[stripe.Subscription], *, products: Mapping[str, str]) -> dict[str, str]:
    """Customer id → product name of its most recently created subscription that has not ended."""
    latest: dict[str, stripe.Subscription] = {}
    for sub in subscriptions:
        if sub.status in ENDED_SUBSCRIPTIONS:
            continue
        customer = ref_id(sub.customer)
        seen = latest.get(customer)
        if seen is None or (sub.created, sub.id) > (seen.created, seen.id):
            latest[customer] = sub
    plans = {}
    for customer, sub in latest.items():
        items = sub.items.data
        if items:
            product = ref_id(items[0].price.product)
            plans[customer] = products.get(product, product)
    return plans

"""Stripe customers → CustomerRecord: tier, segment and region from metadata, with fallbacks (rules §8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import stripe

from connectors._stripe_fields import optional, optional_text, reading
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
        with reading("customer", customer):
            customer_id = customer.id
        # `metadata`, `address` (and its `country`), `name`, `business_name` and `email` may all be null or
        # absent: a customer created with nothing but an email has `name: null` and no `business_name`.
        metadata_object = optional(customer, "metadata")
        raw = metadata_object.to_dict() if metadata_object is not None else {}
        metadata = {str(key): str(value) for key, value in raw.items() if value is not None}
        country = optional_text(optional(customer, "address"), "country")
        records.append(
            CustomerRecord(
                customer_id=customer_id,
                name=optional_text(customer, "name") or optional_text(customer, "business_name"),
                email=optional_text(customer, "email"),
                tier=metadata.get(tier_key) or plans.get(customer_id, ""),
                segment=metadata.get(segment_key, ""),
                region=metadata.get(region_key) or country,
                metadata=metadata,
                source="stripe",
            )
        )
    return records


def current_plans(subscriptions: Iterable[stripe.Subscription], *, products: Mapping[str, str]) -> dict[str, str]:
    """Customer id → product name of its most recently created subscription that has not ended."""
    latest: dict[str, stripe.Subscription] = {}
    for sub in subscriptions:
        with reading("subscription", sub):
            if sub.status in ENDED_SUBSCRIPTIONS:
                continue
            customer = ref_id(sub.customer)
            seen = latest.get(customer)
            if seen is None or (sub.created, sub.id) > (seen.created, seen.id):
                latest[customer] = sub
    plans = {}
    for customer, sub in latest.items():
        with reading("subscription", sub):
            items = sub["items"].data  # `sub.items` would be the dict method's name
            if items:
                product = ref_id(items[0].price.product)
                plans[customer] = products.get(product, product)
    return plans

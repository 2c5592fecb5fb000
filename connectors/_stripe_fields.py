"""Reading Stripe objects: the optional fields in one place, and errors naming the object, its id and the field.

stripe-python types a field `Optional[...]` when the API reference marks it nullable or leaves it out of
`required` (rules §4.7, docs/architecture.md): a card refund has no `description`, a customer may have `name: null`
and no `business_name`, a `custom_line_item` credit-note line has no `invoice_line_item`, an invoice
line's `pricing` may have no `price_details`. Such a field is read with `optional()`, which takes absent
and null alike. A field typed as always present is read as an attribute inside `reading()`, so that if
Stripe ever leaves one out the sync fails with a message that says which object, which id and which field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from connectors.errors import PayloadError

PROVIDER = "stripe"
PINNED_MAJOR = 16  # requirements.txt: stripe>=16.1,<17; its API version fixes the shape of every object
# Where the Stripe Dashboard shows each kind of object, so the message can point at it.
_DASHBOARD = {
    "customer": "customers",
    "invoice": "invoices",
    "invoice line": "invoices",
    "credit note": "credit_notes",
    "credit note line": "credit_notes",
    "charge": "payments",
    "refund": "payments",
    "invoice payment": "invoices",
    "subscription": "subscriptions",
    "product": "products",
}


def optional(obj: stripe.StripeObject | None, field: str) -> Any:  # noqa: ANN401 - fields differ in type
    """`obj.field`, or None when the object is None, or Stripe left the field out or sent null."""
    if obj is None or isinstance(obj, str):
        return None
    # A StripeObject is not a dict in stripe-python 16: it has no `.get()`, but `in` and `[]` work.
    return obj[field] if field in obj else None  # noqa: SIM401


def optional_text(obj: stripe.StripeObject | None, field: str) -> str:
    """An optional string field; absent or null is the empty string (rules §3: key parts are never NULL)."""
    value = optional(obj, field)
    return value if isinstance(value, str) else ""


def object_id(obj: stripe.StripeObject | None) -> str:
    """The object's id, for a message; '(no id)' when it has none."""
    value = optional(obj, "id")
    return value if isinstance(value, str) and value else "(no id)"


def version_hint() -> str:
    """A hint about the stripe package only when it really is not the pinned major version."""
    installed = str(getattr(stripe, "VERSION", ""))
    if installed.split(".")[0] == str(PINNED_MAJOR):
        return ""
    return (
        f"; the installed stripe package is {installed or 'unknown'}, not the {PINNED_MAJOR}.x that "
        "requirements.txt pins: reinstall with `pip install -r requirements.txt`"
    )


def missing_field(kind: str, obj: stripe.StripeObject | None, field: str, *, within: str = "") -> PayloadError:
    """The PayloadError for a field Stripe documents as always present but did not send."""
    ident = object_id(obj)
    where = f" (on {within})" if within else ""
    page = _DASHBOARD.get(kind)
    look = f"dashboard.stripe.com/{page}/{ident}" if page and ident != "(no id)" else "the Stripe Dashboard"
    return PayloadError(
        f"stripe {kind} {ident}{where}: field {field} is missing, though Stripe documents it as always present; "
        f"sync again later, and if it persists open {look} to check the object and report the field with this id"
        + version_hint(),
        provider=PROVIDER,
        endpoint=kind,
    )


@contextmanager
def reading(kind: str, obj: stripe.StripeObject | None, *, within: str = "") -> Iterator[None]:
    """Turn a missing always-present field of `obj` (an AttributeError from the SDK) into a PayloadError."""
    try:
        yield
    except AttributeError as exc:
        name = getattr(exc, "name", None)
        field = name if isinstance(name, str) else str(exc).strip("'")
        raise missing_field(kind, obj, field, within=within) from exc

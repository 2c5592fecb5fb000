"""One Stripe request at a time: our own backoff on 429, Stripe errors translated to connector errors.

The SDK retries connection failures, 409 and 5xx itself (`max_network_retries=2`, so at most 3 attempts,
within rules §7's 5), but never a 429 and never by `Retry-After`: that part is ours, per `_retry.py`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import stripe

from connectors._retry import MAX_ATTEMPTS, backoff_delay, parse_retry_after
from connectors.errors import AuthError, ConnectorError, RateLimitedError, UpstreamError

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", bound=stripe.StripeObject)
Sleep = Callable[[float], None]

PROVIDER = "stripe"
MAX_PAGES = 10_000  # pages of one list at most (rules §7); read at each list, so tests can lower it
# The Dashboard resource a restricted key needs "Read" on, per list endpoint we call.
READ_PERMISSIONS = {
    "customers": "Customers",
    "products": "Products",
    "prices": "Prices",
    "subscriptions": "Subscriptions",
    "invoices": "Invoices",
    "invoice_payments": "Invoices",
    "credit_notes": "Credit notes",
    "charges": "Charges",
    "refunds": "Refunds",
}
KEY_HINT = (
    "create a restricted key (rk_live_…) in the Stripe Dashboard → Developers → API keys with Read "
    "access to "
    + ", ".join(sorted(set(READ_PERMISSIONS.values())))
    + " (and Balance, for the exchange rates Stripe applied), and paste it on the Connections page"
)
_RAK_PERMISSION = re.compile(r"'(rak_[a-z_]+)'")


def call_with_backoff(request: Callable[[], T], *, endpoint: str, sleep: Sleep) -> T:
    """Run one Stripe request; retry 429s with backoff (Retry-After wins, capped), translate failures."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return request()
        except stripe.RateLimitError as exc:
            if attempt == MAX_ATTEMPTS:
                raise translate_error(exc, endpoint=endpoint) from exc
            retry_after = parse_retry_after(_header(exc, "Retry-After"))
            delay = backoff_delay(attempt, retry_after=retry_after)
            logger.info("stripe %s: 429, attempt %d of %d, waiting %.1fs", endpoint, attempt, MAX_ATTEMPTS, delay)
            sleep(delay)
        except stripe.StripeError as exc:
            raise translate_error(exc, endpoint=endpoint) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def iter_list(first_page: Callable[[], stripe.ListObject[S]], *, endpoint: str, sleep: Sleep) -> Iterator[S]:
    """Yield every object of a Stripe list, page by page through the SDK's `next_page()` (starting_after).

    This is `auto_paging_iter()` unrolled, so that each page request gets its own backoff: a generator
    that raised cannot be resumed, so retrying around `auto_paging_iter()` would restart the list.
    """
    page = call_with_backoff(first_page, endpoint=endpoint, sleep=sleep)
    pages = 1
    while True:
        yield from page.data
        if not page.has_more or not page.data:
            return
        if pages >= MAX_PAGES:
            raise UpstreamError(
                f"stripe {endpoint}: still has_more after {pages:,} pages, the cap of one list; Stripe's "
                "pagination does not end (check MARGIN_STRIPE_BASE_URL, then sync again)",
                provider=PROVIDER,
                endpoint=endpoint,
            )
        page = call_with_backoff(page.next_page, endpoint=endpoint, sleep=sleep)
        pages += 1


def translate_error(exc: stripe.StripeError, *, endpoint: str) -> ConnectorError:
    """The connector error for a Stripe error: what failed, where, and what to do next."""
    where = f"stripe {endpoint}"
    detail = exc.user_message or str(exc)
    if isinstance(exc, stripe.AuthenticationError):
        return AuthError(f"{where}: 401, Stripe refused the key; {KEY_HINT}.", provider=PROVIDER, endpoint=endpoint)
    if isinstance(exc, stripe.PermissionError):
        resource = READ_PERMISSIONS.get(endpoint.split("/")[0], endpoint)
        found = _RAK_PERMISSION.search(detail)
        needed = f" (Stripe asks for '{found.group(1)}')" if found else ""
        return AuthError(
            f"{where}: 403, the restricted key lacks Read access to {resource}{needed}; edit the key in "
            "the Stripe Dashboard → Developers → API keys and set it to Read.",
            provider=PROVIDER,
            endpoint=endpoint,
        )
    if isinstance(exc, stripe.RateLimitError):
        return RateLimitedError(
            f"{where}: 429 after {MAX_ATTEMPTS} attempts, Stripe is rate limiting this key; wait a minute "
            "and sync again.",
            provider=PROVIDER,
            endpoint=endpoint,
        )
    if isinstance(exc, stripe.APIConnectionError):
        return UpstreamError(
            f"{where}: could not reach Stripe ({detail}); check the network and MARGIN_STRIPE_BASE_URL, "
            "then sync again.",
            provider=PROVIDER,
            endpoint=endpoint,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return UpstreamError(
            f"{where}: Stripe rejected the request ({exc.http_status}: {detail}); check that "
            "MARGIN_STRIPE_BASE_URL is https://api.stripe.com (or unset) and that the key belongs to the account.",
            provider=PROVIDER,
            endpoint=endpoint,
        )
    status = exc.http_status or "error"
    return UpstreamError(
        f"{where}: {status} from Stripe after retries ({detail}); Stripe may be degraded "
        "(status.stripe.com), sync again later.",
        provider=PROVIDER,
        endpoint=endpoint,
    )


def _header(exc: stripe.StripeError, name: str) -> str | None:
    """A response header of a Stripe error, whatever the case the HTTP client kept."""
    for key, value in (exc.headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None

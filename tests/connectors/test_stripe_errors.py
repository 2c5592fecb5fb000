"""Stripe failures: our backoff on 429, the SDK's bounded retries on 5xx, errors that say what to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from connectors._retry import MAX_ATTEMPTS
from connectors.errors import AuthError, RateLimitedError, UpstreamError
from connectors.stripe_revenue import StripeRevenue, make_client, validate_key_format
from tests.connectors.stripe_fixture_server import Reply, StripeFixtureServer, serve, stripe_error


class Sleeps(list[float]):
    """Stands in for time.sleep: records each delay, never waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> StripeFixtureServer:
    return StripeFixtureServer()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def revenue(server: StripeFixtureServer, sleeps: Sleeps) -> Iterator[StripeRevenue]:
    with serve(server) as base_url:
        yield StripeRevenue(make_client("rk_test_fixture", base_url=base_url), page_size=4, sleep=sleeps)


@pytest.fixture
def sdk_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own retries of 5xx sleep ~0.5–1 s each; the count is what these tests check."""
    monkeypatch.setattr(stripe.HTTPXClient, "_sleep_time_seconds", lambda self, num_retries: 0.0)


RATE_LIMITED = stripe_error("Too many requests", kind="rate_limit_error")
SERVER_ERROR = stripe_error("Something went wrong on Stripe's end.", kind="api_error")


def test_429_with_retry_after_is_retried_after_that_delay(server, revenue, sleeps) -> None:
    server.script("/v1/customers", Reply(429, RATE_LIMITED, {"Retry-After": "7"}))
    revenue.test_key()
    assert sleeps == [7.0]
    assert len(server.requests_to("/v1/customers")) == 2


def test_429_without_retry_after_backs_off_exponentially(server, revenue, sleeps) -> None:
    server.script("/v1/customers", Reply(429, RATE_LIMITED), Reply(429, RATE_LIMITED))
    revenue.test_key()
    assert sleeps == [0.5, 1.0]


def test_retry_after_is_capped(server, revenue, sleeps) -> None:
    server.script("/v1/customers", Reply(429, RATE_LIMITED, {"Retry-After": "3600"}))
    revenue.test_key()
    assert sleeps == [30.0]


def test_429_mid_list_retries_that_page_only(server, revenue, sleeps) -> None:
    invoices = revenue.iter_invoices()
    first_page = [next(invoices).id for _ in range(4)]
    server.script("/v1/invoices", Reply(429, RATE_LIMITED, {"Retry-After": "1"}))
    rest = [invoice.id for invoice in invoices]
    assert len(rest) == 8
    assert not set(rest) & set(first_page)
    after = [seen.query.get("starting_after") for seen in server.requests_to("/v1/invoices")]
    assert after == [None, [first_page[-1]], [first_page[-1]], [rest[3]]]
    assert sleeps == [1.0]


def test_429_on_every_attempt_gives_up_with_rate_limited_error(server, revenue, sleeps) -> None:
    server.script("/v1/invoices", *[Reply(429, RATE_LIMITED)] * MAX_ATTEMPTS)
    with pytest.raises(RateLimitedError, match="stripe invoices: 429") as caught:
        list(revenue.iter_invoices())
    assert isinstance(caught.value.__cause__, stripe.RateLimitError)
    assert len(server.requests_to("/v1/invoices")) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1


@pytest.mark.usefixtures("sdk_does_not_wait")
def test_500_on_every_attempt_raises_upstream_error_after_bounded_attempts(server, revenue, sleeps) -> None:
    server.script("/v1/invoices", *[Reply(500, SERVER_ERROR)] * 10)
    with pytest.raises(UpstreamError, match="stripe invoices: 500") as caught:
        revenue.fetch_all()
    assert isinstance(caught.value.__cause__, stripe.APIError)
    assert caught.value.provider == "stripe"
    assert caught.value.endpoint == "invoices"
    assert len(server.requests_to("/v1/invoices")) == 3  # the SDK's max_network_retries=2, within 5
    assert sleeps == []


@pytest.mark.usefixtures("sdk_does_not_wait")
def test_500_then_success_is_retried_by_the_sdk(server, revenue) -> None:
    server.script("/v1/customers", Reply(500, SERVER_ERROR))
    revenue.test_key()
    assert len(server.requests_to("/v1/customers")) == 2


def test_401_says_which_key_to_create(server, revenue) -> None:
    server.script("/v1/customers", Reply(401, stripe_error("Invalid API Key provided: rk_test_****ture")))
    with pytest.raises(AuthError) as caught:
        revenue.test_key()
    message = str(caught.value)
    assert message.startswith("stripe customers: 401")
    assert "restricted key (rk_live_…)" in message
    assert "Invoices" in message
    assert "Credit notes" in message
    assert isinstance(caught.value.__cause__, stripe.AuthenticationError)


def test_403_names_the_missing_permission(server, revenue) -> None:
    denied = (
        "The provided key 'rk_test_****ture' does not have the required permissions for this endpoint on "
        "account 'acct_TmDemoAccount01'. Having the 'rak_subscription_read' permission would allow this "
        "request to continue."
    )
    server.script("/v1/subscriptions", Reply(403, stripe_error(denied)))
    with pytest.raises(AuthError, match="stripe subscriptions: 403") as caught:
        revenue.fetch_all()
    assert "Read access to Subscriptions" in str(caught.value)
    assert "'rak_subscription_read'" in str(caught.value)


def test_charges_are_listed_without_rates_when_balance_is_not_readable(server, revenue) -> None:
    denied = "Having the 'rak_balance_transaction_source_read' permission would allow this request to continue."
    server.script("/v1/charges", Reply(403, stripe_error(denied)))
    fetched = revenue.fetch_all()
    assert len(fetched.revenue_lines) == 15
    charges = server.requests_to("/v1/charges")
    assert "expand[0]" in charges[0].query
    assert all("expand[0]" not in seen.query for seen in charges[1:])


def test_unknown_path_says_to_check_the_base_url(server, revenue) -> None:
    server.lists.pop("/v1/invoice_payments")
    with pytest.raises(UpstreamError, match="MARGIN_STRIPE_BASE_URL") as caught:
        revenue.fetch_all()
    assert str(caught.value).startswith("stripe invoice_payments: Stripe rejected the request (404")


@pytest.mark.usefixtures("sdk_does_not_wait")
def test_unreachable_stripe_is_an_upstream_error() -> None:
    with serve(StripeFixtureServer()) as base_url:
        pass  # the port is closed again once the server stops
    revenue = StripeRevenue(make_client("rk_test_fixture", base_url=base_url))
    with pytest.raises(UpstreamError, match="stripe customers: could not reach Stripe") as caught:
        revenue.test_key()
    assert isinstance(caught.value.__cause__, stripe.APIConnectionError)


@pytest.mark.parametrize(
    "key", ["rk_live_51Abc0123456789xyz", "rk_test_51Abc0123456789xyz", "sk_live_51Abc0123", "sk_test_51Abc0123"]
)
def test_restricted_and_secret_keys_are_accepted(key: str) -> None:
    validate_key_format(key)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("pk_live_51Abc0123", "publishable key"),
        ("rk_live_51Abc0123\n", "spaces or a line break"),
        ("whsec_51Abc0123", "not a Stripe secret or restricted key"),
        ("sk-admin-abc", "not a Stripe secret or restricted key"),
        ("rk_live_", "not a Stripe secret or restricted key"),
        ("", "not a Stripe secret or restricted key"),
    ],
)
def test_other_keys_are_refused_naming_the_key_to_create(key: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem) as caught:
        validate_key_format(key)
    assert "create a restricted key (rk_live_…)" in str(caught.value)
    assert caught.value.provider == "stripe"

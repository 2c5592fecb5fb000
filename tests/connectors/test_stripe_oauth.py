"""'Connect with Stripe': the authorize URL and the code exchange, mocked with respx."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connectors.errors import AuthError, PayloadError, UpstreamError
from connectors.stripe_oauth import authorize_url, exchange_code

CONNECT = "https://connect.stripe.test"
TOKEN = {
    "access_token": "sk_test_connectedAccount01",
    "livemode": False,
    "refresh_token": "rt_TmConnected01",
    "scope": "read_only",
    "stripe_publishable_key": "pk_test_connectedAccount01",
    "stripe_user_id": "acct_TmConnected01",
    "token_type": "bearer",
}


def test_authorize_url_asks_for_read_only_access() -> None:
    url = urlsplit(authorize_url(client_id="ca_TmPlatform01", redirect_uri="http://localhost:8501/", state="s3"))
    assert (url.scheme, url.netloc, url.path) == ("https", "connect.stripe.com", "/oauth/authorize")
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": ["ca_TmPlatform01"],
        "scope": ["read_only"],
        "redirect_uri": ["http://localhost:8501/"],
        "state": ["s3"],
    }


@respx.mock
def test_exchange_code_returns_the_access_token() -> None:
    route = respx.post(f"{CONNECT}/oauth/token").mock(return_value=httpx.Response(200, json=TOKEN))
    token = exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)
    assert token == "sk_test_connectedAccount01"
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer sk_test_platform01"
    assert parse_qs(request.content.decode()) == {"grant_type": ["authorization_code"], "code": ["ac_TmCode01"]}


@respx.mock
def test_used_code_says_to_connect_again() -> None:
    body = {"error": "invalid_grant", "error_description": "Authorization code does not exist: ac_TmCode01"}
    respx.post(f"{CONNECT}/oauth/token").mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(AuthError, match="Connect with Stripe' again") as caught:
        exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)
    assert str(caught.value).startswith("stripe oauth/token:")
    assert caught.value.endpoint == "oauth/token"


@respx.mock
def test_wrong_platform_key_is_an_auth_error() -> None:
    body = {"error": "invalid_client", "error_description": "No such application: ca_Tm"}
    respx.post(f"{CONNECT}/oauth/token").mock(return_value=httpx.Response(401, json=body))
    with pytest.raises(AuthError, match="invalid_client"):
        exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)


@respx.mock
def test_stripe_down_is_an_upstream_error_and_the_code_is_sent_once() -> None:
    route = respx.post(f"{CONNECT}/oauth/token").mock(return_value=httpx.Response(502, text="<html>Bad gateway"))
    with pytest.raises(UpstreamError, match="stripe oauth/token: 502"):
        exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)
    assert route.call_count == 1  # a code is single-use: never retried


@respx.mock
def test_unreachable_stripe_is_an_upstream_error() -> None:
    respx.post(f"{CONNECT}/oauth/token").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(UpstreamError, match="could not reach Stripe"):
        exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)


@respx.mock
def test_answer_without_token_is_a_payload_error() -> None:
    respx.post(f"{CONNECT}/oauth/token").mock(return_value=httpx.Response(200, json={"stripe_user_id": "acct_1"}))
    with pytest.raises(PayloadError, match="no access_token"):
        exchange_code(client_secret_key="sk_test_platform01", code="ac_TmCode01", base_url=CONNECT)

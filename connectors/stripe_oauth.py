"""'Connect with Stripe': the OAuth flow that gives Margin read-only access to a founder's account.

Stripe calls this OAuth legacy for new platforms; it still serves a platform that already has a
`ca_…` client id. The token it returns is used like a pasted key (`make_client(access_token)`).

The exchange is a plain httpx POST rather than the SDK's `client.oauth.token()`: stripe 16.1's
HTTPXClient sends form bodies as `data=<str>`, which httpx 0.28 deprecates with a DeprecationWarning.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from connectors._stripe_calls import PROVIDER
from connectors.errors import AuthError, PayloadError, UpstreamError

CONNECT_BASE_URL = "https://connect.stripe.com"
ENDPOINT = "oauth/token"
WHERE = f"stripe {ENDPOINT}"


def authorize_url(*, client_id: str, redirect_uri: str, state: str, base_url: str = CONNECT_BASE_URL) -> str:
    """The page to send the user to: it asks them to grant Margin read-only access to their account."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "scope": "read_only",
            "redirect_uri": redirect_uri,
            "state": state,  # the caller checks it on return, against cross-site request forgery
        }
    )
    return f"{base_url}/oauth/authorize?{query}"


def exchange_code(*, client_secret_key: str, code: str, base_url: str = CONNECT_BASE_URL) -> str:
    """Trade the `code` Stripe sent back for the connected account's access token (a read-only key)."""
    # Sent once, never retried: a code is single-use, so a retry after a lost answer would only fail.
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0)) as client:
        try:
            response = client.post(
                f"/{ENDPOINT}",
                data={"grant_type": "authorization_code", "code": code},
                headers={"Authorization": f"Bearer {client_secret_key}"},
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"{WHERE}: could not reach Stripe ({type(exc).__name__}); check the network and try again.",
                provider=PROVIDER,
                endpoint=ENDPOINT,
            ) from exc
    if response.status_code >= 500:
        raise UpstreamError(
            f"{WHERE}: {response.status_code} from Stripe; try 'Connect with Stripe' again later.",
            provider=PROVIDER,
            endpoint=ENDPOINT,
        )
    body = _json_object(response)
    error = body.get("error")
    if error == "invalid_grant":
        raise AuthError(
            f"{WHERE}: the authorization code is invalid, expired or already used; click 'Connect with Stripe' again.",
            provider=PROVIDER,
            endpoint=ENDPOINT,
        )
    if error is not None or response.status_code != 200:
        description = body.get("error_description") or response.reason_phrase
        raise AuthError(
            f"{WHERE}: {error or response.status_code} ({description}); check the platform's client id and "
            "secret key in the Stripe Dashboard → Settings → Connect.",
            provider=PROVIDER,
            endpoint=ENDPOINT,
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PayloadError(
            f"{WHERE}: the answer has no access_token; connect with a restricted key instead.",
            provider=PROVIDER,
            endpoint=ENDPOINT,
        )
    return token


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or a PayloadError naming the endpoint."""
    try:
        body = response.json()
    except ValueError as exc:
        raise PayloadError(
            f"{WHERE}: {response.status_code} with a body that is not JSON; try again later.",
            provider=PROVIDER,
            endpoint=ENDPOINT,
        ) from exc
    if not isinstance(body, dict):
        raise PayloadError(f"{WHERE}: the answer is not a JSON object.", provider=PROVIDER, endpoint=ENDPOINT)
    return body

"""'Connect with Stripe' for the Connections page: send the user to Stripe, take the code it sends back.

The `state` sent along is kept in the store (the browser comes back in a new session) and must match on
return; the access token Stripe gives is saved like a pasted key (encrypted, masked).
"""

from __future__ import annotations

import secrets as random_tokens

from sqlalchemy import Engine

from connectors import stripe_oauth
from connectors.errors import ConnectorError
from margin_core import settings
from margin_core.app_actions.providers import save_connection
from margin_core.errors import ConfigError
from margin_core.store import repo

STATE_KEY = "stripe_oauth_state"


def connect_url(engine: Engine) -> str | None:
    """Stripe's authorization page for this app, or None when no Connect client id is configured."""
    connect = settings.stripe_connect()
    if connect is None:
        return None
    with engine.begin() as connection:
        state = repo.read_settings(connection).get(STATE_KEY)
        if not state:
            state = random_tokens.token_urlsafe(24)
            repo.set_setting(connection, STATE_KEY, state)
    return stripe_oauth.authorize_url(
        client_id=connect.client_id, redirect_uri=connect.redirect_uri, state=state, base_url=connect.base_url
    )


def connect_state_matches(engine: Engine, state: str) -> bool:
    """True when `state` answers this app's pending "Connect with Stripe" request (then used up).

    An error sent back by Stripe carries the state too; without a match the address was made by someone
    else, and nothing of it is shown (rules §7).
    """
    with engine.begin() as connection:
        expected = repo.read_settings(connection).get(STATE_KEY)
        if not expected or not state or not random_tokens.compare_digest(expected, state):
            return False
        repo.set_setting(connection, STATE_KEY, "")  # single use, like a successful return
    return True


def finish_connect(engine: Engine, *, code: str, state: str) -> None:
    """Check the returned state, trade the code for the account's read-only token and save it."""
    connect = settings.stripe_connect()
    if connect is None:
        raise ConfigError("Connect with Stripe is not configured (MARGIN_STRIPE_CONNECT_CLIENT_ID and _SECRET_KEY)")
    with engine.begin() as connection:
        expected = repo.read_settings(connection).get(STATE_KEY)
        repo.set_setting(connection, STATE_KEY, "")  # single use, whatever happens next
    if not expected or not random_tokens.compare_digest(expected, state):
        raise ConfigError("the answer from Stripe does not match this app's request; click Connect with Stripe again")
    try:
        token = stripe_oauth.exchange_code(client_secret_key=connect.secret_key, code=code, base_url=connect.base_url)
    except ConnectorError as exc:
        raise ConfigError(str(exc)) from exc
    save_connection(engine, "stripe", token)

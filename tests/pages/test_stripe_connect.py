"""'Connect with Stripe': the link carries a stored state; the page takes Stripe's code back and saves the token."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from streamlit.testing.v1 import AppTest

from margin_core import app_actions
from margin_core.errors import ConfigError
from margin_core.store.db import make_engine

PAGE = Path(__file__).resolve().parents[2] / "pages" / "connections.py"


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    monkeypatch.setenv("MARGIN_STRIPE_CONNECT_CLIENT_ID", "ca_test_margin")
    monkeypatch.setenv("MARGIN_STRIPE_CONNECT_SECRET_KEY", "sk_test_platform")
    return make_engine(url)


def test_connect_url_asks_for_read_only_access_with_a_stored_state(engine) -> None:
    url = app_actions.connect_url(engine)
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["read_only"]
    assert query["client_id"] == ["ca_test_margin"]
    assert query["redirect_uri"] == ["http://localhost:8501/connections"]
    assert app_actions.connect_url(engine) == url  # the same state until it is used


def test_no_connect_link_without_a_client_id(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARGIN_STRIPE_CONNECT_CLIENT_ID")
    assert app_actions.connect_url(engine) is None


@respx.mock
def test_the_returned_code_is_exchanged_and_saved_masked(engine) -> None:
    route = respx.post("https://connect.stripe.com/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "rk_test_connected_account_1234", "scope": "read_only"})
    )
    state = parse_qs(urlsplit(app_actions.connect_url(engine) or "").query)["state"][0]
    app_actions.finish_connect(engine, code="ac_123", state=state)
    assert route.calls.last.request.headers["authorization"] == "Bearer sk_test_platform"
    assert app_actions.saved_key(engine, "stripe") == "rk_test_connected_account_1234"
    with pytest.raises(ConfigError, match="does not match"):
        app_actions.finish_connect(engine, code="ac_123", state=state)  # a state is used once


def test_a_forged_state_is_refused(engine) -> None:
    app_actions.connect_url(engine)
    with pytest.raises(ConfigError, match="does not match"):
        app_actions.finish_connect(engine, code="ac_123", state="forged")
    assert app_actions.saved_key(engine, "stripe") is None


def test_the_page_shows_the_connect_button_and_reports_a_denied_request(engine) -> None:
    state = parse_qs(urlsplit(app_actions.connect_url(engine) or "").query)["state"][0]
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["error"] = "access_denied"
    at.query_params["error_description"] = "The user denied your request"
    at.query_params["state"] = state  # Stripe sends the state back with an error too
    at.run()
    assert not at.exception
    assert any("The user denied your request" in e.value for e in at.error)

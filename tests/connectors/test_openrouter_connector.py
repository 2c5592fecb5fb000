"""OpenRouter connector against the recorded fixtures (tests/fixtures/providers/README.md), through real httpx."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from connectors import openrouter
from connectors._merge import usage_key
from connectors.errors import AuthError, PayloadError
from connectors.openrouter import OpenRouterConnector
from connectors.records import UsageRecord

BASE = "https://openrouter.ai/api/v1"
START, END = date(2025, 9, 1), date(2025, 9, 6)
HASHES = {
    "11cf011b4bbd0d97e69af2cf9677bcdba4ed50d077a51704bcfe84355f8b46fd": "acme-prod",
    "99ced77b0dd8087bfc21f72091bd01db85fb255818d4a82612bfc975d28148fd": "globex-prod",
    "65b76e1c93bf6c199f9c38145310eacd9f4e8bc635a57cfc7c32a9d099ec7337": "initech-prod",
    "5e61ffbaf669640f0d95bbe4c6238807535f2c8855da4ca40d53979814bbba26": "internal-evals",
}
GLOBEX = "99ced77b0dd8087bfc21f72091bd01db85fb255818d4a82612bfc975d28148fd"


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def connector(sleeps):
    client = openrouter.make_client("sk-or-v1-management", sleep=sleeps)
    yield OpenRouterConnector(client)
    client.close()


@pytest.fixture
def served(api: respx.MockRouter, respond: Callable[..., httpx.Response]):
    """Serve keys and each key's activity; the unfiltered activity is a failure if ever requested."""

    def activity(request: httpx.Request) -> httpx.Response:
        key_hash = request.url.params.get("api_key_hash")
        assert key_hash in HASHES, "the unfiltered activity must never be read"
        return respond(f"openrouter_activity_key_{HASHES[key_hash]}.json")

    keys = api.get("/keys").mock(return_value=respond("openrouter_keys.json"))
    activities = api.get("/activity").mock(side_effect=activity)
    return keys, activities


def _totals(records, key):
    """Per group: [requests, prompt tokens, completion tokens, usage dollars]."""
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for r in records:
        t = totals[key(r)]
        t[0] += r.requests
        t[1] += r.input_tokens
        t[2] += r.output_tokens
        t[3] += r.cost_usd
    return dict(totals)


def test_lists_keys_once_when_fewer_than_a_page(served, connector):
    keys_route, _ = served
    keys = list(connector.iter_api_keys())
    assert [(k.api_key_id, k.name) for k in keys] == list(HASHES.items())
    assert keys_route.call_count == 1
    sent = keys_route.calls[0].request.url.params
    assert (sent["offset"], sent["include_disabled"]) == ("0", "true")
    assert keys_route.calls[0].request.headers["authorization"] == "Bearer sk-or-v1-management"


def test_a_full_page_of_keys_asks_for_the_next_offset(api, connector, respond, body):
    key = body("openrouter_keys.json")["data"][0]
    full = {"data": [dict(key, hash=f"{i:064x}", name=f"key-{i}") for i in range(100)]}
    route = api.get("/keys").mock(side_effect=[respond(full), respond({"data": [key]})])
    assert len(list(connector.iter_api_keys())) == 101
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "100"]


def test_per_key_sums_match_the_readme(served, connector):
    fetch = connector.fetch_window(start=START, end=END)
    assert _totals(fetch.usage, lambda r: HASHES[r.api_key_id]) == {
        "acme-prod": [12_194, 15_554_925, 3_756_595, Decimal("26.2076633")],
        "globex-prod": [9_176, 10_370_810, 2_899_695, Decimal("29.43605822")],
        "initech-prod": [3_611, 3_761_239, 1_070_514, Decimal("6.00168")],
        "internal-evals": [1_163, 2_378_726, 568_431, Decimal("7.17155348")],
    }
    assert [k.name for k in fetch.api_keys] == list(HASHES.values())


def test_per_model_sums_match_the_readme_without_adding_reasoning(served, connector):
    fetch = connector.fetch_window(start=START, end=END)
    assert _totals(fetch.usage, lambda r: r.model) == {
        "anthropic/claude-sonnet-4": [1_906, 4_674_843, 1_211_666, Decimal("32.199519")],
        "deepseek/deepseek-chat-v3-0324": [8_433, 8_074_693, 2_256_460, Decimal("4.4080927")],
        # completion_tokens already include the 1,548,841 reasoning tokens
        "google/gemini-2.5-flash": [13_359, 15_650_211, 3_989_559, Decimal("14.6689608")],
        "openai/gpt-4o": [2_446, 3_665_953, 837_550, Decimal("17.5403825")],
    }
    assert sum(r.cost_usd for r in fetch.usage) == Decimal("68.816955")


def test_two_upstream_endpoints_of_one_model_are_summed(served, connector):
    fetch = connector.fetch_window(start=START, end=END)
    assert max(Counter(usage_key(r) for r in fetch.usage).values()) == 1
    sonnet = {r.day: r for r in fetch.usage if r.api_key_id == GLOBEX and r.model == "anthropic/claude-sonnet-4"}
    assert sonnet[date(2025, 9, 2)] == UsageRecord(
        provider="openrouter",
        day=date(2025, 9, 2),
        model="anthropic/claude-sonnet-4",
        api_key_id=GLOBEX,
        input_tokens=727_815 + 184_316,
        output_tokens=185_249 + 49_262,
        requests=330 + 83,
        cost_usd=Decimal("6.254058"),
    )
    assert sonnet[date(2025, 9, 4)].cost_usd == Decimal("5.14653") + Decimal("1.601799")
    assert sonnet[date(2025, 9, 4)].requests == 315 + 97


def test_activity_is_read_once_per_key_and_never_unfiltered(served, connector):
    _, activity_route = served
    connector.fetch_window(start=START, end=END)
    assert sorted(c.request.url.params["api_key_hash"] for c in activity_route.calls) == sorted(HASHES)


def test_keeps_only_rows_inside_the_window(served, connector):
    fetch = connector.fetch_window(start=date(2025, 9, 2), end=date(2025, 9, 4))
    assert {r.day for r in fetch.usage} == {date(2025, 9, 2), date(2025, 9, 3)}
    assert sum(r.cost_usd for r in fetch.usage) == Decimal("14.95105742") + Decimal("11.6923275")


def test_a_403_says_a_management_key_is_needed(api, connector, respond):
    api.get("/keys").mock(return_value=respond("openrouter_error_403.json", status=403))
    with pytest.raises(AuthError) as raised:
        connector.test_key()
    assert str(raised.value).startswith("openrouter keys: 403, this endpoint needs a management key")
    assert "Only management keys can perform this operation" in str(raised.value)


def test_a_401_is_an_auth_error(api, connector, respond):
    route = api.get("/keys").mock(return_value=respond("openrouter_error_401.json", status=401))
    with pytest.raises(AuthError, match=r"^openrouter keys: 401, .*management key.*Missing Authentication header"):
        list(connector.iter_api_keys())
    assert route.call_count == 1


def test_a_429_retry_after_is_capped(api, connector, respond, sleeps):
    api.get("/keys").mock(
        side_effect=[
            respond("openrouter_error_429.json", status=429, headers={"Retry-After": "60"}),
            respond("openrouter_keys.json"),
        ]
    )
    assert len(list(connector.iter_api_keys())) == 4
    assert sleeps.delays == [30.0]  # the policy caps Retry-After at 30 s


def test_a_string_usage_names_endpoint_and_field(api, connector, respond, body):
    activity = body("openrouter_activity_key_acme-prod.json")
    activity["data"][3]["usage"] = "2.83"
    api.get("/activity").mock(return_value=respond(activity))
    with pytest.raises(
        PayloadError,
        match=r"^openrouter activity\?api_key_hash=11cf011b4bbd… ?: field data\[3\]\.usage "
        r"should be a number",
    ):
        list(connector.iter_key_activity(api_key_hash=next(iter(HASHES)), start=START, end=END))


def test_a_missing_model_names_endpoint_and_field(api, connector, respond, body):
    activity = body("openrouter_activity_key_acme-prod.json")
    del activity["data"][0]["model"]
    api.get("/activity").mock(return_value=respond(activity))
    with pytest.raises(PayloadError, match=r"field data\[0\]\.model is missing"):
        list(connector.iter_key_activity(api_key_hash=GLOBEX, start=START, end=END))


@pytest.mark.parametrize("key", ["sk-proj-abc", "or-v1-abc", ""])
def test_rejects_keys_that_are_not_openrouter_keys(key):
    with pytest.raises(AuthError, match="sk-or-"):
        openrouter.validate_key_format(key)


def test_accepts_an_openrouter_key():
    openrouter.validate_key_format("sk-or-v1-abc")

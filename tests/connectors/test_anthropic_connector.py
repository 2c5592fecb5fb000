"""Anthropic connector against the recorded fixtures (tests/fixtures/providers/README.md), through real httpx."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import respx

from connectors import anthropic
from connectors.anthropic import AnthropicConnector
from connectors.errors import AuthError, PayloadError, UpstreamError
from connectors.records import CostRecord

BASE = "https://api.anthropic.com"
USAGE, COSTS, KEYS = (
    "/v1/organizations/usage_report/messages",
    "/v1/organizations/cost_report",
    "/v1/organizations/api_keys",
)
START, END = date(2025, 9, 1), date(2025, 9, 6)
NEXT_PAGE = "page_MjAyNS0wOS0wNFQwMDowMDowMFo="
PRODUCTION, INITECH_WS = "wrkspc_019qZb2qN23gNmdC2z9jfJq1", "wrkspc_01aW8p6eHYLDyFfFNhC6w9n8"
ACME, GLOBEX = "apikey_01CZW9VFf8mdmQryMURnUgWP", "apikey_01Pisv5z19FGFJrXEQbzpfMy"
INITECH, EVALS = "apikey_01EhDEN6iP6aEWQqNX9DGtMz", "apikey_01gjf1tY3hAcNyEXxk1gJnyh"


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def connector(sleeps):
    client = anthropic.make_client("sk-ant-admin01-test", sleep=sleeps)
    yield AnthropicConnector(client)
    client.close()


def _usage(api, respond):
    return api.get(USAGE).mock(
        side_effect=[respond("anthropic_usage_messages_page1.json"), respond("anthropic_usage_messages_page2.json")]
    )


def _costs(api, respond):
    return api.get(COSTS).mock(
        side_effect=[respond("anthropic_cost_report_page1.json"), respond("anthropic_cost_report_page2.json")]
    )


def _tokens(records, key):
    """Per group: [uncached input, cache writes 5m, cache writes 1h, cache reads, output, web searches]."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for r in records:
        t = totals[key(r)]
        for i, value in enumerate(
            (
                r.input_tokens,
                r.cache_write_tokens - r.cache_write_1h_tokens,
                r.cache_write_1h_tokens,
                r.cached_input_tokens,
                r.output_tokens,
                r.web_search_requests,
            )
        ):
            t[i] += value
    return dict(totals)


def test_follows_next_page_and_sends_the_documented_params(api, connector, respond):
    route = _usage(api, respond)
    list(connector.iter_usage(start=START, end=END))
    assert route.call_count == 2
    first = route.calls[0].request
    assert first.url.params["starting_at"] == "2025-09-01T00:00:00Z"
    assert first.url.params["ending_at"] == "2025-09-06T00:00:00Z"
    assert first.url.params["bucket_width"] == "1d"
    assert first.url.params.get_list("group_by[]") == ["model", "api_key_id", "workspace_id"]
    assert "page" not in first.url.params
    assert route.calls.last.request.url.params["page"] == NEXT_PAGE
    assert first.headers["x-api-key"] == "sk-ant-admin01-test"
    assert first.headers["anthropic-version"] == "2023-06-01"


def test_usage_totals_per_model_match_the_readme(api, connector, respond):
    _usage(api, respond)
    records = list(connector.iter_usage(start=START, end=END))
    assert len(records) == 20 + 14
    assert _tokens(records, lambda r: r.model) == {
        "claude-3-5-haiku-20241022": [31_636_481, 101_476, 0, 3_752_099, 5_952_018, 0],
        "claude-opus-4-20250514": [1_777_830, 0, 42_742, 633_432, 547_226, 0],
        "claude-sonnet-4-20250514": [13_378_337, 308_113, 0, 27_435_774, 3_846_263, 812],
    }
    assert {r.requests for r in records} == {0}  # the report has no request count


def test_usage_totals_per_key_match_the_readme(api, connector, respond):
    _usage(api, respond)
    records = list(connector.iter_usage(start=START, end=END))
    assert _tokens(records, lambda r: f"{r.api_key_id} {r.project_id}") == {
        f"{ACME} {PRODUCTION}": [28_557_841, 308_113, 0, 27_435_774, 6_189_273, 616],
        f"{GLOBEX} {PRODUCTION}": [6_222_466, 0, 42_742, 633_432, 1_747_749, 196],
        f"{INITECH} {INITECH_WS}": [10_031_944, 101_476, 0, 3_752_099, 1_865_405, 0],
        f"{EVALS} ": [1_980_397, 0, 0, 0, 543_080, 0],  # default workspace: null becomes ""
    }


def test_cost_report_is_summed_per_day_and_workspace_in_dollars(api, connector, respond):
    route = _costs(api, respond)
    costs = list(connector.iter_costs(start=START, end=END))
    assert route.calls[0].request.url.params.get_list("group_by[]") == ["workspace_id", "description"]
    assert route.calls.last.request.url.params["page"] == NEXT_PAGE
    assert len(costs) == 5 * 3  # one record per (day, workspace), not per cost line
    per_workspace: dict[str, Decimal] = defaultdict(Decimal)
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for c in costs:
        per_workspace[c.project_id] += c.amount_usd
        per_day[c.day] += c.amount_usd
    assert dict(per_workspace) == {
        PRODUCTION: Decimal("189.58738655"),
        INITECH_WS: Decimal("15.88881912"),
        "": Decimal("29.319615"),
    }
    assert dict(per_day) == {
        date(2025, 9, 1): Decimal("41.89268852"),
        date(2025, 9, 2): Decimal("49.05890972"),
        date(2025, 9, 3): Decimal("43.56569691"),
        date(2025, 9, 4): Decimal("54.32936608"),
        date(2025, 9, 5): Decimal("45.94915944"),
    }
    assert sum(per_day.values()) == Decimal("234.79582067")


def test_cents_become_dollars_exactly(api, connector, respond, body):
    page = body("anthropic_cost_report_page2.json")
    page["data"] = page["data"][:1]
    page["data"][0]["results"] = [dict(page["data"][0]["results"][0], amount="0.000001", workspace_id=None)]
    api.get(COSTS).mock(return_value=respond(page))
    assert list(connector.iter_costs(start=START, end=END)) == [
        CostRecord(provider="anthropic", day=date(2025, 9, 4), amount_usd=Decimal("0.00000001"))
    ]


def test_api_keys_carry_their_workspace(api, connector, respond):
    route = api.get(KEYS).mock(return_value=respond("anthropic_api_keys.json"))
    keys = list(connector.iter_api_keys())
    assert route.calls[0].request.url.params["limit"] == "100"
    assert [(k.api_key_id, k.name, k.project_id) for k in keys] == [
        (ACME, "acme-prod", PRODUCTION),
        (GLOBEX, "globex-prod", PRODUCTION),
        (INITECH, "initech-prod", INITECH_WS),
        (EVALS, "internal-evals", ""),
    ]
    assert keys[0].created_at == datetime(2025, 6, 10, 15, 20, 0, 675997, tzinfo=UTC)


def test_fetch_window_returns_usage_costs_and_keys(api, connector, respond):
    _usage(api, respond)
    _costs(api, respond)
    api.get(KEYS).mock(return_value=respond("anthropic_api_keys.json"))
    fetch = connector.fetch_window(start=START, end=END)
    assert (fetch.provider, len(fetch.usage), len(fetch.costs), len(fetch.api_keys)) == ("anthropic", 34, 15, 4)
    assert sum(c.amount_usd for c in fetch.costs) == Decimal("234.79582067")


def test_a_401_says_an_admin_key_is_needed(api, connector, respond):
    error = respond("anthropic_error_401.json", status=401, headers={"request-id": "req_011CSf3mV8kXqJ2pYwRt9bNz"})
    route = api.get(USAGE).mock(return_value=error)
    with pytest.raises(AuthError) as raised:
        list(connector.iter_usage(start=START, end=END))
    message = str(raised.value)
    assert message.startswith(
        "anthropic v1/organizations/usage_report/messages: 401, this endpoint needs an Admin API key (sk-ant-admin"
    )
    assert "invalid x-api-key" in message
    assert "req_011CSf3mV8kXqJ2pYwRt9bNz" in message
    assert route.call_count == 1


def test_a_429_waits_for_retry_after_then_succeeds(api, connector, respond, sleeps):
    route = api.get(KEYS).mock(
        side_effect=[
            respond("anthropic_error_429.json", status=429, headers={"retry-after": "30"}),
            respond("anthropic_api_keys.json"),
        ]
    )
    assert len(list(connector.iter_api_keys())) == 4
    assert route.call_count == 2
    assert sleeps.delays == [30.0]


def test_a_529_overload_is_retried(api, connector, respond, sleeps):
    route = api.get(KEYS).mock(
        side_effect=[
            respond("anthropic_error_529.json", status=529),
            respond("anthropic_api_keys.json"),
        ]
    )
    assert len(list(connector.iter_api_keys())) == 4
    assert route.call_count == 2
    assert sleeps.delays == [0.5]


def test_gives_up_after_five_529s(api, connector, respond, sleeps):
    route = api.get(COSTS).mock(return_value=respond("anthropic_error_529.json", status=529))
    with pytest.raises(
        UpstreamError,
        match=r"^anthropic v1/organizations/cost_report: failed 5 times \(HTTP 529\); "
        r"try again later .*Overloaded",
    ):
        list(connector.iter_costs(start=START, end=END))
    assert route.call_count == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]


def test_a_bad_amount_names_endpoint_and_field(api, connector, respond, body):
    page = body("anthropic_cost_report_page1.json")
    page["data"][2]["results"][4]["amount"] = "12,5"
    api.get(COSTS).mock(return_value=respond(page))
    with pytest.raises(
        PayloadError,
        match=r"anthropic v1/organizations/cost_report: field "
        r"data\[2\]\.results\[4\]\.amount should be a decimal string",
    ):
        list(connector.iter_costs(start=START, end=END))


def test_missing_cache_creation_names_endpoint_and_field(api, connector, respond, body):
    page = body("anthropic_usage_messages_page1.json")
    del page["data"][0]["results"][1]["cache_creation"]
    api.get(USAGE).mock(return_value=respond(page))
    with pytest.raises(
        PayloadError,
        match=r"usage_report/messages: field data\[0\]\.results\[1\]\.cache_creation "
        r"is missing",
    ):
        list(connector.iter_usage(start=START, end=END))


def test_test_key_lists_one_key(api, connector, respond):
    route = api.get(KEYS).mock(return_value=respond("anthropic_api_keys.json"))
    connector.test_key()
    assert route.calls[0].request.url.params["limit"] == "1"


@pytest.mark.parametrize("key", ["sk-ant-api03-abc", "sk-admin-abc", ""])
def test_rejects_keys_that_are_not_admin_keys(key):
    with pytest.raises(AuthError, match="sk-ant-admin"):
        anthropic.validate_key_format(key)


def test_accepts_an_admin_key():
    anthropic.validate_key_format("sk-ant-admin01-abc")

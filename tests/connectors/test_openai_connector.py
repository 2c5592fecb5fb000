"""OpenAI connector against the recorded fixtures (tests/fixtures/providers/README.md), through real httpx."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
import respx

from connectors import openai
from connectors.errors import AuthError, PayloadError, RateLimitedError, UpstreamError
from connectors.openai import OpenAIConnector
from connectors.records import CostRecord, UsageRecord

BASE = "https://api.openai.com/v1"
START, END = date(2025, 9, 1), date(2025, 9, 6)
COMPLETIONS_PAGE_2 = "page_AAAAAGi7iAGJYa6TAAAAAGi41oA="
PRODUCTION, INTERNAL = "proj_Bi6ppwMI2jMVVCSksO68febH", "proj_za7IWlSSOAnXb7Q8rc89fYhg"
ACME, GLOBEX, INITECH, EVALS = (
    "key_F8lwX4R0SQZNpW6V",
    "key_6H0AH5PWs1bctiUD",
    "key_S9xqbsJ9HHh7v4vl",
    "key_39jmCLWnfdEJMQDG",
)


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def connector(sleeps):
    client = openai.make_client("sk-admin-test", sleep=sleeps)
    yield OpenAIConnector(client)
    client.close()


def _completions(api, respond):
    return api.get("/organization/usage/completions").mock(
        side_effect=[respond("openai_usage_completions_page1.json"), respond("openai_usage_completions_page2.json")]
    )


def _sum(records, key):
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in records:
        t = totals[key(r)]
        t[0] += r.requests
        t[1] += r.input_tokens
        t[2] += r.cached_input_tokens
        t[3] += r.output_tokens
    return dict(totals)


def test_follows_next_page(api, connector, respond):
    route = _completions(api, respond)
    list(connector.iter_completions_usage(start=START, end=END))
    assert route.call_count == 2
    assert "page" not in route.calls[0].request.url.params
    assert route.calls.last.request.url.params["page"] == COMPLETIONS_PAGE_2


def test_sends_the_documented_usage_params(api, connector, respond):
    route = _completions(api, respond)
    list(connector.iter_completions_usage(start=START, end=END))
    sent = route.calls[0].request
    assert sent.url.params["start_time"] == "1756684800"
    assert sent.url.params["end_time"] == "1757116800"
    assert sent.url.params["bucket_width"] == "1d"
    assert sent.url.params.get_list("group_by[]") == ["model", "project_id", "api_key_id", "user_id"]
    assert sent.headers["authorization"] == "Bearer sk-admin-test"


def test_completions_totals_per_model_match_the_readme(api, connector, respond):
    _completions(api, respond)
    records = list(connector.iter_completions_usage(start=START, end=END))
    assert len(records) == 22 + 15
    # [requests, input at full rate (= README input − cached), cached, output]
    assert _sum(records, lambda r: r.model) == {
        "gpt-4o-2024-08-06": [8_264, 17_042_320 - 4_511_104, 4_511_104, 3_452_552],
        "gpt-4o-mini-2024-07-18": [99_788, 110_545_578 - 46_940_672, 46_940_672, 19_445_048],
        "o1-2024-12-17": [567, 2_333_008 - 154_240, 154_240, 1_706_709],
    }
    assert sum(r.input_tokens for r in records) == 78_314_890  # README input_uncached_tokens total
    assert {r.user_id for r in records} == {""}  # null group values become ""
    assert {r.cache_write_tokens for r in records} == {0}


def test_completions_totals_per_key_match_the_readme(api, connector, respond):
    _completions(api, respond)
    records = list(connector.iter_completions_usage(start=START, end=END))
    assert _sum(records, lambda r: r.api_key_id) == {
        ACME: [33_270, 36_717_272 - 9_276_800, 9_276_800, 6_423_592],
        GLOBEX: [68_999, 85_301_652 - 42_033_152, 42_033_152, 15_957_776],
        INITECH: [5_445, 5_183_387 - 296_064, 296_064, 1_187_720],
        EVALS: [905, 2_718_595, 0, 1_035_221],
    }
    assert {r.project_id for r in records if r.api_key_id == EVALS} == {INTERNAL}


def test_embeddings_totals_match_the_readme(api, connector, respond):
    api.get("/organization/usage/embeddings").mock(return_value=respond("openai_usage_embeddings_page1.json"))
    records = list(connector.iter_embeddings_usage(start=START, end=END))
    assert len(records) == 9
    assert _sum(records, lambda r: f"{r.api_key_id} {r.model}") == {
        f"{ACME} text-embedding-3-small": [15_655, 6_283_911, 0, 0],
        f"{INITECH} text-embedding-3-small": [2_105, 732_511, 0, 0],
    }


def test_costs_are_grouped_by_project_and_key_and_match_the_readme(api, connector, respond):
    route = api.get("/organization/costs").mock(return_value=respond("openai_costs_by_project_and_key_page1.json"))
    costs = list(connector.iter_costs(start=START, end=END))
    assert route.calls[0].request.url.params.get_list("group_by[]") == ["project_id", "api_key_id"]
    per_key: dict[str, Decimal] = defaultdict(Decimal)
    per_project: dict[str, Decimal] = defaultdict(Decimal)
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for c in costs:
        per_key[c.api_key_id] += c.amount_usd
        per_project[c.project_id] += c.amount_usd
        per_day[c.day] += c.amount_usd
    assert dict(per_key) == {
        ACME: Decimal("55.67729677"),
        GLOBEX: Decimal("108.76635735"),
        INITECH: Decimal("12.85342942"),
        EVALS: Decimal("55.30486"),
    }
    assert dict(per_project) == {PRODUCTION: Decimal("177.29708354"), INTERNAL: Decimal("55.30486")}
    assert per_day[date(2025, 9, 1)] == Decimal("49.5104167")
    assert per_day[date(2025, 9, 3)] == Decimal("31.60050233")
    assert sum(per_day.values()) == Decimal("232.60194354")
    assert all(isinstance(c.amount_usd, Decimal) for c in costs)


def test_cost_without_a_key_is_kept_with_an_empty_key(api, connector, respond, body):
    page = body("openai_costs_by_project_and_key_page1.json")
    page["data"][0]["results"] = [
        {
            "object": "organization.costs.result",
            "amount": {"value": 1.25, "currency": "usd"},
            "line_item": None,
            "project_id": PRODUCTION,
            "api_key_id": None,
            "quantity": None,
            "quantity_unit": None,
        }
    ]
    page["data"] = page["data"][:1]
    api.get("/organization/costs").mock(return_value=respond(page))
    assert list(connector.iter_costs(start=START, end=END)) == [
        CostRecord(provider="openai", day=START, amount_usd=Decimal("1.25"), project_id=PRODUCTION, api_key_id="")
    ]


def test_cache_reads_and_writes_are_taken_out_of_input(api, connector, respond, body):
    page = body("openai_usage_embeddings_page1.json")
    page["data"] = [
        {
            "object": "bucket",
            "start_time": 1756684800,
            "end_time": 1756771200,
            "results": [
                {
                    "input_tokens": 1000,
                    "input_cached_tokens": 400,
                    "input_cache_write_tokens": 100,
                    "output_tokens": 500,
                    "num_model_requests": 5,
                    "project_id": None,
                    "user_id": "user-abc",
                    "api_key_id": None,
                    "model": "gpt-4o",
                }
            ],
        }
    ]
    api.get("/organization/usage/completions").mock(return_value=respond(page))
    assert list(connector.iter_completions_usage(start=START, end=END)) == [
        UsageRecord(
            provider="openai",
            day=START,
            model="gpt-4o",
            user_id="user-abc",
            input_tokens=500,
            cached_input_tokens=400,
            cache_write_tokens=100,
            output_tokens=500,
            requests=5,
        )
    ]


def test_input_smaller_than_its_cached_part_is_a_payload_error(api, connector, respond, body):
    page = body("openai_usage_completions_page2.json")
    page["data"][0]["results"][0]["input_cached_tokens"] = page["data"][0]["results"][0]["input_tokens"] + 1
    api.get("/organization/usage/completions").mock(return_value=respond(page))
    with pytest.raises(PayloadError, match=r"field data\[0\]\.results\[0\]\.input_tokens \(\d+\) is smaller than"):
        list(connector.iter_completions_usage(start=START, end=END))


def test_fetch_window_reads_every_endpoint_and_names_the_keys(api, connector, respond):
    _completions(api, respond)
    api.get("/organization/usage/embeddings").mock(return_value=respond("openai_usage_embeddings_page1.json"))
    api.get("/organization/costs").mock(return_value=respond("openai_costs_by_project_and_key_page1.json"))
    prod = api.get(f"/organization/projects/{PRODUCTION}/api_keys").mock(
        return_value=respond("openai_project_api_keys_production.json")
    )
    api.get(f"/organization/projects/{INTERNAL}/api_keys").mock(
        return_value=respond("openai_project_api_keys_internal_tools.json")
    )
    progress: list[str] = []
    fetch = connector.fetch_window(start=START, end=END, on_progress=progress.append)
    assert fetch.provider == "openai"
    assert len(fetch.usage) == 37 + 9
    assert sum(c.amount_usd for c in fetch.costs) == Decimal("232.60194354")
    assert {(k.api_key_id, k.name, k.project_id) for k in fetch.api_keys} == {
        (ACME, "acme-prod", PRODUCTION),
        (GLOBEX, "globex-prod", PRODUCTION),
        (INITECH, "initech-prod", PRODUCTION),
        (EVALS, "internal-evals", INTERNAL),
    }
    assert fetch.api_keys[0].created_at == datetime(2025, 6, 1, tzinfo=UTC)
    assert prod.calls[0].request.url.params["limit"] == "100"
    assert len(progress) == 4


def test_a_401_says_an_admin_key_is_needed(api, connector, respond):
    route = api.get("/organization/costs").mock(return_value=respond("openai_error_401.json", status=401))
    with pytest.raises(AuthError) as raised:
        list(connector.iter_costs(start=START, end=END))
    message = str(raised.value)
    assert message.startswith("openai organization/costs: 401, this endpoint needs an admin key (sk-admin-")
    assert "Incorrect API key provided" in message
    assert raised.value.endpoint == "organization/costs"
    assert route.call_count == 1  # a refused key is not retried


def test_a_403_names_the_missing_permission(api, connector, respond):
    api.get("/organization/usage/completions").mock(return_value=respond("openai_error_403.json", status=403))
    with pytest.raises(AuthError, match=r"completions: 403, .*Missing scopes: api\.usage\.read"):
        list(connector.iter_completions_usage(start=START, end=END))


def test_a_429_waits_for_retry_after_then_succeeds(api, connector, respond, sleeps):
    route = api.get("/organization/usage/embeddings").mock(
        side_effect=[
            respond("openai_error_429.json", status=429, headers={"retry-after": "20"}),
            respond("openai_usage_embeddings_page1.json"),
        ]
    )
    assert len(list(connector.iter_embeddings_usage(start=START, end=END))) == 9
    assert route.call_count == 2
    assert sleeps.delays == [20.0]


def test_429_on_every_attempt_is_a_rate_limit_error(api, connector, respond, sleeps):
    error = respond("openai_error_429.json", status=429, headers={"retry-after": "20"})
    route = api.get("/organization/costs").mock(return_value=error)
    with pytest.raises(RateLimitedError, match=r"openai organization/costs: still rate limited .* after 5 attempts"):
        list(connector.iter_costs(start=START, end=END))
    assert route.call_count == 5
    assert sleeps.delays == [20.0] * 4


def test_gives_up_after_five_500s(api, connector, respond, sleeps):
    route = api.get("/organization/usage/completions").mock(return_value=respond("openai_error_500.json", status=500))
    with pytest.raises(UpstreamError) as raised:
        list(connector.iter_completions_usage(start=START, end=END))
    assert str(raised.value).startswith(
        "openai organization/usage/completions: failed 5 times (HTTP 500); try again later"
    )
    assert "The server had an error" in str(raised.value)
    assert route.call_count == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]


def test_a_missing_field_names_endpoint_and_field(api, connector, respond, body):
    page = body("openai_usage_completions_page2.json")
    del page["data"][1]["results"][2]["num_model_requests"]
    api.get("/organization/usage/completions").mock(return_value=respond(page))
    with pytest.raises(
        PayloadError,
        match=r"openai organization/usage/completions: field "
        r"data\[1\]\.results\[2\]\.num_model_requests is missing",
    ):
        list(connector.iter_completions_usage(start=START, end=END))


def test_a_wrong_type_names_endpoint_and_field(api, connector, respond, body):
    page = body("openai_costs_by_project_and_key_page1.json")
    page["data"][0]["results"][0]["amount"]["value"] = "10.5"
    api.get("/organization/costs").mock(return_value=respond(page))
    with pytest.raises(
        PayloadError,
        match=r"openai organization/costs: field data\[0\]\.results\[0\]\.amount\.value "
        r"should be a number",
    ):
        list(connector.iter_costs(start=START, end=END))


def test_a_non_json_body_is_a_payload_error(api, connector):
    api.get("/organization/costs").mock(return_value=httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(PayloadError, match="openai organization/costs: the response is not JSON"):
        list(connector.iter_costs(start=START, end=END))


def test_test_key_makes_one_small_costs_call(api, connector, respond):
    route = api.get("/organization/costs").mock(return_value=respond("openai_costs_by_api_key_page1.json"))
    connector.test_key()
    assert route.call_count == 1
    assert route.calls[0].request.url.params["limit"] == "1"


@pytest.mark.parametrize("key", ["sk-proj-abc", "sk-abc", "", " sk-admin-abc"])
def test_rejects_keys_that_are_not_admin_keys(key):
    with pytest.raises(AuthError, match="openai"):
        openai.validate_key_format(key)


def test_accepts_an_admin_key():
    openai.validate_key_format("sk-admin-abc123")

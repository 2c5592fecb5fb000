"""OpenAI, Anthropic and OpenRouter responses with only the fields their references mark as always present,
and with the nullable ones null: the right records come out and nothing raises.

References: `openai/openai-openapi` openapi.yaml (UsageResponse, UsageTimeBucket, UsageCompletionsResult,
UsageEmbeddingsResult, CostsResult, ProjectApiKey, ProjectApiKeyListResponse: `required` and `anyOf … null`);
Anthropic's Admin API reference (usage_report/messages, cost_report, api_keys); OpenRouter's OpenAPI
(tests/fixtures/providers/openrouter_openapi_usage_excerpt.yaml: ActivityItem, the /keys listing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from connectors import anthropic, openai, openrouter
from connectors.errors import PayloadError
from connectors.records import ApiKeyRecord, CostRecord, UsageRecord

DAY = date(2025, 9, 2)
START, END = date(2025, 9, 1), date(2025, 9, 4)
UNIX = int(datetime(2025, 9, 2, tzinfo=UTC).timestamp())


def page(*buckets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """UsageResponse: `object`, `data`, `has_more` and `next_page` are required (next_page may be null)."""
    return {"object": "page", "data": list(buckets), "has_more": False, "next_page": None, **extra}


def json_response(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


# --- OpenAI -------------------------------------------------------------------------------------------


def openai_bucket(*results: dict[str, Any]) -> dict[str, Any]:
    return {"object": "bucket", "start_time": UNIX, "end_time": UNIX + 86_400, "results": list(results)}


MINIMAL_COMPLETIONS = {
    "object": "organization.usage.completions.result",
    "input_tokens": 1_000,
    "output_tokens": 200,
    "num_model_requests": 7,
}
MINIMAL_EMBEDDINGS = {"object": "organization.usage.embeddings.result", "input_tokens": 500, "num_model_requests": 2}


@pytest.fixture
def openai_api():
    with respx.mock(base_url="https://api.openai.com/v1", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def openai_connector(sleeps):
    client = openai.make_client("sk-admin-test", sleep=sleeps)
    yield openai.OpenAIConnector(client)
    client.close()


def serve_openai(api: respx.MockRouter, *, completions: list[Any], embeddings: list[Any], costs: list[Any]) -> None:
    api.get("/organization/usage/completions").mock(return_value=json_response(page(openai_bucket(*completions))))
    api.get("/organization/usage/embeddings").mock(return_value=json_response(page(openai_bucket(*embeddings))))
    api.get("/organization/costs").mock(return_value=json_response(page(openai_bucket(*costs))))


def test_openai_minimal_results_give_records_with_empty_dimensions(openai_api, openai_connector) -> None:
    serve_openai(
        openai_api,
        completions=[MINIMAL_COMPLETIONS],
        embeddings=[MINIMAL_EMBEDDINGS],
        costs=[{"object": "organization.costs.result"}],  # CostsResult requires only `object`
    )
    fetched = openai_connector.fetch_window(start=START, end=END)
    assert fetched.usage == [
        UsageRecord(provider="openai", day=DAY, model="", input_tokens=1_500, output_tokens=200, requests=9)
    ]
    assert fetched.costs == []  # no amount, no dollars
    assert fetched.api_keys == []
    assert not [call for call in openai_api.calls if "/projects/" in str(call.request.url)]


def test_openai_nullable_fields_null(openai_api, openai_connector) -> None:
    nulls = dict.fromkeys(("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"))
    serve_openai(
        openai_api,
        completions=[{**MINIMAL_COMPLETIONS, **nulls, "input_cached_tokens": None}],
        embeddings=[{**MINIMAL_EMBEDDINGS, **dict.fromkeys(("project_id", "user_id", "api_key_id", "model"))}],
        costs=[
            {"object": "organization.costs.result", "amount": {"value": 1.5, "currency": "usd"}, **nulls},
            {"object": "organization.costs.result", "amount": {"value": None, "currency": "usd"}},
            {"object": "organization.costs.result", "amount": {"value": 0.25}},  # currency not required
            {"object": "organization.costs.result", "amount": None, "line_item": None, "quantity": None},
        ],
    )
    fetched = openai_connector.fetch_window(start=START, end=END)
    assert [(u.model, u.project_id, u.api_key_id, u.user_id, u.input_tokens) for u in fetched.usage] == [
        ("", "", "", "", 1_500)
    ]
    assert fetched.costs == [CostRecord(provider="openai", day=DAY, amount_usd=Decimal("1.75"))]


def test_openai_usage_with_null_project_id_never_asks_for_the_keys_of_project_empty(
    openai_api, openai_connector
) -> None:
    """Issue 12: `{usage} | {costs} - {""}` removed "" from the cost projects only, so a null project_id
    in usage asked for `organization/projects//api_keys` and failed the sync with a 404."""
    serve_openai(
        openai_api,
        completions=[{**MINIMAL_COMPLETIONS, "project_id": None}, {**MINIMAL_COMPLETIONS, "project_id": "proj_a"}],
        embeddings=[],
        costs=[{"object": "organization.costs.result", "amount": {"value": 1, "currency": "usd"}}],
    )
    keys = openai_api.get("/organization/projects/proj_a/api_keys").mock(
        return_value=json_response(
            {
                "object": "list",
                "data": [
                    {
                        "object": "organization.project.api_key",
                        "redacted_value": "sk-abc...def",
                        "name": "prod",
                        "created_at": UNIX,
                        "last_used_at": None,
                        "id": "key_a",
                        "owner_project_access": "active",
                        "owner": {"type": "user"},
                    }
                ],
                "first_id": None,
                "last_id": None,
                "has_more": False,
            }
        )
    )
    empty = openai_api.get("/organization/projects//api_keys").mock(return_value=httpx.Response(404))
    fetched = openai_connector.fetch_window(start=START, end=END)
    assert keys.call_count == 1
    assert empty.call_count == 0
    assert {u.project_id for u in fetched.usage} == {"", "proj_a"}
    assert fetched.api_keys == [
        ApiKeyRecord(
            provider="openai",
            api_key_id="key_a",
            name="prod",
            project_id="proj_a",
            created_at=datetime(2025, 9, 2, tzinfo=UTC),
        )
    ]


def test_openai_quiet_window_is_empty_not_an_error(openai_api, openai_connector) -> None:
    openai_api.get("/organization/usage/completions").mock(return_value=json_response(page()))
    openai_api.get("/organization/usage/embeddings").mock(return_value=json_response(page(openai_bucket())))
    openai_api.get("/organization/costs").mock(return_value=json_response(page(openai_bucket())))
    fetched = openai_connector.fetch_window(start=START, end=END)
    assert (fetched.usage, fetched.costs, fetched.api_keys) == ([], [], [])


def test_openai_a_missing_required_field_names_the_bucket_and_field(openai_api, openai_connector) -> None:
    broken = {k: v for k, v in MINIMAL_COMPLETIONS.items() if k != "num_model_requests"}
    serve_openai(openai_api, completions=[broken], embeddings=[], costs=[])
    with pytest.raises(PayloadError) as caught:
        openai_connector.fetch_window(start=START, end=END)
    message = str(caught.value)
    assert "organization/usage/completions: field data[0].results[0].num_model_requests is missing" in message
    assert "Sync again later" in message


# --- Anthropic ----------------------------------------------------------------------------------------


def anthropic_bucket(*results: dict[str, Any]) -> dict[str, Any]:
    return {"starting_at": "2025-09-02T00:00:00Z", "ending_at": "2025-09-03T00:00:00Z", "results": list(results)}


MINIMAL_ANTHROPIC_USAGE = {
    "uncached_input_tokens": 900,
    "cache_read_input_tokens": 100,
    "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 10},
    "output_tokens": 50,
}


@pytest.fixture
def anthropic_api():
    with respx.mock(base_url="https://api.anthropic.com", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def anthropic_connector(sleeps):
    client = anthropic.make_client("sk-ant-admin01-test", sleep=sleeps)
    yield anthropic.AnthropicConnector(client)
    client.close()


def serve_anthropic(api: respx.MockRouter, *, usage: list[Any], costs: list[Any], keys: list[Any]) -> None:
    api.get("/v1/organizations/usage_report/messages").mock(
        return_value=json_response({"data": [anthropic_bucket(*usage)], "has_more": False, "next_page": None})
    )
    api.get("/v1/organizations/cost_report").mock(
        return_value=json_response({"data": [anthropic_bucket(*costs)], "has_more": False, "next_page": None})
    )
    api.get("/v1/organizations/api_keys").mock(
        return_value=json_response({"data": keys, "has_more": False, "first_id": None, "last_id": None})
    )


def test_anthropic_minimal_and_null_fields(anthropic_api, anthropic_connector) -> None:
    nulls = dict.fromkeys(("api_key_id", "workspace_id", "model", "service_tier", "context_window", "server_tool_use"))
    serve_anthropic(
        anthropic_api,
        usage=[MINIMAL_ANTHROPIC_USAGE, {**MINIMAL_ANTHROPIC_USAGE, **nulls}],
        costs=[
            {"amount": "123.45", "currency": "USD"},
            {"amount": "100", **dict.fromkeys(("workspace_id", "description", "model", "cost_type", "token_type"))},
        ],
        keys=[{"id": "apikey_1", "type": "api_key"}, {"id": "apikey_2", "name": None, "workspace_id": None}],
    )
    fetched = anthropic_connector.fetch_window(start=START, end=END)
    assert fetched.usage == [
        UsageRecord(
            provider="anthropic",
            day=DAY,
            model="",
            input_tokens=1_800,
            cached_input_tokens=200,
            cache_write_tokens=80,
            cache_write_1h_tokens=20,
            output_tokens=100,
        )
    ]
    assert fetched.costs == [CostRecord(provider="anthropic", day=DAY, amount_usd=Decimal("2.2345"))]
    assert [(k.api_key_id, k.name, k.project_id, k.created_at) for k in fetched.api_keys] == [
        ("apikey_1", "", "", None),
        ("apikey_2", "", "", None),
    ]


def test_anthropic_quiet_window_is_empty(anthropic_api, anthropic_connector) -> None:
    serve_anthropic(anthropic_api, usage=[], costs=[], keys=[])
    fetched = anthropic_connector.fetch_window(start=START, end=END)
    assert (fetched.usage, fetched.costs, fetched.api_keys) == ([], [], [])


# --- OpenRouter ---------------------------------------------------------------------------------------

HASH = "f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943"


@pytest.fixture
def openrouter_api():
    with respx.mock(base_url="https://openrouter.ai/api/v1", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def openrouter_connector(sleeps):
    client = openrouter.make_client("sk-or-v1-management", sleep=sleeps)
    yield openrouter.OpenRouterConnector(client)
    client.close()


def test_openrouter_nullable_key_fields_null_and_a_required_only_activity_row(
    openrouter_api, openrouter_connector
) -> None:
    key = {
        "hash": HASH,
        "name": "prod",
        "label": "sk-or-v1-0e6...1c96",
        "disabled": False,
        **dict.fromkeys(("limit", "limit_remaining", "limit_reset", "expires_at", "updated_at")),
        "created_at": "2025-08-24T10:30:00Z",
        "creator_user_id": None,
    }
    row = {  # ActivityItem: every field below is required; `workspace_id` (optional) is left out
        "date": "2025-09-02",
        "model": "openai/gpt-4.1",
        "model_permaslug": "openai/gpt-4.1-2025-04-14",
        "endpoint_id": "ep_1",
        "provider_name": "OpenAI",
        "usage": 0.015,
        "byok_usage_inference": 0,
        "requests": 5,
        "prompt_tokens": 50,
        "completion_tokens": 125,
        "reasoning_tokens": 25,
    }
    openrouter_api.get("/keys").mock(return_value=json_response({"data": [key]}))
    openrouter_api.get("/activity").mock(return_value=json_response({"data": [row]}))
    fetched = openrouter_connector.fetch_window(start=START, end=END)
    assert fetched.usage == [
        UsageRecord(
            provider="openrouter",
            day=DAY,
            model="openai/gpt-4.1",
            api_key_id=HASH,
            input_tokens=50,
            output_tokens=125,
            requests=5,
            cost_usd=Decimal("0.015"),
        )
    ]


def test_openrouter_keys_without_activity_give_an_empty_window(openrouter_api, openrouter_connector) -> None:
    openrouter_api.get("/keys").mock(return_value=json_response({"data": [{"hash": HASH, "name": "x"}]}))
    openrouter_api.get("/activity").mock(return_value=json_response({"data": []}))
    fetched = openrouter_connector.fetch_window(start=START, end=END)
    assert fetched.usage == []
    assert [k.api_key_id for k in fetched.api_keys] == [HASH]

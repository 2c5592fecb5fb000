"""Anthropic Admin API (usage report, cost report, API keys) → records (Admin key `sk-ant-admin…`).

The messages usage report gives tokens per (day, model, key, workspace) but no request count, so
`requests` is 0. The cost report cannot be grouped by key: its finest grain with dollars is (day,
workspace), which is what the sync splits over the usage rows (rules §4.2). Its `amount` is a decimal
string in cents. A null workspace is the default workspace and is stored as "".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal

import httpx

from connectors._http import build_client, get_json, iter_day_buckets, iter_pages
from connectors._keys import check_key_prefix
from connectors._merge import sum_costs, sum_usage
from connectors._payload import Node
from connectors._window import Progress, check_window, report, rfc3339
from connectors.records import ApiKeyRecord, CostRecord, ProviderFetch, UsageRecord

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_PREFIX = "sk-ant-admin"
API_VERSION = "2023-06-01"

USAGE = "v1/organizations/usage_report/messages"
COSTS = "v1/organizations/cost_report"
API_KEYS = "v1/organizations/api_keys"
USAGE_GROUP_BY = ("model", "api_key_id", "workspace_id")
COST_GROUP_BY = ("workspace_id", "description")
BUCKETS_PER_PAGE = 31  # the maximum both reports allow for 1d buckets
KEYS_PER_PAGE = 100


def make_client(
    api_key: str, *, base_url: str = DEFAULT_BASE_URL, sleep: Callable[[float], None] = time.sleep
) -> httpx.Client:
    """An HTTP client for the Anthropic Admin API, authenticated with `api_key`."""
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    return build_client(base_url, headers=headers, sleep=sleep)


def validate_key_format(api_key: str) -> None:
    """Raise AuthError unless `api_key` looks like an Anthropic Admin API key (`sk-ant-admin…`)."""
    check_key_prefix(
        api_key,
        provider=PROVIDER,
        prefix=KEY_PREFIX,
        wrong_key=(
            "this is not an Admin API key; the usage and cost reports need one starting with "
            "sk-ant-admin (Console → Settings → Admin keys); regular keys (sk-ant-api…) cannot read them"
        ),
    )


class AnthropicConnector:
    """Reads one Anthropic organization's usage, costs and API keys through an injected client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client  # base_url from MARGIN_ANTHROPIC_BASE_URL, default DEFAULT_BASE_URL

    def test_key(self) -> None:
        """One cheap call listing a single API key: it fails with AuthError unless this is an Admin key."""
        get_json(self._client, path=API_KEYS, provider=PROVIDER, endpoint=API_KEYS, params={"limit": 1})

    def iter_usage(self, *, start: date, end: date) -> Iterator[UsageRecord]:
        """Yield one record per (day, model, api key, workspace) of messages usage in [start, end)."""
        params = _window_params(start, end) | {"group_by[]": list(USAGE_GROUP_BY)}
        buckets = iter_day_buckets(
            self._client, path=USAGE, provider=PROVIDER, params=params, day_of=_bucket_day, start=start, end=end
        )
        for day, bucket in buckets:
            for result in bucket.children("results"):
                yield _usage_record(result, day=day)

    def iter_costs(self, *, start: date, end: date) -> Iterator[CostRecord]:
        """Yield reported dollars per (day, workspace) in [start, end), every cost line of the pair summed."""
        params = _window_params(start, end) | {"group_by[]": list(COST_GROUP_BY)}
        buckets = iter_day_buckets(
            self._client, path=COSTS, provider=PROVIDER, params=params, day_of=_bucket_day, start=start, end=end
        )
        for day, bucket in buckets:
            totals: dict[str, Decimal] = {}
            for result in bucket.children("results"):
                workspace = result.opt_text("workspace_id")
                totals[workspace] = totals.get(workspace, Decimal(0)) + _cost_usd(result)
            for workspace, amount in totals.items():
                yield CostRecord(provider=PROVIDER, day=day, amount_usd=amount, project_id=workspace)

    def iter_api_keys(self) -> Iterator[ApiKeyRecord]:
        """Yield every API key of the organization, following the `after_id` cursor."""
        pages = iter_pages(
            self._client,
            path=API_KEYS,
            provider=PROVIDER,
            endpoint=API_KEYS,
            params={"limit": KEYS_PER_PAGE},
            cursor_field="last_id",
            cursor_param="after_id",
        )
        for page in pages:
            for key in page.children("data"):
                yield ApiKeyRecord(
                    provider=PROVIDER,
                    api_key_id=key.text("id"),
                    name=key.opt_text("name"),
                    project_id=key.opt_text("workspace_id"),
                    created_at=key.opt_timestamp("created_at"),
                )

    def fetch_window(self, *, start: date, end: date, on_progress: Progress = None) -> ProviderFetch:
        """Fetch usage, costs and API keys for [start, end); return only once every page has arrived."""
        check_window(start=start, end=end)
        usage = sum_usage(self.iter_usage(start=start, end=end))
        report(on_progress, message=f"anthropic: {len(usage)} usage rows")
        costs = sum_costs(self.iter_costs(start=start, end=end))
        report(on_progress, message=f"anthropic: {len(costs)} cost rows")
        keys = list(self.iter_api_keys())
        report(on_progress, message=f"anthropic: {len(keys)} API keys")
        return ProviderFetch(provider=PROVIDER, usage=usage, costs=costs, api_keys=keys)


def _bucket_day(bucket: Node) -> date:
    return bucket.timestamp("starting_at").date()


def _window_params(start: date, end: date) -> dict[str, str | int | list[str]]:
    return {
        "starting_at": rfc3339(start),
        "ending_at": rfc3339(end),
        "bucket_width": "1d",
        "limit": BUCKETS_PER_PAGE,
    }


def _usage_record(result: Node, *, day: date) -> UsageRecord:
    """rules §4.8: uncached input, cache reads, and cache writes (5 m + 1 h, of which 1 h) kept apart."""
    creation = result.child("cache_creation")
    write_5m = creation.count("ephemeral_5m_input_tokens")
    write_1h = creation.count("ephemeral_1h_input_tokens")
    tools = result.opt_child("server_tool_use")
    return UsageRecord(
        provider=PROVIDER,
        day=day,
        model=result.opt_text("model"),
        api_key_id=result.opt_text("api_key_id"),
        project_id=result.opt_text("workspace_id"),
        input_tokens=result.count("uncached_input_tokens"),
        cached_input_tokens=result.count("cache_read_input_tokens"),
        cache_write_tokens=write_5m + write_1h,
        cache_write_1h_tokens=write_1h,
        output_tokens=result.count("output_tokens"),
        requests=0,  # the messages usage report has no request count
        web_search_requests=0 if tools is None else tools.opt_count("web_search_requests"),
    )


def _cost_usd(result: Node) -> Decimal:
    """One cost line in USD: `amount` is a decimal string in cents, so shift it two places (exact)."""
    currency = result.opt_text("currency") or "USD"  # the reference documents USD as its default
    if currency.upper() != "USD":
        raise result.fail("currency", problem=f"is {currency!r}; Margin reads provider costs in USD only")
    return result.money("amount", allow_string=True).scaleb(-2)

"""OpenAI organization Usage and Costs APIs → usage, cost and API key records (admin key `sk-admin-…`).

Usage comes from `organization/usage/completions` and `organization/usage/embeddings` in 1-day buckets
grouped by model, project, API key and user; reported dollars from `organization/costs` grouped by
project and API key, the grain rules §4.2 splits from. Other usage endpoints (images, audio, vector
stores…) are not read: their dollars still arrive through the costs endpoint, and the sync keeps them as
`(other)` rows. Array parameters use the bracket form `group_by[]=…`, as the official SDK sends them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import httpx

from connectors._http import build_client, get_json, iter_day_buckets, iter_pages
from connectors._keys import check_key_prefix
from connectors._merge import sum_costs, sum_usage
from connectors._payload import Node
from connectors._window import Progress, check_window, report, unix_seconds
from connectors.records import ApiKeyRecord, CostRecord, ProviderFetch, UsageRecord

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_PREFIX = "sk-admin-"

COMPLETIONS = "organization/usage/completions"
EMBEDDINGS = "organization/usage/embeddings"
COSTS = "organization/costs"
USAGE_GROUP_BY = ("model", "project_id", "api_key_id", "user_id")
COST_GROUP_BY = ("project_id", "api_key_id")  # rules §4.2: the cost grain is (day, project, key)
BUCKETS_PER_PAGE = 31  # the maximum the usage endpoints allow for 1d buckets
KEYS_PER_PAGE = 100


def make_client(
    api_key: str, *, base_url: str = DEFAULT_BASE_URL, sleep: Callable[[float], None] = time.sleep
) -> httpx.Client:
    """An HTTP client for the OpenAI admin API, authenticated with `api_key`."""
    return build_client(base_url, headers={"Authorization": f"Bearer {api_key}"}, sleep=sleep)


def validate_key_format(api_key: str) -> None:
    """Raise AuthError unless `api_key` looks like an OpenAI admin key (`sk-admin-…`)."""
    check_key_prefix(
        api_key,
        provider=PROVIDER,
        prefix=KEY_PREFIX,
        wrong_key=(
            "this is not an admin key; the usage and costs APIs need an admin key starting with "
            "sk-admin- (Organization settings → Admin keys); project keys (sk-proj-…) cannot read them"
        ),
    )


class OpenAIConnector:
    """Reads one OpenAI organization's usage, costs and API keys through an injected client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client  # base_url from MARGIN_OPENAI_BASE_URL, default DEFAULT_BASE_URL

    def test_key(self) -> None:
        """One cheap call to the costs endpoint: it fails with AuthError unless the key can read costs."""
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        params: dict[str, str | int] = {
            "start_time": unix_seconds(yesterday),
            "bucket_width": "1d",
            "limit": 1,
        }
        get_json(self._client, path=COSTS, provider=PROVIDER, endpoint=COSTS, params=params)

    def iter_completions_usage(self, *, start: date, end: date) -> Iterator[UsageRecord]:
        """Yield one record per (day, model, project, key, user) of completions usage in [start, end)."""
        yield from self._iter_usage(COMPLETIONS, start=start, end=end, has_output=True)

    def iter_embeddings_usage(self, *, start: date, end: date) -> Iterator[UsageRecord]:
        """Yield one record per (day, model, project, key, user) of embeddings usage in [start, end)."""
        yield from self._iter_usage(EMBEDDINGS, start=start, end=end, has_output=False)

    def _iter_usage(self, endpoint: str, *, start: date, end: date, has_output: bool) -> Iterator[UsageRecord]:
        params = _window_params(start, end) | {"group_by[]": list(USAGE_GROUP_BY)}
        buckets = iter_day_buckets(
            self._client, path=endpoint, provider=PROVIDER, params=params, day_of=_bucket_day, start=start, end=end
        )
        for day, bucket in buckets:
            for result in bucket.children("results"):
                yield _usage_record(result, day=day, has_output=has_output)

    def iter_costs(self, *, start: date, end: date) -> Iterator[CostRecord]:
        """Yield reported dollars per (day, project, api key) in [start, end); a null key is kept as ""."""
        params = _window_params(start, end) | {"group_by[]": list(COST_GROUP_BY)}
        buckets = iter_day_buckets(
            self._client, path=COSTS, provider=PROVIDER, params=params, day_of=_bucket_day, start=start, end=end
        )
        for day, bucket in buckets:
            for result in bucket.children("results"):
                if (record := _cost_record(result, day=day)) is not None:
                    yield record

    def iter_api_keys(self, *, project_id: str) -> Iterator[ApiKeyRecord]:
        """Yield the API keys of one project, following the `after` cursor."""
        endpoint = f"organization/projects/{quote(project_id, safe='')}/api_keys"
        # `any` lists every enabled key, not only those whose owner still has access to the project.
        params: dict[str, str | int] = {"limit": KEYS_PER_PAGE, "owner_project_access": "any"}
        pages = iter_pages(
            self._client,
            path=endpoint,
            provider=PROVIDER,
            endpoint=endpoint,
            params=params,
            cursor_field="last_id",
            cursor_param="after",
        )
        for page in pages:
            for key in page.children("data"):
                yield ApiKeyRecord(
                    provider=PROVIDER,
                    api_key_id=key.text("id"),
                    name=key.opt_text("name"),
                    project_id=project_id,
                    created_at=datetime.fromtimestamp(key.count("created_at"), UTC),
                )

    def fetch_window(self, *, start: date, end: date, on_progress: Progress = None) -> ProviderFetch:
        """Fetch usage, costs and the keys of the projects seen in [start, end); return once all arrived."""
        check_window(start=start, end=end)
        completions = list(self.iter_completions_usage(start=start, end=end))
        report(on_progress, message=f"openai: {len(completions)} completions usage rows")
        embeddings = list(self.iter_embeddings_usage(start=start, end=end))
        report(on_progress, message=f"openai: {len(embeddings)} embeddings usage rows")
        costs = list(self.iter_costs(start=start, end=end))
        report(on_progress, message=f"openai: {len(costs)} cost rows")
        usage = sum_usage([*completions, *embeddings])
        # The projects come from the data itself: keys of projects without usage have nothing to map.
        # Parenthesized on purpose: `-` binds tighter than `|`, and a null project_id (which the API reference
        # allows, e.g. for usage outside any project) must not become a request for `projects//api_keys`.
        projects = sorted(({r.project_id for r in usage} | {c.project_id for c in costs}) - {""})
        keys: dict[str, ApiKeyRecord] = {}
        for project_id in projects:
            for key in self.iter_api_keys(project_id=project_id):
                keys.setdefault(key.api_key_id, key)
        report(on_progress, message=f"openai: {len(keys)} API keys in {len(projects)} projects")
        return ProviderFetch(provider=PROVIDER, usage=usage, costs=sum_costs(costs), api_keys=list(keys.values()))


def _bucket_day(bucket: Node) -> date:
    return bucket.unix_day("start_time")


def _window_params(start: date, end: date) -> dict[str, str | int | list[str]]:
    return {
        "start_time": unix_seconds(start),
        "end_time": unix_seconds(end),
        "bucket_width": "1d",
        "limit": BUCKETS_PER_PAGE,
    }


def _usage_record(result: Node, *, day: date, has_output: bool) -> UsageRecord:
    """rules §4.8: OpenAI's input_tokens include cache reads and writes; the record's do not."""
    total_input = result.count("input_tokens")
    cached = result.opt_count("input_cached_tokens")
    cache_write = result.opt_count("input_cache_write_tokens")
    uncached = total_input - cached - cache_write
    if uncached < 0:
        raise result.fail(
            "input_tokens",
            problem=f"({total_input}) is smaller than its cached ({cached}) and cache-write ({cache_write}) parts",
        )
    return UsageRecord(
        provider=PROVIDER,
        day=day,
        model=result.opt_text("model"),
        api_key_id=result.opt_text("api_key_id"),
        project_id=result.opt_text("project_id"),
        user_id=result.opt_text("user_id"),
        input_tokens=uncached,
        cached_input_tokens=cached,
        cache_write_tokens=cache_write,
        output_tokens=result.count("output_tokens") if has_output else result.opt_count("output_tokens"),
        requests=result.count("num_model_requests"),
    )


def _cost_record(result: Node, *, day: date) -> CostRecord | None:
    """A cost row; None when it carries no amount (CostsResult requires only `object`, not `amount`)."""
    amount = result.opt_child("amount")
    value = None if amount is None else amount.opt_money("value")
    if amount is None or value is None:
        return None
    currency = amount.opt_text("currency") or "usd"  # documented as lowercase ISO-4217, not as required
    if currency.lower() != "usd":
        raise amount.fail("currency", problem=f"is {currency!r}; Margin reads provider costs in USD only")
    return CostRecord(
        provider=PROVIDER,
        day=day,
        amount_usd=value,
        project_id=result.opt_text("project_id"),
        api_key_id=result.opt_text("api_key_id"),
    )

"""Parse the providers' own dashboard CSV exports into records, to import history older than the API window.

Neither provider documents its export columns. Those below are the ones found in public code that reads
real exports (several independent projects agree on each header); other columns are ignored, since the
exports gain columns over time. A missing required column or a bad cell rejects the whole file with its
physical line (PayloadError, provider "csv").

- OpenAI usage ("Activity") export: the completions usage fields flattened, one row per bucket and group:
  `start_time, end_time, start_time_iso, end_time_iso, project_id, num_model_requests, user_id,
  api_key_id, model, batch, service_tier, input_tokens, output_tokens, input_cached_tokens, …`.
  Required: `start_time` or `start_time_iso`, `model`, `input_tokens`, `num_model_requests`; used when
  present: `output_tokens`, `input_cached_tokens`, `input_cache_write_tokens`, `project_id`, `user_id`,
  `api_key_id`. Counts may be written as `59200.0`. A bucket without usage is a row of empty cells.
- OpenAI cost export: `start_time, end_time, start_time_iso, end_time_iso, amount_value, amount_currency,
  line_item, project_id, organization_id, organization_name` (some add `api_key_id`, `quantity`, …).
  Required: `start_time` or `start_time_iso`, `amount_value`. Summed per (day, project, api key); without
  an `api_key_id` column the key is "", so such a file gives the cost per project only.
- Anthropic usage export (Console → Usage → Export): `usage_date_utc, model_version, api_key, workspace,
  usage_type, context_window, usage_input_tokens_no_cache, usage_input_tokens_cache_write_5m,
  usage_input_tokens_cache_write_1h, usage_input_tokens_cache_read, usage_output_tokens,
  web_search_count, inference_geo, speed`. Older exports have one `usage_input_tokens_cache_write`
  column, read as 5-minute writes (the split is unknown). It has no request count: `requests` is 0.
- Anthropic cost export (Console → Cost → Export): `usage_date_utc, model, workspace, api_key,
  usage_type, context_window, token_type, cost_usd, list_price_usd, cost_type, …`. `cost_usd` is in
  dollars (the API's cost report is in cents). Summed per (day, workspace), the API's cost grain.

The Anthropic exports name keys and workspaces rather than giving their ids; pass `key_ids` and
`workspace_ids` (name → id, e.g. from the API key listing) to store rows under the API's ids, so that API
and CSV rows of one bucket coincide. A name without a mapping is kept as it is; the "Default" workspace is
"" (the API's null). An `api_key_id` column, where an export has one, wins over the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from connectors._csv_rows import Row, fail, read_rows
from connectors._merge import sum_costs, sum_usage
from connectors.records import CostRecord, ProviderFetch, UsageRecord

OPENAI_USAGE = "openai usage export"
OPENAI_COSTS = "openai cost export"
ANTHROPIC_USAGE = "anthropic usage export"
ANTHROPIC_COSTS = "anthropic cost export"
DEFAULT_WORKSPACE = "Default"


def parse_openai_usage_export(text: str) -> list[UsageRecord]:
    """UsageRecords of an OpenAI usage export, with rules §4.8's token convention; one per natural key."""
    required = (("start_time", "start_time_iso"), ("model",), ("input_tokens",), ("num_model_requests",))
    records: list[UsageRecord] = []
    for row in read_rows(text, source=OPENAI_USAGE, required=required):
        if row.is_blank(("model", "input_tokens", "num_model_requests")):
            continue  # a day bucket without usage
        total_input = row.count("input_tokens")
        cached = row.count("input_cached_tokens", required=False)
        cache_write = row.count("input_cache_write_tokens", required=False)
        if total_input < cached + cache_write:
            raise fail(
                OPENAI_USAGE, line=row.line, reason="input_tokens is smaller than its cached and cache-write parts"
            )
        records.append(
            UsageRecord(
                provider="openai",
                day=_openai_day(row),
                model=row.text("model"),  # nullable in the API's UsageCompletionsResult, so maybe empty here
                api_key_id=row.text("api_key_id"),
                project_id=row.text("project_id"),
                user_id=row.text("user_id"),
                input_tokens=total_input - cached - cache_write,
                cached_input_tokens=cached,
                cache_write_tokens=cache_write,
                output_tokens=row.count("output_tokens", required=False),
                requests=row.count("num_model_requests"),
            )
        )
    return sum_usage(records)


def parse_openai_cost_export(text: str) -> list[CostRecord]:
    """CostRecords of an OpenAI cost export, summed per (day, project, api key)."""
    required = (("start_time", "start_time_iso"), ("amount_value",))
    records: list[CostRecord] = []
    for row in read_rows(text, source=OPENAI_COSTS, required=required):
        if row.is_blank(("amount_value",)):
            continue  # a day bucket without cost
        currency = row.text("amount_currency")
        if currency and currency.lower() != "usd":
            raise fail(
                OPENAI_COSTS, line=row.line, reason=f"column amount_currency: {currency!r}; only USD is supported"
            )
        records.append(
            CostRecord(
                provider="openai",
                day=_openai_day(row),
                amount_usd=row.money("amount_value"),
                project_id=row.text("project_id"),
                api_key_id=row.text("api_key_id"),
            )
        )
    return sum_costs(records)


def parse_anthropic_usage_export(
    text: str, *, key_ids: Mapping[str, str] | None = None, workspace_ids: Mapping[str, str] | None = None
) -> list[UsageRecord]:
    """UsageRecords of an Anthropic usage export, keys and workspaces mapped to ids where known."""
    required = (
        ("usage_date_utc",),
        ("model_version",),
        ("usage_input_tokens_no_cache",),
        ("usage_input_tokens_cache_write_5m", "usage_input_tokens_cache_write"),
        ("usage_input_tokens_cache_read",),
        ("usage_output_tokens",),
    )
    records: list[UsageRecord] = []
    for row in read_rows(text, source=ANTHROPIC_USAGE, required=required):
        if row.has("usage_input_tokens_cache_write_5m"):
            write_5m = row.count("usage_input_tokens_cache_write_5m")
            write_1h = row.count("usage_input_tokens_cache_write_1h", required=False)
        else:
            write_5m, write_1h = row.count("usage_input_tokens_cache_write"), 0
        records.append(
            UsageRecord(
                provider="anthropic",
                day=row.day("usage_date_utc"),
                model=row.text("model_version"),  # the usage report's `model` is nullable too
                api_key_id=_key_id(row, key_ids or {}),
                project_id=_workspace_id(row, workspace_ids or {}),
                input_tokens=row.count("usage_input_tokens_no_cache"),
                cached_input_tokens=row.count("usage_input_tokens_cache_read"),
                cache_write_tokens=write_5m + write_1h,
                cache_write_1h_tokens=write_1h,
                output_tokens=row.count("usage_output_tokens"),
                web_search_requests=row.count("web_search_count", required=False),
            )
        )
    return sum_usage(records)


def parse_anthropic_cost_export(text: str, *, workspace_ids: Mapping[str, str] | None = None) -> list[CostRecord]:
    """CostRecords of an Anthropic cost export, summed per (day, workspace)."""
    required = (("usage_date_utc",), ("cost_usd",))
    records = [
        CostRecord(
            provider="anthropic",
            day=row.day("usage_date_utc"),
            amount_usd=row.money("cost_usd"),
            project_id=_workspace_id(row, workspace_ids or {}),
        )
        for row in read_rows(text, source=ANTHROPIC_COSTS, required=required)
    ]
    return sum_costs(records)


def parse_export(
    text: str, *, key_ids: Mapping[str, str] | None = None, workspace_ids: Mapping[str, str] | None = None
) -> ProviderFetch:
    """Recognize which of the four exports `text` is by its header and parse it."""
    header = text.removeprefix("\ufeff").partition("\n")[0]
    columns = {name.strip().strip('"') for name in header.split(",")}
    if "usage_input_tokens_no_cache" in columns:
        usage = parse_anthropic_usage_export(text, key_ids=key_ids, workspace_ids=workspace_ids)
        return ProviderFetch(provider="anthropic", usage=usage)
    if {"usage_date_utc", "cost_usd"} <= columns:
        return ProviderFetch(provider="anthropic", costs=parse_anthropic_cost_export(text, workspace_ids=workspace_ids))
    if "amount_value" in columns:
        return ProviderFetch(provider="openai", costs=parse_openai_cost_export(text))
    if "num_model_requests" in columns:
        return ProviderFetch(provider="openai", usage=parse_openai_usage_export(text))
    raise fail(
        "provider export",
        line=1,
        reason="not an OpenAI or Anthropic usage/cost export (no num_model_requests, amount_value, "
        "usage_input_tokens_no_cache or cost_usd column)",
    )


def _openai_day(row: Row) -> date:
    """The bucket's UTC day: unix `start_time` where present, else `start_time_iso`."""
    return row.unix_day("start_time") if row.text("start_time") else row.day("start_time_iso")


def _key_id(row: Row, key_ids: Mapping[str, str]) -> str:
    explicit = row.text("api_key_id")
    if explicit:
        return explicit
    name = row.text("api_key")
    return key_ids.get(name, name)


def _workspace_id(row: Row, workspace_ids: Mapping[str, str]) -> str:
    name = row.text("workspace")
    if name in workspace_ids:
        return workspace_ids[name]
    return "" if name == DEFAULT_WORKSPACE else name

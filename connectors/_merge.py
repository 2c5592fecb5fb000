"""Sum records that share a natural key, so an upsert never writes one bucket over another (rules §5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from decimal import Decimal

from connectors.records import CostRecord, UsageRecord

UsageKey = tuple[str, date, str, str, str, str]
CostKey = tuple[str, date, str, str, str]


def usage_key(record: UsageRecord) -> UsageKey:
    """provider_usage's natural key: (provider, day, model, api_key_id, project_id, user_id)."""
    return (record.provider, record.day, record.model, record.api_key_id, record.project_id, record.user_id)


def sum_usage(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """One record per natural key, counts and reported dollars summed; first-seen order is kept."""
    merged: dict[UsageKey, UsageRecord] = {}
    for record in records:
        key = usage_key(record)
        seen = merged.get(key)
        merged[key] = record if seen is None else _add_usage(seen, record)
    return list(merged.values())


def _add_usage(a: UsageRecord, b: UsageRecord) -> UsageRecord:
    return replace(
        a,
        input_tokens=a.input_tokens + b.input_tokens,
        cached_input_tokens=a.cached_input_tokens + b.cached_input_tokens,
        cache_write_tokens=a.cache_write_tokens + b.cache_write_tokens,
        cache_write_1h_tokens=a.cache_write_1h_tokens + b.cache_write_1h_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        requests=a.requests + b.requests,
        web_search_requests=a.web_search_requests + b.web_search_requests,
        cost_usd=_add_money(a.cost_usd, b.cost_usd),
    )


def _add_money(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    # None means "no reported dollars"; it stays None only when neither part reported any.
    if a is None and b is None:
        return None
    return (a or Decimal(0)) + (b or Decimal(0))


def sum_costs(records: Iterable[CostRecord]) -> list[CostRecord]:
    """One record per (provider, day, project, api key, line item), amounts summed; first-seen order kept."""
    merged: dict[CostKey, CostRecord] = {}
    for record in records:
        key = (record.provider, record.day, record.project_id, record.api_key_id, record.line_item)
        seen = merged.get(key)
        merged[key] = record if seen is None else replace(seen, amount_usd=seen.amount_usd + record.amount_usd)
    return list(merged.values())

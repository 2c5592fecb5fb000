"""OpenRouter management API (keys, per-key activity) → usage records carrying their own dollars.

Usage is read per key (`activity?api_key_hash=…`), never also as the unfiltered total, which would count
every request twice (rules §5). Activity has one row per (date, model, upstream endpoint), so rows that
share (day, model, key) are summed. It covers the last 30 complete UTC days only; rows outside the
requested window are dropped. `cost_usd` is `usage`, the OpenRouter credits spent (BYOK fees included).
`byok_usage_inference` is left out on purpose: it is what the upstream provider billed on the user's own
key, so it appears on that provider's bill (and in Margin, once that provider is connected); adding it
here would count it twice. Keys are listed with `include_disabled=true`, since a key disabled during the
window still has activity in it; a deleted key is no longer listed, and its activity cannot be read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date

import httpx

from connectors._http import build_client, get_json
from connectors._keys import check_key_prefix
from connectors._merge import sum_usage
from connectors._payload import Node
from connectors._window import Progress, check_window, in_window, report
from connectors.records import ApiKeyRecord, ProviderFetch, UsageRecord

PROVIDER = "openrouter"
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
KEY_PREFIX = "sk-or-"

KEYS = "keys"
ACTIVITY = "activity"
KEYS_PER_PAGE = 100  # the listing's page size: a shorter page is the last one


def make_client(
    api_key: str, *, base_url: str = DEFAULT_BASE_URL, sleep: Callable[[float], None] = time.sleep
) -> httpx.Client:
    """An HTTP client for the OpenRouter management API, authenticated with `api_key`."""
    return build_client(base_url, headers={"Authorization": f"Bearer {api_key}"}, sleep=sleep)


def validate_key_format(api_key: str) -> None:
    """Raise AuthError unless `api_key` looks like an OpenRouter key (`sk-or-…`).

    Management and regular keys share the prefix; `test_key()` tells them apart (403 for a regular key).
    """
    check_key_prefix(
        api_key,
        provider=PROVIDER,
        prefix=KEY_PREFIX,
        wrong_key=(
            "this is not an OpenRouter key; usage needs a management key starting with sk-or- "
            "(openrouter.ai/settings/management-keys)"
        ),
    )


class OpenRouterConnector:
    """Reads one OpenRouter account's keys and per-key activity through an injected client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client  # base_url from MARGIN_OPENROUTER_BASE_URL, default DEFAULT_BASE_URL

    def test_key(self) -> None:
        """One call listing keys: only a management key may, so a regular key fails with AuthError (403)."""
        get_json(self._client, path=KEYS, provider=PROVIDER, endpoint=KEYS, params={"offset": 0})

    def iter_api_keys(self) -> Iterator[ApiKeyRecord]:
        """Yield every key (disabled ones too) with its `hash` as id, following `offset` 100 at a time."""
        offset = 0
        while True:
            params: dict[str, str | int] = {"include_disabled": "true", "offset": offset}
            page = get_json(self._client, path=KEYS, provider=PROVIDER, endpoint=KEYS, params=params)
            keys = page.children("data")
            for key in keys:
                yield ApiKeyRecord(
                    provider=PROVIDER,
                    api_key_id=key.text("hash"),
                    name=key.opt_text("name") or key.opt_text("label"),
                    created_at=key.opt_timestamp("created_at"),
                )
            if len(keys) < KEYS_PER_PAGE:
                return
            offset += len(keys)

    def iter_key_activity(self, *, api_key_hash: str, start: date, end: date) -> Iterator[UsageRecord]:
        """Yield one record per activity row of one key in [start, end), as reported (not yet summed)."""
        endpoint = f"{ACTIVITY}?api_key_hash={api_key_hash[:12]}…"
        page = get_json(
            self._client,
            path=ACTIVITY,
            provider=PROVIDER,
            endpoint=endpoint,
            params={"api_key_hash": api_key_hash},
        )
        for row in page.children("data"):
            day = row.day("date")
            if in_window(day, start=start, end=end):
                yield _usage_record(row, day=day, api_key_hash=api_key_hash)

    def fetch_window(self, *, start: date, end: date, on_progress: Progress = None) -> ProviderFetch:
        """Fetch the keys, then each key's activity in [start, end); return only once every key is read."""
        check_window(start=start, end=end)
        keys = list(self.iter_api_keys())
        report(on_progress, message=f"openrouter: {len(keys)} API keys")
        rows: list[UsageRecord] = []
        for number, key in enumerate(keys, start=1):
            rows.extend(self.iter_key_activity(api_key_hash=key.api_key_id, start=start, end=end))
            report(on_progress, message=f"openrouter: activity of key {number}/{len(keys)} ({key.name or 'unnamed'})")
        # One model served by two upstream endpoints gives two rows with the same natural key.
        return ProviderFetch(provider=PROVIDER, usage=sum_usage(rows), api_keys=keys)


def _usage_record(row: Node, *, day: date, api_key_hash: str) -> UsageRecord:
    """completion_tokens already include reasoning tokens (rules §4.8): they are never added again."""
    return UsageRecord(
        provider=PROVIDER,
        day=day,
        model=row.text("model"),
        api_key_id=api_key_hash,
        input_tokens=row.count("prompt_tokens"),
        output_tokens=row.count("completion_tokens"),
        requests=row.count("requests"),
        cost_usd=row.money("usage"),
    )

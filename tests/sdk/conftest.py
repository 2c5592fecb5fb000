"""SDK test fixtures: a temp SQLite store, a tracker writing to it, the local LLM server, rollup readers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# pyproject sets no `pythonpath`, so a bare `pytest` would not find `margin_core` (see tests/connectors).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_fixture_server import LLMServer, serve  # noqa: E402
from sqlalchemy import text  # noqa: E402

from margin_core.sdk import Tracker  # noqa: E402
from margin_core.store.db import make_engine  # noqa: E402

ROLLUP_COLUMNS = (
    "day, customer_id, feature, provider, model, api_key_id, metadata_json, has_cost, requests, input_tokens, "
    "cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, cost_micros"
)
KEY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "MARGIN_DATABASE_URL")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/m.db"


@pytest.fixture
def tracker(db_url: str) -> Iterator[Tracker]:
    tracker = Tracker(db_url, flush_interval=0.05)
    yield tracker
    tracker.close(timeout=10)


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    yield from serve()


def rollup(url: str) -> list[dict[str, Any]]:
    """Every event_rollup row as a dict (read with a separate engine, as the app would)."""
    engine = make_engine(url)  # creates the tables, so "nothing written yet" reads as no rows
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT {ROLLUP_COLUMNS} FROM event_rollup ORDER BY customer_id, model"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def totals(url: str, column: str, *, by: str = "customer_id") -> dict[str, int]:
    """Sum of `column` per value of `by`."""
    out: dict[str, int] = {}
    for row in rollup(url):
        out[row[by]] = out.get(row[by], 0) + int(row[column])
    return out

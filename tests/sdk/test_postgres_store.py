"""The tracker writing to PostgreSQL, as production servers do through MARGIN_DATABASE_URL (rules §2)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from margin_core.sdk import Tracker
from margin_core.store.db import shared_engine

pytestmark = pytest.mark.postgres


def _pg_url() -> str:
    url = os.environ.get("MARGIN_TEST_PG_URL")
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("MARGIN_TEST_PG_URL is not set: make test starts PostgreSQL for the run")
        pytest.skip("MARGIN_TEST_PG_URL is not set (make test starts PostgreSQL)")
    return url


def test_events_reach_postgres_once(tmp_path: Path) -> None:
    url = _pg_url()
    customer = f"cus_pg_{uuid.uuid4().hex[:8]}"  # the server is shared by the run: read only our rows
    with Tracker(url, spool_path=tmp_path / "spool.jsonl", flush_interval=0.05) as tracker:
        with tracker.context(customer_id=customer, feature="pg", plan="pro"):
            first = tracker.record(provider="openrouter", model="openai/gpt-5.6", input_tokens=10, cost_usd="0.001")
            tracker.record(provider="openrouter", model="openai/gpt-5.6", input_tokens=10, event_id=first)
            tracker.record(provider="openrouter", model="openai/gpt-5.6", input_tokens=5, output_tokens=7)
        assert tracker.flush(30)
        assert not (tmp_path / "spool.jsonl").exists() or (tmp_path / "spool.jsonl").read_text() == ""
    with shared_engine(url).connect() as connection:
        rows = connection.execute(
            text(
                "SELECT has_cost, requests, input_tokens, output_tokens, cost_micros, metadata_json "
                "FROM event_rollup WHERE customer_id = :c ORDER BY has_cost"
            ),
            {"c": customer},
        ).all()
    assert [tuple(row) for row in rows] == [
        (False, 1, 5, 7, 0, '{"plan":"pro"}'),
        (True, 1, 10, 0, 1000, '{"plan":"pro"}'),
    ]

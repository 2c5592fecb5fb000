"""The same store code on PostgreSQL (MARGIN_DATABASE_URL for teams): upserts, ingest and ADBC reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from connectors.records import EventRecord
from margin_core import reports
from margin_core.store import repo
from margin_core.store.events import ingest_events
from margin_core.workspace import load_workspace


def test_events_and_usage_round_trip_on_postgres(pg_engine) -> None:
    ts = datetime(2026, 3, 2, 12, tzinfo=UTC)
    records = [
        EventRecord(
            event_id=f"e{i}",
            ts=ts,
            customer_id="acme",
            feature="chat",
            provider="openrouter",
            model="openai/gpt-4o",
            cost_usd=Decimal("0.25"),
            metadata={"plan": "pro"},
        )
        for i in range(4)
    ]
    assert ingest_events(pg_engine, records) == 4
    assert ingest_events(pg_engine, records) == 0  # none written twice
    with pg_engine.begin() as connection:
        repo.upsert_customers(connection, [("acme", "Acme", "", "pro", "", "", "{}", "csv")])
        repo.upsert_revenue(
            connection,
            [("s1", "csv", "acme", date(2026, 3, 1), date(2026, 3, 3), 1_000, "usd", 1_000, None, "", "")],
        )
        repo.bump_version(connection)
    workspace = load_workspace(pg_engine)
    ledger, _ = reports.ledger(workspace, start=date(2026, 3, 1), end=date(2026, 3, 3))
    assert ledger.select(pl.col("requests").sum()).collect().item() == 4
    table = reports.customer_margins(workspace, start=date(2026, 3, 1), end=date(2026, 3, 3))
    acme = table.filter(table["customer_id"] == "acme").row(0, named=True)
    assert (acme["revenue_micros"], acme["cost_micros"], acme["estimated_micros"]) == (10_000_000, 1_000_000, 1_000_000)

"""Writers that take the connectors' records (connectors/records.py) rather than positional tuples: the
store alone knows which field goes to which column."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from connectors.records import CustomerRecord, RevenueLineRecord
from margin_core.store import repo
from margin_core.store.events import metadata_json


def upsert_customer_records(connection: Connection, records: Iterable[CustomerRecord], *, source: str) -> int:
    """Insert or replace customers, their metadata as canonical JSON, marked with their source."""
    return repo.upsert_customers(
        connection,
        [
            (c.customer_id, c.name, c.email, c.tier, c.segment, c.region, metadata_json(c.metadata), source)
            for c in records
        ],
    )


def upsert_revenue_records(connection: Connection, lines: Iterable[tuple[RevenueLineRecord, int | None]]) -> int:
    """Insert or replace revenue lines on source_id: each record with its amount in US cents, converted by the
    caller (the currency rule is not the store's; None where no rate is known)."""
    return repo.upsert_revenue(
        connection,
        [
            (
                r.source_id,
                r.kind,
                r.customer_id,
                r.service_start,
                r.service_end,
                r.amount,
                r.currency,
                usd_cents,
                None if r.rate_to_usd is None else str(r.rate_to_usd),
                r.plan,
                r.description,
            )
            for r, usd_cents in lines
        ],
    )

"""The exchange-rate table in the store: saving it reconverts every non-USD revenue line (rules §4.3).

The conversion rule is `currency.usd_cents`; the store only reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from margin_core import currency
from margin_core.store import repo


def save_rates(connection: Connection, rows: Iterable[tuple[str, str]]) -> int:
    """Set (currency, rate_to_usd) rows and reconvert revenue; the caller commits."""
    count = repo.upsert_exchange_rates(connection, rows)
    reconvert_revenue(connection)
    return count


def reconvert_revenue(connection: Connection) -> None:
    """Recompute every non-USD line's `amount_usd_cents` from the rate table, else Stripe's rate."""
    table = repo.read_exchange_rates(connection)
    repo.set_revenue_usd_cents(
        connection,
        [
            (line_id, currency.usd_cents(amount, code, table=table, stripe_rate=stripe_rate))
            for line_id, amount, code, stripe_rate in repo.read_foreign_revenue(connection)
        ],
    )

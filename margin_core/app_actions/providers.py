"""Provider connections: check a key with one cheap call, save it encrypted, remove it, list the
connections with masked keys and their last sync, and run a sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Engine

from connectors.errors import ConnectorError
from connectors.records import SOURCES
from margin_core import secrets, settings, sync
from margin_core.app_actions.clock import as_utc
from margin_core.errors import ConfigError
from margin_core.store import connections as connections_table
from margin_core.store import sync_runs

PROVIDERS = SOURCES
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "stripe": "Stripe"}


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of a key check: ok, and a message for the user."""

    ok: bool
    message: str


def check_key(kind: str, secret: str) -> ConnectionCheck:
    """Check a key's format, then make one cheap authenticated call (rules §7)."""
    if kind not in sync.KEY_FORMATS:
        raise ConfigError(f"unknown connection {kind!r}")
    try:
        _test_key(kind, secret)
    except ConnectorError as exc:
        return ConnectionCheck(False, str(exc))
    return ConnectionCheck(True, f"{PROVIDER_NAMES[kind]} accepted the key.")


def _test_key(kind: str, secret: str) -> None:
    """Raises ConnectorError when the key's format is wrong or the provider refuses it."""
    sync.KEY_FORMATS[kind](secret)
    if kind == "stripe":
        sync.stripe_connector(secret).test_key()
        return
    with sync.usage_connector(kind, secret) as connector:
        connector.test_key()


def save_connection(engine: Engine, kind: str, secret: str) -> None:
    """Save (or replace) a provider's key, encrypted at rest; only its masked form is ever shown."""
    if kind not in PROVIDERS:
        raise ConfigError(f"unknown connection {kind!r}")
    connections_table.save_connection(engine, kind, token=secrets.encrypt(secret), label=secrets.mask(secret))


def remove_connection(engine: Engine, kind: str) -> None:
    """Forget a provider's key (the data already synced stays)."""
    connections_table.delete_connection(engine, kind)


def saved_key(engine: Engine, kind: str) -> str | None:
    """A saved key in clear, for a test call; never shown."""
    token = connections_table.read_secret(engine, kind)
    return secrets.decrypt(token) if token else None


def connections(engine: Engine) -> pl.DataFrame:
    """One row per provider: masked key, status, last sync, its rows and error (env keys included)."""
    saved, runs = connections_table.read_connections(engine), sync_runs.latest_rows(engine)
    rows = []
    for kind in PROVIDERS:
        row, run = saved.get(kind), runs.get(kind)
        env = settings.key_from_env(kind)
        if row is not None:
            key, source, status = row.label, "saved", row.status
        elif env:
            key, source, status = secrets.mask(env), "environment", "connected"
        else:
            key, source, status = "", "", "not connected"
        last = (row.last_synced_at if row is not None else None) or (run.finished_at if run else None)
        rows.append(
            {
                "provider": kind,
                "name": PROVIDER_NAMES[kind],
                "key": key,
                "source": source,
                "status": status,
                "last_sync": as_utc(last),
                "last_result": run.status if run else "",
                "rows_written": run.rows_written if run else None,
                "last_error": (row.last_error if row is not None else "") or (run.error if run else ""),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "provider": pl.String,
            "name": pl.String,
            "key": pl.String,
            "source": pl.String,
            "status": pl.String,
            "last_sync": pl.Datetime("us", "UTC"),
            "last_result": pl.String,
            "rows_written": pl.Int64,
            "last_error": pl.String,
        },
    )


def run_sync(
    engine: Engine, *, only: str | None, today: date, progress: Callable[[str], None] | None = None
) -> list[sync.SyncResult]:
    """Run `margin_core.sync.sync_all` (results have provider, status, rows_written, error; new alerts go to
    the webhook, rules §4.9)."""
    return sync.sync_all(engine, only=only, today=today, days=None, progress=progress)

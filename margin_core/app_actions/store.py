"""The store as the app sees it: its engine and change counter, the workspace snapshot, settings, exchange
rates, mappings, CSV imports and the demo workspace. Every write bumps the store version.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

import polars as pl
from sqlalchemy import Connection, Engine

from margin_core import demo, fx, imports, ingest, reports, settings
from margin_core.engine.margins import DEFAULT_BREAK_EVEN
from margin_core.errors import ConfigError
from margin_core.sdk.spool import replay_store_spool
from margin_core.store import db, repo
from margin_core.workspace import Workspace, load_workspace

StoreHandle: TypeAlias = Engine
"""The open store as pages hold it: they pass it back to these use cases and never look inside."""


def app_engine() -> Engine:
    """The app's engine (MARGIN_DATABASE_URL or data/margin.db); an empty store gets the demo workspace."""
    engine = db.shared_engine()
    # Events an SDK process spooled for this store (rules §6); first, so they are never mixed into a demo.
    replay_store_spool(engine)
    demo.ensure_demo(engine)
    return engine


def store_version(engine: Engine) -> int:
    """The store's change counter: any sync, import, mapping or setting changes it."""
    return repo.data_version(engine)


def load(engine: Engine) -> Workspace:
    """The workspace snapshot every report of the app is computed from, attributed once for all ranges."""
    return reports.prepare(load_workspace(engine))


def workspace_label(engine: Engine) -> str:
    """Where the store lives, without credentials: "SQLite · data/margin.db", "PostgreSQL · host/db"."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        short = path.removeprefix(str(settings.REPO_ROOT) + "/")
        return f"SQLite · {short}"
    return f"PostgreSQL · {url.host or 'localhost'}/{url.database or ''}"


def _bump(engine: Engine, write: Callable[[Connection], object]) -> None:
    with engine.begin() as connection:
        write(connection)
        repo.bump_version(connection)


# --- settings ----------------------------------------------------------------------------------------


def read_settings(engine: Engine) -> dict[str, str]:
    """Every key/value setting."""
    with engine.connect() as connection:
        return repo.read_settings(connection)


def settings_table(engine: Engine) -> pl.DataFrame:
    """The settings that matter to the user, as shown on the Settings page."""
    values = read_settings(engine)
    rows = [
        ("Break-even threshold", f"{float(values.get('break_even_pct', DEFAULT_BREAK_EVEN * 100)):g}%"),
        ("Allocation basis", values.get("allocation_basis", "requests")),
        ("Workspace", "demo" if values.get("workspace_kind") == "demo" else "own data"),
        ("Store version", values.get("data_version", "0")),
    ]
    return pl.DataFrame(rows, schema=["setting", "value"], orient="row")


def save_settings(engine: Engine, *, break_even_pct: float | None = None, allocation_basis: str | None = None) -> None:
    """Save the break-even threshold (percent, 0–100) and/or the allocation basis (requests | tokens)."""
    if break_even_pct is not None and not 0 <= break_even_pct <= 100:
        raise ConfigError(f"break-even threshold {break_even_pct}% must be between 0 and 100")
    if allocation_basis is not None and allocation_basis not in ("requests", "tokens"):
        raise ConfigError(f"allocation basis {allocation_basis!r} must be requests or tokens")

    def write(connection: Connection) -> None:
        if break_even_pct is not None:
            repo.set_setting(connection, "break_even_pct", f"{break_even_pct:g}")
        if allocation_basis is not None:
            repo.set_setting(connection, "allocation_basis", allocation_basis)

    _bump(engine, write)


def exchange_rates(engine: Engine) -> pl.DataFrame:
    """currency, rate_to_usd (text Decimal) of the rate table."""
    with engine.connect() as connection:
        rates = repo.read_exchange_rates(connection)
    rows = [(code, str(rate)) for code, rate in sorted(rates.items())]
    return pl.DataFrame(rows, schema={"currency": pl.String, "rate_to_usd": pl.String}, orient="row")


def save_exchange_rates(engine: Engine, rows: list[tuple[str, str]]) -> int:
    """Validate and save (currency, rate_to_usd) rows; revenue is reconverted. Raises ConfigError."""
    clean: list[tuple[str, str]] = []
    for code, raw in rows:
        code = (code or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ConfigError(f"{code or '(empty)'!r} is not a 3-letter currency code")
        try:
            rate = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ConfigError(f"{code}: {raw!r} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise ConfigError(f"{code}: the rate must be a positive number")
        clean.append((code, str(rate)))
    _bump(engine, lambda connection: fx.save_rates(connection, clean))
    return len(clean)


# --- mappings and imports ----------------------------------------------------------------------------


def save_mapping(engine: Engine, *, provider: str, dimension: str, value: str, customer_id: str) -> None:
    """Map one key, project or user (of one provider, or `*`) to a customer; reports change at once."""
    if dimension not in imports.DIMENSIONS:
        raise ConfigError(f"dimension {dimension!r} is not one of {', '.join(imports.DIMENSIONS)}")
    if not value or not customer_id:
        raise ConfigError("a mapping needs a value and a customer")
    _bump(engine, lambda c: repo.upsert_mappings(c, [(provider, dimension, value, customer_id)]))


def delete_mapping(engine: Engine, *, provider: str, dimension: str, value: str) -> None:
    """Remove one mapping."""
    _bump(
        engine,
        lambda c: repo.delete_mapping(c, provider=provider, dimension=dimension, value=value),
    )


def import_csv(engine: Engine, kind: str, content: str | bytes, *, source: str) -> int:
    """Validate and write a canonical CSV, all or nothing (refused in the demo workspace); rows written.

    An uploaded file comes as bytes: read line by line, so bytes that are not UTF-8 are named by line.
    """
    if isinstance(content, str):
        return ingest.write_parsed(engine, imports.parse_text(kind, content, source=source))
    lines = imports.text_lines(io.BytesIO(content), source=source)
    return ingest.write_batches(engine, kind, imports.iter_batches(kind, lines, source=source), source=source)


# --- demo --------------------------------------------------------------------------------------------


def reset_demo(engine: Engine, *, today: date) -> str:
    """Rebuild the demo workspace ending the day before `today`."""
    return demo.build(engine, today=today)


def clear_demo(engine: Engine) -> None:
    """Empty the demo store so the user's own data can come in (connections are kept)."""
    demo.clear(engine)

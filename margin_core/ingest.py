"""Use case: write a validated import into the store, all or nothing (DESIGN §5, §8)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine

from margin_core import currency, fx, imports, schemas
from margin_core.errors import DemoWorkspaceError, ImportFileError
from margin_core.store import repo
from margin_core.store.events import events_frame, ingest_frame, usd_to_micros

DEMO_MESSAGE = (
    "this store holds the demo workspace; real data is never mixed into it. Clear it first on the "
    "Settings page or with `python -m margin_core demo --clear`."
)


def ensure_not_demo(connection: Connection) -> None:
    """Refuse to write real data into the demo workspace."""
    if repo.read_settings(connection).get("workspace_kind") == "demo":
        raise DemoWorkspaceError(DEMO_MESSAGE)


def import_file(engine: Engine, kind: str, path: Path) -> int:
    """Validate the whole file, then write it in one transaction; return the rows written."""
    if kind == "events":
        written = _import_events_columnar(engine, path)
        if written is not None:
            return written
    parsed = imports.parse_file(kind, path)
    return write_parsed(engine, parsed)


def _import_events_columnar(engine: Engine, path: Path) -> int | None:
    """The events CSV through polars (`imports_events`); None when the row-by-row parser must decide."""
    from margin_core.imports_events import parse_events_file

    batch = parse_events_file(path)
    if batch is None:
        return None
    with engine.begin() as connection:
        ensure_not_demo(connection)
        repo.set_setting(connection, "workspace_kind", "own")
    return ingest_frame(engine, batch) if batch.height else 0


def write_parsed(engine: Engine, parsed: imports.Parsed) -> int:
    """Write a parsed import (refused in a demo store)."""
    with engine.connect() as connection:
        ensure_not_demo(connection)
    if parsed.kind == "events":
        with engine.begin() as connection:
            repo.set_setting(connection, "workspace_kind", "own")
        return ingest_frame(engine, events_frame(parsed.rows)) if parsed.rows else 0
    with engine.begin() as connection:
        count = _write(connection, parsed)
        repo.set_setting(connection, "workspace_kind", "own")
        repo.bump_version(connection)
    return count


def _write(connection: Connection, parsed: imports.Parsed) -> int:
    rows = parsed.rows
    if parsed.kind == "customers":
        return repo.upsert_customers(connection, rows)
    if parsed.kind == "mappings":
        return repo.upsert_mappings(connection, rows)
    if parsed.kind == "rates":
        return fx.save_rates(connection, rows)
    if parsed.kind == "usage":
        return repo.upsert_usage(connection, usage_frame(rows))
    if parsed.kind == "revenue":
        table = repo.read_exchange_rates(connection)
        lines = [
            (
                source_id,
                "csv",
                customer_id,
                start,
                end,
                amount,
                code,
                currency.usd_cents(amount, code, table=table),
                None,
                "",
                "",
            )
            for customer_id, source_id, start, end, amount, code in rows
        ]
        return repo.upsert_revenue(connection, lines)
    raise AssertionError(parsed.kind)


def usage_frame(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    """Canonical usage rows (cost_usd Decimal or None) as a frame ready for `repo.upsert_usage`."""
    # canonical order: ... cache_write_tokens, output_tokens, requests, cost_usd; the store's puts the
    # 1-hour cache writes (none in a CSV) before output_tokens
    records = [
        (
            *row[:9],
            0,
            row[9],
            row[10],
            usd_to_micros(row[11]) if isinstance(row[11], Decimal) else 0,
            "reported" if row[11] is not None else "estimated",
            "csv",
        )
        for row in rows
    ]
    schema = [(name, dtype) for name, dtype in schemas.USAGE.items() if name != "usage_id"]
    order = [name for name, _ in schema]
    frame = pl.DataFrame(records, schema=schema, orient="row")
    # A file may repeat a bucket: its rows are summed, never written over each other (the parser has
    # made sure they all have a cost or all have none, so they share cost_source).
    key = [*repo.USAGE_KEY, "cost_source", "source"]
    return frame.group_by(key, maintain_order=True).agg(pl.exclude(key).sum()).select(order)


def import_provider_exports(engine: Engine, paths: list[Path]) -> int:
    """Import OpenAI/Anthropic dashboard exports: give a period's usage and cost files together, so the
    reported dollars are split over the usage rows as a sync would (DESIGN §4.2); all or nothing."""
    from connectors import provider_exports
    from connectors._merge import usage_key
    from connectors.errors import PayloadError
    from connectors.records import ProviderFetch
    from margin_core.provider_usage import usage_rows

    merged: dict[str, ProviderFetch] = {}
    seen: dict[tuple[object, ...], Path] = {}  # each bucket's file: overlapping exports would count twice
    for path in paths:
        try:
            fetched = provider_exports.parse_export(path.read_text(encoding="utf-8-sig"))
        except PayloadError as exc:
            raise ImportFileError(str(exc), path=str(path)) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportFileError(f"cannot read the file: {exc}", path=str(path)) from exc
        buckets: list[tuple[object, ...]] = [("usage", *usage_key(u)) for u in fetched.usage]
        buckets += [("cost", c.provider, c.day, c.project_id, c.api_key_id) for c in fetched.costs]
        for bucket in buckets:
            if seen.setdefault(bucket, path) != path:
                raise ImportFileError(
                    f"{bucket[1]} {bucket[2]} is also in {seen[bucket]}: the exports overlap; import each day once",
                    path=str(path),
                )
        before = merged.get(fetched.provider, ProviderFetch(provider=fetched.provider))
        merged[fetched.provider] = ProviderFetch(
            provider=fetched.provider, usage=before.usage + fetched.usage, costs=before.costs + fetched.costs
        )
    frames = [usage_rows(fetched, source="csv") for fetched in merged.values()]
    with engine.begin() as connection:
        ensure_not_demo(connection)
        count = sum(repo.upsert_usage(connection, frame) for frame in frames)
        repo.set_setting(connection, "workspace_kind", "own")
        repo.bump_version(connection)
    return count

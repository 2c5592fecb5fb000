"""Use case: write a validated import into the store, all or nothing (rules §5, §8)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine

from margin_core import currency, fx, imports, schemas
from margin_core.errors import DemoWorkspaceError, ImportFileError
from margin_core.store import repo, sqlite_writer, staging
from margin_core.store.db import begin_write, bulk_cache
from margin_core.store.events import ChildIngest, events_frame, ingest_frame, ingest_on, usd_to_micros

DEMO_MESSAGE = (
    "this store holds the demo workspace; real data is never mixed into it. Clear it first on the "
    "Settings page or with `python -m margin_core demo --clear`."
)


def ensure_not_demo(connection: Connection) -> None:
    """Refuse to write real data into the demo workspace."""
    refuse_demo(repo.read_settings(connection))


def refuse_demo(settings: Mapping[str, str]) -> None:
    """Refuse to write real data into a store whose settings say it holds the demo workspace."""
    if settings.get("workspace_kind") == "demo":
        raise DemoWorkspaceError(DEMO_MESSAGE)


def import_file(engine: Engine, kind: str, path: Path) -> int:
    """Validate and write the file in batches, in one transaction: a bad line anywhere writes nothing.

    The file is read as it is written, so memory stays bounded whatever its size (rules §5).
    """
    if kind == "events":  # the canonical events CSV through polars, else the row parser decides
        written = _import_events_columnar(engine, path)
        if written is not None:
            return written
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc}", path=str(path)) from exc
    with handle:
        lines = imports.text_lines(handle, source=str(path))
        return write_batches(engine, kind, imports.iter_batches(kind, lines, source=str(path)), source=str(path))


def _import_events_columnar(engine: Engine, path: Path) -> int | None:
    """The events CSV through polars (`imports_events`); None when the row-by-row parser must decide."""
    from margin_core.imports_events import parse_events_file

    # A large file into a SQLite file: the child writer starts (its imports) while the file is parsed.
    # It records the event keys as soon as the parser has them; if the file is the row parser's after all,
    # closing it drops them.
    writer = sqlite_writer.start(engine) if _file_size(path) >= sqlite_writer.LARGE_FILE_BYTES else None
    try:
        if writer is None:
            batch = parse_events_file(path)
        else:
            child = ChildIngest(writer)
            batch = parse_events_file(path, on_keys=child.record_keys)
        if batch is None:
            return None
        if writer is not None and batch.height:
            return child.write(batch, check=refuse_demo, settings={"workspace_kind": "own"})
    finally:
        if writer is not None:
            writer.close()
    with engine.begin() as connection:
        ensure_not_demo(connection)
        repo.set_setting(connection, "workspace_kind", "own")
    return ingest_frame(engine, batch) if batch.height else 0


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def write_parsed(engine: Engine, parsed: imports.Parsed) -> int:
    """Write a parsed import (refused in a demo store)."""
    return write_batches(engine, parsed.kind, iter([parsed]))


def write_batches(engine: Engine, kind: str, batches: Iterator[imports.Parsed], *, source: str = "") -> int:
    """Write batches of parsed rows of `kind` in one transaction; an error raised by `batches` (a bad
    line found further on) rolls every earlier batch back. Refused in a demo store."""
    with engine.begin() as connection, bulk_cache(connection, small=kind != "events"):
        begin_write(connection)  # SQLite: take the write lock now, not halfway through the file
        ensure_not_demo(connection)
        writer = _BatchWriter(connection, kind, source=source)
        for batch in batches:
            writer.write(batch)
        count = writer.finish()
        repo.set_setting(connection, "workspace_kind", "own")
        repo.bump_version(connection)
    return count


class _BatchWriter:
    """Writes one import's batches into the open transaction."""

    def __init__(self, connection: Connection, kind: str, *, source: str) -> None:
        self.connection, self.kind, self.source = connection, kind, source
        self.count = 0
        self._rates: dict[str, Decimal] | None = None
        if kind == "usage":
            staging.start_usage(connection)

    def write(self, batch: imports.Parsed) -> None:
        rows = batch.rows
        if not rows:
            return
        if self.kind == "events":
            self.count += ingest_on(self.connection, events_frame(rows))
        elif self.kind == "usage":
            lines = batch.lines or range(2, len(rows) + 2)
            staging.stage_usage(self.connection, usage_rows(rows, lines=lines))
        elif self.kind == "revenue":
            if self._rates is None:
                self._rates = repo.read_exchange_rates(self.connection)
            self.count += _write_revenue(self.connection, rows, self._rates)
        else:
            self.count += _write(self.connection, imports.Parsed(self.kind, rows))

    def finish(self) -> int:
        if self.kind != "usage":
            return self.count
        mixed = staging.mixed_cost_bucket(self.connection)
        if mixed is not None:
            raise ImportFileError(
                f"cost_usd: this bucket repeats line {mixed[1]}, one with a cost and one without; "
                "give every row of a bucket its cost, or none",
                path=self.source,
                line=mixed[0],
            )
        return staging.merge_usage(self.connection)


def _write(connection: Connection, parsed: imports.Parsed) -> int:
    rows = parsed.rows
    if parsed.kind == "customers":
        return repo.upsert_customers(connection, rows)
    if parsed.kind == "mappings":
        return repo.upsert_mappings(connection, rows)
    if parsed.kind == "rates":
        return fx.save_rates(connection, rows)
    raise AssertionError(parsed.kind)


def _write_revenue(connection: Connection, rows: list[Any], table: dict[str, Decimal]) -> int:
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


def usage_rows(rows: list[tuple[object, ...]], *, lines: Sequence[int]) -> list[tuple[object, ...]]:
    """Canonical usage rows as staged rows: (line, *USAGE_KEY, *USAGE_VALUES)."""
    # canonical order: ... cache_write_tokens, output_tokens, requests, cost_usd; the store's puts the
    # 1-hour cache writes (none in a CSV) before output_tokens
    return [
        (
            line,
            *row[:9],
            0,
            row[9],
            row[10],
            usd_to_micros(row[11]) if isinstance(row[11], Decimal) else 0,
            "reported" if row[11] is not None else "estimated",
            "csv",
        )
        for line, row in zip(lines, rows, strict=True)
    ]


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
    reported dollars are split over the usage rows as a sync would (rules §4.2); all or nothing."""
    from connectors import provider_exports
    from connectors._csv_rows import decode
    from connectors._merge import usage_key
    from connectors.errors import PayloadError
    from connectors.records import ProviderFetch
    from margin_core.provider_usage import usage_rows

    merged: dict[str, ProviderFetch] = {}
    seen: dict[tuple[object, ...], Path] = {}  # each bucket's file: overlapping exports would count twice
    for path in paths:
        try:
            fetched = provider_exports.parse_export(decode(path.read_bytes(), source=path.name))
        except PayloadError as exc:
            raise ImportFileError(str(exc), path=str(path)) from exc
        except OSError as exc:
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

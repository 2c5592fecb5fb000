"""The command line (rules §5): `python -m margin_core --db URL demo|import|sync|report …`.

Imports stay lazy so a report starts fast; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.records import SOURCES  # a few constants: start-up stays light
from margin_core.vocabulary import REPORT_KINDS

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m margin_core", description="Margin: LLM cost vs revenue.")
    parser.add_argument("--db", help="SQLAlchemy URL of the store (default: MARGIN_DATABASE_URL or data/margin.db)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="create the deterministic demo workspace")
    demo.add_argument("--today", type=_day, help="the demo's 120 days end the day before this (default: today)")
    demo.add_argument("--clear", action="store_true", help="empty a demo store for your own data")

    imp = commands.add_parser("import", help="import a canonical CSV file")
    imp.add_argument(
        "kind",
        choices=("customers", "usage", "mappings", "events", "revenue", "rates", "provider-export"),
        help="a canonical CSV kind, or provider-export: OpenAI/Anthropic dashboard usage and cost exports",
    )
    imp.add_argument("files", type=Path, nargs="+", metavar="FILE")

    sync = commands.add_parser("sync", help="run the connectors that have keys")
    sync.add_argument("--provider", choices=SOURCES)
    sync.add_argument("--today", type=_day, help="exclusive end of every provider window (default: today)")
    sync.add_argument("--days", type=int, help="bound the first sync's backfill (default: provider maximum)")
    sync.add_argument(
        "--every",
        metavar="DURATION",
        help="keep running: sync again every DURATION (90s, 30m, 1h); stop with Ctrl-C or SIGTERM (exit 0)",
    )

    rep = commands.add_parser("report", help="print a report for a date range")
    rep.add_argument(
        "kind",
        choices=REPORT_KINDS,
    )
    rep.add_argument("--start", type=_day, required=True, help="first day (inclusive)")
    rep.add_argument("--end", type=_day, required=True, help="end day (exclusive)")
    rep.add_argument("--format", choices=("csv", "json"), default="csv")
    rep.add_argument(
        "--granularity", choices=("day", "week", "month"), help="over-time only: override the adaptive period"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from margin_core.errors import MarginError

    try:
        return _run(args)
    except MarginError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except Exception as exc:  # connectors' errors and anything else: one line, no traceback
        from connectors.errors import ConnectorError

        if isinstance(exc, ConnectorError):
            sys.stderr.write(f"error: {exc}\n")
            return 1
        raise


def _run(args: argparse.Namespace) -> int:
    if args.command == "report":
        return _report(args)
    if args.command == "import" and args.kind == "events" and len(args.files) == 1:
        from margin_core import settings
        from margin_core.store import sqlite_writer

        sqlite_writer.prestart(args.db or settings.database_url(), args.files[0])  # starts while this loads
    from margin_core.store.db import make_engine

    engine = make_engine(args.db)
    if args.command != "demo":  # events an SDK process spooled for this store are written first (rules §6)
        from margin_core.sdk.spool import replay_store_spool

        replay_store_spool(engine)
    if args.command == "demo":
        from margin_core import demo

        if args.clear:
            demo.clear(engine)
            sys.stderr.write("demo workspace cleared: the store is empty and ready for your own data\n")
            return 0
        today = args.today or datetime.now(UTC).date()
        summary = demo.build(engine, today=today)
        sys.stderr.write(f"demo workspace created: {summary}\n")
        return 0
    if args.command == "import":
        from margin_core import ingest

        if args.kind == "provider-export":
            count = ingest.import_provider_exports(engine, args.files)
            sys.stderr.write(f"imported {count} usage row(s) from {len(args.files)} provider export(s)\n")
            return 0
        if len(args.files) != 1:
            sys.stderr.write(f"error: import {args.kind} takes one file\n")
            return 2
        try:
            count = ingest.import_file(engine, args.kind, args.files[0])
        except (ValueError, ArithmeticError, UnicodeError) as exc:  # a case the checks missed: still one line
            sys.stderr.write(f"error: {args.files[0]}: not imported, nothing was written ({exc})\n")
            return 1
        sys.stderr.write(f"imported {count} {args.kind} row(s) from {args.files[0]}\n")
        return 0
    if args.command == "sync":
        from margin_core import sync

        if args.every:
            return _sync_every(engine, args)
        today = args.today or datetime.now(UTC).date()
        results = sync.sync_all(engine, only=args.provider, today=today, days=args.days, progress=_progress)
        failed = [r for r in results if r.status != "ok"]
        if not results:
            sys.stderr.write("nothing to sync: no keys saved in the app and none in the environment\n")
        return 1 if failed else 0
    raise AssertionError(args.command)


def _sync_every(engine: Engine, args: argparse.Namespace) -> int:
    """`sync --every`: run until SIGINT or SIGTERM, which stop it after the provider under way (exit 0)."""
    import signal
    import threading

    from margin_core import schedule

    every = schedule.parse_every(args.every)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if not stop.is_set():
            _progress(f"{signal.Signals(signum).name}: stopping after the provider under way")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _progress(f"syncing every {args.every} until Ctrl-C or SIGTERM")
        schedule.run_every(
            engine,
            every=every,
            stop=stop,
            say=_progress,
            only=args.provider,
            days=args.days,
            today=args.today,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _progress("stopped")
    return 0


def _progress(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def _replay_spool(db: str | None) -> None:
    """Events an SDK process spooled for this store are written first (rules §6); a SQLite file without a
    spool beside it needs no engine, so a report still starts fast."""
    from margin_core import settings
    from margin_core.spool_path import sqlite_spool_path

    url = db or settings.database_url()
    spool = sqlite_spool_path(url)
    if spool is not None and (not spool.is_file() or spool.stat().st_size == 0):
        return
    from margin_core.sdk.spool import replay_store_spool
    from margin_core.store.db import make_engine

    replay_store_spool(make_engine(url))


def _report(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        sys.stderr.write("error: --end must be after --start (the end is exclusive)\n")
        return 2
    if args.granularity and args.kind != "over-time":
        sys.stderr.write("error: --granularity applies to over-time only\n")
        return 2
    from margin_core import output, prices, reports
    from margin_core.workspace import load_workspace_url

    _replay_spool(args.db)
    workspace = load_workspace_url(args.db)  # a SQLite file without SQLAlchemy: a report starts fast
    raw = reports.report(workspace, args.kind, start=args.start, end=args.end, grain=args.granularity)
    frame = output.to_cli_frame(raw, args.kind)
    sys.stdout.write(output.to_csv(frame) if args.format == "csv" else output.to_json(frame))
    for line in output.unconverted_warnings(workspace, start=args.start, end=args.end):
        sys.stderr.write(f"warning: {line}\n")
    for line in prices.unpriced_lines(reports.unpriced_models(workspace, start=args.start, end=args.end)):
        sys.stderr.write(f"warning: {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

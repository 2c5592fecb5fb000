"""The figures of rules §7 (v3 Live) in one run, on a store it generates or is given.

    python bench/run.py --db sqlite:////work/bench-out/l2m.db            # a store from bench/generate.py
    python bench/run.py --generate 2000000 --out /work/bench-out/run2m   # generate one first
    python bench/run.py --db sqlite:////work/bench-out/l10m.db --steps refresh --repeat 3   # one figure

Prints: the events CSV import rate (a new process, a fresh store); a full rebuild of the derived day ledger
from an empty cache; cold `report customers` over 31 and 90 days as new processes (the cache built) against
a new DuckDB process computing it from the canonical CSVs, with their ratio; the app's refresh after an SDK
batch of 50,000 events on one day (from the batch's commit to the Overview rendered by Streamlit's AppTest);
peak memory of the processes; the cache's size on disk. Times are medians of --repeat runs.

The refresh step writes 50,000 events into the store it is given (new event ids on each run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from bench import duckdb_reference, generate  # noqa: E402
from margin_core import app_actions, ledger_cache, reports  # noqa: E402
from margin_core.store.db import make_engine  # noqa: E402
from margin_core.store.events import BATCH_COLUMNS, ingest_frame  # noqa: E402
from margin_core.workspace import load_workspace  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
STEPS = ("import", "rebuild", "cold", "refresh")


def _process(args: list[str]) -> tuple[float, int, str]:
    """Run a new Python process: (seconds, peak resident MiB, stdout)."""
    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return elapsed, usage.ru_maxrss // 1024, out


def _median(runs: list[float]) -> str:
    return f"{statistics.median(runs):.2f}s (runs {', '.join(f'{r:.2f}' for r in runs)})"


def _report_args(db: str, start: date, end: date) -> list[str]:
    return ["-m", "margin_core", "--db", db, "report", "customers", "--start", str(start), "--end", str(end)]


def import_rate(out: Path, *, events: int, start: date) -> None:
    """The canonical events CSV imported by `python -m margin_core import events` into a fresh store."""
    csv = out / f"events-{events}.csv"
    if not csv.exists():
        frame = generate.events_batch(0, events, start=start)
        frame.select(
            pl.concat_str(pl.lit("ev_"), pl.col("i").cast(pl.String)).alias("event_id"),
            (
                pl.col("day").cast(pl.String)
                + "T"
                + (pl.col("i") % 24).cast(pl.String).str.zfill(2)
                + ":"
                + (pl.col("i") % 60).cast(pl.String).str.zfill(2)
                + ":07Z"
            ).alias("ts"),
            "customer_id",
            "feature",
            "provider",
            "model",
            "api_key_id",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            pl.when(pl.col("has_cost")).then(pl.lit("0.001234")).otherwise(None).alias("cost_usd"),
            pl.when(pl.col("c") % 2 == 0).then(pl.lit("prod")).otherwise(pl.lit("batch")).alias("meta_env"),
        ).write_csv(csv)
    store = out / "import.db"
    for path in out.glob("import.db*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elapsed, peak, _ = _process(["-m", "margin_core", "--db", f"sqlite:///{store}", "import", "events", str(csv)])
    print(
        f"events CSV import: {events:,} events in {elapsed:.2f}s as a new process = {events / elapsed:,.0f} events/s "
        f"(target > 100,000/s); peak {peak} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="a store from bench/generate.py (else --generate)")
    parser.add_argument("--generate", type=int, help="generate a store with this many events under --out")
    parser.add_argument("--out", type=Path, default=Path("/work/bench-out/run"))
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 6, 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--import-events", type=int, default=1_000_000)
    parser.add_argument(
        "--steps", nargs="+", choices=STEPS, default=list(STEPS), help="which figures (default: every one)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.db is None:
        if not args.generate:
            raise SystemExit("give --db or --generate N")
        store = args.out / f"l{args.generate}.db"
        if not store.exists():
            generate.generate(f"sqlite:///{store}", events=args.generate, start=args.start)
        args.db = f"sqlite:///{store}"
    engine = make_engine(args.db)
    database = Path(engine.url.database or "")
    size = sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())
    with engine.connect() as connection:
        from sqlalchemy import text

        events = connection.execute(text("SELECT SUM(requests), COUNT(*) FROM event_rollup")).one()
        usage = connection.execute(text("SELECT COUNT(*) FROM provider_usage")).scalar()
    print(
        f"store {args.db}: {events[0]:,} events ({events[1]:,} rolled-up rows), {usage:,} usage rows, "
        f"{size / 2**30:.2f} GiB"
    )

    if "import" in args.steps:
        import_rate(args.out, events=args.import_events, start=args.start)
    if "rebuild" in args.steps:
        rebuild(engine, database, args)
    if "cold" in args.steps:
        cold_reports(engine, args)
    if "refresh" in args.steps:
        refresh(engine, start=args.start, repeat=args.repeat)


def rebuild(engine: Engine, database: Path, args: argparse.Namespace) -> None:
    """The derived day ledger built from an empty cache by a new process, and its size on disk."""
    folder = ledger_cache.cache_folder(str(engine.url), sqlite_file=str(database))
    assert folder is not None
    end90 = args.start + timedelta(days=90)
    rebuilds, peaks = [], []
    for _ in range(args.repeat):
        shutil.rmtree(folder, ignore_errors=True)
        elapsed, peak, _ = _process(_report_args(args.db, args.start, end90))
        rebuilds.append(elapsed)
        peaks.append(peak)
    cache_size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    print(
        f"full rebuild from an empty cache (`report customers` 90 d, a new process): {_median(rebuilds)}; "
        f"peak {max(peaks)} MiB"
    )
    print(f"cache on disk: {cache_size / 2**20:.1f} MiB in {len(list(folder.glob('*.parquet')))} day files ({folder})")


def cold_reports(engine: Engine, args: argparse.Namespace) -> None:
    """`report customers` over 31 and 90 days as new processes against the DuckDB process on the same data."""
    end31, end90 = args.start + timedelta(days=31), args.start + timedelta(days=90)
    csv = args.out / "csv"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "duckdb_reference.py"), "export", "--db", args.db, "--out", str(csv)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=ENV,
    )
    for label, end in (("31 d", end31), ("90 d", end90)):
        ours, duck, peak_ours, peak_duck = [], [], [], []
        reference = ""
        for _ in range(args.repeat):
            elapsed, peak, _ = _process(_report_args(args.db, args.start, end))
            ours.append(elapsed)
            peak_ours.append(peak)
            ref = ["bench/duckdb_reference.py", "run", "--csv", str(csv), "--start", str(args.start), "--end", str(end)]
            elapsed, peak, reference = _process(ref)
            duck.append(elapsed)
            peak_duck.append(peak)
        ratio = statistics.median(ours) / statistics.median(duck)
        table = reports.customer_margins(load_workspace(engine), start=args.start, end=end)
        digest = duckdb_reference.digest(table.select("customer_id", "revenue_micros", "cost_micros").rows())
        same = "identical" if f"digest {digest}" in reference else "DIFFERENT"
        print(
            f"cold `report customers` {label}: margin {_median(ours)}, peak {max(peak_ours)} MiB | DuckDB process "
            f"{_median(duck)}, peak {max(peak_duck)} MiB | ratio {ratio:.2f} (target <= 0.50); per-customer "
            f"figures {same}"
        )


def refresh(engine: Engine, *, start: date, repeat: int) -> None:
    """The app itself (Streamlit's AppTest runs app.py in this process, caches and all): the Overview for the
    last 31 days is rendered once (the running app), then an SDK batch of 50,000 events lands on one day and
    the time from the batch's commit to the next rendered Overview is measured, twice per run: the open
    page run again (a rerun of its session, as a click or the page's refresh does), and, after another
    batch, a new session (a new browser tab, which also sets the session up)."""
    from streamlit.testing.v1 import AppTest

    with engine.connect() as connection:
        from margin_core.store import repo

        days = sorted(repo.day_versions(connection))
    today = days[-1] + timedelta(days=1)  # the Overview's default range: the 31 days up to yesterday
    os.environ["MARGIN_DATABASE_URL"] = str(engine.url)
    app_actions.today_utc = lambda: today  # the pages read the day through it

    def render(app: AppTest | None = None) -> float:
        app = app or AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        began = time.perf_counter()
        app.run()
        elapsed = time.perf_counter() - began
        if app.exception or not app.metric:
            raise SystemExit(f"the Overview did not render: {[e.value for e in app.exception]}")
        return elapsed

    def batch(run: int) -> None:
        events = generate.events_batch(10**12 + time.time_ns() % 10**9 * 1_000 + run * 100_000, 50_000, start=start)
        ingest_frame(engine, events.with_columns(pl.lit(days[-3]).alias("day")).select(BATCH_COLUMNS))

    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    first = render(page)
    again, new_session_again = render(page), render()
    reruns, sessions, recomputed = [], [], []
    for run in range(repeat):
        ledger_cache.stats.recomputed.clear()
        batch(2 * run)  # committed when it returns
        reruns.append(render(page))
        recomputed.append(len(ledger_cache.stats.recomputed))
        batch(2 * run + 1)
        sessions.append(render())
    print(
        f"app: first Overview in a new process {first:.2f}s; again without a write {again:.2f}s (a new session "
        f"{new_session_again:.2f}s). After an SDK batch of 50,000 events on {days[-3]}: the open Overview run again "
        f"{_median(reruns)}, a new session {_median(sessions)} (target < 1 s); days recomputed per render "
        f"{recomputed}"
    )


if __name__ == "__main__":
    main()

"""Timings of DESIGN §7 on a generated store: cold load, every report warm (31 and 90 days), cold CLI.

python bench/generate.py --db sqlite:///bench/out/l.db --events 10000000
python bench/run.py --db sqlite:///bench/out/l.db --start 2026-06-01
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import duckdb_reference  # noqa: E402
from margin_core import reports  # noqa: E402
from margin_core.store.db import make_engine  # noqa: E402
from margin_core.workspace import load_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 6, 1))
    args = parser.parse_args()
    engine = make_engine(args.db)
    began = time.perf_counter()
    workspace = load_workspace(engine)
    load_s = time.perf_counter() - began
    print(
        f"store frames: events {workspace.events.height:,} rows, usage {workspace.usage.height:,} rows, "
        f"revenue {workspace.revenue.height:,} lines; cold load in-process {load_s:.2f}s (target < 10 s)"
    )
    began = time.perf_counter()
    reports.prepare(workspace)
    print(f"attribution of the whole snapshot (once per store version): {time.perf_counter() - began:.2f}s")
    for days in (31, 90):
        end = args.start + timedelta(days=days)
        timings = {}
        for kind in reports.REPORT_KINDS:
            t = time.perf_counter()
            reports.report(workspace, kind, start=args.start, end=end)
            timings[kind] = time.perf_counter() - t
        total = sum(timings.values())
        detail = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(f"{days}-day range: every report warm in {total:.2f}s (target < 1 s) [{detail}]")
    end = args.start + timedelta(days=90)
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "margin_core",
            "--db",
            args.db,
            "report",
            "customers",
            "--start",
            str(args.start),
            "--end",
            str(end),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    print(f"cold CLI `report customers` over 90 days as a new process: {time.perf_counter() - t:.2f}s")
    csv = ROOT / "bench" / "out" / "csv"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "duckdb_reference.py"), "export", "--db", args.db, "--out", str(csv)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    t = time.perf_counter()
    reference = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "duckdb_reference.py"),
            "run",
            "--csv",
            str(csv),
            "--start",
            str(args.start),
            "--end",
            str(end),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(
        f"reference: a new DuckDB process loading the CSVs and running `customers` over 90 days: "
        f"{time.perf_counter() - t:.2f}s ({reference.splitlines()[0]})"
    )
    table = reports.customer_margins(workspace, start=args.start, end=end)
    ours = duckdb_reference.digest(table.select("customer_id", "revenue_micros", "cost_micros").rows())
    same = "identical" if f"digest {ours}" in reference else "DIFFERENT"
    print(f"per-customer revenue and cost, engine vs DuckDB: {same}")
    database = make_engine(args.db).url.database
    if database:
        size = sum(p.stat().st_size for p in Path(database).parent.glob(Path(database).name + "*"))
        print(f"store file(s): {size / 2**30:.2f} GiB (target < 2 GB)")


if __name__ == "__main__":
    main()

"""Every CLI report on fixed stores, written to a folder; with `--against`, compared byte for byte.

A refactoring must not change a number: run this before (to record a baseline) and after, and compare.

    python scripts/compare_reports.py --out /tmp/reports-before
    python scripts/compare_reports.py --out /tmp/reports-after --against /tmp/reports-before

Stores, each built by the code under test into a temporary folder (nothing is written to `data/`):
- `demo`: `python -m margin_core demo --today D` (120 days ending the day before D);
- `csv`: the page tests' workspace, built through the canonical CSV imports (`tests/pages/_store.py`), ending D;
- `bench`: `bench/generate.py --events N` (`--bench-events 0` leaves it out), which ends on 2026-08-30;
- any `--store NAME URL END` you give (END: the exclusive end of its data).

For each store and each report kind `python -m margin_core report --help` lists, the reports of the 31 and the
90 days ending at the store's END are written as `OUT/<store>/<kind>_<start>_<end>.csv`, and the CLI's stderr
(warnings) beside them as `.stderr`, and their digests in `OUT/SHA256SUMS`. `--against` takes a folder of an
earlier run (differences are shown) or its SHA256SUMS file (differing files are named: scripts/report-baseline.sha256
is main's at 26823a7); it exits 1 on a difference or a missing file; kinds the baseline lacks (new reports) are
listed, not failed. `--repo` and
`--python` run another checkout (e.g. a clean main) read-only: bytecode is not written there.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_TODAY = date(2026, 12, 1)
BENCH_END = date(2026, 8, 30)  # bench/generate.py: 90 days from 2026-06-01
RANGES = (31, 90)
SUMS = "SHA256SUMS"
# Fixed key for saved secrets, so no run creates a key file in the checkout.
SECRET = "Vt1o5bHnQ2Rk9dK3mJ0YwX6cF8aS4eL7uP2iZ9gB1hE="


@dataclass(frozen=True)
class Store:
    name: str
    url: str
    end: date


@dataclass(frozen=True)
class Runner:
    repo: Path
    python: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MARGIN_", "OPENAI", "ANTHROPIC", "STRIPE"))}
        env.update(PYTHONDONTWRITEBYTECODE="1", MARGIN_SECRET_KEY=SECRET, PYTHONPATH=str(self.repo))
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.python, *args], cwd=self.repo, env=self.env(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr}")
        return done


def report_kinds(runner: Runner) -> list[str]:
    """The kinds the CLI under test offers, read from `report --help`."""
    usage = runner.run("-m", "margin_core", "report", "--help").stdout
    for choices in re.findall(r"\{([a-z,-]+)\}", usage):
        if "customers" in choices.split(","):
            return list(choices.split(","))
    sys.exit(f"cannot read the report kinds from:\n{usage}")


def build_stores(runner: Runner, folder: Path, *, today: date, bench_events: int) -> list[Store]:
    demo = Store("demo", f"sqlite:///{folder / 'demo.db'}", today)
    runner.run("-m", "margin_core", "--db", demo.url, "demo", "--today", today.isoformat())
    csv = Store("csv", f"sqlite:///{folder / 'csv.db'}", today)
    build = (
        "import sys; from datetime import date; from pathlib import Path; "
        "from tests.pages._store import build_store; "
        "build_store(sys.argv[1], Path(sys.argv[2]), today=date.fromisoformat(sys.argv[3]))"
    )
    runner.run("-c", build, csv.url, str(folder / "csv"), today.isoformat())
    stores = [demo, csv]
    if bench_events:
        bench = Store("bench", f"sqlite:///{folder / 'bench.db'}", BENCH_END)
        runner.run("bench/generate.py", "--db", bench.url, "--events", str(bench_events))
        stores.append(bench)
    return stores


def write_reports(runner: Runner, stores: list[Store], out: Path, *, jobs: int) -> int:
    kinds = report_kinds(runner)
    tasks = []
    for store in stores:
        (out / store.name).mkdir(parents=True, exist_ok=True)
        for days in RANGES:
            start = store.end - timedelta(days=days)
            tasks += [(store, kind, start) for kind in kinds]

    def one(task: tuple[Store, str, date]) -> None:
        store, kind, start = task
        args = ("--db", store.url, "report", kind, "--start", start.isoformat(), "--end", store.end.isoformat())
        done = runner.run("-m", "margin_core", *args)
        stem = out / store.name / f"{kind}_{start}_{store.end}"
        stem.with_suffix(".csv").write_bytes(done.stdout.encode())
        stem.with_suffix(".stderr").write_text(done.stderr)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, tasks))
    return len(tasks)


def write_sums(out: Path) -> None:
    """`OUT/SHA256SUMS` (sha256sum's format): a baseline small enough to commit."""
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}\n" for p in sorted(out.rglob("*.csv"))
    ]
    (out / SUMS).write_text("".join(lines))


def compare_sums(sums: Path, new: Path) -> int:
    """Compare with a SHA256SUMS file: names the files that differ (no diff without the files themselves)."""
    failures = 0
    known = set()
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        known.add(name)
        after = new / name
        if not after.exists():
            print(f"MISSING  {name}")
            failures += 1
        elif hashlib.sha256(after.read_bytes()).hexdigest() != digest:
            print(f"DIFFERS  {name}")
            failures += 1
    for extra in sorted(str(p.relative_to(new)) for p in new.rglob("*.csv")):
        if extra not in known:
            print(f"NEW      {extra} (no baseline: not compared)")
    return failures


def compare(baseline: Path, new: Path) -> int:
    """Print every difference; return how many files differ or are missing."""
    if baseline.is_file():
        return compare_sums(baseline, new)
    failures = 0
    for before in sorted(baseline.rglob("*.csv")):
        name = before.relative_to(baseline)
        after = new / name
        if not after.exists():
            print(f"MISSING  {name}")
            failures += 1
        elif after.read_bytes() != before.read_bytes():
            print(f"DIFFERS  {name}")
            diff = difflib.unified_diff(
                before.read_text().splitlines(), after.read_text().splitlines(), "before", "after", lineterm="", n=0
            )
            for line in list(diff)[:20]:
                print(f"    {line}")
            failures += 1
    known = {p.relative_to(baseline) for p in baseline.rglob("*.csv")}
    for extra in sorted(p.relative_to(new) for p in new.rglob("*.csv")):
        if extra not in known:
            print(f"NEW      {extra} (no baseline: not compared)")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports (emptied first)")
    parser.add_argument("--against", type=Path, help="a baseline folder to compare with, byte for byte")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--python", help="its interpreter (default: <repo>/.venv/bin/python)")
    parser.add_argument("--today", type=date.fromisoformat, default=DEMO_TODAY, help="the demo's and csv's end")
    parser.add_argument("--bench-events", type=int, default=200_000, help="events of the bench store (0: none)")
    parser.add_argument("--store", nargs=3, action="append", default=[], metavar=("NAME", "URL", "END"))
    parser.add_argument("--keep-stores", type=Path, help="build the stores here and keep them")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    repo = args.repo.resolve()
    runner = Runner(repo, args.python or str(repo / ".venv" / "bin" / "python"))
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    folder = args.keep_stores or Path(tempfile.mkdtemp(prefix="margin-compare-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        stores = build_stores(runner, folder.resolve(), today=args.today, bench_events=args.bench_events)
        stores += [Store(name, url, date.fromisoformat(end)) for name, url, end in args.store]
        count = write_reports(runner, stores, args.out, jobs=args.jobs)
    finally:
        if args.keep_stores is None:
            shutil.rmtree(folder, ignore_errors=True)
    write_sums(args.out)
    print(f"{count} reports of {len(stores)} stores in {args.out}")
    if args.against is None:
        return 0
    failures = compare(args.against, args.out)
    print("identical" if failures == 0 else f"{failures} report(s) differ or are missing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

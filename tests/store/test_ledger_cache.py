"""The derived day ledger (rules §7, Live): only touched days are recomputed, and the cache never changes a number."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from margin_core import app_actions, ledger_cache, reports
from margin_core.engine import attribution, ledger_sums, reconciliation
from margin_core.settings import REPO_ROOT
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.store.events import BATCH_COLUMNS, ingest_frame
from margin_core.workspace import Workspace, forget, load_workspace, priced_store_frames

START = date(2026, 3, 1)
DAYS = 6
END = START + timedelta(days=DAYS)
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-20250514"), ("openai", "unknown-model-x")]


def _events(first: int, count: int, *, day: date | None = None, customers: int = 4) -> pl.DataFrame:
    rows = []
    for i in range(first, first + count):
        provider, model = MODELS[i % len(MODELS)]
        rows.append(
            {
                "event_key": i * 7919 + 13,
                "day": day or START + timedelta(days=i % DAYS),
                "customer_id": f"cus_{i % customers}",
                "feature": ("chat", "search")[i % 2],
                "provider": provider,
                "model": model,
                "api_key_id": f"key_{i % 3}" if i % 5 else "",
                "metadata_json": '{"env":"prod"}' if i % 2 else "{}",
                "has_cost": i % 7 == 0,
                "input_tokens": 100 + i % 50,
                "cached_input_tokens": i % 20,
                "cache_write_tokens": 0,
                "cache_write_1h_tokens": 0,
                "output_tokens": 30 + i % 9,
                "cost_micros": 1_234 if i % 7 == 0 else 0,
                "latency_ms_sum": 0,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"day": pl.Date}).select(BATCH_COLUMNS)


def _usage(day: date, *, key: str, cost: int, source: str = "reported", model: int = 0) -> pl.DataFrame:
    provider, name = MODELS[model % len(MODELS)]
    return pl.DataFrame(
        [
            {
                "day": day,
                "provider": provider,
                "model": name,
                "api_key_id": key,
                "project_id": "",
                "user_id": "",
                "input_tokens": 5_000,
                "cached_input_tokens": 100,
                "cache_write_tokens": 0,
                "cache_write_1h_tokens": 0,
                "output_tokens": 900,
                "requests": 12,
                "cost_micros": cost,
                "cost_source": source,
                "source": "api",
            }
        ],
        schema_overrides={"day": pl.Date},
    )


def _store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    ingest_frame(engine, _events(0, 300))
    with engine.begin() as connection:
        for offset in range(DAYS):
            repo.upsert_usage(connection, _usage(START + timedelta(days=offset), key="key_1", cost=2_000_000 + offset))
        repo.upsert_mappings(connection, [("*", "api_key_id", "key_2", "cus_2")])
        repo.upsert_revenue(
            connection,
            [("il_1", "invoice_line", "cus_1", START, END, 9_900, "usd", 9_900, None, "pro", "")],
        )
        repo.bump_version(connection)
    return engine


def _all_reports(workspace: Workspace) -> dict[str, pl.DataFrame]:
    frames: dict[str, pl.DataFrame] = {
        kind: reports.report(workspace, kind, start=START, end=END) for kind in reports.REPORT_KINDS
    }
    led, unattributed = reports.ledger(workspace, start=START, end=END)
    frames["ledger"] = led.collect()
    frames["unattributed_rows"] = unattributed.collect()
    frames["coverage"] = app_actions.coverage(workspace, start=START, end=END)
    frames["reconciliation"] = app_actions.reconciliation_table(workspace, start=START, end=END)
    frames["customer_daily"] = app_actions.customer_daily(workspace, start=START, end=END)
    frames["models_seen"] = reports.models_seen(workspace)
    return {name: frame.sort(frame.columns, nulls_last=True) for name, frame in frames.items()}


def _from_scratch(engine: Engine) -> dict[str, pl.DataFrame]:
    """Every report computed with no cache at all: no files, nothing in memory."""
    forget()
    workspace = load_workspace(engine)
    workspace = dataclasses.replace(workspace, days=dataclasses.replace(workspace.days, folder=None))
    try:
        return _all_reports(workspace)
    finally:
        forget()


def _assert_same(got: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    assert got.keys() == expected.keys()
    for name, frame in expected.items():
        assert got[name].equals(frame), name


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    forget()
    ledger_cache.stats.recomputed.clear()


def test_a_write_to_one_day_recomputes_that_day_only(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    first = _all_reports(load_workspace(engine))
    assert sorted(ledger_cache.stats.recomputed) == [START + timedelta(days=d) for d in range(DAYS)]
    touched = START + timedelta(days=2)
    ledger_cache.stats.recomputed.clear()
    ingest_frame(engine, _events(10_000, 40, day=touched))

    after = _all_reports(load_workspace(engine))  # the app: other days come from memory
    assert ledger_cache.stats.recomputed == [touched]
    assert not after["customers"].equals(first["customers"])
    _assert_same(after, _from_scratch(engine))

    forget()  # a new process: other days come from their files
    ledger_cache.stats.recomputed.clear()
    with engine.begin() as connection:
        repo.upsert_usage(connection, _usage(touched + timedelta(days=1), key="key_0", cost=777_777))
    reread = _all_reports(load_workspace(engine))
    assert ledger_cache.stats.recomputed == [touched + timedelta(days=1)]
    _assert_same(reread, _from_scratch(engine))


def test_the_day_sums_equal_the_sums_of_the_whole_range(tmp_path: Path) -> None:
    # The per-day parts are summed over a range by the reports: the same as summing the range's ledger,
    # coverage and usage at once (integers: the order of additions changes nothing).
    engine = _store(tmp_path)
    ingest_frame(engine, _events(5_000, 60, day=START + timedelta(days=1)))
    workspace = load_workspace(engine)
    usage, events = priced_store_frames(workspace)
    led, _, row_coverage = attribution.attribute_with_coverage(
        usage.lazy(), events=events.lazy(), mappings=workspace.mappings.lazy()
    )

    def per_customer(frame: pl.LazyFrame) -> pl.DataFrame:
        return frame.group_by("customer_id").agg(pl.exclude("day").sum()).sort("customer_id", nulls_last=True).collect()

    summed = ledger_sums.customer_days(led)
    assert per_customer(reports.customer_days(workspace, start=START, end=END)).equals(per_customer(summed))
    whole_usage = ledger_sums.usage_days(led).collect().sort(pl.all(), nulls_last=True)
    assert (
        reports.usage_days(workspace, start=START, end=END)
        .collect()
        .sort(pl.all(), nulls_last=True)
        .equals(whole_usage)
    )
    by_key = reconciliation.coverage_by_key(row_coverage).collect().sort(pl.all(), nulls_last=True)
    shown = app_actions.coverage(workspace, start=START, end=END).select(by_key.columns)
    assert shown.sort(pl.all(), nulls_last=True).equals(by_key)
    reconciled = reconciliation.reconcile(ledger_sums.usage_cost_days(usage.lazy()), ledger=ledger_sums.usage_days(led))
    assert app_actions.reconciliation_table(workspace, start=START, end=END).equals(
        reconciled.sort("month", "provider").collect()
    )
    named = pl.concat([usage.select("provider", "model"), events.select("provider", "model")]).unique()
    assert reports.models_seen(workspace).equals(named.sort("provider", "model"))
    daily = reports.daily_revenue(workspace, start=START, end=END)
    for dimension in ("model", "provider"):  # read from the per-customer model sums
        whole = reports.dimension_rows(led, daily_revenue=daily, workspace=workspace, dimension=dimension)
        found = reports.dimension_margins(workspace, start=START, end=END, dimension=dimension)
        assert found.sort(pl.all(), nulls_last=True).equals(whole.collect().sort(pl.all(), nulls_last=True))


def test_a_report_reads_only_the_days_of_its_range(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    workspace = load_workspace(engine)
    reports.report(workspace, "customers", start=START, end=START + timedelta(days=2))
    assert sorted(ledger_cache.stats.recomputed) == [START, START + timedelta(days=1)]


def test_a_change_of_rules_recomputes_every_day(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    _all_reports(load_workspace(engine))
    ledger_cache.stats.recomputed.clear()
    with engine.begin() as connection:
        repo.upsert_mappings(connection, [("openai", "api_key_id", "key_1", "cus_3")])
        repo.upsert_aliases(connection, [("cus_0", "cus_STRIPE")])
        repo.bump_version(connection)  # as every writer does
    after = _all_reports(load_workspace(engine))
    assert len(ledger_cache.stats.recomputed) == DAYS
    _assert_same(after, _from_scratch(engine))


def test_deleted_or_corrupt_files_change_no_number(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    expected = _all_reports(load_workspace(engine))
    folder = load_workspace(engine).days.folder
    assert folder is not None
    ledger_cache.flush()  # the files are written beside the reports
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == DAYS
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated
    files[1].write_bytes(b"garbage" * 300)  # not Parquet at all
    files[2].write_bytes(files[3].read_bytes())  # another day's file (its stamp is not this day's)
    files[4].unlink()  # deleted
    table = pl.read_parquet(files[5])  # right day, wrong stamp
    table.with_columns(pl.lit("someone/else").alias("stamp")).write_parquet(files[5])
    forget()
    ledger_cache.stats.recomputed.clear()
    rejected = ledger_cache.stats.files_rejected
    _assert_same(_all_reports(load_workspace(engine)), expected)
    assert ledger_cache.stats.files_rejected - rejected == 4
    assert sorted(ledger_cache.stats.recomputed) == sorted(
        f.name[:10] and date.fromisoformat(f.name[:10]) for f in [files[0], files[1], files[2], files[4], files[5]]
    )
    forget()
    ledger_cache.stats.recomputed.clear()
    _assert_same(_all_reports(load_workspace(engine)), expected)  # rewritten whole
    assert ledger_cache.stats.recomputed == []


def test_a_cleared_store_trusts_no_file(tmp_path: Path) -> None:
    from margin_core import demo

    engine = _store(tmp_path)
    _all_reports(load_workspace(engine))
    demo.clear(engine)
    ingest_frame(engine, _events(0, 30))  # the same days again, fewer events: versions start over
    _assert_same(_all_reports(load_workspace(engine)), _from_scratch(engine))


_WRITES = st.lists(
    st.tuples(
        st.sampled_from(["events", "usage", "estimated", "revenue", "mapping", "override", "alias"]),
        st.integers(0, DAYS - 1),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=_WRITES)
def test_any_writes_then_a_report_equal_a_recompute_from_scratch(
    tmp_path_factory: pytest.TempPathFactory, writes: list[tuple[str, int, int]]
) -> None:
    engine = _store(tmp_path_factory.mktemp("p"))
    forget()
    _all_reports(load_workspace(engine))  # every day cached
    for step, (kind, offset, n) in enumerate(writes):
        day = START + timedelta(days=offset)
        with engine.begin() as connection:
            if kind == "events":
                ingest_frame(engine, _events(50_000 + 100 * step, 5 + n, day=day, customers=6))
            elif kind in ("usage", "estimated"):
                cost = 0 if kind == "estimated" else 100_000 * (n + 1)
                source = "estimated" if kind == "estimated" else "reported"
                repo.upsert_usage(connection, _usage(day, key=f"key_{n % 3}", cost=cost, source=source, model=n))
            elif kind == "revenue":
                repo.upsert_revenue(
                    connection,
                    [
                        (
                            f"r{n}",
                            "csv",
                            f"cus_{n}",
                            day,
                            day + timedelta(days=n + 1),
                            1_000 * n - 2_000,
                            "usd",
                            1_000 * n - 2_000,
                            None,
                            "",
                            "",
                        )
                    ],
                )
            elif kind == "mapping":
                repo.upsert_mappings(connection, [("*", "api_key_id", f"key_{n % 3}", f"cus_{n}")])
            elif kind == "alias":
                repo.upsert_aliases(connection, [(f"cus_{n}", f"cus_linked_{n}")])
            else:
                repo.upsert_price_override(
                    connection, ("openai", "unknown-model-x", day, "1.5", "0.5", "0", "0", str(n))
                )
            repo.bump_version(connection)
        if step % 2 == 1:
            forget()  # sometimes a new process, sometimes the app's memory
        _assert_same(_all_reports(load_workspace(engine)), _from_scratch(engine))


_CLI_REPORT = ["-m", "margin_core", "--db", "{db}", "report", "customers", "--start", str(START), "--end", str(END)]


def test_two_processes_rebuilding_at_once_agree(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    expected = _from_scratch(engine)
    folder = load_workspace(engine).days.folder
    assert folder is not None and not folder.exists()
    args = [sys.executable, *(a.format(db=str(engine.url)) for a in _CLI_REPORT)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [
        subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=240) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    assert len(list(folder.glob("*.parquet"))) == DAYS and not list(folder.glob(".*.tmp"))
    forget()
    ledger_cache.stats.recomputed.clear()
    _assert_same(_all_reports(load_workspace(engine)), expected)
    assert ledger_cache.stats.recomputed == []  # every file the children wrote is whole and trusted
    again = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert again.stdout == outputs[0][0]


def test_postgres_keeps_the_same_cache_locally(pg_engine: Engine) -> None:
    engine = pg_engine
    ingest_frame(engine, _events(0, 120))
    with engine.begin() as connection:
        for offset in range(DAYS):
            repo.upsert_usage(connection, _usage(START + timedelta(days=offset), key="key_1", cost=3_000_000))
        repo.bump_version(connection)
    _all_reports(load_workspace(engine))
    folder = load_workspace(engine).days.folder
    ledger_cache.flush()
    assert folder is not None and len(list(folder.glob("*.parquet"))) == DAYS
    forget()
    ledger_cache.stats.recomputed.clear()
    touched = START + timedelta(days=4)
    ingest_frame(engine, _events(9_000, 10, day=touched))
    ingest_frame(engine, _events(9_500, 10, day=touched))  # twice: the day's version moves each time
    after = _all_reports(load_workspace(engine))
    assert ledger_cache.stats.recomputed == [touched]
    _assert_same(after, _from_scratch(engine))


@pytest.mark.parametrize("through", ["file", "sqlalchemy"])
def test_an_sdk_batch_keeps_the_small_tables_and_any_other_write_reads_them_again(
    tmp_path: Path, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin_core import workspace as snapshots

    engine = _store(tmp_path)
    if through == "sqlalchemy":  # the loader PostgreSQL stores use
        monkeypatch.setattr(snapshots, "load_workspace_file", _not_ready)
    before = load_workspace(engine)
    ingest_frame(engine, _events(5_000, 40, day=START))
    after_batch = load_workspace(engine)
    assert after_batch.version > before.version
    assert after_batch.customers is before.customers and after_batch.mappings is before.mappings
    assert after_batch.days.versions[START] > before.days.versions[START]  # the batch's day moved
    app_actions.save_mapping(engine, provider="*", dimension="api_key_id", value="key_0", customer_id="cus_0")
    after_mapping = load_workspace(engine)
    assert after_mapping.mappings is not before.mappings
    assert ("key_0", "cus_0") in after_mapping.mappings.select("value", "customer_id").rows()
    assert after_mapping.days.digest != before.days.digest  # the rule changed: every day is recomputed
    with engine.begin() as connection:  # any other writer moves the tables' version too
        repo.upsert_customers(connection, [("cus_9", "Nine", "", "", "", "", "{}", "api")])
        repo.bump_version(connection)
    assert "cus_9" in load_workspace(engine).customers["customer_id"].to_list()


def _not_ready(database: str) -> Workspace:
    from margin_core.store import light

    raise light.NotReady(database)


def test_days_computed_in_several_runs_equal_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Attribution is decided per provider and day: cutting the days into runs changes no number.
    engine = _store(tmp_path)
    one_pass = _from_scratch(engine)
    monkeypatch.setattr(ledger_cache, "_RUN_ROWS", 12)
    workspace = load_workspace(engine)
    assert len(ledger_cache._runs(workspace.days.read(None))) >= 3
    _assert_same(_from_scratch(engine), one_pass)

"""The events import through the child writer (`sqlite_writer`) stores exactly what the in-process import
stores, waits for other writers, and writes nothing when the child fails."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from margin_core import ingest
from margin_core.__main__ import main
from margin_core.errors import DemoWorkspaceError, ImportFileError
from margin_core.imports_events import parse_events_file
from margin_core.store import events, sqlite_writer
from margin_core.store.db import make_engine
from tests.test_imports_events import HEADER, MIXED, _seeded, _store_state, _write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[sqlite_writer.ChildWriter]:
    """Every events import of the test goes through a child writer (whatever the file's size); the list
    holds the writers started, so a test sees that the child did the work."""
    started: list[sqlite_writer.ChildWriter] = []
    real = sqlite_writer.start

    def start(engine: Engine) -> sqlite_writer.ChildWriter | None:
        writer = real(engine)
        if writer is not None:
            started.append(writer)
        return writer

    monkeypatch.setattr(sqlite_writer, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(sqlite_writer, "start", start)
    return started


def _in_process(monkeypatch: pytest.MonkeyPatch, engine: Engine, path: Path) -> int:
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_writer, "LARGE_FILE_BYTES", 10**18)
        return ingest.import_file(engine, "events", path)


@pytest.mark.parametrize("seeded", [False, True], ids=["all-new", "some-seen"])
def test_the_child_writer_stores_what_the_in_process_import_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter], seeded: bool
) -> None:
    path = _write(tmp_path, MIXED, header=f"{HEADER},meta_env")
    assert parse_events_file(path) is not None
    if seeded:  # `seen_1` is in the store already: the exact path returns the new keys
        child, expected = _seeded(tmp_path / "child.db"), _seeded(tmp_path / "process.db")
    else:
        child, expected = (
            make_engine(f"sqlite:///{tmp_path / 'child.db'}"),
            make_engine(f"sqlite:///{tmp_path / 'process.db'}"),
        )
    assert _in_process(monkeypatch, expected, path) == (8 if seeded else 9)
    assert ingest.import_file(child, "events", path) == (8 if seeded else 9)
    assert len(children) == 1
    got = _store_state(child)
    assert got == _store_state(expected)
    assert got["version"] is not None and got["rollup"]
    with child.connect() as connection:  # the workspace kind is written in the same transaction
        assert connection.exec_driver_sql("SELECT value FROM setting WHERE key = 'workspace_kind'").scalar() == "own"
    # the same file again adds nothing and moves no version
    assert ingest.import_file(child, "events", path) == 0
    assert _store_state(child) == got
    assert len(children) == 2


def test_a_large_batch_with_sums_and_metadata_is_stored_as_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter]
) -> None:
    rows = [
        f"id{n},2026-03-{1 + n % 28:02d}T{n % 24:02d}:00:00{'Z' if n % 3 else '+05:00'},cus_{n % 37},"
        f"{'chat' if n % 2 else ''},openai,gpt-4o,key_{n % 5},{n},{n % 7},0,{n % 11},"
        f"{'' if n % 4 == 0 else f'0.{n:09d}'},{'prod' if n % 5 else ''}"
        for n in range(20_000)
    ]
    rows += [rows[17], rows[4242]]  # repeated ids: the first counts
    path = _write(tmp_path, rows, header=f"{HEADER},meta_env")
    child, expected = make_engine(f"sqlite:///{tmp_path / 'c.db'}"), make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    assert _in_process(monkeypatch, expected, path) == 20_000
    assert ingest.import_file(child, "events", path) == 20_000
    assert _store_state(child) == _store_state(expected)
    assert len(children) == 1


def test_the_demo_workspace_is_refused_and_nothing_written(
    tmp_path: Path, children: list[sqlite_writer.ChildWriter]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO setting (key, value) VALUES ('workspace_kind', 'demo')")
    before = _store_state(engine)
    with pytest.raises(DemoWorkspaceError):
        ingest.import_file(engine, "events", _write(tmp_path, MIXED, header=f"{HEADER},meta_env"))
    assert _store_state(engine) == before
    assert len(children) == 1


def test_an_error_in_the_child_writes_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter]
) -> None:
    engine = _seeded(tmp_path / "e.db")
    before = _store_state(engine)
    real = events._rollup_upsert

    def broken(rolled: pl.DataFrame, *, param: str) -> tuple[str, list[str]]:
        sql, bound = real(rolled, param=param)
        return sql.replace("event_rollup (", "no_such_table (", 1), bound

    monkeypatch.setattr(events, "_rollup_upsert", broken)
    with pytest.raises(sqlite_writer.StoreWriteError, match=r"no_such_table.*nothing was written"):
        ingest.import_file(engine, "events", _write(tmp_path, MIXED, header=f"{HEADER},meta_env"))
    assert _store_state(engine) == before  # the keys the child had recorded are gone with its transaction
    assert len(children) == 1


def test_a_killed_child_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    before = _store_state(engine)
    real = sqlite_writer.ChildWriter.send

    def send(self: sqlite_writer.ChildWriter, op: str, **fields: Any) -> None:
        if op == "commit":  # everything is written but not committed: the child dies now
            os.kill(self._child.pid, signal.SIGKILL)
        real(self, op, **fields)

    monkeypatch.setattr(sqlite_writer.ChildWriter, "send", send)
    with pytest.raises(sqlite_writer.StoreWriteError, match="ended"):
        ingest.import_file(engine, "events", _write(tmp_path, MIXED, header=f"{HEADER},meta_env"))
    assert _store_state(engine) == before
    monkeypatch.setattr(sqlite_writer.ChildWriter, "send", real)  # and the store takes the import afterwards
    assert ingest.import_file(engine, "events", _write(tmp_path, MIXED, header=f"{HEADER},meta_env")) == 9


def test_the_cli_reports_a_child_failure_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    children: list[sqlite_writer.ChildWriter],
) -> None:
    def broken(rolled: pl.DataFrame, *, param: str) -> tuple[str, list[str]]:
        return "INSERT INTO nowhere VALUES (?)", ["day"]

    monkeypatch.setattr(events, "_rollup_upsert", broken)
    db = tmp_path / "cli.db"
    path = _write(tmp_path, MIXED, header=f"{HEADER},meta_env")
    assert main(["--db", f"sqlite:///{db}", "import", "events", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: writing the store") and "nowhere" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_child_waits_for_another_writer_and_both_are_stored(
    tmp_path: Path, children: list[sqlite_writer.ChildWriter]
) -> None:
    db = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a while
    holder.execute("INSERT INTO event_seen (event_key) VALUES (42)")
    release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        assert ingest.import_file(engine, "events", _write(tmp_path, MIXED, header=f"{HEADER},meta_env")) == 9
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= 1.4  # it waited for the lock rather than failing
    assert len(_store_state(engine)["seen"]) == 10


SDK_WRITER = """
import sys
sys.path.insert(0, {root!r})
from margin_core.sdk import Tracker
tracker = Tracker({url!r})
for n in range({events}):
    tracker.record(provider="openai", model="gpt-4o-2024-08-06", customer_id="cus_sdk", input_tokens=1)
tracker.close()
"""


def test_an_sdk_writer_at_the_same_time_loses_nothing(
    tmp_path: Path, children: list[sqlite_writer.ChildWriter]
) -> None:
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    rows = [
        f"x{n},2026-03-{1 + n % 28:02d}T10:00:00Z,cus_{n % 50},chat,openai,gpt-4o,,{n},0,0,1,0.5" for n in range(60_000)
    ]
    path = _write(tmp_path, rows)
    sdk = subprocess.Popen(
        [sys.executable, "-c", SDK_WRITER.format(root=str(ROOT), url=url, events=30_000)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ingest.import_file(engine, "events", path) == 60_000
    finally:
        _, err = sdk.communicate(timeout=120)
    assert sdk.returncode == 0, err
    with engine.connect() as connection:
        requests: dict[int, int] = dict(
            connection.exec_driver_sql(
                "SELECT customer_id = 'cus_sdk', SUM(requests) FROM event_rollup GROUP BY customer_id = 'cus_sdk'"
            ).all()
        )
        seen = connection.exec_driver_sql("SELECT COUNT(*) FROM event_seen").scalar()
    assert requests == {0: 60_000, 1: 30_000}
    assert seen == 90_000
    assert len(children) == 1


def test_the_cli_starts_the_child_early_and_imports_into_a_new_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter]
) -> None:
    path = _write(tmp_path, MIXED, header=f"{HEADER},meta_env")
    db = tmp_path / "new" / "cli.db"  # neither the file nor its folder exist yet
    assert main(["--db", f"sqlite:///{db}", "import", "events", str(path)]) == 0
    assert len(children) == 1 and not sqlite_writer._started  # the child started before the store existed
    expected = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    assert _in_process(monkeypatch, expected, path) == 9
    assert _store_state(make_engine(f"sqlite:///{db}")) == _store_state(expected)


def test_a_file_for_the_row_parser_after_all_is_imported_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[sqlite_writer.ChildWriter]
) -> None:
    # an offset without a colon: the row parser reads it, the columnar one hands the file back after the
    # child has started recording its keys (which it then drops)
    rows = [*MIXED, "late,2026-03-04T12:00:00+0530,cus_1,chat,openai,gpt-4o,,1,0,0,2,,prod"]
    path = _write(tmp_path, rows, header=f"{HEADER},meta_env")
    recorded: list[int] = []
    real = events.ChildIngest.record_keys

    def record_keys(self: events.ChildIngest, keys: pl.Series) -> None:
        recorded.append(keys.len())
        real(self, keys)

    monkeypatch.setattr(events.ChildIngest, "record_keys", record_keys)
    child, expected = _seeded(tmp_path / "c.db"), _seeded(tmp_path / "p.db")
    assert ingest.import_file(child, "events", path) == 9
    assert recorded == [11] and len(children) == 1
    assert _in_process(monkeypatch, expected, path) == 9
    assert _store_state(child) == _store_state(expected)


def test_a_bad_line_found_after_the_keys_writes_nothing(
    tmp_path: Path, children: list[sqlite_writer.ChildWriter]
) -> None:
    rows = [*MIXED, "bad,2026-02-30T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,,prod"]
    engine = _seeded(tmp_path / "b.db")
    before = _store_state(engine)
    with pytest.raises(ImportFileError, match="line 15"):
        ingest.import_file(engine, "events", _write(tmp_path, rows, header=f"{HEADER},meta_env"))
    assert _store_state(engine) == before
    assert len(children) == 1

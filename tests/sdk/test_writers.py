"""Several writer processes at once, and events that must not poison the store (rules §6).

Each writer is a separate interpreter, as separate workers of a web app are: they share one store and one
spool, and every event must be in the store once all of them have exited.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from margin_core.sdk import Tracker
from margin_core.store.db import make_engine
from margin_core.store.repo import bump_version, data_version
from tests.sdk.sdk_store import totals

ROOT = Path(__file__).resolve().parents[2]
WRITERS, EVENTS = 4, 20_000

WRITER = """
import logging, sys
logging.basicConfig(level=logging.WARNING)
from pathlib import Path
sys.path.insert(0, {root!r})
from margin_core.sdk import Tracker
tracker = Tracker({url!r}, spool_path=Path({spool!r}))  # default batching and retry
sys.stdin.readline()  # start together
for n in range({events}):
    tracker.record(provider="openai", model="gpt-4o-2024-08-06", customer_id="cus_{writer}", input_tokens=1)
# no close(): the exit drains the queue, as a web worker that is stopped would
"""


def _run_writers(url: str, spool: Path) -> None:
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.format(root=str(ROOT), url=url, spool=str(spool), events=EVENTS, writer=w),
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0] * WRITERS, [err for _, err in results]
    assert not any(err for _, err in results), [err for _, err in results]  # no warning either


def test_four_writer_processes_on_sqlite_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"  # a fresh file: the writers also race to create the tables
    spool = tmp_path / "spool.jsonl"
    _run_writers(url, spool)
    assert totals(url, "requests") == {f"cus_{w}": EVENTS for w in range(WRITERS)}
    assert not spool.exists() or spool.read_text() == ""


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    base = os.environ.get("MARGIN_TEST_PG_URL")
    if base is None:
        if os.environ.get("CI"):
            pytest.fail("MARGIN_TEST_PG_URL is not set: make test starts PostgreSQL for the run")
        pytest.skip("MARGIN_TEST_PG_URL is not set (make test starts PostgreSQL)")
    name = f"margin_writers_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_four_writer_processes_on_a_fresh_postgres_database_lose_nothing(fresh_pg_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    _run_writers(fresh_pg_url, spool)
    assert totals(fresh_pg_url, "requests") == {f"cus_{w}": EVENTS for w in range(WRITERS)}
    assert not spool.exists() or spool.read_text() == ""


def _record(tracker: Tracker, n: int, **fields: object) -> str:
    values: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-2024-08-06", "customer_id": "cus_1"}
    values.update(fields)
    return tracker.record(input_tokens=n, **values)


def test_an_invalid_event_is_rejected_alone_and_logged_once(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="margin_core.sdk"),
        Tracker(db_url, batch_size=50, flush_interval=0.05) as tracker,
    ):
        _record(tracker, 2**63)  # beyond a 64-bit integer: the store would refuse the whole batch
        _record(tracker, 1, customer_id="cus_\x00")  # PostgreSQL refuses a NUL byte
        for _ in range(300):
            _record(tracker, 1)
        _record(tracker, 1, cost_usd="-5")
        assert tracker.flush(30)
        assert tracker.rejected == 3
    assert totals(db_url, "requests") == {"cus_1": 300}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "input_tokens=9223372036854775808" in warnings[0]


def test_an_invalid_event_in_a_spool_is_skipped_and_the_rest_replayed(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "m.db-spool.jsonl"
    good: dict[str, object] = {
        "event_id": "e1",
        "ts": "2026-03-01T00:00:00+00:00",
        "customer_id": "cus_1",
        "feature": "f",
    }
    good |= {"provider": "openai", "model": "gpt-4o", "input_tokens": 5}
    poison = {**good, "event_id": "e2", "input_tokens": 2**63}
    spool.write_text("\n".join(json.dumps(row) for row in (poison, good)) + "\n")  # left by an older version
    with caplog.at_level(logging.WARNING, logger="margin_core.sdk"), Tracker(db_url, flush_interval=0.05) as tracker:
        assert tracker.flush(30)
        _record(tracker, 7)
        assert tracker.flush(30)
    assert totals(db_url, "input_tokens") == {"cus_1": 12}
    assert spool.read_text() == ""
    assert "skipped 1 unreadable line" in caplog.text


def test_close_reports_events_it_could_neither_write_nor_spool(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "m.db").mkdir()  # the store cannot be opened
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")  # nor the spool written
    tracker = Tracker(db_url, spool_path=not_a_dir / "spool.jsonl", flush_interval=0.05, retry_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="margin_core.sdk"):
        for n in range(1000):
            _record(tracker, n)
        assert not tracker.flush(10)
        assert tracker.unsaved == 1000
        assert not tracker.close(10)
    assert "1000 events could be neither written to the store nor spooled" in caplog.text


@pytest.mark.postgres
def test_two_writers_creating_the_data_version_on_a_fresh_postgres_store_both_commit(fresh_pg_url: str) -> None:
    engine = make_engine(fresh_pg_url)
    try:
        first = engine.connect()
        first.begin()
        bump_version(first)  # creates the row, not yet committed
        outcome: list[BaseException | None] = []

        def second() -> None:
            try:
                with engine.begin() as connection:
                    bump_version(connection)  # waits for the first, then must not collide with its row
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        first.commit()
        first.close()
        thread.join(30)
        assert outcome == [None]
        assert data_version(engine) == 2
    finally:
        engine.dispose()


def _spool_one(db_url: str, tmp_path: Path) -> Path:
    """An SDK process that ends while the store cannot be opened: its event waits in the store's spool."""
    (tmp_path / "m.db").mkdir()
    tracker = Tracker(db_url, flush_interval=0.05)
    _record(tracker, 42, customer_id="cus_spooled")
    assert tracker.close(10)  # spooled: nothing lost
    (tmp_path / "m.db").rmdir()
    assert tracker.spool_path.read_text() != ""
    return tracker.spool_path


def test_the_cli_replays_the_store_spool(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from margin_core.__main__ import main

    spool = _spool_one(db_url, tmp_path)
    assert main(["--db", db_url, "report", "customers", "--start", "2020-01-01", "--end", "2100-01-01"]) == 0
    assert totals(db_url, "input_tokens") == {"cus_spooled": 42}
    assert spool.read_text() == ""
    assert "cus_spooled" in capsys.readouterr().out


def test_the_app_replays_the_store_spool(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from margin_core.app_actions.store import app_engine

    spool = _spool_one(db_url, tmp_path)
    monkeypatch.setenv("MARGIN_DATABASE_URL", db_url)
    app_engine()
    assert totals(db_url, "input_tokens") == {"cus_spooled": 42}
    assert spool.read_text() == ""

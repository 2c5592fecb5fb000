"""The store unavailable: events go to the spool file and are written exactly once when it is back."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.records import EventRecord
from margin_core.sdk import Tracker
from margin_core.sdk.spool import Spool
from margin_core.store import events as store_events
from tests.sdk.sdk_store import rollup, totals


def _record(tracker: Tracker, n: int, *, customer: str = "cus_1") -> str:
    return tracker.record(
        provider="openai",
        model="gpt-4o-2024-08-06",
        customer_id=customer,
        feature="f",
        input_tokens=100 + n,
        output_tokens=n,
    )


def _spooled(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _requests(url: str) -> int:
    return sum(int(row["requests"]) for row in rollup(url))


def test_unreachable_store_spools_then_writes_each_event_once(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "m.db"
    blocker.mkdir()  # the database path is a directory: SQLite cannot open it
    tracker = Tracker(db_url, flush_interval=0.05, retry_interval=0.05)
    spool = tmp_path / "m.db-spool.jsonl"
    assert tracker.spool_path == spool
    try:
        with caplog.at_level(logging.DEBUG, logger="margin_core.sdk"):
            ids = [_record(tracker, n) for n in range(3)]
            assert tracker.flush(10)
            ids += [_record(tracker, n) for n in range(3, 5)]
            assert tracker.flush(10)
        assert [row["event_id"] for row in _spooled(spool)] == ids
        assert spool.stat().st_mode & 0o777 == 0o600
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("margin_core")]
        assert len(warnings) == 1 and "spooling" in warnings[0].getMessage()  # logged once, not per batch

        blocker.rmdir()  # the store comes back
        _record(tracker, 5)
        assert tracker.flush(10)
        assert _spooled(spool) == []
        assert _requests(db_url) == 6
        assert totals(db_url, "input_tokens") == {"cus_1": sum(100 + n for n in range(6))}

        assert tracker.flush(10)  # nothing left to replay: still six
        assert _requests(db_url) == 6
    finally:
        tracker.close(timeout=10)


def test_spooled_events_survive_a_restart(tmp_path: Path, db_url: str) -> None:
    blocker = tmp_path / "m.db"
    blocker.mkdir()
    first = Tracker(db_url, flush_interval=0.05)
    for n in range(4):
        _record(first, n)
    assert first.close(timeout=10)  # the process ends with the store still down
    assert len(_spooled(first.spool_path)) == 4

    blocker.rmdir()
    second = Tracker(db_url, flush_interval=0.05)
    try:
        assert second.flush(10)  # a new process replays what the last one spooled
        assert _requests(db_url) == 4
        assert _spooled(second.spool_path) == []
    finally:
        second.close(timeout=10)


def test_store_errors_mid_way_lose_nothing_and_count_nothing_twice(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store_events.ingest_events
    calls = {"n": 0}

    def flaky(engine: Engine, records: Sequence[EventRecord]) -> int:
        calls["n"] += 1
        if calls["n"] in (2, 3):
            raise OSError("disk I/O error")
        return real(engine, records)

    monkeypatch.setattr(store_events, "ingest_events", flaky)
    with Tracker(db_url, batch_size=10, flush_interval=0.05, retry_interval=0.05) as tracker:
        for n in range(50):
            _record(tracker, n, customer=f"cus_{n % 5}")
            if n % 10 == 9:
                assert tracker.flush(10)
        assert tracker.flush(10)
        assert calls["n"] >= 4
        assert _spooled(tracker.spool_path) == []
    assert _requests(db_url) == 50
    assert totals(db_url, "requests") == {f"cus_{k}": 10 for k in range(5)}


def test_replay_after_a_crash_between_commit_and_spool_cleanup_counts_once(db_url: str) -> None:
    with Tracker(db_url, flush_interval=0.05) as tracker:
        ids = [_record(tracker, n) for n in range(3)]
        assert tracker.flush(10)
        spool_path = tracker.spool_path
    assert _requests(db_url) == 3
    # The batch committed, then the process died before removing its spool lines: they are replayed.
    from margin_core.sdk.spool import decode

    lines = [
        {
            "event_id": i,
            "ts": "2026-01-05T10:00:00+00:00",
            "customer_id": "cus_1",
            "feature": "f",
            "provider": "openai",
            "model": "gpt-4o-2024-08-06",
        }
        for i in ids
    ]
    Spool(spool_path).append([decode(line) for line in lines])
    with Tracker(db_url, flush_interval=0.05) as tracker:
        assert tracker.flush(10)
        assert _spooled(spool_path) == []
    assert _requests(db_url) == 3


def test_a_torn_spool_line_is_skipped_and_the_rest_replayed(tmp_path: Path, db_url: str) -> None:
    spool_path = tmp_path / "spool.jsonl"
    good = {
        "event_id": "e1",
        "ts": "2026-01-05T10:00:00+00:00",
        "customer_id": "cus_1",
        "feature": "f",
        "provider": "anthropic",
        "model": "claude-haiku-4-5-20251001",
        "input_tokens": 7,
    }
    spool_path.write_text(json.dumps(good) + '\n{"event_id": "e2", "ts": "2026-01-0')  # crash mid-line
    Spool(spool_path).append([])  # nothing to add: the file stays as it is
    from margin_core.sdk.spool import decode

    Spool(spool_path).append([decode({**good, "event_id": "e3"})])
    lines = spool_path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["event_id"] == "e3"  # e3 starts on a fresh line
    with Tracker(db_url, spool_path=spool_path, flush_interval=0.05) as tracker:
        assert tracker.flush(10)
    assert _requests(db_url) == 2
    assert spool_path.read_text() == ""


def test_events_stay_in_memory_when_the_spool_cannot_be_written(tmp_path: Path, db_url: str) -> None:
    blocker = tmp_path / "m.db"
    blocker.mkdir()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with Tracker(db_url, spool_path=not_a_dir / "spool.jsonl", flush_interval=0.05, retry_interval=0.05) as tracker:
        for n in range(3):
            _record(tracker, n)
        assert not tracker.flush(10)  # held in memory only: flush says so (rules §6)
        assert tracker.unsaved == 3
        blocker.rmdir()
        assert tracker.flush(10)
        assert tracker.unsaved == 0
    assert _requests(db_url) == 3


FORKING_APP = """
import os, sys
sys.path.insert(0, {root!r})
from margin_core.sdk import Tracker
tracker = Tracker({url!r}, flush_interval=0.05)
pid = os.fork()
if pid == 0:
    tracker.record(provider="openai", model="gpt-4o-2024-08-06", customer_id="cus_child")
    os._exit(0 if tracker.flush(20) else 3)
_, status = os.waitpid(pid, 0)
tracker.record(provider="openai", model="gpt-4o-2024-08-06", customer_id="cus_parent")
sys.exit(os.waitstatus_to_exitcode(status) or (0 if tracker.close(20) else 4))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_forked_worker_gets_its_own_writer(db_url: str) -> None:
    # As with gunicorn --preload: the tracker is created, then workers fork before any traffic. A fresh
    # interpreter, since polars (used by the store's ingest) is not fork-safe once its pool has started.
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", FORKING_APP.format(root=root, url=db_url)], timeout=60)
    assert done.returncode == 0
    assert totals(db_url, "requests") == {"cus_child": 1, "cus_parent": 1}

"""`python -m margin_core sync --every` as a founder runs it: a real process against a local provider server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from margin_core import schedule
from margin_core.errors import ConfigError
from margin_core.store import repo
from margin_core.store.db import make_engine
from tests.provider_server import provider_server

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("openai", "anthropic", "openrouter")
KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-x",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-x",
    "OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-x",
}


def start(db: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    """Start `sync --every 1s`; collect its stderr lines in a list as they come."""
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "margin_core", "--db", db, "sync", "--today", "2025-09-06"),
            *("--days", "5", "--every", "1s"),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    closed = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
        closed.set()

    threading.Thread(target=read, daemon=True).start()
    return process, lines, closed


def finish(process: subprocess.Popen[str], closed: threading.Event) -> None:
    """Make sure the process is gone and its pipe closed (pytest turns a leaked pipe into an error)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    closed.wait(5)
    assert process.stderr is not None
    process.stderr.close()


def wait_for(lines: list[str], needle: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in lines):
            return
        time.sleep(0.05)
    raise AssertionError(f"no line with {needle!r} within {timeout}s:\n" + "\n".join(lines))


def sync_runs(db: str) -> list[tuple[str, str]]:
    with make_engine(db).connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT provider, status FROM sync_run ORDER BY id"))]


@pytest.fixture
def env():
    with provider_server() as server:
        yield {**os.environ, **server.base_urls(), **KEYS}


def test_three_runs_then_sigterm_exit_0_one_sync_run_per_source_and_run(tmp_path: Path, env) -> None:
    db = f"sqlite:///{tmp_path / 'every.db'}"
    process, lines, closed = start(db, env)
    try:
        wait_for(lines, "run 3: openrouter", timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, "\n".join(lines)
    finally:
        finish(process, closed)
    runs = [line for line in lines if " run " in line]
    # One line per source and run, each naming the run and the source.
    for number in (1, 2, 3):
        assert [p for p in PROVIDERS if any(f"run {number}: {p}: ok" in line for line in runs)] == list(PROVIDERS)
    assert lines[-1] == "stopped"
    recorded = sync_runs(db)
    assert recorded[:9] == [(p, "ok") for _ in range(3) for p in PROVIDERS]
    # A fourth run may have started before the signal arrived; whatever it did, it did whole.
    assert len(recorded) <= 12 and all(status == "ok" for _, status in recorded)
    usage = repo.read_usage(make_engine(db))
    assert usage.select(repo.USAGE_KEY).is_duplicated().sum() == 0
    assert round(usage["cost_micros"].sum() / 1_000_000, 2) == 536.21  # the fixtures' total, counted once


def test_sigint_during_the_first_run_stops_cleanly_and_commits_whole_windows(tmp_path: Path, env) -> None:
    db = f"sqlite:///{tmp_path / 'interrupted.db'}"
    process, lines, closed = start(db, env)
    try:
        wait_for(lines, "syncing every 1s", timeout=60)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, "\n".join(lines)
    finally:
        finish(process, closed)
    assert "Traceback" not in "\n".join(lines)
    recorded = sync_runs(db)
    assert all(status == "ok" for _, status in recorded)
    usage = repo.read_usage(make_engine(db))
    # A provider has rows exactly when its run was committed: never half a window.
    assert set(usage["provider"].unique()) == {provider for provider, _ in recorded}


@pytest.mark.parametrize(("value", "seconds"), [("90s", 90), ("30m", 1_800), ("1h", 3_600), ("1d", 86_400)])
def test_every_accepts_seconds_minutes_hours_and_days(value: str, seconds: int) -> None:
    assert schedule.parse_every(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "0s", "1.5h", "h", "10", "-1m", "1w"])
def test_every_rejects_other_durations(value: str) -> None:
    with pytest.raises(ConfigError, match="not a sync interval"):
        schedule.parse_every(value)


def test_the_cli_prints_the_missing_days_and_how_to_fill_them(
    tmp_path: Path, env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from margin_core.__main__ import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = f"sqlite:///{tmp_path / 'gap.db'}"
    assert main(["--db", db, "sync", "--provider", "anthropic", "--today", "2025-09-06", "--days", "5"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "sync", "--provider", "anthropic", "--today", "2025-11-01"]) == 0
    err = capsys.readouterr().err
    assert "anthropic: 2025-09-06 to 2025-09-30 (25 days) missing" in err
    assert "Anthropic Console" in err and "import provider-export" in err
    assert "anthropic: ok, 0 rows (2025-10-01 to 2025-11-01, end exclusive)" in err

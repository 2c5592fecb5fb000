"""The pages' side of rules §4.7: the freshness notice on every page, sync gaps on Connections, and the
"sync every N hours while the app is open" setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from margin_core import app_actions, schedule
from margin_core.store.db import make_engine
from tests.pages._store import build_store

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    for name in ("OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY", "STRIPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    build_store(url, tmp_path / "csv", today=app_actions.today_utc())
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    return url


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _run(url: str, provider: str, status: str, *, days_ago: int, error: str = "") -> None:
    today = app_actions.today_utc()
    with make_engine(url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_run (provider, window_start, window_end, started_at, finished_at, status, "
                "rows_written, error) VALUES (:p, :a, :b, :t, :t, :s, 0, :e)"
            ),
            {
                "p": provider,
                "a": today - timedelta(days=days_ago + 3),
                "b": today - timedelta(days=days_ago),
                "t": datetime.now(UTC),
                "s": status,
                "e": error,
            },
        )


@pytest.mark.parametrize("page", ["overview", "customers", "costs", "settings"])
def test_every_page_names_a_stale_source_and_a_failing_one(store: str, page: str) -> None:
    engine = make_engine(store)
    app_actions.save_connection(engine, "openrouter", "sk-or-v1-abcdefghijklmnopqrstuvwxyz123456")
    app_actions.save_connection(engine, "anthropic", "sk-ant-admin01-abcdefghijklmnopqrstuvwxyz")
    _run(store, "openrouter", "ok", days_ago=5)  # the store's CSV usage has no OpenRouter days
    _run(store, "anthropic", "ok", days_ago=0)
    _run(store, "anthropic", "failed", days_ago=0, error="anthropic cost_report: **401** refused")
    at = _open(page)
    warnings = [w.value for w in at.warning if "newest data" in w.value or "last sync failed" in w.value]
    assert len(warnings) == 1, [w.value for w in at.warning]
    assert "OpenRouter: newest data is from" in warnings[0].replace("\\", "")
    assert "Anthropic: the last sync failed (anthropic cost_report: **401** refused)" in warnings[0].replace("\\", "")
    assert "\\*\\*401\\*\\*" in warnings[0]  # provider text is shown as text, never as markdown


def test_fresh_sources_get_a_quiet_line_in_the_sidebar(store: str) -> None:
    engine = make_engine(store)
    app_actions.save_connection(engine, "openai", "sk-admin-abcdefghijklmnopqrstuvwxyz123456")
    _run(store, "openai", "ok", days_ago=0)
    at = _open("overview")
    assert not [w for w in at.warning if "OpenAI" in w.value]
    assert any("Data is fresh through" in c.value.replace("\\", "") for c in at.sidebar.caption)


def test_connections_lists_the_days_a_sync_could_not_fetch(store: str) -> None:
    _run(store, "openai", "ok", days_ago=0)
    with make_engine(store).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_gap (sync_run_id, provider, gap_start, gap_end) "
                "VALUES (1, 'openai', '2025-09-06', '2025-10-01')"
            )
        )
    at = _open("connections")
    assert any(s.value == "Days a sync could not fetch" for s in at.subheader)
    table = next(df.value for df in at.dataframe if "What to do" in df.value.columns)
    assert table.iloc[0]["What to do"].startswith("2025-09-06 to 2025-09-30 (25 days) missing")


def test_settings_turns_the_background_sync_on_and_off(store: str) -> None:
    engine = make_engine(store)
    assert app_actions.sync_schedule_hours(engine) == 0
    at = _open("settings")
    select = at.selectbox(key="settings_sync_every")
    assert select.value == 0  # off by default
    select.set_value(6).run()
    at.button(key="settings_sync_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert app_actions.sync_schedule_hours(engine) == 6
    assert any("every 6 h" in s.value for s in at.success)
    assert schedule.running_background_sync(engine) is not None  # started, without blocking the page
    at.selectbox(key="settings_sync_every").set_value(0).run()
    at.button(key="settings_sync_save").click().run()
    assert app_actions.sync_schedule_hours(engine) == 0
    schedule.running_background_sync(engine).stop(timeout=5)  # type: ignore[union-attr]
    schedule._RUNNERS.clear()

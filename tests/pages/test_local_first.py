"""Local-first network defaults and the password gate for a team host (rules §8)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.pages._store import build_store
from tests.pages.test_pages import APP, PAGES, _today

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_listens_on_loopback_without_usage_statistics_or_deploy() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["toolbarMode"] == "minimal"


def test_streamlit_reads_it_from_the_repository_root() -> None:
    # `make run` and `streamlit run app.py` start in the repository root: Streamlit's own reader must find it.
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'address = "127.0.0.1"' in shown
    assert "gatherUsageStats = false" in shown
    assert 'toolbarMode = "minimal"' in shown


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    st.cache_data.clear()
    st.cache_resource.clear()
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    build_store(url, tmp_path / "csv", today=_today())
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    monkeypatch.setenv("MARGIN_APP_PASSWORD", "correct horse battery staple")
    return url


@pytest.mark.parametrize("page", PAGES)
def test_every_page_asks_for_the_password_and_shows_nothing_else(locked: str, page: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.dataframe and not at.metric and not at.button and not at.get("download_button")
    assert not at.sidebar.date_input  # not even the frame


def test_a_wrong_password_unlocks_nothing_and_the_right_one_everything(locked: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="margin_password").input("guess").run()
    assert any("Wrong password" in e.value for e in at.error)
    assert not at.metric and not at.dataframe
    at.text_input(key="margin_password").input("correct horse battery staple").run()
    assert not at.exception
    assert at.metric and "Password" not in [t.label for t in at.text_input]
    at.switch_page("pages/customers.py").run()
    assert at.dataframe  # the session stays unlocked


def test_no_password_no_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    build_store(url, tmp_path / "csv", today=_today())
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    monkeypatch.delenv("MARGIN_APP_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert at.metric and "Password" not in [t.label for t in at.text_input]

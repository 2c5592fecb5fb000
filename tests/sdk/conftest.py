"""SDK test fixtures: a temp SQLite store, a tracker writing to it, the local LLM server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# pyproject sets no `pythonpath`, so a bare `pytest` would not find `margin_core` (see tests/connectors).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from margin_core.sdk import Tracker  # noqa: E402
from tests.sdk.llm_fixture_server import LLMServer, serve  # noqa: E402

KEY_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "MARGIN_DATABASE_URL")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/m.db"


@pytest.fixture
def tracker(db_url: str) -> Iterator[Tracker]:
    tracker = Tracker(db_url, flush_interval=0.05)
    yield tracker
    tracker.close(timeout=10)


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    yield from serve()

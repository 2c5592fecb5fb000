"""Shared helpers for connector tests: the provider fixture files, a recording sleep, a clean environment."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "providers"

# The packages sit at the repository root (rules §8, no src/) and pyproject sets no `pythonpath`, so a
# bare `pytest` would not find `connectors`; `python -m pytest` would. Make both work.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROVIDER_ENV = (
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_ADMIN_KEY",
    "OPENROUTER_MANAGEMENT_KEY",
    "OPENROUTER_API_KEY",
    "MARGIN_OPENAI_BASE_URL",
    "MARGIN_ANTHROPIC_BASE_URL",
    "MARGIN_OPENROUTER_BASE_URL",
)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see real keys or base URLs from the developer's shell."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


class SleepRecorder:
    """Stands in for time.sleep: records each delay and never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture
def body() -> Callable[[str], Any]:
    """Load a fixture body to edit in a test (plain floats: edited bodies test shape, not money)."""

    def load(name: str) -> Any:
        return json.loads(fixture_text(name))

    return load


@pytest.fixture
def respond() -> Callable[..., httpx.Response]:
    """Build an httpx.Response from a fixture file name, or from a body edited in the test."""

    def build(source: str | Any, *, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
        text = fixture_text(source) if isinstance(source, str) else json.dumps(source)
        return httpx.Response(
            status, content=text.encode(), headers={"content-type": "application/json", **(headers or {})}
        )

    return build

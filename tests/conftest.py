"""Suite-wide settings: offline, no real keys, hypothesis without deadlines (first polars calls are slow)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("margin", deadline=None, max_examples=60)
settings.load_profile("margin")

SECRET_ENV = (
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_ADMIN_KEY",
    "OPENROUTER_MANAGEMENT_KEY",
    "OPENROUTER_API_KEY",
    "STRIPE_API_KEY",
    "MARGIN_DATABASE_URL",
)


@pytest.fixture(autouse=True)
def _offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's keys or store; secrets are encrypted with a throwaway key."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARGIN_SECRET_KEY", "Vt1o5bHnQ2Rk9dK3mJ0YwX6cF8aS4eL7uP2iZ9gB1hE=")
    # derived day-ledger files of PostgreSQL stores go here, not under the repository's data/
    monkeypatch.setenv("MARGIN_CACHE_DIR", str(tmp_path_factory.mktemp("ledger-cache")))


def pg_url() -> str | None:
    """The PostgreSQL server `make test` starts; a test that needs it fails under CI when it is missing."""
    url = os.environ.get("MARGIN_TEST_PG_URL")
    if url is None and os.environ.get("CI"):
        pytest.fail("MARGIN_TEST_PG_URL is not set: make test starts PostgreSQL for the run")
    return url

"""Provider sync end to end: the real connectors against a local fixture server, into a fresh store."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from sqlalchemy import text

from margin_core import provider_usage, reports, sync
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.workspace import load_workspace
from tests.provider_server import ProviderServer, provider_server

TODAY = date(2025, 9, 6)
KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-fixture-0000",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-fixture",
    "OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-fixture",
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with provider_server() as running:
        for name, value in {**running.base_urls(), **KEYS}.items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def engine(tmp_path):
    return make_engine(f"sqlite:///{tmp_path / 'm.db'}")


def _usd(micros: int) -> Decimal:
    return (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"))


def _cost_by(engine, column: str, provider: str) -> dict[str, int]:
    usage = repo.read_usage(engine).filter(pl.col("provider") == provider)
    return dict(usage.group_by(column).agg(pl.col("cost_micros").sum()).iter_rows())


def test_full_sync_reproduces_the_fixture_totals(server: ProviderServer, engine) -> None:
    results = sync.sync_all(engine, today=TODAY, days=5)
    assert [(r.provider, r.status) for r in results] == [("openai", "ok"), ("anthropic", "ok"), ("openrouter", "ok")]

    openai_keys = _cost_by(engine, "api_key_id", "openai")
    assert _usd(openai_keys["key_F8lwX4R0SQZNpW6V"]) == Decimal("55.68")
    assert _usd(openai_keys["key_6H0AH5PWs1bctiUD"]) == Decimal("108.77")
    assert _usd(openai_keys["key_S9xqbsJ9HHh7v4vl"]) == Decimal("12.85")
    assert _usd(openai_keys["key_39jmCLWnfdEJMQDG"]) == Decimal("55.30")
    assert _usd(sum(openai_keys.values())) == Decimal("232.60")

    anthropic_keys = _cost_by(engine, "api_key_id", "anthropic")  # the Production workspace split by list price
    assert _usd(anthropic_keys["apikey_01CZW9VFf8mdmQryMURnUgWP"]) == Decimal("101.58")
    assert _usd(anthropic_keys["apikey_01Pisv5z19FGFJrXEQbzpfMy"]) == Decimal("88.01")
    assert _usd(anthropic_keys["apikey_01EhDEN6iP6aEWQqNX9DGtMz"]) == Decimal("15.89")
    assert _usd(anthropic_keys["apikey_01gjf1tY3hAcNyEXxk1gJnyh"]) == Decimal("29.32")
    anthropic_models = _cost_by(engine, "model", "anthropic")
    assert _usd(anthropic_models["claude-sonnet-4-20250514"]) == Decimal("115.34")  # web searches included
    assert _usd(anthropic_models["claude-opus-4-20250514"]) == Decimal("69.94")

    openrouter = _cost_by(engine, "model", "openrouter")
    assert _usd(openrouter["anthropic/claude-sonnet-4"]) == Decimal("32.20")
    assert _usd(sum(openrouter.values())) == Decimal("68.82")

    usage = repo.read_usage(engine)
    assert _usd(int(usage["cost_micros"].sum())) == Decimal("536.21")
    assert set(usage["cost_source"]) == {"reported"}
    totals = usage.filter(pl.col("provider") == "openai").select(pl.col("requests", "output_tokens").sum()).row(0)
    assert totals == (108_619 + 15_655 + 2_105, 24_604_309)


def test_second_sync_changes_nothing(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    first = repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY)
    sync.sync_all(engine, today=TODAY, days=5)
    second = repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY)
    assert first.equals(second)


def test_failed_provider_writes_nothing_and_keeps_earlier_data(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    before = repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY)
    server.fail["/anthropic/v1/organizations/cost_report"] = 500
    results = {r.provider: r for r in sync.sync_all(engine, today=TODAY, days=5)}
    assert results["anthropic"].status == "failed"
    assert "anthropic" in results["anthropic"].error
    assert results["openai"].status == "ok"
    assert repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY).equals(before)
    with engine.connect() as connection:
        statuses = connection.execute(text("SELECT status FROM sync_run WHERE provider = 'anthropic'")).scalars().all()
    assert statuses == ["ok", "failed"]


def test_unmapped_fixture_spend_is_all_unattributed_and_reconciles(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    workspace = load_workspace(engine)
    start, end = date(2025, 9, 1), TODAY
    customers = reports.customer_margins(workspace, start=start, end=end)
    unattributed = customers.filter(pl.col("customer_id") == "(unattributed)")["cost_micros"].item()
    assert unattributed == repo.read_usage(engine)["cost_micros"].sum()
    providers = reports.dimension_margins(workspace, start=start, end=end, dimension="provider")
    assert providers["cost_micros"].sum() == unattributed


def test_an_unexpected_error_fails_that_provider_only_and_is_recorded(
    server: ProviderServer, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fetched, *, source):
        if fetched.provider == "anthropic":
            raise ZeroDivisionError("a bug")
        return real(fetched, source=source)

    real = provider_usage.usage_rows
    monkeypatch.setattr(sync, "usage_rows", broken)
    results = {r.provider: r for r in sync.sync_all(engine, today=TODAY, days=5)}
    assert results["anthropic"].status == "failed"
    assert "ZeroDivisionError" in results["anthropic"].error
    assert results["openrouter"].status == "ok"
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, error FROM sync_run WHERE provider = 'anthropic'")).one()
    assert row.status == "failed"
    assert "a bug" in row.error

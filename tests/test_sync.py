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
from tests.provider_server import ADMIN_KEYS, ProviderServer, provider_server

TODAY = date(2025, 9, 6)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    with provider_server() as running:
        for name, value in {**running.base_urls(), **ADMIN_KEYS}.items():
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


# --- quiet windows (rules §4.7): no usage is a successful sync with 0 rows ------------------------------

EMPTY_USAGE_PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}
EMPTY_ACCOUNT = {
    "/openai/organization/usage/completions": EMPTY_USAGE_PAGE,
    "/openai/organization/usage/embeddings": EMPTY_USAGE_PAGE,
    "/openai/organization/costs": EMPTY_USAGE_PAGE,
    "/anthropic/v1/organizations/usage_report/messages": {"data": [], "has_more": False, "next_page": None},
    "/anthropic/v1/organizations/cost_report": {"data": [], "has_more": False, "next_page": None},
    "/anthropic/v1/organizations/api_keys": {"data": [], "has_more": False, "first_id": None, "last_id": None},
    "/openrouter/keys": {"data": []},
}


def _runs(engine) -> list[tuple[str, str, int, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT provider, status, rows_written, window_start, window_end FROM sync_run ORDER BY id")
        )
        return [(r.provider, r.status, r.rows_written, str(r.window_start), str(r.window_end)) for r in rows]


def test_a_new_account_without_any_usage_syncs_ok_with_zero_rows(server: ProviderServer, engine) -> None:
    server.bodies.update(EMPTY_ACCOUNT)
    results = sync.sync_all(engine, today=TODAY)
    assert [(r.provider, r.status, r.rows_written, r.error) for r in results] == [
        ("openai", "ok", 0, ""),
        ("anthropic", "ok", 0, ""),
        ("openrouter", "ok", 0, ""),
    ]
    assert [(p, s, n) for p, s, n, *_ in _runs(engine)] == [
        ("openai", "ok", 0),
        ("anthropic", "ok", 0),
        ("openrouter", "ok", 0),
    ]
    assert repo.read_usage(engine).is_empty()
    workspace = load_workspace(engine)  # the reports of an empty store work too
    customers = reports.customer_margins(workspace, start=date(2025, 8, 1), end=TODAY)
    assert customers.filter(pl.col("cost_micros") != 0).is_empty()


def test_the_quiet_window_of_issue_12_no_longer_fails_on_the_asof_join(server: ProviderServer, engine) -> None:
    """`sync --today 2025-10-20`: every fixture day is outside the window, so nothing arrives."""
    results = sync.sync_all(engine, only="openai", today=date(2025, 10, 20))
    assert [(r.provider, r.status, r.rows_written, r.error) for r in results] == [("openai", "ok", 0, "")]


def test_usage_on_two_of_five_days_writes_those_days_and_the_rest_as_empty(server: ProviderServer, engine) -> None:
    results = sync.sync_all(engine, today=date(2025, 9, 9), days=5)  # window 09-04 … 09-08; usage on 09-04, 09-05
    assert {(r.provider, r.status, r.window) for r in results} == {
        (p, "ok", (date(2025, 9, 4), date(2025, 9, 9))) for p in ("openai", "anthropic", "openrouter")
    }
    assert all(r.rows_written > 0 for r in results)
    days = set(repo.read_usage(engine)["day"].unique())
    assert days == {date(2025, 9, 4), date(2025, 9, 5)}


def test_a_quiet_three_day_incremental_window_is_ok_and_keeps_earlier_days(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    before = repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY)
    later = date(2025, 9, 9)  # the incremental window is 09-06 … 09-08: nothing happened on those days
    results = sync.sync_all(engine, today=later)
    assert [(r.status, r.rows_written, r.window) for r in results] == [("ok", 0, (TODAY, later))] * 3
    assert repo.read_usage(engine).drop("usage_id").sort(repo.USAGE_KEY).equals(before)


# --- gaps: days the API no longer reaches ---------------------------------------------------------------


def test_a_pause_longer_than_the_api_window_reports_the_missing_days(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)  # the last good window ends 2025-09-06
    later = date(2025, 11, 1)  # OpenAI and Anthropic reach back 31 days (to 10-01), OpenRouter 30 (to 10-02)
    lines: list[str] = []
    results = {r.provider: r for r in sync.sync_all(engine, today=later, progress=lines.append)}
    assert {p: r.status for p, r in results.items()} == {"openai": "ok", "anthropic": "ok", "openrouter": "ok"}
    assert results["openai"].gap == (date(2025, 9, 6), date(2025, 10, 1))
    assert results["openai"].window == (date(2025, 10, 1), later)  # it goes on with what it can fetch
    assert results["openrouter"].gap == (date(2025, 9, 6), date(2025, 10, 2))
    message = sync.gap_message("openai", results["openai"].gap)
    assert message.startswith("2025-09-06 to 2025-09-30 (25 days) missing: the OpenAI API only reaches back 31 days")
    assert "import provider-export" in message
    assert any(line.startswith("openai: ok") and "2025-09-06 to 2025-09-30 (25 days) missing" in line for line in lines)
    assert "openrouter.ai/activity" in sync.gap_message("openrouter", results["openrouter"].gap)
    gaps = {(p, a, b) for p, a, b, _ in sync.sync_gaps(engine)}
    assert gaps == {
        ("openai", date(2025, 9, 6), date(2025, 10, 1)),
        ("anthropic", date(2025, 9, 6), date(2025, 10, 1)),
        ("openrouter", date(2025, 9, 6), date(2025, 10, 2)),
    }
    with engine.connect() as connection:
        linked = (
            connection.execute(
                text(
                    "SELECT r.status FROM sync_gap g JOIN sync_run r ON r.id = g.sync_run_id "
                    "WHERE g.provider = 'openai'"
                )
            )
            .scalars()
            .all()
        )
    assert linked == ["ok"]
    again = sync.sync_all(engine, today=later)  # the next sync has no gap, and the gap is recorded once
    assert all(r.gap is None for r in again)
    assert len(sync.sync_gaps(engine)) == 3


def test_no_gap_when_the_pause_fits_in_the_api_window(server: ProviderServer, engine) -> None:
    sync.sync_all(engine, today=TODAY, days=5)
    results = sync.sync_all(engine, today=date(2025, 10, 1))  # 25 days later: still reachable
    assert all(r.gap is None for r in results)
    assert sync.sync_gaps(engine) == []


@pytest.mark.postgres
def test_quiet_window_gap_and_freshness_on_postgresql(server: ProviderServer) -> None:
    """The same SQL on PostgreSQL: the gap row links to its run, a quiet window is ok with 0 rows."""
    import os
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from margin_core import freshness

    url = os.environ.get("MARGIN_TEST_PG_URL")
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("MARGIN_TEST_PG_URL is not set: make test starts PostgreSQL for the run")
        pytest.skip("MARGIN_TEST_PG_URL is not set (make test starts PostgreSQL)")
    name = f"i12_sync_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        sync.sync_all(engine, only="openai", today=TODAY, days=5)
        [quiet] = sync.sync_all(engine, only="openai", today=date(2025, 11, 1))
        assert (quiet.status, quiet.rows_written, quiet.gap) == ("ok", 0, (date(2025, 9, 6), date(2025, 10, 1)))
        assert [(p, a, b) for p, a, b, _ in sync.sync_gaps(engine)] == [("openai", date(2025, 9, 6), date(2025, 10, 1))]
        with engine.connect() as connection:
            run_id = connection.execute(text("SELECT MAX(id) FROM sync_run")).scalar()
            assert connection.execute(text("SELECT sync_run_id FROM sync_gap")).scalar() == run_id
        items = freshness.source_freshness(engine, today=date(2025, 11, 1))
        assert [(i.provider, i.newest_day, i.stale) for i in items if i.provider == "openai"] == [
            ("openai", date(2025, 10, 31), False)
        ]
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

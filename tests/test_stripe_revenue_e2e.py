"""Stripe → store → recognized revenue: the fixtures README's March 2026 figures, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from margin_core import ingest, output, reports, sync
from margin_core.store.db import make_engine
from margin_core.workspace import load_workspace
from tests.connectors.stripe_fixture_server import Reply, StripeFixtureServer, serve

MARCH = (date(2026, 3, 1), date(2026, 4, 1))


@pytest.fixture
def stripe_server() -> StripeFixtureServer:
    return StripeFixtureServer()


@pytest.fixture
def engine(tmp_path, monkeypatch: pytest.MonkeyPatch, stripe_server: StripeFixtureServer):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate_to_usd\nEUR,1.10\nGBP,1.30\nJPY,0.0065\n")
    ingest.import_file(engine, "rates", rates)
    with serve(stripe_server) as base_url:
        monkeypatch.setenv("MARGIN_STRIPE_BASE_URL", base_url)
        monkeypatch.setenv("STRIPE_API_KEY", "rk_test_fixture")
        yield engine


def _march_usd(engine) -> dict[str, Decimal]:
    table = output.to_cli_frame(
        reports.report(load_workspace(engine), "customers", start=MARCH[0], end=MARCH[1]), "customers"
    )
    return {c: Decimal(v) for c, v in table.select("customer_id", "revenue_usd").iter_rows()}


def test_march_revenue_per_customer_matches_the_hand_computed_figures(engine) -> None:
    [result] = sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    assert result.status == "ok", result.error
    # Evergreen's £0 trial is neither revenue nor cost: not listed (rules §5)
    assert _march_usd(engine) == {
        "cus_TmAcmeAnalytics1": Decimal("470.00"),
        "cus_TmBorealisData2": Decimal("682.00"),
        "cus_TmKyotoLensKK03": Decimal("302.25"),
        "cus_TmDeltaFreight4": Decimal("4100.00"),
        "cus_TmFjordLabsAS06": Decimal("99.63"),
        "(unattributed)": Decimal("0.00"),
    }
    tiers = reports.report(load_workspace(engine), "tiers", start=MARCH[0], end=MARCH[1])
    by_tier = dict(tiers.select("tier", "revenue_micros").iter_rows())
    # the README's per-tier cents × 10^4; starter (Evergreen's £0 trial) has no revenue, cost or requests
    assert by_tier == {"business": 1_152_000_000, "pro": 401_880_000, "enterprise": 4_100_000_000}


def test_second_stripe_sync_changes_nothing(engine) -> None:
    sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    first = load_workspace(engine).revenue.sort("source_id")
    sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    assert load_workspace(engine).revenue.sort("source_id").equals(first)
    assert first.filter(pl.col("source_id").str.starts_with("cnli_")).height == 2  # catch-up and rest


def test_a_sync_that_fails_halfway_keeps_earlier_revenue_and_the_next_one_resumes(engine, stripe_server) -> None:
    sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    before = _march_usd(engine)
    failure = Reply(500, {"error": {"type": "api_error", "message": "boom"}})
    stripe_server.script("/v1/credit_notes", failure, failure, failure)  # the SDK tries 3 times
    [failed] = sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    assert failed.status == "failed"
    assert "stripe" in failed.error
    assert _march_usd(engine) == before
    [again] = sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    assert again.status == "ok"
    assert _march_usd(engine) == before


def test_revenue_without_usage_and_usage_without_a_stripe_customer_are_both_listed(engine, tmp_path) -> None:
    sync.sync_all(engine, only="stripe", today=date(2026, 3, 31))
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "day,provider,model,api_key_id,project_id,user_id,input_tokens,cached_input_tokens,cache_write_tokens,"
        "output_tokens,requests,cost_usd\n2026-03-05,openai,gpt-4o,key_beta,,,100,0,0,10,2,12.34\n"
    )
    mappings = tmp_path / "mappings.csv"
    mappings.write_text("provider,dimension,value,customer_id\nopenai,api_key_id,key_beta,beta-tester-7\n")
    ingest.import_file(engine, "usage", usage)
    ingest.import_file(engine, "mappings", mappings)
    table = reports.report(load_workspace(engine), "customers", start=MARCH[0], end=MARCH[1])
    rows = {r["customer_id"]: r for r in table.iter_rows(named=True)}
    assert rows["beta-tester-7"]["revenue_micros"] == 0
    assert rows["beta-tester-7"]["cost_micros"] == 12_340_000
    assert rows["beta-tester-7"]["status"] == "unprofitable"
    assert rows["cus_TmDeltaFreight4"]["cost_micros"] == 0
    assert rows["cus_TmDeltaFreight4"]["status"] == "profitable"

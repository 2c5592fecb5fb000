"""Investor view, customer page, alerts and the month-end projection on the demo workspace (AppTest)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest
import streamlit as st
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module
from streamlit.testing.v1.element_tree import Button

from margin_core import app_actions, demo, insights, output, reports
from margin_core.app_actions import founder
from margin_core.store.db import make_engine
from margin_core.workspace import load_workspace

APP = Path(__file__).resolve().parents[2] / "app.py"
TODAY = date(2026, 12, 6)
PNG = b"\x89PNG\r\n\x1a\n"


class _KeptStorage(MemoryMediaFileStorage):
    """Keeps every media store AppTest creates, so a test can read what a download button serves."""

    made: ClassVar[list[MemoryMediaFileStorage]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        _KeptStorage.made.append(self)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('founder') / 'demo.db'}"
    engine = make_engine(url)
    demo.build(engine, today=TODAY)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def workspace(demo_url: str):
    engine = make_engine(demo_url)
    try:
        return load_workspace(engine)
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _demo_app(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    _KeptStorage.made.clear()
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", _KeptStorage)
    monkeypatch.setattr(app_actions, "today_utc", lambda: TODAY)
    monkeypatch.setenv("MARGIN_DATABASE_URL", demo_url)


def _open(page: str, **state: object) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _served(at: AppTest, key: str) -> bytes:
    button = next(b for b in at.get("download_button") if b.key == key)
    name = button.proto.url.rsplit("/", 1)[1]
    for storage in reversed(_KeptStorage.made):
        try:
            return storage.get_file(name).content
        except MediaFileStorageError:
            continue
    raise AssertionError(f"no media for {key}")


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_investor_view_headlines_equal_the_engine_and_the_pack_holds_every_chart(workspace) -> None:
    at = _open("investor")
    start, end = founder.last_full_months(TODAY, 3)
    assert (start, end) == (date(2026, 9, 1), date(2026, 12, 1))
    view = founder.investor_view(workspace, start=start, end=end)
    assert _metric(at, "LLM cost / revenue") == insights.pct_text(view.headline["cost_share"])
    assert _metric(at, "Gross margin") == insights.pct_text(view.headline["margin_pct"])
    assert _metric(at, "Margin change, last month") == "\u221216 pts"  # 58% → 42%, the demo's story
    assert _metric(at, "Top 20% of customers: tokens") == insights.pct_text(view.concentration["token_share"])
    pngs = [b for b in at.get("download_button") if b.key and b.key.endswith("_png")]
    assert len(pngs) == 7
    pack = zipfile.ZipFile(io.BytesIO(_served(at, "investor_pack")))
    charts = [n for n in pack.namelist() if n.startswith("charts/")]
    assert len(charts) == 7 and all(n.endswith(".png") for n in charts)
    assert all(pack.read(n).startswith(PNG) for n in charts)
    assert sorted(n for n in pack.namelist() if n.startswith("data/")) == [
        "data/by_month.csv",
        "data/by_tier.csv",
        "data/by_usage_pattern.csv",
        "data/concentration.csv",
        "data/headline.csv",
    ]
    months = pl.read_csv(pack.read("data/by_month.csv"), infer_schema=False)
    assert {"period_start", "revenue_usd", "cost_usd", "margin_pct", "change_pts", "cost_per_mtok_usd"} <= set(
        months.columns
    )
    assert months["period_start"].to_list() == ["2026-09-01", "2026-10-01", "2026-11-01"]
    assert months["margin_pct"].to_list()[1:] == ["0.5800", "0.4200"]
    tiers = pack.read("data/by_tier.csv").decode()
    assert "enterprise" in tiers and "starter" in tiers


def test_investor_view_can_use_the_sidebar_period(workspace) -> None:
    at = _open("investor")
    at.segmented_control(key="investor_span").set_value("Last full month").run()
    assert not at.exception
    view = founder.investor_view(workspace, start=date(2026, 11, 1), end=date(2026, 12, 1))
    assert _metric(at, "Gross margin") == insights.pct_text(view.headline["margin_pct"]) == "42%"


def test_customer_page_headlines_equal_the_engine(workspace) -> None:
    at = _open("customer", customer_page_jump="cus_demo001")
    assert at.selectbox(key="customer_page_pick").value == "cus_demo001"
    start, end = TODAY - timedelta(days=31), TODAY
    row = (
        reports.customer_margins(workspace, start=start, end=end)
        .filter(pl.col("customer_id") == "cus_demo001")
        .row(0, named=True)
    )
    assert _metric(at, "Revenue") == insights.usd_text(row["revenue_micros"])
    assert _metric(at, "Gross margin") == insights.pct_text(row["margin_pct"])
    page = founder.customer_page(workspace, customer_id="cus_demo001", start=start, end=end, grain="day")
    assert _metric(at, "Tokens") == insights.tokens_text(page.totals["tokens"])
    captions = [c.value for c in at.caption]
    assert f"vs the average customer's {insights.tokens_text(round(page.totals['avg_tokens']))}" in captions
    assert page.totals["tokens"] > 10 * page.totals["avg_tokens"]  # StartupCo: a power user
    series = _served(at, "customer_series_csv").decode().splitlines()
    assert series[0].startswith("period_start,revenue_usd,cost_usd")
    assert len(series) == 32  # header + 31 days
    plans = _served(at, "customer_plans_csv").decode()
    assert "Starter" in plans


def test_the_customers_page_opens_the_customer_page() -> None:
    at = _open("customers")
    at.selectbox(key="customers_drill").set_value("cus_demo003").run()
    at.button(key="customers_open_page").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="customer_page_pick").value == "cus_demo003"


def test_overview_shows_the_spike_alert_and_the_projection() -> None:
    at = _open("overview")
    texts = [t.value for t in at.text]
    assert any(t.startswith("⚠ LLM cost jumped — customer Cobalt Health: $") for t in texts), texts
    assert any(m.label.startswith("LLM cost, December projection") for m in at.metric)
    alerts_csv = _served(at, "overview_alerts_csv").decode()
    assert alerts_csv.startswith("kind,subject,previous,current,change_pct,first_day")
    assert "customer Cobalt Health" in alerts_csv


def test_costs_page_projects_each_provider() -> None:
    at = _open("costs")
    served = _served(at, "costs_forecast_csv").decode().splitlines()
    assert served[0].startswith("measure,provider,month_start,month_to_date_usd")
    assert {line.split(",")[1] for line in served[1:]} == {"openai", "anthropic", "openrouter"}


def test_no_change_against_a_previous_period_without_data() -> None:
    at = _open("overview", period=(TODAY - timedelta(days=90), TODAY - timedelta(days=1)))
    revenue = next(m for m in at.metric if m.label == "Revenue")
    assert not revenue.delta  # the 90 days before start before the demo's data (2026-08-08)
    assert any("before the data of every source starts (2026-08-08)" in c.value for c in at.caption)
    at = _open("overview")  # the default 31 days: the 31 before have data for every source
    assert next(m for m in at.metric if m.label == "Revenue").delta


def test_alert_thresholds_are_settings(demo_url: str) -> None:
    at = _open("settings")
    form = [n for n in at.number_input if n.label.startswith("Cost spike: at least ×")]
    assert form and form[0].value == 2.0
    form[0].set_value(3.5)
    submit = next(b for b in at.get("button") if isinstance(b, Button) and b.label == "Save alert thresholds")
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    engine = make_engine(demo_url)
    try:
        limits = founder.alert_settings(load_workspace(engine))
        assert limits["spike_ratio"] == 3.5
        # Cobalt Health's 7-day cost is 2.05× the week before: silent at 3.5×
        found = founder.alerts(load_workspace(engine), last_day=TODAY - timedelta(days=1))
        assert "customer Cobalt Health" not in found["subject"].to_list()
        founder.save_alert_settings(engine, spike_ratio=2, spike_min_usd=50, unattributed_pct=15)
    finally:
        engine.dispose()


def test_cross_subsidy_by_usage_pattern_matches_the_cli_report(workspace) -> None:
    at = _open("cross_subsidy")
    at.selectbox(key="cross_dimension").set_value("usage_pattern").run()
    assert not at.exception, [e.value for e in at.exception]
    served = _served(at, "cross_table_csv").decode()
    start, end = TODAY - timedelta(days=31), TODAY
    expected = output.to_cli_frame(
        reports.report(workspace, "usage-patterns", start=start, end=end), "usage-patterns"
    ).write_csv()
    assert sorted(served.splitlines()) == sorted(expected.splitlines())
    assert served.splitlines()[0].startswith("usage_pattern,revenue_usd")

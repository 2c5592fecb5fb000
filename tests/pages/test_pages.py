"""The pages, run through AppTest from app.py against a temporary store built by the canonical CSV imports
(tests/pages/_store.py), and once against the demo workspace."""

from __future__ import annotations

import io
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

from margin_core import app_actions, insights, output, reports
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.workspace import load_workspace
from tests.pages._store import build_store

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGES = (
    "overview",
    "customers",
    "margin_over_time",
    "cross_subsidy",
    "costs",
    "connections",
    "mapping",
    "import_export",
    "settings",
)


class _KeptStorage(MemoryMediaFileStorage):
    """Keeps every media store AppTest creates, so a test can read what a download button serves."""

    made: ClassVar[list[MemoryMediaFileStorage]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        _KeptStorage.made.append(self)


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    _KeptStorage.made.clear()
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", _KeptStorage)


def _today() -> date:
    return app_actions.today_utc()


def _period() -> tuple[date, date]:
    """The default period as a half-open range: the 31 days ending yesterday."""
    end = _today()
    return end - timedelta(days=31), end


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    build_store(url, tmp_path / "csv", today=_today())
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    return url


def _workspace(url: str):
    engine = make_engine(url)
    try:
        return load_workspace(engine)
    finally:
        engine.dispose()


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _download(at: AppTest, key: str) -> str:
    """The text a download button serves."""
    url = at.get("download_button")
    button = next(b for b in url if b.key == key)
    name = button.proto.url.rsplit("/", 1)[1]
    for storage in reversed(_KeptStorage.made):
        try:
            return storage.get_file(name).content.decode()
        except MediaFileStorageError:  # another run's storage
            continue
    raise AssertionError(f"no media for {key}")


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# --- every page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_content_and_a_download(store: str, page: str) -> None:
    at = _open(page)
    assert at.title[0].value
    shown = len(at.dataframe) + len(at.metric) + len(at.get("arrow_vega_lite_chart"))
    assert shown > 0
    assert at.get("download_button"), "every page offers at least one CSV download"
    assert not at.info or "Demo data" not in at.info[0].value  # own data: no demo banner


def test_every_page_on_the_demo_workspace_shows_the_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from margin_core import demo

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    demo.build(make_engine(url), today=_today())
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    for page in PAGES:
        if page != "overview":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("Demo data" in i.value for i in at.info), page
        assert at.dataframe or at.metric or at.get("arrow_vega_lite_chart"), page
    at.switch_page("pages/overview.py").run()
    texts = [m.value for m in at.markdown]
    assert any("StartupCo" in t for t in texts), "the loss-maker story is told"
    assert any("week over week" in t for t in texts), "the bill-spike story is told"


# --- overview ----------------------------------------------------------------------------------------


def test_overview_metrics_match_the_customers_report(store: str) -> None:
    start, end = _period()
    table = reports.report(_workspace(store), "customers", start=start, end=end)
    at = _open("overview")
    assert _metric(at, "Revenue") == insights.usd_text(int(table["revenue_micros"].sum()))
    assert _metric(at, "LLM cost") == insights.usd_text(int(table["cost_micros"].sum()))
    customers = table.filter(pl.col("customer_id") != "(unattributed)")
    assert _metric(at, "Customers") == str(customers.height)
    caption = next(c.value for c in at.caption if c.value.startswith("Profitable"))
    counts = [int(part.split("**")[1]) for part in caption.split(" · ")]
    assert sum(counts) == customers.height
    assert counts[2] == customers.filter(pl.col("status") == "unprofitable").height


def test_overview_writes_three_insights_from_the_data(store: str) -> None:
    at = _open("overview")
    texts = " ".join(m.value for m in at.markdown)
    assert "StartupCo" in texts  # the loss-maker of tests/pages/_store.py
    assert "Globex" in texts and "week over week" in texts  # its 5x gpt-4o spike in the last week
    assert "gpt-4.1" in texts  # unattributed-only model: cost without revenue


# --- customers ---------------------------------------------------------------------------------------


def test_customers_table_has_every_row_and_the_cli_csv(store: str) -> None:
    start, end = _period()
    table = reports.report(_workspace(store), "customers", start=start, end=end)
    at = _open("customers")
    shown = at.dataframe[0].value
    assert len(shown) == table.height == 7  # six customers and (unattributed)
    assert set(shown["Customer id"]) == set(table["customer_id"])
    assert shown["Customer"].iloc[0] == "StartupCo"  # worst margin first
    cli = output.to_csv(output.to_cli_frame(table, "customers"))
    served = _download(at, "customers_table_csv")
    assert served.splitlines()[0] == cli.splitlines()[0]
    assert sorted(served.splitlines()[1:]) == sorted(cli.splitlines()[1:])


def test_customers_filters_by_status_tier_segment_and_text(store: str) -> None:
    at = _open("customers")
    at.multiselect(key="customers_status").set_value(["unprofitable"]).run()
    statuses = set(at.dataframe[0].value["Status"])
    assert statuses == {"Unprofitable"}
    at.multiselect(key="customers_status").set_value([]).run()
    at.multiselect(key="customers_tier").set_value(["pro"]).run()
    assert set(at.dataframe[0].value["Customer id"]) == {"globex", "dataflow"}
    at.multiselect(key="customers_tier").set_value([]).run()
    at.multiselect(key="customers_segment").set_value(["smb"]).run()
    assert set(at.dataframe[0].value["Customer id"]) == {"startup", "initech"}
    at.multiselect(key="customers_segment").set_value([]).run()
    at.text_input(key="customers_search").input("acme").run()
    assert list(at.dataframe[0].value["Customer"]) == ["Acme Corp"]
    served = _download(at, "customers_table_csv")
    assert len(served.splitlines()) == 2 and served.splitlines()[1].startswith("acme,Acme Corp,enterprise,")


def test_customer_drill_down_compares_with_the_average(store: str) -> None:
    at = _open("customers")
    assert at.selectbox(key="customers_drill").value == "startup"  # the worst loss-maker first
    at.selectbox(key="customers_drill").set_value("globex").run()
    assert not at.exception
    features = next(d.value for d in at.dataframe if "Feature" in d.value.columns)
    assert set(features["Feature"]) == {"chat", "summarize", "search"}
    assert "Avg customer cost" in features.columns
    table = at.dataframe[0].value
    tokens = int(table.loc[table["Customer id"] == "globex", "Tokens"].iloc[0])
    assert _metric(at, "Tokens") == insights.tokens_text(tokens)  # compact, as on the Customer page


# --- margin over time ----------------------------------------------------------------------------------


def test_margin_over_time_granularity_override_and_points(store: str) -> None:
    at = _open("margin_over_time")
    assert len(at.dataframe[0].value) == 31  # 31 days: by day
    at.button_group(key="over_time_grain").set_value("week").run()
    start, end = _period()
    weeks = reports.over_time(_workspace(store), start=start, end=end, grain="week")
    shown = at.dataframe[0].value
    assert len(shown) == weeks.height
    assert "Change" in shown.columns
    changes = app_actions.with_change_in_points(weeks)["change_pts"].to_list()
    assert shown["Change"].iloc[1] == pytest.approx(changes[1])


def test_margin_over_time_split_adds_up_to_the_series(store: str) -> None:
    at = _open("margin_over_time")
    at.selectbox(key="over_time_split").set_value("feature").run()
    assert not at.exception
    series, parts = at.dataframe[0].value, at.dataframe[1].value
    assert set(parts["Feature"]) >= {"chat", "summarize", "search"}
    assert parts["LLM cost"].sum() == series["LLM cost"].sum()
    assert parts["Revenue"].sum() == series["Revenue"].sum()


# --- cross-subsidy --------------------------------------------------------------------------------------


def test_cross_subsidy_by_event_metadata_and_tier_pricing(store: str) -> None:
    at = _open("cross_subsidy")
    at.selectbox(key="cross_dimension").set_value("meta:channel").run()
    assert {"web", "api", "(unattributed)"} <= set(at.dataframe[0].value["Channel"])
    at.selectbox(key="cross_dimension").set_value("tier").run()
    tiers = at.dataframe[0].value
    assert set(tiers["Tier"]) >= {"enterprise", "pro", "starter"}
    pricing = at.dataframe[1].value
    starter = pricing[pricing["Tier"] == "starter"].iloc[0]
    assert starter["Price change"] > 0  # starter loses money: the price must rise


def test_cross_subsidy_prices_a_feature_on_another_model(store: str) -> None:
    from margin_core import whatif

    at = _open("cross_subsidy")
    at.selectbox(key="cross_dimension").set_value("feature").run()
    feature = at.selectbox(key="cross_whatif_feature").value
    assert feature is not None
    target = ("openai", "gpt-4o-mini")  # a model the test store uses
    at.selectbox(key="cross_whatif_model").set_value(target).run()
    assert not at.exception
    start, end = _period()
    expected = whatif.feature_on_model(
        _workspace(store), start=start, end=end, feature=feature, provider=target[0], model=target[1]
    )
    assert expected.tokens > 0
    assert _metric(at, "LLM cost now") == insights.usd_text(expected.cost_micros)
    assert _metric(at, f"On {target[1]}") == insights.usd_text(expected.new_cost_micros)
    assert _metric(at, "Saving") == insights.usd_text(expected.cost_micros - expected.new_cost_micros)


# --- costs ----------------------------------------------------------------------------------------------


def test_costs_lists_unattributed_spend_and_unpriced_models(store: str) -> None:
    at = _open("costs")
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    unattributed = next(v for k, v in tables.items() if "Key, project or user" in k)
    assert list(unattributed["Key, project or user"]) == ["key_orphan", "proj_legacy", "user_bob"]
    unpriced = next(v for k, v in tables.items() if k == ("Provider", "Model", "Tokens"))
    assert list(unpriced["Model"]) == ["mystery-model-x"]
    assert unpriced["Tokens"].iloc[0] == 31 * 11_000


def test_costs_reconciles_every_provider_month_and_agrees_with_the_providers_report(store: str) -> None:
    start, end = _period()
    at = _open("costs")
    table = next(d.value for d in at.dataframe if "Difference" in d.value.columns)
    assert set(table["Difference"]) == {0}
    csv = pl.read_csv(io.StringIO(_download(at, "costs_reconciliation_csv")), infer_schema=False)
    assert set(csv["difference_usd"]) == {"0.00"}
    money = pl.Decimal(20, 2)
    providers = output.to_cli_frame(reports.report(_workspace(store), "providers", start=start, end=end), "providers")
    summed = csv.group_by("provider").agg(pl.col("cost_usd").cast(money).sum())
    assert dict(summed.iter_rows()) == dict(providers.select("provider", pl.col("cost_usd").cast(money)).iter_rows())


def test_costs_and_mapping_show_event_coverage_per_key(store: str) -> None:
    for page, key in (("costs", "costs_coverage_csv"), ("mapping", "mapping_coverage_csv")):
        at = _open(page)
        shown = next(d.value for d in at.dataframe if "Coverage" in d.value.columns)
        orphan = shown[shown["API key"] == "key_orphan"].iloc[0]
        assert (orphan["Coverage"], orphan["Mapped to"]) == (0, "not mapped: the rest is unattributed")
        assert shown["Tokens in events"].iloc[-1] > 0  # a customer's own key, covered by its events
        csv = pl.read_csv(io.StringIO(_download(at, key)))
        assert ((csv["covered_tokens"] <= csv["row_tokens"]) & (csv["coverage"] <= 1)).all()


def test_overview_and_customers_name_the_model_without_a_price(store: str) -> None:
    for page in ("overview", "customers"):
        at = _open(page)
        assert any("mystery-model-x (openai) has no price" in w.value for w in at.warning), page


# --- mapping ---------------------------------------------------------------------------------------------


def test_mapping_a_key_moves_its_cost_out_of_unattributed(store: str) -> None:
    start, end = _period()
    before = reports.unattributed(_workspace(store), start=start, end=end)
    orphan = before.filter(pl.col("value") == "key_orphan")["cost_micros"].item()
    total = int(before["cost_micros"].sum())
    at = _open("mapping")
    assert _metric(at, "Unattributed spend") == insights.usd_text(total)
    at.selectbox(key="mapping_item").set_value("openai|api_key_id|key_orphan")
    at.selectbox(key="mapping_customer").set_value("acme")
    at.button(key="mapping_save").click().run()
    assert not at.exception
    assert _metric(at, "Unattributed spend") == insights.usd_text(total - orphan)
    assert "key_orphan" not in set(at.dataframe[0].value["Key, project or user"])
    assert any("Mapped key_orphan" in s.value for s in at.success)
    after = reports.unattributed(_workspace(store), start=start, end=end)
    assert int(after["cost_micros"].sum()) == total - orphan
    at.switch_page("pages/customers.py").run()
    assert _metric(at, "LLM cost") == insights.usd_text(
        int(reports.report(_workspace(store), "customers", start=start, end=end)["cost_micros"].sum())
    )


def test_bulk_mapping_csv_and_its_errors(store: str) -> None:
    at = _open("mapping")
    at.text_area(key="mapping_paste").input("provider,dimension,value,customer_id\nopenai,api_key,x,acme\n")
    at.button(key="mapping_import").click().run()
    assert any("line 2" in e.value and "dimension" in e.value for e in at.error)
    at.text_area(key="mapping_paste").input("provider,dimension,value,customer_id\nanthropic,user_id,user_bob,globex\n")
    at.button(key="mapping_import").click().run()
    assert any("Imported 1 mapping" in s.value for s in at.success)
    assert "user_bob" not in set(at.dataframe[0].value["Key, project or user"])


# --- import & export -----------------------------------------------------------------------------------


def test_import_rejects_a_bad_file_whole_and_accepts_a_good_one(store: str) -> None:
    at = _open("import_export")
    at.selectbox(key="import_kind").set_value("customers").run()
    bad = "customer_id,name,email,tier,segment,region,colour\nzeta,Zeta,,pro,smb,na,red\n"
    at.text_area(key="import_paste").input(bad)
    at.button(key="import_go").click().run()
    assert any("colour" in e.value for e in at.error), [e.value for e in at.error]
    good = "customer_id,name,email,tier,segment,region\nzeta,Zeta Inc,z@zeta.test,pro,smb,na\n"
    at.file_uploader(key="import_file").set_value(("zeta.csv", io.BytesIO(good.encode()).getvalue(), "text/csv"))
    at.button(key="import_go").click().run()
    assert any("Imported 1 customers row" in s.value for s in at.success), [s.value for s in at.success]
    assert "zeta" in set(_workspace(store).customers["customer_id"])


def test_import_is_refused_in_the_demo_workspace(store: str) -> None:
    engine = make_engine(store)
    with engine.begin() as connection:
        repo.set_setting(connection, "workspace_kind", "demo")
        repo.bump_version(connection)
    at = _open("import_export")
    at.text_area(key="import_paste").input("customer_id,name,email,tier,segment,region\nq,Q,,,,\n")
    at.button(key="import_go").click().run()
    assert any("demo" in e.value for e in at.error)
    assert at.button(key="import_clear_demo")


def test_export_serves_every_report_as_the_cli_prints_it(store: str) -> None:
    start, end = _period()
    at = _open("import_export")
    served = _download(at, "export_models")
    frame = reports.report(_workspace(store), "models", start=start, end=end)
    assert served == output.to_csv(output.to_cli_frame(frame, "models"))
    assert len(at.dataframe[0].value) == len(reports.REPORT_KINDS)


# --- settings --------------------------------------------------------------------------------------------


def test_settings_threshold_changes_the_statuses(store: str) -> None:
    at = _open("settings")
    assert _metric(at, "Break-even threshold") == "20%"
    at.number_input(key="settings_break_even").set_value(80.0)
    at.radio(key="settings_basis").set_value("tokens")
    at.button(key="settings_save").click().run()
    assert not at.exception
    assert _metric(at, "Break-even threshold") == "80%"
    assert _metric(at, "Allocation basis") == "tokens"
    assert app_actions.read_settings(make_engine(store))["allocation_basis"] == "tokens"
    at.switch_page("pages/customers.py").run()
    statuses = set(at.dataframe[0].value["Status"])
    assert "Break-even" in statuses  # 70–80% margins are break-even under an 80% threshold


def test_settings_exchange_rate_is_validated_and_saved(store: str) -> None:
    at = _open("settings")
    at.text_input(key="settings_rate_currency").input("EU")
    at.text_input(key="settings_rate_value").input("1.1")
    at.button(key="settings_rate_save").click().run()
    assert any("3-letter" in e.value for e in at.error)
    at.text_input(key="settings_rate_currency").input("eur")
    at.text_input(key="settings_rate_value").input("1.08")
    at.button(key="settings_rate_save").click().run()
    rates = next(d.value for d in at.dataframe if "Currency" in d.value.columns)
    assert list(rates["Currency"]) == ["EUR"] and list(rates["USD per unit"]) == ["1.08"]


def test_settings_override_form_offers_the_providers_and_models_found(store: str) -> None:
    # AppTest cannot type a new option; any provider name is tested on the use case (test_price_overrides.py)
    at = _open("settings")
    assert at.selectbox(key="settings_override_provider").options == ["anthropic", "openai"]
    assert "mystery-model-x" in at.selectbox(key="settings_override_model").options
    at.selectbox(key="settings_override_provider").set_value("openai")
    at.selectbox(key="settings_override_model").set_value("mystery-model-x")
    at.date_input(key="settings_override_from").set_value(_period()[0] - timedelta(days=400))
    at.text_input(key="settings_override_input").input("0.25")
    next(b for b in at.button if b.label == "Save override").click().run()
    assert not at.exception
    saved = app_actions.price_overrides(make_engine(store))
    assert saved.select("provider", "model", "input_per_mtok").rows() == [("openai", "mystery-model-x", "0.25")]
    assert not any("mystery-model-x" in w.value for w in _open("overview").warning)


# --- connections -----------------------------------------------------------------------------------------


def test_connections_save_a_key_masked_and_remove_it(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-admin-abcdefghijklmnopqrstuvwxyz123456"
    monkeypatch.setattr(app_actions, "check_key", lambda kind, key: app_actions.ConnectionCheck(True, "OK."))
    at = _open("connections")
    assert len(at.dataframe[0].value) == 4
    at.text_input(key="connections_openai_key").input(secret)
    at.button(key="connections_openai_save").click().run()
    assert not at.exception
    state = at.dataframe[0].value
    openai = state[state["Provider"] == "OpenAI"].iloc[0]
    assert openai["Status"] == "connected"
    assert openai["Key (masked)"].endswith("3456") and secret not in openai["Key (masked)"]
    assert at.text_input(key="connections_openai_key").value == ""
    page_text = " ".join(str(e.value) for e in at.main if hasattr(e, "value"))
    assert secret not in page_text
    assert secret not in _download(at, "connections_state_csv")
    assert app_actions.saved_key(make_engine(store), "openai") == secret
    at.button(key="connections_openai_remove").click().run()
    assert at.dataframe[0].value.iloc[0]["Status"] == "not connected"


def test_connections_reject_a_key_that_fails_its_check(store: str) -> None:
    at = _open("connections")
    at.text_input(key="connections_openai_key").input("sk-proj-not-an-admin-key")
    at.button(key="connections_openai_save").click().run()
    assert any("Not saved" in e.value for e in at.error)
    assert at.dataframe[0].value.iloc[0]["Status"] == "not connected"


def test_sync_now_reports_progress_and_results(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from margin_core import sync

    calls: list[str | None] = []

    def fake_sync_all(engine, *, only, today, days, progress):
        calls.append(only)
        progress("openai: fetching usage")
        return [sync.SyncResult("openai", "ok", 42), sync.SyncResult("stripe", "failed", 0, "stripe: 401")]

    monkeypatch.setattr(sync, "sync_all", fake_sync_all)
    monkeypatch.setattr(app_actions, "check_key", lambda kind, key: app_actions.ConnectionCheck(True, "OK."))
    at = _open("connections")
    at.text_input(key="connections_openai_key").input("sk-admin-abcdefghijklmnopqrstuvwxyz123456")
    at.button(key="connections_openai_save").click().run()
    at.button(key="connections_openai_sync").click().run()
    assert calls == ["openai"]
    assert any("OpenAI: 42 rows" in s.value for s in at.success)
    assert any("Stripe failed: stripe: 401" in e.value for e in at.error)


# --- the frame -------------------------------------------------------------------------------------------


def test_period_picker_is_inclusive_and_shared_by_pages(store: str) -> None:
    at = _open("customers")
    yesterday = _today() - timedelta(days=1)
    at.date_input(key="period_picker").set_value((yesterday - timedelta(days=6), yesterday)).run()
    assert "(7 days)" in at.caption[0].value
    week = reports.report(_workspace(store), "customers", start=yesterday - timedelta(days=6), end=_today())
    assert _metric(at, "LLM cost") == insights.usd_text(int(week["cost_micros"].sum()))
    at.switch_page("pages/overview.py").run()
    assert "(7 days)" in at.caption[0].value


def test_quick_ranges_and_a_half_picked_range(store: str) -> None:
    at = _open("overview")
    at.button_group(key="period_preset").set_value("Last 90 days").run()
    assert "(90 days)" in at.caption[0].value
    picked = at.date_input(key="period_picker").value
    assert isinstance(picked, tuple) and len(picked) == 2
    assert picked[-1] == _today() - timedelta(days=1)
    yesterday = _today() - timedelta(days=1)
    at.date_input(key="period_picker").set_value((yesterday,)).run()  # the second click has not come yet
    assert not at.exception
    assert "(1 day)" in at.caption[0].value


def test_empty_period_says_so(store: str) -> None:
    at = _open("overview")
    long_ago = _today() - timedelta(days=900)
    at.date_input(key="period_picker").set_value((long_ago, long_ago + timedelta(days=9))).run()
    assert any("No revenue or cost" in i.value for i in at.info)


def test_large_tables_fall_back_to_plain_column_formats(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pages import _tables

    monkeypatch.setattr(_tables, "STYLED_ROWS", 3)
    at = _open("customers")
    shown = at.dataframe[0].value
    assert len(shown) == 7
    acme = shown[shown["customer_id"] == "acme"].iloc[0]
    assert 1_000 < acme["revenue_micros"] < 10_000  # float dollars for display; labels come from column_config

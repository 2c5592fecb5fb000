"""Cached loaders: thin wrappers over the use cases. The first argument is always the store version, so
any sync, import, mapping or setting change recomputes them; the workspace snapshot is a shared resource."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from margin_core import app_actions, insights, reports, settings
from margin_core.app_actions import StoreHandle, founder
from margin_core.workspace import Workspace

ENTRIES = 32


@st.cache_resource(show_spinner="Opening the store (a first start builds the demo workspace, a few seconds)…")
def _engine(url: str) -> StoreHandle:
    return app_actions.app_engine()


def engine() -> StoreHandle:
    """The app's engine for MARGIN_DATABASE_URL (else data/margin.db); an empty store gets the demo."""
    return _engine(settings.database_url())


def version() -> int:
    """The store's change counter (one cheap query per run)."""
    return app_actions.store_version(engine())


@st.cache_resource(max_entries=2, show_spinner="Loading the workspace…")
def workspace_snapshot(version: int, url: str) -> Workspace:
    """Every frame of the store, loaded once per version; shared, never mutated."""
    return app_actions.load(engine())


def ws(version: int) -> Workspace:
    return workspace_snapshot(version, settings.database_url())


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def customers(version: int, start: date, end: date) -> pl.DataFrame:
    return app_actions.customer_table(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def report(version: int, kind: reports.ReportKind, start: date, end: date) -> pl.DataFrame:
    return reports.report(ws(version), kind, start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def ledger(version: int, start: date, end: date) -> pl.DataFrame:
    return app_actions.ledger_rows(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def cost_usage(version: int, start: date, end: date) -> pl.DataFrame:
    return app_actions.cost_usage(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def over_time(version: int, start: date, end: date, grain: str) -> pl.DataFrame:
    series = reports.over_time(ws(version), start=start, end=end, grain=grain)  # type: ignore[arg-type]
    return app_actions.with_change_in_points(series)


@st.cache_data(max_entries=ENTRIES, show_spinner="Splitting the series…")
def over_time_split(version: int, start: date, end: date, grain: str, by: str) -> pl.DataFrame:
    return app_actions.over_time_split(ws(version), start=start, end=end, grain=grain, by=by)  # type: ignore[arg-type]


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def dimension(version: int, start: date, end: date, name: str) -> pl.DataFrame:
    return reports.dimension_margins(ws(version), start=start, end=end, dimension=name)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def unpriced(version: int, start: date, end: date) -> pl.DataFrame:
    return reports.unpriced_models(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def unpriced_notes(version: int, start: date, end: date) -> list[str]:
    return app_actions.unpriced_notes(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def coverage(version: int, start: date, end: date) -> pl.DataFrame:
    return app_actions.coverage(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def reconciliation(version: int, start: date, end: date) -> pl.DataFrame:
    return app_actions.reconciliation_table(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def override_choices(version: int) -> tuple[list[str], list[str]]:
    return app_actions.override_choices(ws(version))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def top_insights(version: int, start: date, end: date) -> list[insights.Insight]:
    return app_actions.overview_insights(
        ws(version),
        start=start,
        end=end,
        customers=customers(version, start, end),
        models=report(version, "models", start, end),
    )


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def freshness(version: int) -> pl.DataFrame:
    return app_actions.freshness(engine(), ws(version))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def dimension_choices(version: int) -> dict[str, str]:
    return app_actions.dimension_choices(ws(version))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def customer_list(version: int) -> pl.DataFrame:
    """customer_id, name, tier of every customer, by name."""
    return ws(version).customers.select("customer_id", "name", "tier").sort("name", "customer_id")


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def mappings(version: int) -> pl.DataFrame:
    return ws(version).mappings.sort("provider", "dimension", "value")


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def key_labels(version: int) -> dict[tuple[str, str], str]:
    return app_actions.key_labels(ws(version))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def plan_history(version: int, customer_id: str) -> pl.DataFrame:
    return app_actions.plan_history(ws(version), customer_id=customer_id)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def unconverted(version: int, start: date, end: date) -> list[str]:
    return app_actions.unconverted_revenue(ws(version), start=start, end=end)


@st.cache_data(max_entries=8, show_spinner="Preparing every report…")
def full_export(version: int, start: date, end: date) -> dict[str, str]:
    return app_actions.full_export(ws(version), start=start, end=end)


def is_demo(version: int) -> bool:
    return ws(version).is_demo


def clear() -> None:
    """Drop every cached report (after a write that did not bump the version)."""
    st.cache_data.clear()


# --- the founder's answers (investor view, customer page, alerts, forecast) ----------------------------


@st.cache_data(max_entries=ENTRIES, show_spinner="Computing the investor view…")
def investor(version: int, start: date, end: date) -> founder.InvestorView:
    return founder.investor_view(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def customer_page(version: int, customer_id: str, start: date, end: date, grain: str) -> founder.CustomerPage:
    return founder.customer_page(ws(version), customer_id=customer_id, start=start, end=end, grain=grain)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def customer_choices(version: int) -> pl.DataFrame:
    return founder.customer_choices(ws(version))


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def start_overview(version: int, start: date, end: date) -> None:
    """Once per store version and range: the Overview's longest parts start in the background."""
    founder.start_overview(ws(version), start=start, end=end)


@st.cache_data(max_entries=ENTRIES, show_spinner="Checking alerts…")
def alerts(version: int, last_day: date) -> pl.DataFrame:
    return founder.alerts(ws(version), last_day=last_day)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def month_forecast(version: int, today: date) -> pl.DataFrame:
    return founder.month_forecast(ws(version), today=today)


@st.cache_data(max_entries=ENTRIES, show_spinner=False)
def comparable_from(version: int) -> date | None:
    return founder.comparable_from(ws(version))


@st.cache_data(max_entries=64, show_spinner=False)
def chart_png(version: int, start: date, end: date, name: str, _chart: object) -> bytes:
    """A chart of a page as PNG, once per store version, range and chart name (rendering takes a moment)."""
    from pages import _charts

    return _charts.png(_chart)  # type: ignore[arg-type]

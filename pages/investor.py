"""Investor view: LLM cost as a share of revenue, gross margin, margin by month, concentration and cost per
million tokens, in large numbers over the last full months; every chart as PNG and all of it as one ZIP."""

from datetime import timedelta

import altair as alt
import polars as pl
import streamlit as st

from margin_core import app_actions, insights
from margin_core.app_actions import founder
from pages import _charts, _data, _tables
from pages._frame import frame, period_text
from pages._ui import money, pct

SPANS = {"Last full month": 1, "Last 3 full months": 3, "Last 6 full months": 6, "Last 12 full months": 12}
SIDEBAR = "Sidebar period"

sidebar_start, sidebar_end = frame()
version = _data.version()
st.title("Investor view")
span = st.segmented_control(
    "Period", [*SPANS, SIDEBAR], default="Last 3 full months", key="investor_span", label_visibility="collapsed"
)
if span in SPANS:
    start, end = founder.last_full_months(app_actions.today_utc(), SPANS[span])
else:
    start, end = sidebar_start, sidebar_end
st.caption(f"{period_text(start, end)} · LLM cost against Stripe revenue; gross margin = revenue − LLM cost")

view = _data.investor(version, start, end)
head = view.headline
if head["revenue_micros"] == 0 and head["cost_micros"] == 0:
    st.info("No revenue or cost in these months. Pick another period, or import or sync data.")
    st.stop()

months = view.months
last = months.filter(pl.col("margin_pct").is_not_null()).tail(1)
change = last["change_pts"][0] if last.height else None
cols = st.columns(4)
cols[0].metric("LLM cost / revenue", pct(head["cost_share"]), border=True, help="All LLM cost over all revenue.")
cols[1].metric("Gross margin", pct(head["margin_pct"]), border=True, help="(revenue − LLM cost) / revenue.")
cols[2].metric(
    "Margin change, last month",
    insights.pts_text(change) if change is not None else "—",
    border=True,
    help="The last month's gross margin against the month before it, in points.",
)
top = view.concentration
cols[3].metric(
    "Top 20% of customers: tokens",
    pct(top.get("token_share")),
    border=True,
    help="The share of tokens consumed by the top 20% of customers by tokens.",
)
st.caption(f"Revenue {money(head['revenue_micros'])} · LLM cost {money(head['cost_micros'])}")
pack_slot = st.empty()  # the investor pack's button, filled once every chart below is drawn

pngs: dict[str, bytes] = {}


def chart_block(name: str, chart: alt.LayerChart | alt.FacetChart, *, key: str) -> None:
    """Draw a chart with its PNG download, and keep its PNG for the investor pack."""
    st.altair_chart(chart, width="stretch")
    image = _data.chart_png(version, start, end, name, chart)
    pngs[name] = image
    st.download_button(
        "Download PNG",
        image,
        file_name=f"{name}_{start}_{end - timedelta(days=1)}.png",
        mime="image/png",
        on_click="ignore",
        key=f"investor_{key}_png",
        icon=":material/image:",
    )


tiers = view.tiers.filter(pl.col("tier") != app_actions.UNATTRIBUTED)
patterns = view.patterns.filter(pl.col("usage_pattern") != app_actions.UNATTRIBUTED).with_columns(
    pl.col("usage_pattern").replace(_charts.PATTERN_LABELS).alias("pattern_label")
)
st.subheader("LLM cost as a share of revenue")
left, right = st.columns(2)
with left:
    chart_block(
        "cost_share_by_tier",
        _charts.value_bars(tiers, value="tier", measure="cost_share", title="By tier", axis_title="LLM cost / revenue"),
        key="cost_tier",
    )
with right:
    chart_block(
        "cost_share_by_usage_pattern",
        _charts.value_bars(
            patterns,
            value="pattern_label",
            measure="cost_share",
            title="By usage pattern",
            axis_title="LLM cost / revenue",
        ),
        key="cost_pattern",
    )

st.subheader("Gross margin")
left, right = st.columns(2)
with left:
    chart_block(
        "margin_by_tier",
        _charts.value_bars(
            tiers, value="tier", measure="margin_pct", title="By tier", axis_title="Gross margin %", color="#2e7d32"
        ),
        key="margin_tier",
    )
with right:
    chart_block(
        "margin_by_usage_pattern",
        _charts.value_bars(
            patterns,
            value="pattern_label",
            measure="margin_pct",
            title="By usage pattern",
            axis_title="Gross margin %",
            color="#2e7d32",
        ),
        key="margin_pattern",
    )
st.caption(
    "Usage pattern: power = the top 10% of customers by tokens in the period, light = the bottom 50%, "
    "regular = the rest. Unattributed cost is left out of the tiers and patterns (it is in the totals above)."
)

st.subheader("Margin by month")
chart_block("margin_by_month", _charts.monthly_margin(months), key="months")

st.subheader("Concentration")
if top:
    count = int(top["top_customers"])
    st.markdown(
        f"The top 20% of customers by tokens (**{count}** of {int(top['all_customers'])}) consume "
        f"**{pct(top['token_share'])}** of tokens and **{pct(top['cost_share'])}** of LLM cost, and bring "
        f"**{pct(top['revenue_share'])}** of revenue."
    )
    chart_block(
        "concentration",
        _charts.concentration(top, title="Top 20% of customers by tokens: their share of…"),
        key="concentration",
    )
else:
    st.caption("No customer has tokens in this period.")

st.subheader("Cost per million tokens")
chart_block("cost_per_million_tokens", _charts.cost_per_million(months), key="per_mtok")

csvs = {
    "headline": app_actions.csv_text(pl.DataFrame([head])),
    "by_tier": app_actions.csv_text(view.tiers),
    "by_usage_pattern": app_actions.csv_text(view.patterns),
    "by_month": app_actions.csv_text(months),
    "concentration": app_actions.csv_text(founder.concentration_frame(top)),
}
with st.expander("The numbers behind the charts"):
    # the margin measures in their usual order, margin named as investors say it; no status column
    table_columns = {**_tables.MARGIN_LABELS, "margin_micros": "Gross margin", "cost_share": "LLM cost / revenue"}
    formats: _tables.Formats = {"money": list(_tables.MARGIN_MONEY), "pct": ["margin_pct", "cost_share"]}
    _tables.show(
        view.tiers,
        key="investor_tiers",
        csv=csvs["by_tier"],
        file_name=f"investor_tiers_{start}.csv",
        columns={"tier": "Tier", **table_columns},
        **formats,
    )
    _tables.show(
        view.patterns,
        key="investor_patterns",
        csv=csvs["by_usage_pattern"],
        file_name=f"investor_usage_patterns_{start}.csv",
        columns={"usage_pattern": "Usage pattern", **table_columns},
        **formats,
    )
    _tables.show(
        months,
        key="investor_months",
        csv=csvs["by_month"],
        file_name=f"investor_months_{start}.csv",
        columns={"period_start": "Month", **table_columns, "change_pts": "Change", "cost_per_mtok_usd": "$ / M tokens"},
        pts=["change_pts"],
        ratios=["cost_per_mtok_usd"],
        **formats,
    )

pack_slot.download_button(
    "Download the investor pack (ZIP: charts as PNG, every number as CSV)",
    founder.investor_pack(pngs, csvs),
    file_name=f"investor_pack_{start}_{end - timedelta(days=1)}.zip",
    mime="application/zip",
    on_click="ignore",
    key="investor_pack",
    icon=":material/folder_zip:",
    type="primary",
)

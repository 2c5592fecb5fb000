"""Overview: the headline figures of the period, margin over time, three insights, data freshness."""

import streamlit as st

from margin_core import app_actions
from pages import _charts, _data, _tables
from pages._frame import frame
from pages._ui import delta_pct, delta_pts, escape_markdown, header, money, pct

start, end = frame()
version = _data.version()
header("Overview", start, end, what="gross margin = Stripe revenue − LLM provider cost")

table = _data.customers(version, start, end)
now = app_actions.totals(table)
if now["revenue_micros"] == 0 and now["cost_micros"] == 0:
    st.info("No revenue or cost in this period. Pick another period in the sidebar, or import or sync data.")
    st.stop()
before_start, before_end = app_actions.previous_range(start, end)
before = app_actions.totals(_data.customers(version, before_start, before_end))
compare = "vs the previous period of the same length"

cols = st.columns(5)
cols[0].metric(
    "Revenue",
    money(now["revenue_micros"]),
    delta_pct(now["revenue_micros"], before["revenue_micros"]),
    help=f"Recognized Stripe revenue in the period; change {compare}.",
    border=True,
)
cols[1].metric(
    "LLM cost",
    money(now["cost_micros"]),
    delta_pct(now["cost_micros"], before["cost_micros"]),
    delta_color="inverse",
    help=f"All provider cost, unattributed included; change {compare}.",
    border=True,
)
cols[2].metric(
    "Gross margin",
    pct(now["margin_pct"]),
    delta_pts(now["margin_pct"], before["margin_pct"]),
    help=f"(revenue − LLM cost) / revenue = {money(now['margin_micros'])}; change in points {compare}.",
    border=True,
)
cols[3].metric(
    "LLM cost / revenue",
    pct(now["cost_share"]),
    delta_pts(now["cost_share"], before["cost_share"]),
    delta_color="inverse",
    help="The investor question: LLM cost as a share of revenue.",
    border=True,
)
cols[4].metric(
    "Unattributed",
    pct(now["unattributed_share"]),
    delta_pts(now["unattributed_share"], before["unattributed_share"]),
    delta_color="inverse",
    help=f"Share of LLM cost no customer carries yet ({money(now['unattributed_micros'])}): map it on the "
    "Mapping page.",
    border=True,
)

left, right = st.columns([3, 1])
with left:
    grain = app_actions.choose_granularity(start, end)
    series = _data.over_time(version, start, end, grain)
    st.altair_chart(
        _charts.margin_over_time(series, title=f"Revenue, LLM cost and gross margin by {grain}"), width="stretch"
    )
with right:
    counts = now["status_counts"]
    st.metric("Customers", f"{now['customers']:,}", help="Customers with revenue or cost in the period.")
    st.altair_chart(_charts.status_counts(counts), width="stretch")
    st.caption(" · ".join(f"{_charts.STATUS_LABELS[s]}: **{counts[s]}**" for s in app_actions.STATUSES))

st.subheader("What stands out")
found = _data.top_insights(version, start, end)
if not found:
    st.caption("Nothing unusual in this period.")
for column, insight in zip(st.columns(max(len(found), 1)), found, strict=False):
    with column.container(border=True):
        st.markdown(f"**{escape_markdown(insight.title)}**")  # names and features come from outside
        st.markdown(escape_markdown(insight.text))

st.subheader("Data freshness")
fresh = _data.freshness(version)
_tables.show(
    fresh,
    key="overview_freshness",
    csv=app_actions.csv_text(fresh),
    file_name="freshness.csv",
    columns={"source": "Source", "last_day": "Last day with data", "last_sync": "Last sync", "result": "Result"},
)

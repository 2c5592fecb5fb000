"""Overview: the headline figures of the period, margin over time, three insights, data freshness."""

from datetime import timedelta

import polars as pl
import streamlit as st

from margin_core import app_actions
from margin_core.app_actions import founder
from pages import _charts, _data, _notes, _tables
from pages._frame import frame
from pages._ui import delta_pct, delta_pts, escape_markdown, header, money, pct

start, end = frame()
version = _data.version()
_data.start_overview(version, start, end)
header("Overview", start, end, what="gross margin = Stripe revenue − LLM provider cost")

table = _data.customers(version, start, end)
now = app_actions.totals(table)
if now["revenue_micros"] == 0 and now["cost_micros"] == 0:
    st.info("No revenue or cost in this period. Pick another period in the sidebar, or import or sync data.")
    st.stop()
before_start, before_end = app_actions.previous_range(start, end)
data_from = _data.comparable_from(version)
if data_from is not None and before_start >= data_from:
    before = app_actions.totals(_data.customers(version, before_start, before_end))
    compare = "vs the previous period of the same length"
else:  # the previous period lacks data for some source: no change is shown (rules §4.6)
    before = {k: (0 if k.endswith("_micros") else None) for k in now}
    compare = f"no comparison: the data of every source starts on {data_from}"

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

_notes.unpriced_note(version, start, end)

if data_from is not None and before_start < data_from:
    st.caption(
        f"No change against the previous period: it starts on {before_start}, before the data of every source "
        f"starts ({data_from})."
    )

# --- alerts and the month-end projection (rules §4.9) -------------------------------------------------
found_alerts = _data.alerts(version, end - timedelta(days=1))
with st.container(border=True):
    st.markdown(f"**Alerts** on {end - timedelta(days=1)} ({found_alerts.height})")
    if found_alerts.is_empty():
        st.caption("No alert: no cost spike, worse status, unattributed share, unpriced model or stale source.")
    else:
        for text in found_alerts["text"].head(6).to_list():
            st.text(f"⚠ {text}")
        if found_alerts.height > 6:
            st.caption(f"and {found_alerts.height - 6} more in the CSV")
        st.download_button(
            "Download alerts CSV",
            app_actions.csv_text(founder.alerts_csv_frame(found_alerts)),
            file_name=f"alerts_{end - timedelta(days=1)}.csv",
            mime="text/csv",
            on_click="ignore",
            key="overview_alerts_csv",
            icon=":material/download:",
        )

projection = _data.month_forecast(version, app_actions.today_utc())
totals_row = {r["measure"]: r for r in projection.filter(pl.col("provider") == "").iter_rows(named=True)}
if totals_row and (totals_row["cost"]["last_7_days_micros"] or totals_row["revenue"]["last_7_days_micros"]):
    month = totals_row["cost"]["month_start"]
    f1, f2, f3 = st.columns(3)
    label = f"{month:%B} projection"
    f1.metric(
        f"Revenue, {label}",
        money(totals_row["revenue"]["projected_micros"]),
        help="Month to date plus the mean of the last 7 complete days times the days left: a projection.",
    )
    f2.metric(f"LLM cost, {label}", money(totals_row["cost"]["projected_micros"]))
    f3.metric(f"Gross margin, {label}", money(totals_row["margin"]["projected_micros"]))
    st.caption(
        f"Projection for {month:%B %Y}, not a reported figure: month to date plus the mean of the last 7 complete "
        f"days × {totals_row['cost']['days_left']} days left. Per provider on the Costs page."
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

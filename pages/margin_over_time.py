"""Margin over time: revenue, cost and margin % per day, week or month, split by a dimension."""

import polars as pl
import streamlit as st

from margin_core import app_actions
from pages import _charts, _data, _tables
from pages._frame import frame
from pages._ui import delta_pts, header, money, pct

start, end = frame()
version = _data.version()
header("Margin over time", start, end, what="adaptive granularity: day up to 45 days, week up to 190, else month")

auto = app_actions.choose_granularity(start, end)
GRAINS = {"auto": f"Auto ({auto})", "day": "Day", "week": "Week", "month": "Month"}
SPLITS = {"none": "No split", **{s: s.capitalize() for s in app_actions.SPLITS}}
c1, c2, c3 = st.columns([3, 2, 3])
grain_choice = c1.segmented_control(
    "Granularity", list(GRAINS), format_func=GRAINS.__getitem__, key="over_time_grain", default="auto", required=True
)
split = c2.selectbox("Split by", list(SPLITS), format_func=SPLITS.__getitem__, key="over_time_split")
assert split is not None  # a selectbox with options and a default index always has a value
grain = auto if grain_choice in (None, "auto") else grain_choice

series = _data.over_time(version, start, end, grain)
if series["revenue_micros"].sum() == 0 and series["cost_micros"].sum() == 0:
    st.info("No revenue or cost in this period.")
    st.stop()

revenue, cost = int(series["revenue_micros"].sum()), int(series["cost_micros"].sum())
whole = app_actions.margin_pct(revenue, cost)
before_start, before_end = app_actions.previous_range(start, end)
data_from = _data.comparable_from(version)
comparable = data_from is not None and before_start >= data_from  # the previous period has every source's data
before = app_actions.totals(_data.customers(version, before_start, before_end)) if comparable else {"margin_pct": None}
valued = series.filter(pl.col("margin_pct").is_not_null())
last = valued.row(-1, named=True) if valued.height else None
prior = valued.row(-2, named=True) if valued.height > 1 else None
m1, m2, m3, m4 = st.columns(4)
m1.metric("Revenue", money(revenue), border=True)
m2.metric("LLM cost", money(cost), border=True)
m3.metric(
    "Gross margin",
    pct(whole),
    delta_pts(whole, before["margin_pct"]),
    border=True,
    help="Whole period; change in points against the previous period of the same length."
    if comparable
    else f"Whole period; no change shown: the previous period starts before the data of every source ({data_from}).",
)
if last is not None:
    m4.metric(
        f"Last {grain} ({last['period_start']:%b %-d})",
        pct(last["margin_pct"]),
        delta_pts(last["margin_pct"], prior["margin_pct"] if prior else None),
        border=True,
        help=f"Change in points against the {grain} before.",
    )

st.altair_chart(
    _charts.margin_over_time(series, title=f"Revenue, LLM cost and gross margin by {grain}"), width="stretch"
)
series_columns, series_formats = _tables.margin_table(
    {"period_start": "Period start"}, after_pct={"change_pts": "Change"}
)
_tables.show(
    series,
    key="over_time_table",
    csv=app_actions.csv_text(series, kind="over-time"),
    file_name=f"over-time_{grain}_{start}_{end}.csv",
    columns=series_columns,
    pts=["change_pts"],
    height=320,
    **series_formats,
)
st.caption("Change: margin % against the period before, in points.")

if split != "none":
    st.subheader(f"Split by {split}")
    MEASURES = {"margin_pct": "Margin %", "cost_usd": "LLM cost", "revenue_usd": "Revenue"}
    measure = c3.segmented_control(
        "Split chart shows",
        list(MEASURES),
        format_func=MEASURES.__getitem__,
        key="over_time_measure",
        default="margin_pct",
        required=True,
    )
    parts = _data.over_time_split(version, start, end, grain, split)
    st.altair_chart(
        _charts.split_over_time(
            parts,
            measure=measure or "margin_pct",
            by=split,
            title=f"{MEASURES[measure or 'margin_pct']} by {grain} and {split}",
        ),
        width="stretch",
    )
    st.caption(
        f"The six values with the most LLM cost; the rest are summed as {app_actions.ALL_OTHERS}. Margin % is "
        "drawn between −100% and +100% (the table and the tooltips have the exact value)."
    )
    parts_columns, parts_formats = _tables.margin_table({"period_start": "Period start", "value": split.capitalize()})
    _tables.show(
        parts,
        key="over_time_split_table",
        csv=app_actions.csv_text(parts.rename({"value": split})),
        file_name=f"over-time_{grain}_by_{split}_{start}_{end}.csv",
        columns=parts_columns,
        height=360,
        **parts_formats,
    )

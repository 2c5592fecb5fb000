"""Cross-subsidy: which values of a dimension make margin and which consume it."""

import polars as pl
import streamlit as st

from margin_core import app_actions, insights
from pages import _charts, _data, _tables
from pages._frame import frame
from pages._ui import header

start, end = frame()
version = _data.version()
header("Cross-subsidy", start, end, what="margin by feature, model, provider, tier, segment, region or metadata")

choices = _data.dimension_choices(version)
c1, c2 = st.columns([2, 3])
dimension = c1.selectbox("Dimension", list(choices), format_func=choices.get, key="cross_dimension")
column = dimension.split(":", 1)[1] if ":" in dimension else dimension
usage_attribute = dimension in ("feature", "model", "provider") or dimension.startswith("meta:")
basis = _data.ws(version).basis
if usage_attribute:
    c2.caption(
        f"Each customer's revenue is split over its values in proportion to its {basis} (a setting); cost "
        "follows attribution. Unattributed cost has its own row unless the dimension is a model or provider."
    )
else:
    c2.caption("Each customer's revenue and cost go whole to its value; unattributed cost has its own row.")

rows = _data.dimension(version, start, end, dimension)
if rows.is_empty():
    st.info("No revenue or cost in this period.")
    st.stop()
rows = rows.sort("margin_micros", column)
label = "Model" if column == "model" else column.replace("_", " ").capitalize()

losing = rows.filter(pl.col("margin_micros") < 0)
m1, m2, m3 = st.columns(3)
m1.metric("Values", f"{rows.height:,}")
m2.metric("Losing money", f"{losing.height:,}", help="Values whose cost exceeds their (allocated) revenue.")
m3.metric("Their loss", insights.usd_text(int(losing["margin_micros"].sum())))

st.altair_chart(
    _charts.diverging_margins(rows, value=column, title=f"Gross margin by {label.lower()}"), width="stretch"
)

KINDS = {"feature": "features", "model": "models", "provider": "providers", "tier": "tiers", "segment": "segments"}
kind = KINDS.get(dimension)
columns = {column: label}
if column == "model":
    columns["provider"] = "Provider"
columns.update(
    {
        "revenue_micros": "Revenue",
        "cost_micros": "LLM cost",
        "margin_micros": "Margin",
        "margin_pct": "Margin %",
        "status": "Status",
        "requests": "Requests",
        "tokens": "Tokens",
    }
)
_tables.show(
    rows,
    key="cross_table",
    csv=app_actions.csv_text(rows.sort("cost_micros", descending=True), kind=kind)  # type: ignore[arg-type]
    if kind
    else app_actions.csv_text(rows.select([c for c in columns if c in rows.columns])),
    file_name=f"{kind or column}_{start}_{end}.csv",
    columns={c: v for c, v in columns.items() if c in rows.columns},
    money=["revenue_micros", "cost_micros", "margin_micros"],
    pct=["margin_pct"],
    counts=["requests", "tokens"],
    status="status",
)
if kind:
    st.caption(f"The CSV matches `python -m margin_core report {kind}` for this period.")

if dimension == "tier":
    st.subheader("Pricing: what each tier would need to charge")
    target = st.slider("Target gross margin", 0, 95, 70, step=5, format="%d%%", key="cross_target")
    pricing = insights.tier_pricing(
        rows, _data.customers(version, start, end), target=target / 100, days=(end - start).days
    )
    _tables.show(
        pricing,
        key="cross_pricing",
        csv=app_actions.csv_text(pricing),
        file_name=f"tier_pricing_{target}pct_{start}_{end}.csv",
        columns={
            "tier": "Tier",
            "customers": "Paying customers",
            "margin_pct": "Margin % now",
            "price_now_micros": "Revenue per customer / 30 days",
            "price_needed_micros": f"Needed for {target}%",
            "price_change": "Price change",
        },
        money=["price_now_micros", "price_needed_micros"],
        pct=["margin_pct", "price_change"],
        counts=["customers"],
        neutral=["price_change"],
    )
    st.caption("At the measured LLM cost of the tier's customers in this period; other costs not included.")

"""Customers: every customer's margin with filters, CSV download, and one customer's drill-down."""

import polars as pl
import streamlit as st

from margin_core import app_actions, insights
from pages import _charts, _data, _notes, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header, money, pct

start, end = frame()
version = _data.version()
header("Customers", start, end, what="revenue, LLM cost and gross margin per customer")

table = _data.customers(version, start, end)
if table.filter(pl.col("customer_id") != app_actions.UNATTRIBUTED).is_empty():
    st.info("No customer has revenue or cost in this period.")
    st.stop()

STATUS_OPTIONS = list(app_actions.STATUSES)
tiers = sorted(t for t in table["tier"].unique().to_list() if t)
segments = sorted(s for s in table["segment"].unique().to_list() if s)
c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
statuses = c1.multiselect(
    "Status",
    STATUS_OPTIONS,
    key="customers_status",
    format_func=lambda s: _charts.STATUS_LABELS[s],
    placeholder="All statuses",
)
chosen_tiers = c2.multiselect("Tier", tiers, key="customers_tier", placeholder="All tiers")
chosen_segments = c3.multiselect("Segment", segments, key="customers_segment", placeholder="All segments")
search = c4.text_input("Search", key="customers_search", placeholder="Name or customer id")

shown = table
if statuses:
    shown = shown.filter(pl.col("status").is_in(statuses))
if chosen_tiers:
    shown = shown.filter(pl.col("tier").is_in(chosen_tiers))
if chosen_segments:
    shown = shown.filter(pl.col("segment").is_in(chosen_segments))
if search.strip():
    needle = search.strip().lower()
    shown = shown.filter(
        pl.col("customer_name").str.to_lowercase().str.contains(needle, literal=True)
        | pl.col("customer_id").str.to_lowercase().str.contains(needle, literal=True)
    )
shown = shown.sort("margin_micros", "customer_id")

_notes.unpriced_note(version, start, end)

revenue, cost = int(shown["revenue_micros"].sum()), int(shown["cost_micros"].sum())
m1, m2, m3, m4 = st.columns(4)
m1.metric("Customers shown", f"{shown.filter(pl.col('customer_id') != app_actions.UNATTRIBUTED).height:,}")
m2.metric("Revenue", money(revenue))
m3.metric("LLM cost", money(cost))
m4.metric("Gross margin", pct(app_actions.margin_pct(revenue, cost)))

table_columns, table_formats = _tables.margin_table(
    {"customer_name": "Customer", "customer_id": "Customer id", "tier": "Tier", "segment": "Segment"}, usage=True
)
_tables.show(
    shown,
    key="customers_table",
    csv=app_actions.csv_text(shown, kind="customers"),
    file_name=f"customers_{start}_{end}.csv",
    columns=table_columns,
    height=420,
    **table_formats,
)
st.caption("Worst margin first. The CSV has the columns of `python -m margin_core report customers` for these rows.")

# --- drill-down ----------------------------------------------------------------------------------------
st.subheader("Customer drill-down")
real = table.filter(pl.col("customer_id") != app_actions.UNATTRIBUTED).sort("margin_micros", "customer_id")
ids = real["customer_id"].to_list()
names = dict(zip(real["customer_id"], real["customer_name"], strict=True))
if st.session_state.get("customers_drill") not in ids:
    st.session_state["customers_drill"] = ids[0]
customer_id = st.selectbox(
    "Customer",
    ids,
    key="customers_drill",
    format_func=lambda c: f"{names[c]} ({c})",
    help="Loss-makers come first.",
)
if st.button("Open the customer page", icon=":material/person:", key="customers_open_page"):
    st.session_state["customer_page_jump"] = customer_id
    st.switch_page("pages/customer.py")
row = real.filter(pl.col("customer_id") == customer_id).row(0, named=True)
d1, d2, d3, d4, d5 = st.columns(5)
d1.metric("Revenue", money(row["revenue_micros"]), help=f"Tier: {escape_markdown(row['tier'] or '—')}")
d2.metric("LLM cost", money(row["cost_micros"]))
d3.metric("Gross margin", pct(row["margin_pct"]), help=f"{money(row['margin_micros'])} · {row['status']}")
d4.metric("Requests", f"{row['requests']:,}")
d5.metric("Tokens", insights.tokens_text(row["tokens"]), help=f"{row['tokens']:,} tokens")  # as on Customer

ledger = _data.ledger(version, start, end)
by_feature = insights.customer_profile(ledger, customer_id=customer_id, by="feature")
by_model = insights.customer_profile(ledger, customer_id=customer_id, by="model")
for tab, (by, label, profile) in zip(
    st.tabs(["By feature", "By model"]),
    [("feature", "Feature", by_feature), ("model", "Model", by_model)],
    strict=True,
):
    with tab:
        own = profile.filter((pl.col("cost_micros") != 0) | (pl.col("requests") > 0))
        if not own.is_empty():
            st.altair_chart(
                _charts.profile_vs_average(
                    own,
                    by=by,
                    name=names[customer_id],
                    title=f"LLM cost by {by}: {names[customer_id]} vs the average customer",
                ),
                width="stretch",
            )
            st.caption("Bars: this customer. Black ticks: the average customer with usage in the period.")
        _tables.show(
            profile,
            key=f"customers_drill_{by}",
            csv=app_actions.csv_text(profile),
            file_name=f"customer_{customer_id}_{by}_{start}_{end}.csv",
            columns={by: label, **_tables.PROFILE_LABELS},
            **_tables.PROFILE_FORMATS,
        )

plans = _data.plan_history(version, customer_id)
with st.expander(f"Plan history and revenue lines ({plans.height})"):
    _tables.show(
        plans,
        key="customers_drill_plans",
        csv=app_actions.csv_text(plans),
        file_name=f"customer_{customer_id}_revenue_lines.csv",
        columns={
            "service_start": "From",
            "service_end": "Until (excl.)",
            "plan": "Plan",
            "kind": "Kind",
            "source_id": "Source",
            "amount_micros": "Amount (USD)",
            "currency": "Currency",
        },
        money=["amount_micros"],
    )

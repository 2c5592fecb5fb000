"""Customer page: one customer's revenue, cost and margin over time, its totals against the average customer,
by feature and model, share per provider, the week its usage rose, and its plan history."""

import polars as pl
import streamlit as st

from margin_core import app_actions, insights
from pages import _charts, _data, _tables
from pages._frame import frame
from pages._ui import header, money, pct

start, end = frame()
version = _data.version()
header("Customer", start, end, what="one customer's margin, usage and plans against the average customer")

choices = _data.customer_choices(version)
if choices.is_empty():
    st.info("No customers yet: import customers or sync Stripe.")
    st.stop()
ids = choices["customer_id"].to_list()
labels = dict(zip(ids, choices["label"], strict=True))
jump = st.session_state.pop("customer_page_jump", None)  # set by the Customers page's "Open" button
wanted = jump or st.query_params.get("customer")
if wanted in ids and (jump or "customer_page_pick" not in st.session_state):
    st.session_state["customer_page_pick"] = wanted
customer_id = st.selectbox(
    "Customer",
    ids,
    key="customer_page_pick",
    format_func=lambda c: labels[c],
    help="Type to search by name, tier or id.",
)
st.query_params["customer"] = customer_id

grain = app_actions.choose_granularity(start, end)
page = _data.customer_page(version, customer_id, start, end, grain)
t = page.totals

cols = st.columns(3)
cols[0].metric("Revenue", money(t["revenue_micros"]), border=True)
cols[1].metric("Gross margin", pct(t["margin_pct"]), border=True, help="(revenue − LLM cost) / revenue")
cols[2].metric("Margin", money(t["margin_micros"]), border=True)
cols = st.columns(3)
cols[0].metric("Tokens", insights.tokens_text(t["tokens"]), border=True)
cols[0].caption(f"vs the average customer's {insights.tokens_text(round(t['avg_tokens']))}")
cols[1].metric("Requests", f"{t['requests']:,}", border=True)
cols[1].caption(f"vs the average customer's {round(t['avg_requests']):,}")
cols[2].metric("LLM cost", money(t["cost_micros"]), border=True)
cols[2].caption(f"vs the average customer's {money(t['avg_cost_micros'])} ({t['customers']} customers with usage)")

if page.rise:
    week = page.rise["week"]  # a whole ISO week of the period against the one before
    before = page.rise["tokens_before"] or 0
    growth = f" ({insights.pct_text((page.rise['tokens'] - before) / before, signed=True)})" if before else ""
    st.markdown(
        f"**Usage rose most in the week of {week:%b %-d}**: {insights.tokens_text(page.rise['tokens'])} tokens "
        f"against {insights.tokens_text(before)} the week before{growth}; LLM cost "
        f"{money(page.rise['cost_micros'])} against {money(page.rise['cost_before'])}."
    )

st.subheader("Revenue, LLM cost and margin over time")
st.altair_chart(_charts.margin_over_time(page.series, title=f"By {grain}"), width="stretch")
series_columns, series_formats = _tables.margin_table({"period_start": "Period"})
_tables.show(
    page.series,
    key="customer_series",
    csv=app_actions.csv_text(page.series),
    file_name=f"customer_{customer_id}_{start}_{end}.csv",
    columns=series_columns,
    **series_formats,
)

profile_columns = {**_tables.PROFILE_LABELS, "cost_vs_average": "× average"}
for by, label, profile in (("feature", "Feature", page.features), ("model", "Model", page.models)):
    st.subheader(f"By {by}, against the average customer")
    own = profile.filter((pl.col("cost_micros") != 0) | (pl.col("requests") > 0))
    if not own.is_empty():
        st.altair_chart(
            _charts.profile_vs_average(own, by=by, name="This customer", title=f"LLM cost by {by} (ticks: average)"),
            width="stretch",
        )
    _tables.show(
        profile,
        key=f"customer_{by}",
        csv=app_actions.csv_text(profile),
        file_name=f"customer_{customer_id}_{by}_{start}_{end}.csv",
        columns={by: label, **profile_columns},
        **_tables.PROFILE_FORMATS,
    )

st.subheader("Share of LLM cost per provider")
if page.providers.is_empty():
    st.caption("No LLM cost in this period.")
else:
    st.altair_chart(
        _charts.value_bars(
            page.providers,
            value="provider",
            measure="share",
            title="Provider share",
            axis_title="Share of its LLM cost",
        ),
        width="stretch",
    )
_tables.show(
    page.providers,
    key="customer_providers",
    csv=app_actions.csv_text(page.providers),
    file_name=f"customer_{customer_id}_providers_{start}_{end}.csv",
    columns={"provider": "Provider", "cost_micros": "LLM cost", "share": "Share", "tokens": "Tokens"},
    money=["cost_micros"],
    pct=["share"],
    counts=["tokens"],
)

st.subheader("Plan history")
_tables.show(
    page.plans,
    key="customer_plans",
    csv=app_actions.csv_text(page.plans),
    file_name=f"customer_{customer_id}_plans.csv",
    columns={
        "service_start": "From",
        "service_end": "To",
        "plan": "Plan",
        "kind": "Kind",
        "amount_micros": "Amount (USD)",
        "currency": "Currency",
        "source_id": "Stripe id",
    },
    money=["amount_micros"],
    empty="No revenue lines for this customer.",
)

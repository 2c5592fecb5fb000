"""Costs: LLM spend by provider and model per day, tokens by type, reported vs estimated, the reconciliation
with the providers' cost, event coverage per key, unattributed spend and the models without a price."""

import polars as pl
import streamlit as st

from margin_core import app_actions
from pages import _charts, _data, _notes, _tables
from pages._frame import frame
from pages._ui import header, money, pct

start, end = frame()
version = _data.version()
header("Costs", start, end, what="what the providers billed, by provider, model and token type")

usage = _data.cost_usage(version, start, end)
if usage.is_empty():
    st.info("No LLM cost in this period. Connect a provider or import usage.")
    st.stop()
daily = app_actions.cost_by_day(usage)
models = app_actions.tokens_by_model(usage)
unattributed = _data.report(version, "unattributed", start, end)
unpriced = _data.unpriced(version, start, end)

total = int(daily["cost_micros"].sum())
estimated = int(daily["estimated_micros"].sum())
lost = int(unattributed["cost_micros"].sum())
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("LLM cost", money(total), border=True)
m2.metric("Reported by providers", money(total - estimated), border=True)
m3.metric(
    "Estimated by Margin", money(estimated), help="Priced from tokens with genai-prices or overrides.", border=True
)
m4.metric(
    "Unattributed",
    money(lost),
    pct(lost / total) if total else None,
    delta_color="off",
    delta_arrow="off",
    border=True,
    help="Spend no customer carries yet: map it on the Mapping page.",
)
m5.metric(
    "Unpriced models",
    f"{unpriced.height}",
    border=True,
    help="Counted at $0 until you add a price override; their tokens are listed below.",
)

by = st.segmented_control(
    "Colour by",
    ["provider", "model"],
    format_func=str.capitalize,
    key="costs_by",
    default="provider",
    required=True,
)
st.altair_chart(_charts.cost_by_day(daily, by=by or "provider", title=f"LLM cost per day by {by}"), width="stretch")

st.subheader("Spend by provider and model")
_tables.show(
    models,
    key="costs_models",
    csv=app_actions.csv_text(models),
    file_name=f"costs_by_model_{start}_{end}.csv",
    columns={
        "provider": "Provider",
        "model": "Model",
        "cost_micros": "LLM cost",
        "estimated_micros": "of which estimated",
        "requests": "Requests",
        "input_tokens": "Input tokens",
        "cached_input_tokens": "Cached input",
        "cache_write_tokens": "Cache write",
        "output_tokens": "Output tokens",
        "tokens": "Tokens",
    },
    money=["cost_micros", "estimated_micros"],
    counts=["requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "tokens"],
)

left, right = st.columns(2)
with left:
    st.altair_chart(_charts.tokens_by_type(models.filter(pl.col("tokens") > 0)), width="stretch")
with right:
    st.altair_chart(_charts.reported_vs_estimated(daily), width="stretch")

st.subheader("Reconciliation with the providers")
st.caption(
    "Per provider and month: the provider's cost (as reported; estimated by Margin where a provider gives "
    "none) is attributed to customers or left unattributed, to the cent. Request events on days without any "
    "usage from their provider count at their own cost, on top."
)
reconciliation = _data.reconciliation(version, start, end)
_tables.show(
    reconciliation.with_columns(pl.col("month").dt.strftime("%Y-%m")),
    key="costs_reconciliation",
    csv=app_actions.csv_text(reconciliation),
    file_name=f"reconciliation_{start}_{end}.csv",
    columns={
        "month": "Month",
        "provider": "Provider",
        "reported_micros": "Provider's cost",
        "attributed_micros": "Attributed",
        "unattributed_micros": "Unattributed",
        "difference_micros": "Difference",
        "own_cost_micros": "Events without usage",
        "cost_micros": "LLM cost",
        "estimated_micros": "of which estimated",
    },
    money=[
        "reported_micros",
        "attributed_micros",
        "unattributed_micros",
        "difference_micros",
        "own_cost_micros",
        "cost_micros",
        "estimated_micros",
    ],
)

st.subheader("Event coverage by provider key")
st.caption(
    "How much of each key's billed tokens your request events carry. Events take a usage row's cost only for "
    "the share their tokens cover; the rest stays with the key: its customer's (unspecified) feature where the "
    "key is mapped, else unattributed."
)
_notes.coverage_table(version, start, end, key="costs_coverage")

st.subheader("Unattributed spend")
if unattributed.is_empty():
    st.success("Every dollar of LLM cost in this period is attributed to a customer.")
else:
    st.altair_chart(_charts.unattributed_bars(unattributed), width="stretch")
    unattributed_columns, unattributed_formats = _tables.unattributed_table()
    _tables.show(
        unattributed,
        key="costs_unattributed",
        csv=app_actions.csv_text(unattributed, kind="unattributed"),
        file_name=f"unattributed_{start}_{end}.csv",
        columns=unattributed_columns,
        **unattributed_formats,
    )
    st.page_link("pages/mapping.py", label="Map these to customers", icon=":material/link:")

st.subheader("Models without a price")
if unpriced.is_empty():
    st.success("Every model in this period has a price.")
else:
    st.warning(
        "These models are counted at $0: genai-prices does not know them and no price override is set. "
        "Their tokens are real spend.",
        icon=":material/warning:",
    )
    _tables.show(
        unpriced,
        key="costs_unpriced",
        csv=app_actions.csv_text(unpriced),
        file_name=f"unpriced_models_{start}_{end}.csv",
        columns={"provider": "Provider", "model": "Model", "tokens": "Tokens"},
        counts=["tokens"],
    )


# --- month-end projection (rules §4.9) -----------------------------------------------------------------
st.subheader("Month-end projection")
projection = _data.month_forecast(version, app_actions.today_utc())
per_provider = projection.filter((pl.col("measure") == "cost") & (pl.col("provider") != ""))
if per_provider.is_empty():
    st.caption("No LLM cost in the month so far or the last 7 days: nothing to project.")
else:
    month = projection["month_start"][0]
    st.caption(
        f"A projection, not a reported figure: {month:%B %Y} to date plus the mean of the last 7 complete days "
        f"times the {projection['days_left'][0]} days left."
    )
    _tables.show(
        per_provider.sort("projected_micros", descending=True),
        key="costs_forecast",
        csv=app_actions.csv_text(per_provider),
        file_name=f"cost_projection_{month:%Y-%m}.csv",
        columns={
            "provider": "Provider",
            "month_to_date_micros": "Month to date",
            "last_7_days_micros": "Last 7 days",
            "projected_micros": "Projected month-end (projection)",
        },
        money=["month_to_date_micros", "last_7_days_micros", "projected_micros"],
    )

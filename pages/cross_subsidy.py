"""Cross-subsidy: which values of a dimension make margin and which consume it."""

import polars as pl
import streamlit as st

from margin_core import app_actions, insights, whatif
from margin_core.reports import ReportKind
from pages import _charts, _data, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header

start, end = frame()
version = _data.version()
header("Cross-subsidy", start, end, what="margin by feature, model, provider, tier, segment, region or metadata")

choices = _data.dimension_choices(version)
c1, c2 = st.columns([2, 3])
dimension = c1.selectbox("Dimension", list(choices), format_func=choices.__getitem__, key="cross_dimension")
assert dimension is not None  # a selectbox with options and a default index always has a value
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
if dimension == "usage_pattern":
    c2.caption(
        "Usage pattern over the period: power = the top 10% of customers by tokens, light = the bottom 50%, "
        "regular = the rest, none = no tokens."
    )

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

KINDS: dict[str, ReportKind] = {
    "feature": "features",
    "model": "models",
    "provider": "providers",
    "tier": "tiers",
    "segment": "segments",
    "usage_pattern": "usage-patterns",
}
kind = KINDS.get(dimension)
columns, formats = _tables.margin_table(
    {column: label, "provider": "Provider"} if column == "model" else {column: label}, usage=True
)
_tables.show(
    rows,
    key="cross_table",
    csv=app_actions.csv_text(rows.sort("cost_micros", descending=True), kind=kind)
    if kind
    else app_actions.csv_text(rows.select([c for c in columns if c in rows.columns])),
    file_name=f"{kind or column}_{start}_{end}.csv",
    columns={c: v for c, v in columns.items() if c in rows.columns},
    **formats,
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

if dimension == "feature":
    st.subheader("What if a feature ran on another model?")
    candidates = rows.filter(~pl.col("feature").is_in(list(app_actions.PLACEHOLDERS)))
    if candidates.is_empty():
        st.caption("No feature with request-level events in this period.")
    else:
        workspace = _data.ws(version)
        targets = whatif.known_models(workspace)
        w1, w2 = st.columns(2)
        feature = w1.selectbox("Feature", candidates["feature"].to_list(), key="cross_whatif_feature")
        provider, model = w2.selectbox(
            "Run it on", targets, format_func=lambda t: f"{t[1]} ({t[0]})", key="cross_whatif_model"
        )
        switch = whatif.feature_on_model(
            workspace, start=start, end=end, feature=feature, provider=provider, model=model
        )
        revenue = int(candidates.filter(pl.col("feature") == feature)["revenue_micros"].sum())
        s1, s2, s3, s4 = st.columns(4)
        s1.metric(
            "LLM cost now",
            insights.usd_text(switch.cost_micros),
            help=escape_markdown(", ".join(switch.models_now)) or None,
        )
        s2.metric(f"On {escape_markdown(model)}", insights.usd_text(switch.new_cost_micros))
        s3.metric("Saving", insights.usd_text(switch.saving_micros))
        after = app_actions.margin_pct(revenue, switch.new_cost_micros)
        s4.metric(
            "Feature margin after",
            insights.pct_text(after) if after is not None else "—",
            help="The feature's allocated revenue minus its cost on the new model.",
        )
        st.caption(
            f"{switch.requests:,} requests and {switch.tokens:,} tokens of this period priced at "
            f"{escape_markdown(model)}'s list prices (price overrides apply). Tokenizers and output lengths differ "
            "between models: an estimate."
            + ("" if switch.priced else f" {escape_markdown(model)} has no price on some days; those days count $0.")
        )

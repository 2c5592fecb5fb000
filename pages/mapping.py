"""Mapping: give unattributed spend (provider keys, projects, users) to customers, one by one or by CSV."""

import polars as pl
import streamlit as st

from margin_core import app_actions
from margin_core.errors import MarginError
from pages import _data, _notes, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header, money, pct

start, end = frame()
version = _data.version()
header("Mapping", start, end, what="map provider keys, projects and users to customers")

if flash := st.session_state.pop("mapping_flash", None):
    st.success(escape_markdown(flash), icon=":material/check_circle:")

unattributed = _data.report(version, "unattributed", start, end)
customers = _data.customers(version, start, end)
figures = app_actions.totals(customers)
m1, m2, m3 = st.columns(3)
m1.metric("Unattributed spend", money(figures["unattributed_micros"]), border=True)
m2.metric("Share of LLM cost", pct(figures["unattributed_share"]), border=True)
m3.metric("Keys, projects and users to map", f"{unattributed.height}", border=True)

st.subheader("Unattributed spend, largest first")
labels = _data.key_labels(version)
names = pl.DataFrame(
    [(p, k, n) for (p, k), n in labels.items()],
    schema={"provider": pl.String, "value": pl.String, "name": pl.String},
    orient="row",
)
shown = unattributed.join(names, on=["provider", "value"], how="left").with_columns(pl.col("name").fill_null(""))
unattributed_columns, unattributed_formats = _tables.unattributed_table(names=True)
_tables.show(
    shown,
    key="mapping_unattributed",
    csv=app_actions.csv_text(unattributed, kind="unattributed"),
    file_name=f"unattributed_{start}_{end}.csv",
    columns=unattributed_columns,
    **unattributed_formats,
)

people = _data.customer_list(version)
customer_ids = people["customer_id"].to_list()
customer_names = {
    r["customer_id"]: f"{r['name'] or r['customer_id']} ({r['customer_id']})" for r in people.iter_rows(named=True)
}
if unattributed.is_empty():
    st.success("Nothing to map in this period: every dollar is attributed.")
elif not customer_ids:
    st.warning("There are no customers yet: import customers or sync Stripe first.")
else:
    items = {f"{r['provider']}|{r['dimension']}|{r['value']}": r for r in unattributed.iter_rows(named=True)}

    def describe(item: str) -> str:
        row = items[item]
        name = labels.get((row["provider"], row["value"]))
        shown_name = f" “{name}”" if name else ""
        return f"{row['provider']} · {row['dimension']} {row['value']}{shown_name} — {money(row['cost_micros'])}"

    with st.form("mapping_form", border=True):
        st.markdown("**Map one to a customer**")
        f1, f2 = st.columns(2)
        item = f1.selectbox("Key, project or user", list(items), format_func=describe, key="mapping_item")
        customer = f2.selectbox(
            "Customer",
            customer_ids,
            format_func=lambda c: str(customer_names.get(c)),
            key="mapping_customer",
            index=None,
            placeholder="Choose a customer",
        )
        every = st.checkbox(
            "Apply to every provider (`*`)",
            key="mapping_every",
            help="Otherwise the mapping applies to this provider's rows only.",
        )
        submitted = st.form_submit_button("Map", type="primary", key="mapping_save", icon=":material/link:")
    if submitted:
        if customer is None:
            st.error("Choose a customer to map it to.")
        else:
            row = items[item]
            try:
                app_actions.save_mapping(
                    _data.engine(),
                    provider="*" if every else row["provider"],
                    dimension=row["dimension"],
                    value=row["value"],
                    customer_id=customer,
                )
            except MarginError as exc:
                st.error(escape_markdown(exc))
            else:
                st.session_state["mapping_flash"] = (
                    f"Mapped {row['value']} to {customer_names[customer]}: {money(row['cost_micros'])} of this "
                    "period's spend now belongs to that customer."
                )
                st.rerun()

st.subheader("Event coverage by provider key")
st.caption(
    "The share of each key's billed tokens that request events carry. Where events cover a key only in part "
    "(a service without the SDK shares it), the rest is unattributed until the key is mapped: then it goes to "
    "that customer's (unspecified) feature."
)
_notes.coverage_table(version, start, end, key="mapping_coverage")

st.subheader("Saved mappings")
saved = _data.mappings(version)
saved = saved.with_columns(
    pl.col("customer_id").replace_strict(customer_names, default=pl.col("customer_id")).alias("customer")
)
_tables.show(
    saved,
    key="mapping_saved",
    csv=app_actions.csv_text(saved.select("provider", "dimension", "value", "customer_id")),
    file_name="mappings.csv",
    columns={"provider": "Provider", "dimension": "Dimension", "value": "Value", "customer": "Customer"},
    height=260,
)
if not saved.is_empty():
    keys = [f"{r['provider']}|{r['dimension']}|{r['value']}" for r in saved.iter_rows(named=True)]
    r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
    doomed = r1.selectbox(
        "Remove a mapping", keys, key="mapping_remove_item", format_func=lambda k: k.replace("|", " · ")
    )
    if r2.button("Remove", key="mapping_remove", icon=":material/link_off:"):
        provider, dimension, value = doomed.split("|", 2)
        app_actions.delete_mapping(_data.engine(), provider=provider, dimension=dimension, value=value)
        st.session_state["mapping_flash"] = f"Removed the mapping of {value}."
        st.rerun()

st.subheader("Bulk mapping from CSV")
st.caption(
    "Columns `provider,dimension,value,customer_id`; provider may be `*`; dimension is api_key_id, "
    "project_id or user_id. The whole file is checked before anything is written."
)
upload = st.file_uploader("Mappings CSV", type=["csv"], key="mapping_upload")
pasted = st.text_area(
    "…or paste it here",
    key="mapping_paste",
    height=100,
    placeholder="provider,dimension,value,customer_id\n*,api_key_id,key_123,cus_abc",
)
if st.button("Import mappings", key="mapping_import", icon=":material/upload:"):
    content = upload.getvalue() if upload is not None else pasted  # bytes: not UTF-8 is named by line
    if not content.strip():
        st.error("Choose a file or paste CSV text first.")
    else:
        try:
            count = app_actions.import_csv(
                _data.engine(), "mappings", content, source=upload.name if upload is not None else "pasted text"
            )
        except MarginError as exc:
            st.error(escape_markdown(exc), icon=":material/error:")
        else:
            st.session_state["mapping_flash"] = f"Imported {count} mapping(s)."
            st.rerun()

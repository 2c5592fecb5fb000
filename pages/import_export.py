"""Import & export: the six canonical CSV imports, and every report of the period as CSV."""

import io
import zipfile

import polars as pl
import streamlit as st

from margin_core import app_actions, imports, reports
from margin_core.errors import DemoWorkspaceError, MarginError
from pages import _data, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header

start, end = frame()
version = _data.version()
header("Import & export", start, end, what="canonical CSV files in, every report out")

if flash := st.session_state.pop("import_flash", None):
    st.success(escape_markdown(flash), icon=":material/check_circle:")

DESCRIPTIONS = {
    "customers": "Customers with their plan (tier), segment and region; extra `meta_*` columns become metadata.",
    "revenue": "Revenue items: amount in major units, service_end exclusive; a one-off is a one-day period, "
    "a credit or refund a negative amount.",
    "usage": "Provider usage buckets (provider exports beyond the API window); an empty cost_usd is estimated "
    "from the price table.",
    "mappings": "Provider keys, projects or users → customers (provider may be `*`).",
    "events": "Request events (what the SDK captures); extra `meta_*` columns become event metadata.",
    "rates": "Exchange rates to USD, e.g. `EUR,1.10`.",
}

st.subheader("Import a CSV file")
kind = st.selectbox("Kind", imports.KINDS, key="import_kind", format_func=str.capitalize)
st.caption(DESCRIPTIONS[kind])
st.code(",".join(imports.COLUMNS[kind]) + (",meta_…" if kind in imports.META_KINDS else ""), language="text")
upload = st.file_uploader(f"{kind.capitalize()} CSV", type=["csv"], key="import_file")
pasted = st.text_area("…or paste the CSV text", key="import_paste", height=120)
if st.button("Import", key="import_go", type="primary", icon=":material/upload:"):
    content = upload.getvalue() if upload is not None else pasted  # bytes: not UTF-8 is named by line
    source = upload.name if upload is not None else "pasted text"
    if not content.strip():
        st.error("Choose a file or paste CSV text first.")
    else:
        try:
            count = app_actions.import_csv(_data.engine(), kind, content, source=source)
        except DemoWorkspaceError as exc:
            st.error(f"Not imported: {escape_markdown(exc)}", icon=":material/science:")
            st.session_state["import_offer_clear"] = True
        except MarginError as exc:
            st.error(f"Not imported — nothing was written. {escape_markdown(exc)}", icon=":material/error:")
        else:
            st.session_state["import_flash"] = f"Imported {count:,} {kind} row(s) from {source}."
            st.rerun()
offer = st.session_state.get("import_offer_clear") and _data.is_demo(version)
if offer and st.button("Clear the demo and start with my own data", key="import_clear_demo", icon=":material/delete:"):
    app_actions.clear_demo(_data.engine())
    st.session_state["import_offer_clear"] = False
    st.session_state["import_flash"] = "The demo is cleared: the store is empty and ready for your data."
    st.rerun()

st.subheader("Export every report")
st.caption(
    "Each file is what `python -m margin_core report KIND --start "
    f"{start} --end {end}` prints (money in USD with two decimals, margin_pct as a fraction)."
)
files = _data.full_export(version, start, end)
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    for name, text in files.items():
        archive.writestr(name, text)
st.download_button(
    "Download all reports (ZIP)",
    buffer.getvalue(),
    file_name=f"margin_reports_{start}_{end}.zip",
    mime="application/zip",
    on_click="ignore",
    key="export_zip",
    type="primary",
    icon=":material/folder_zip:",
)
rows = [
    {"report": kind, "file": name, "rows": text.count("\n") - 1}
    for kind, (name, text) in zip(reports.REPORT_KINDS, files.items(), strict=True)
]
summary = pl.DataFrame(rows)
_tables.show(
    summary,
    key="export_summary",
    csv=app_actions.csv_text(summary),
    file_name=f"export_summary_{start}_{end}.csv",
    columns={"report": "Report", "file": "File", "rows": "Rows"},
    counts=["rows"],
)
cols = st.columns(4)
for index, (kind, (name, text)) in enumerate(zip(reports.REPORT_KINDS, files.items(), strict=True)):
    cols[index % 4].download_button(
        kind,
        text,
        file_name=name,
        mime="text/csv",
        on_click="ignore",
        key=f"export_{kind}",
        icon=":material/download:",
        width="stretch",
    )

"""Connections: provider admin keys and Stripe — save (encrypted, shown masked), test, sync, remove."""

import streamlit as st

from margin_core import app_actions
from margin_core.errors import MarginError
from pages import _data, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header

start, end = frame()
version = _data.version()
engine = _data.engine()
header("Connections", start, end, what="admin keys are encrypted at rest and only ever shown masked", period=False)

if flash := st.session_state.pop("connections_flash", None):
    st.success(escape_markdown(flash), icon=":material/check_circle:")
if cleared := st.session_state.pop("connections_clear_key", None):
    st.session_state[f"connections_{cleared}_key"] = ""  # the pasted key leaves the page once saved
for message in st.session_state.pop("connections_errors", []):
    st.error(escape_markdown(message), icon=":material/error:")

HELP = {
    "openai": "An OpenAI **admin** key (`sk-admin-…`), from Organization settings → Admin keys.",
    "anthropic": "An Anthropic **admin** key (`sk-ant-admin…`), from Console → Settings → Admin keys.",
    "openrouter": "An OpenRouter **management** key (`sk-or-…`), from Settings → Management keys.",
    "stripe": "A Stripe **restricted** key (`rk_live_…`) with Read on Customers, Products, Prices, Subscriptions, "
    "Invoices, Credit notes, Charges, Refunds and Balance, and nothing else: "
    "[create one in the Stripe Dashboard](https://dashboard.stripe.com/apikeys/create). "
    "A secret key (`sk_live_…`) works too but can do far more than Margin needs.",
}

# Back from "Connect with Stripe": Stripe adds ?code=…&state=… (or ?error=…) to this page's address.
returned = st.query_params.to_dict()
if "code" in returned or "error" in returned:
    st.query_params.clear()
    if "error" in returned:
        # Anyone can craft this address: its text is shown only when it answers this app's own request.
        if app_actions.connect_state_matches(engine, returned.get("state", "")):
            reason = returned.get("error_description") or returned["error"]
            st.error(f"Stripe did not connect: {escape_markdown(reason)}", icon=":material/error:")
    else:
        try:
            app_actions.finish_connect(engine, code=returned["code"], state=returned.get("state", ""))
        except MarginError as exc:
            st.error(f"Stripe did not connect: {escape_markdown(exc)}", icon=":material/error:")
        else:
            st.success("Stripe is connected with read-only access. Sync it when you are ready.")
demo = _data.is_demo(version)
state = app_actions.connections(engine)
connected = state.filter(state["status"] != "not connected")

m1, m2, m3 = st.columns(3)
m1.metric("Connected", f"{connected.height} of {state.height}", border=True)
m2.metric(
    "Last sync",
    f"{state['last_sync'].dt.max():%Y-%m-%d %H:%M} UTC" if state["last_sync"].dt.max() else "never",
    border=True,
)
m3.metric("Workspace", "Demo" if demo else "Own data", border=True)
_tables.show(
    state,
    key="connections_state",
    csv=app_actions.csv_text(state.drop("key")),
    file_name="connections.csv",
    columns={
        "name": "Provider",
        "key": "Key (masked)",
        "source": "Key from",
        "status": "Status",
        "last_sync": "Last sync",
        "last_result": "Last result",
        "rows_written": "Rows written",
        "last_error": "Last error",
    },
    counts=["rows_written"],
)

gaps = app_actions.sync_gaps(engine)
if not gaps.is_empty():
    st.subheader("Days a sync could not fetch")
    st.caption(
        "A provider's API only reaches back so far (OpenAI and Anthropic 31 days, OpenRouter 30). These days "
        "fell between two syncs and are missing until you import the provider's exported CSVs for them."
    )
    _tables.show(
        gaps,
        key="connections_gaps",
        csv=app_actions.csv_text(gaps),
        file_name="sync_gaps.csv",
        columns={
            "provider": "Provider",
            "first_day": "First day",
            "end_day": "Until (exclusive)",
            "message": "What to do",
        },
    )

if demo:
    st.info(
        "Syncing into the demo workspace is refused, so demo and real data never mix. Clear the demo to start "
        "with your own data (your saved keys are kept).",
        icon=":material/science:",
    )
    if st.button(
        "Clear the demo and start with my own data",
        key="connections_clear_demo",
        type="primary",
        icon=":material/delete:",
    ):
        app_actions.clear_demo(engine)
        st.session_state["connections_flash"] = "The demo is cleared. Sync now to load your own data."
        st.rerun()


def run_sync(only: str | None) -> None:
    """Run a sync with a progress bar; remember the outcome for the next run."""
    bar = st.progress(0.0, text="Starting the sync…")
    steps = [0]

    def progress(message: str) -> None:
        steps[0] += 1
        bar.progress(min(0.95, 1 - 0.85 ** steps[0]), text=message)

    try:
        results = app_actions.run_sync(engine, only=only, today=app_actions.today_utc(), progress=progress)
    except MarginError as exc:
        bar.empty()
        st.session_state["connections_errors"] = [str(exc)]
        return
    bar.progress(1.0, text="Done")
    if not results:
        st.session_state["connections_errors"] = ["Nothing to sync: no key is saved and none is in the environment."]
        return
    done = [f"{app_actions.PROVIDER_NAMES[r.provider]}: {r.rows_written:,} rows" for r in results if r.status == "ok"]
    failed = [f"{app_actions.PROVIDER_NAMES[r.provider]} failed: {r.error}" for r in results if r.status != "ok"]
    if done:
        st.session_state["connections_flash"] = "Synced — " + "; ".join(done) + "."
    st.session_state["connections_errors"] = failed


if connected.height and st.button("Sync all now", key="connections_sync_all", icon=":material/sync:", disabled=demo):
    run_sync(None)
    st.rerun()

for kind in app_actions.PROVIDERS:
    row = state.filter(state["provider"] == kind).row(0, named=True)
    title = f"{row['name']} — {row['status']}" + (f" · {row['key']}" if row["key"] else "")
    with st.expander(title, expanded=row["status"] == "not connected" and kind == "openai"):
        st.markdown(HELP[kind])
        if kind == "stripe" and (url := app_actions.connect_url(engine)):
            st.link_button("Connect with Stripe", url, icon=":material/link:", type="primary")
            st.caption("Stripe's OAuth for platforms (read-only scope); Stripe calls it legacy for new platforms.")
        secret = st.text_input(
            "Key",
            type="password",
            key=f"connections_{kind}_key",
            placeholder="Paste the key; it is tested, then saved encrypted",
        )
        b1, b2, b3, b4 = st.columns(4)
        if b1.button("Test and save", key=f"connections_{kind}_save", type="primary", icon=":material/key:"):
            if not secret.strip():
                st.error("Paste a key first.")
            else:
                with st.spinner(f"Checking the key with {row['name']}…"):
                    check = app_actions.check_key(kind, secret.strip())
                if check.ok:
                    app_actions.save_connection(engine, kind, secret.strip())
                    st.session_state["connections_clear_key"] = kind
                    st.session_state["connections_flash"] = f"{check.message} Saved (encrypted)."
                    st.rerun()
                else:
                    st.error(f"Not saved: {escape_markdown(check.message)}")
        saved = row["source"] == "saved"
        if b2.button("Test saved key", key=f"connections_{kind}_test", disabled=not saved, icon=":material/task_alt:"):
            key = app_actions.saved_key(engine, kind)
            check = app_actions.check_key(kind, key) if key else app_actions.ConnectionCheck(False, "No key saved.")
            (st.success if check.ok else st.error)(escape_markdown(check.message))
        if b3.button(
            "Sync now",
            key=f"connections_{kind}_sync",
            icon=":material/sync:",
            disabled=demo or row["status"] == "not connected",
        ):
            run_sync(kind)
            st.rerun()
        if b4.button("Remove", key=f"connections_{kind}_remove", disabled=not saved, icon=":material/delete:"):
            app_actions.remove_connection(engine, kind)
            st.session_state["connections_flash"] = f"{row['name']} key removed; the data already synced stays."
            st.rerun()
        if row["last_error"]:
            st.caption(f"Last error: {escape_markdown(row['last_error'])}")

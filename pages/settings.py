"""Settings: break-even threshold, allocation basis, exchange rates, and the demo workspace."""

import polars as pl
import streamlit as st

from margin_core import app_actions
from margin_core.app_actions import founder
from margin_core.errors import MarginError
from pages import _data, _tables
from pages._frame import frame
from pages._ui import escape_markdown, header

start, end = frame()
version = _data.version()
engine = _data.engine()
header("Settings", start, end, what="how margins are judged and converted")

if flash := st.session_state.pop("settings_flash", None):
    st.success(escape_markdown(flash), icon=":material/check_circle:")

values = app_actions.read_settings(engine)
current_threshold = float(values.get("break_even_pct", "20"))
current_basis = values.get("allocation_basis", "requests")
demo = _data.is_demo(version)
m1, m2, m3 = st.columns(3)
m1.metric(
    "Break-even threshold",
    f"{current_threshold:g}%",
    border=True,
    help="Below this margin (and at or above 0) a customer is break-even; above it, profitable.",
)
m2.metric(
    "Allocation basis",
    current_basis,
    border=True,
    help="How a customer's revenue is split over features, models and event metadata.",
)
m3.metric("Workspace", "Demo" if demo else "Own data", border=True)
state = app_actions.settings_table(engine)
_tables.show(
    state,
    key="settings_state",
    csv=app_actions.csv_text(state),
    file_name="settings.csv",
    columns={"setting": "Setting", "value": "Value"},
)

st.subheader("Margin rules")
with st.form("settings_form"):
    threshold = st.number_input(
        "Break-even threshold (%)",
        min_value=0.0,
        max_value=100.0,
        value=current_threshold,
        step=1.0,
        key="settings_break_even",
        help="Unprofitable below 0%; break-even from 0% up to this margin; profitable at or above it.",
    )
    basis = st.radio(
        "Allocation basis for usage dimensions",
        ["requests", "tokens"],
        index=0 if current_basis != "tokens" else 1,
        key="settings_basis",
        horizontal=True,
        help="A customer's revenue is split over its features, models and metadata values by this measure.",
    )
    if st.form_submit_button("Save", type="primary", key="settings_save"):
        try:
            app_actions.save_settings(engine, break_even_pct=threshold, allocation_basis=basis)
        except MarginError as exc:
            st.error(escape_markdown(exc))
        else:
            st.session_state["settings_flash"] = "Saved: every report now uses the new rules."
            st.rerun()

st.subheader("Exchange rates to USD")
st.caption(
    "Used first for revenue in other currencies; where a currency has no rate here, Stripe's own rate "
    "of the payment is used. Changing a rate reconverts all revenue."
)
rates = app_actions.exchange_rates(engine)
_tables.show(
    rates,
    key="settings_rates",
    csv=app_actions.csv_text(rates),
    file_name="exchange_rates.csv",
    columns={"currency": "Currency", "rate_to_usd": "USD per unit"},
)
r1, r2, r3 = st.columns([1, 1, 1], vertical_alignment="bottom")
code = r1.text_input("Currency", key="settings_rate_currency", placeholder="EUR", max_chars=3)
rate = r2.text_input("USD per unit", key="settings_rate_value", placeholder="1.10")
if r3.button("Save rate", key="settings_rate_save", icon=":material/currency_exchange:"):
    try:
        app_actions.save_exchange_rates(engine, [(code, rate)])
    except MarginError as exc:
        st.error(escape_markdown(exc))
    else:
        st.session_state["settings_flash"] = f"Saved {code.upper()} = {rate} USD; revenue reconverted."
        st.rerun()
missing = _data.unconverted(version, start, end)
if missing:
    st.warning(
        "Revenue without an exchange rate adds $0 until you set one:\n\n" + "\n".join(f"- {m}" for m in missing),
        icon=":material/currency_exchange:",
    )

st.subheader("Price overrides")
st.caption(
    "Negotiated contracts or routed providers: from its date on, an override prices a model's request events "
    "and estimated usage instead of the public price list. Provider-reported cost is never re-priced."
)
overrides = app_actions.price_overrides(engine)
_tables.show(
    overrides,
    key="settings_overrides",
    csv=app_actions.csv_text(overrides),
    file_name="price_overrides.csv",
    empty="No price override yet: every model is priced from the public price list (genai-prices).",
    columns={
        "provider": "Provider",
        "model": "Model",
        "effective_from": "From",
        "input_per_mtok": "Input $/M",
        "cached_input_per_mtok": "Cached input $/M",
        "cache_write_per_mtok": "Cache write $/M",
        "cache_write_1h_per_mtok": "1-hour cache write $/M",
        "output_per_mtok": "Output $/M",
    },
)
found_providers, found_models = _data.override_choices(version)
with st.form("settings_override_form", clear_on_submit=True):
    o1, o2, o3 = st.columns(3)
    o_provider = o1.selectbox(
        "Provider",
        found_providers,
        index=None,
        accept_new_options=True,
        placeholder="Choose or type a provider",
        help="The providers found in your events and usage; type any other name (bedrock, vertex, groq…).",
        key="settings_override_provider",
    )
    o_model = o2.selectbox(
        "Model, as the provider reports it",
        found_models,
        index=None,
        accept_new_options=True,
        placeholder="Choose or type a model",
        key="settings_override_model",
    )
    o_from = o3.date_input("From", key="settings_override_from")
    p1, p2, p3, p4, p5 = st.columns(5)
    o_rates = {
        "input": p1.text_input("Input $/M", key="settings_override_input"),
        "cached_input": p2.text_input("Cached input $/M", key="settings_override_cached"),
        "cache_write": p3.text_input("Cache write $/M", key="settings_override_write"),
        "cache_write_1h": p4.text_input("1-hour write $/M", key="settings_override_write_1h"),
        "output": p5.text_input("Output $/M", key="settings_override_output"),
    }
    if st.form_submit_button("Save override", icon=":material/sell:"):
        try:
            app_actions.save_price_override(
                engine, provider=o_provider or "", model=o_model or "", effective_from=o_from, per_mtok=o_rates
            )
        except MarginError as exc:
            st.error(escape_markdown(exc))
        else:
            st.session_state["settings_flash"] = f"Override saved: {o_model} from {o_from}."
            st.rerun()

st.subheader("Keep Margin synced")
st.caption(
    "While the app is open, sync every connected source on a schedule, in the background (pages never wait "
    "for it). To sync while the app is closed, run `python -m margin_core sync --every 1h` (see the README)."
)
schedule_now = app_actions.sync_schedule_hours(engine)
schedule_options = [0, *app_actions.SYNC_HOUR_CHOICES]
if schedule_now not in schedule_options:
    schedule_options.append(schedule_now)
s1, s2 = st.columns([2, 1], vertical_alignment="bottom")
picked_hours = s1.selectbox(
    "Sync every N hours while the app is open",
    schedule_options,
    index=schedule_options.index(schedule_now),
    format_func=lambda hours: "Off" if hours == 0 else f"Every {hours} hour{'s' if hours != 1 else ''}",
    key="settings_sync_every",
)
if s2.button("Save schedule", key="settings_sync_save", icon=":material/schedule:", disabled=demo):
    try:
        app_actions.save_sync_schedule(engine, picked_hours)
    except MarginError as exc:
        st.error(str(exc))
    else:
        app_actions.start_background_sync(engine)
        st.session_state["settings_flash"] = (
            "Background sync is off." if picked_hours == 0 else f"Margin now syncs every {picked_hours} h while open."
        )
        st.rerun()
if demo:
    st.caption("The demo workspace is never synced: clear it first.")
background = app_actions.background_sync_status(engine)
if background.get("running"):
    st.caption(":material/sync: A background sync is running now.")
elif background.get("last_attempt"):
    st.caption(f"Last background sync: {background['last_attempt']:%Y-%m-%d %H:%M} UTC.")
    for line in background.get("last_lines") or []:  # type: ignore[attr-defined]
        st.text(str(line))

st.subheader("Demo workspace")
if demo:
    st.caption("The store holds the demo workspace: syncs and imports are refused until it is cleared.")
    d1, d2 = st.columns(2)
    if d1.button("Rebuild the demo ending yesterday", key="settings_demo_reset", icon=":material/refresh:"):
        with st.spinner("Building the demo workspace…"):
            summary = app_actions.reset_demo(engine, today=app_actions.today_utc())
        st.session_state["settings_flash"] = f"Demo rebuilt: {summary}."
        st.rerun()
    if d2.button(
        "Clear the demo and start with my own data", key="settings_demo_clear", type="primary", icon=":material/delete:"
    ):
        app_actions.clear_demo(engine)
        st.session_state["settings_flash"] = "The demo is cleared: connect your keys or import your CSV files."
        st.rerun()
else:
    st.caption("This store holds your own data; the demo is only loaded into an empty store.")
    empty = _data.customers(version, start, end).filter(pl.col("customer_id") != app_actions.UNATTRIBUTED).is_empty()
    if empty and st.button("Load the demo workspace", key="settings_demo_load", icon=":material/science:"):
        with st.spinner("Building the demo workspace…"):
            summary = app_actions.reset_demo(engine, today=app_actions.today_utc())
        st.session_state["settings_flash"] = f"Demo loaded: {summary}."
        st.rerun()

st.subheader("Alerts")
alert_values = founder.alert_settings(_data.ws(version))
with st.form("settings_alerts"):
    a1, a2, a3 = st.columns(3)
    ratio = a1.number_input(
        "Cost spike: at least × the 7 days before", min_value=1.0, value=alert_values["spike_ratio"], step=0.5
    )
    minimum = a2.number_input(
        "Cost spike: and at least $ more", min_value=0.0, value=alert_values["spike_min_usd"], step=10.0
    )
    share = a3.number_input(
        "Unattributed share above (%)", min_value=0.0, max_value=100.0, value=alert_values["unattributed_pct"], step=1.0
    )
    st.caption(
        "A customer, feature or model alerts when its LLM cost over the last 7 days meets both spike thresholds; "
        "set MARGIN_ALERT_WEBHOOK_URL to post new alerts to Slack or Discord after each sync."
    )
    if st.form_submit_button("Save alert thresholds"):
        try:
            founder.save_alert_settings(engine, spike_ratio=ratio, spike_min_usd=minimum, unattributed_pct=share)
        except MarginError as exc:
            st.error(str(exc))
        else:
            st.session_state["settings_flash"] = "Alert thresholds saved."
            st.rerun()

"""What every page draws first: the period picker and workspace in the sidebar, the demo banner, and how
fresh the data is (naming a source that is stale or whose last sync failed)."""

from __future__ import annotations

import hmac
from datetime import date, timedelta

import streamlit as st

from margin_core import app_actions, settings
from pages import _data
from pages._text import escape_markdown

PRESETS = {
    "Last 7 days": 7,
    "Last 31 days": 31,
    "Last 90 days": 90,
    "Last 120 days": 120,
}


def default_period() -> tuple[date, date]:
    """The 31 days ending yesterday (UTC), inclusive."""
    yesterday = app_actions.today_utc() - timedelta(days=1)
    return yesterday - timedelta(days=30), yesterday


def _apply_preset() -> None:
    choice = st.session_state.get("period_preset")
    if choice in PRESETS:
        yesterday = app_actions.today_utc() - timedelta(days=1)
        st.session_state.period = (yesterday - timedelta(days=PRESETS[choice] - 1), yesterday)
        st.session_state.period_picker = st.session_state.period


def _picked() -> None:
    st.session_state.period = st.session_state.period_picker
    st.session_state.period_preset = None


def _leave_legacy_layout() -> None:
    """Run app.py's navigation even when Streamlit ran this page on its own.

    A `pages/` folder next to app.py marks the legacy multipage layout: until some run of the process has
    called st.navigation, Streamlit runs the page of a deep link (/costs right after a server start) by
    itself, with a sidebar listing every file in pages/. On a session's first run, clearing the flag and
    rerunning goes through app.py, which finds the same page by its URL. Later runs are left alone: AppTest
    re-derives the flag on every run, and a rerun there would drop the widget event being tested.
    """
    from streamlit.runtime.pages_manager import PagesManager

    first_run = "frame_seen" not in st.session_state
    st.session_state["frame_seen"] = True
    if first_run and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_data(ttl=30, show_spinner=False)
def _freshness(version: int, url: str, today: date) -> tuple[str, str]:
    # Keyed by version (a sync that wrote) and refreshed every 30 s (a failed sync writes no data).
    return app_actions.data_freshness(_data.engine(), today=today)


def _freshness_notice(version: int) -> None:
    """One line on every page: how fresh the data is; a warning naming stale or failing sources."""
    level, message = _freshness(version, settings.database_url(), app_actions.today_utc())
    if level == "warning":  # in the page itself, where it is seen
        st.warning(escape_markdown(message), icon=":material/sync_problem:")
    else:  # all fresh (or nothing connected yet): a quiet line in the sidebar
        st.sidebar.caption(f":material/update: {escape_markdown(message)}")


def _password_gate() -> None:
    """With MARGIN_APP_PASSWORD set, nothing renders and nothing runs until this session typed it (rules §8)."""
    expected = settings.app_password()
    if expected is None or st.session_state.get("margin_unlocked"):
        return
    st.title("Margin")
    typed = st.text_input("Password", type="password", key="margin_password")
    if typed and hmac.compare_digest(typed.encode(), expected.encode()):  # constant time
        st.session_state["margin_unlocked"] = True
        del st.session_state["margin_password"]
        st.rerun()
    if typed:
        st.error("Wrong password.")
    st.stop()


def frame() -> tuple[date, date]:
    """Draw the shared frame; return the period as a half-open range [start, end)."""
    _password_gate()  # first: a locked session sees and runs nothing else
    _leave_legacy_layout()
    # app.py sets this too; a page run on its own (AppTest reruns, a deep link right after a server start)
    # must still be wide.
    st.set_page_config(page_title="Margin", page_icon=":material/savings:", layout="wide")
    # `period` is app-wide state; the picker widget is re-created on every page from it (a widget's own
    # state does not survive a page switch).
    st.session_state.setdefault("period", default_period())
    st.session_state.period_picker = st.session_state.period
    version = _data.version()
    # The snapshot first, in the main area: after a write its spinner ("Loading the workspace…") shows where
    # the page will draw, not in the sidebar beside a blank page.
    demo = _data.is_demo(version)
    with st.sidebar:
        st.date_input(
            "Period",
            key="period_picker",
            format="YYYY-MM-DD",
            help="First and last day, both included (UTC).",
            on_change=_picked,
        )
        st.segmented_control(
            "Quick range",
            list(PRESETS),
            key="period_preset",
            on_change=_apply_preset,
            label_visibility="collapsed",
        )
        st.caption(f"Workspace: **{'Demo' if demo else 'Own data'}** · {app_actions.workspace_label(_data.engine())}")
    if demo:
        st.info(
            "Demo data: a made-up company with 59 customers. Connect your own keys on the Connections page "
            "(clearing the demo is one click there or on Settings).",
            icon=":material/science:",
        )
    else:
        app_actions.start_background_sync(_data.engine())  # once per process, only when the setting is on
        _freshness_notice(version)
    picked = st.session_state.period
    if not isinstance(picked, (tuple, list)):
        picked = (picked, picked)
    if len(picked) == 0:
        picked = default_period()
    first = picked[0]
    last = picked[1] if len(picked) > 1 else picked[0]
    return first, last + timedelta(days=1)


def period_text(start: date, end: date) -> str:
    """The inclusive period for captions: "2026-10-29 to 2026-11-28 (31 days)"."""
    last = end - timedelta(days=1)
    days = (end - start).days
    return f"{start:%b %-d, %Y} – {last:%b %-d, %Y} ({days} day{'s' if days != 1 else ''})"

"""Small drawing helpers shared by pages: metric deltas and headers; `escape_markdown` (pages._text) re-exported."""

from __future__ import annotations

from datetime import date

import streamlit as st

from margin_core import app_actions, insights
from pages._frame import period_text
from pages._text import escape_markdown as escape_markdown  # re-exported: pages call it from here


def header(title: str, start: date, end: date, *, what: str, period: bool = True) -> None:
    """Page title with the period (where the page depends on it) and a one-line explanation."""
    st.title(title)
    st.caption(f"{period_text(start, end)} · {what}" if period else what)


def delta_pts(current: float | None, previous: float | None) -> str | None:
    """A metric delta in points, ASCII sign first (st.metric reads the direction from a leading "-")."""
    change = app_actions.change_in_points(previous, current)
    if change is None or abs(change) < 0.5:
        return None
    return insights.pts_text(change).replace(insights.MINUS, "-")


def delta_pct(current: int, previous: int) -> str | None:
    """A metric delta as a relative change: "+12%" / "-8%"."""
    if previous <= 0:
        return None
    return insights.pct_text((current - previous) / previous, signed=True).replace(insights.MINUS, "-")


def money(micros: int | None) -> str:
    return insights.usd_text(micros)


def pct(fraction: float | None) -> str:
    return insights.pct_text(fraction)

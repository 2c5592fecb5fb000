"""Tables as the founder reads them ($1,234, 42%, −16 pts, negatives red, status in colour), each with a
one-click CSV download of exactly its rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import polars as pl
import streamlit as st

from margin_core import insights
from pages._charts import STATUS_DOMAIN, STATUS_LABELS, STATUS_RANGE

STATUS_COLOURS = dict(zip(STATUS_DOMAIN, STATUS_RANGE, strict=True))
RED = "#d32f2f"


class Formats(TypedDict, total=False):
    """The number formats of `styled` and `show`, kept in a variable to be passed to several tables."""

    money: Sequence[str]
    pct: Sequence[str]
    pts: Sequence[str]
    counts: Sequence[str]
    ratios: Sequence[str]
    status: str | None
    neutral: Sequence[str]


MARGIN_LABELS = {
    "revenue_micros": "Revenue",
    "cost_micros": "LLM cost",
    "margin_micros": "Margin",
    "margin_pct": "Margin %",
}
"""The margin measures every margin table shows, in this order, after its own leading columns."""
MARGIN_MONEY = ("revenue_micros", "cost_micros", "margin_micros")
USAGE_LABELS = {"requests": "Requests", "tokens": "Tokens"}


def margin_table(
    leading: Mapping[str, str], *, after_pct: Mapping[str, str] | None = None, usage: bool = False
) -> tuple[dict[str, str], Formats]:
    """Columns and formats of a margin table: `leading`, the margin measures, `after_pct`, Status, then
    Requests and Tokens when `usage`. Formats for columns in `leading` or `after_pct` are the caller's."""
    columns = {**leading, **MARGIN_LABELS, **(after_pct or {}), "status": "Status"}
    formats: Formats = {"money": list(MARGIN_MONEY), "pct": ["margin_pct"], "status": "status"}
    if usage:
        columns.update(USAGE_LABELS)
        formats["counts"] = list(USAGE_LABELS)
    return columns, formats


PROFILE_LABELS = {
    "requests": "Requests",
    "avg_requests": "Avg customer requests",
    "tokens": "Tokens",
    "avg_tokens": "Avg customer tokens",
    "cost_micros": "LLM cost",
    "avg_cost_micros": "Avg customer cost",
    "cost_vs_average": "Cost vs average",
}
"""One customer's usage by feature or model against the average customer (`insights.customer_profile`)."""
PROFILE_FORMATS: Formats = {
    "money": ["cost_micros", "avg_cost_micros"],
    "counts": ["requests", "avg_requests", "tokens", "avg_tokens"],
    "ratios": ["cost_vs_average"],
}


def unattributed_table(*, names: bool = False) -> tuple[dict[str, str], Formats]:
    """Columns and formats of the unattributed-spend table; `names` adds the key's name after its value."""
    columns = {"provider": "Provider", "dimension": "Dimension", "value": "Key, project or user"}
    if names:
        columns["name"] = "Name"
    columns |= {"cost_micros": "LLM cost", "requests": "Requests", "first_day": "First day", "last_day": "Last day"}
    return columns, {"money": ["cost_micros"], "counts": ["requests"]}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _money(value: Any) -> str:
    return "—" if _missing(value) else insights.usd_text(int(value))


def _pct(value: Any) -> str:
    return "—" if _missing(value) else insights.pct_text(float(value))


def _pts(value: Any) -> str:
    return "—" if _missing(value) else insights.pts_text(float(value))


def _count(value: Any) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


def _ratio(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):,.1f}×"


def _red_if_negative(value: Any) -> str:
    return f"color: {RED}; font-weight: 600" if not _missing(value) and value < 0 else ""


def styled(
    frame: pl.DataFrame,
    *,
    columns: Mapping[str, str],
    money: Sequence[str] = (),
    pct: Sequence[str] = (),
    pts: Sequence[str] = (),
    counts: Sequence[str] = (),
    ratios: Sequence[str] = (),
    status: str | None = None,
    neutral: Sequence[str] = (),
) -> Any:
    """A pandas Styler of `frame`'s `columns` (renamed to their labels) with the app's number formats."""
    shown = frame.select(list(columns))
    shown = shown.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in shown.schema.items() if t == pl.Date]
        + [pl.col(c).dt.strftime("%Y-%m-%d %H:%M UTC") for c, t in shown.schema.items() if isinstance(t, pl.Datetime)]
    )
    table = shown.to_pandas()
    if status and status in table:
        table[status] = table[status].map(lambda s: STATUS_LABELS.get(s, s))
    table = table.rename(columns=dict(columns))
    formats: dict[str, Callable[[Any], str]] = {}
    formats.update({columns[c]: _money for c in money})
    formats.update({columns[c]: _pct for c in pct})
    formats.update({columns[c]: _pts for c in pts})
    formats.update({columns[c]: _count for c in counts})
    formats.update({columns[c]: _ratio for c in ratios})
    styler = table.style.format(formats, na_rep="—")
    signed = [columns[c] for c in (*money, *pct, *pts) if c in columns and c not in neutral]
    if signed:
        styler = styler.map(_red_if_negative, subset=signed)
    if status and status in columns:
        by_label = {STATUS_LABELS[k]: colour for k, colour in STATUS_COLOURS.items()}
        styler = styler.map(
            lambda v: f"color: {by_label[v]}; font-weight: 600" if v in by_label else "", subset=[columns[status]]
        )
    return styler


STYLED_ROWS = 2_000  # past this, a Styler costs seconds per run: plain column formats instead


def plain(frame: pl.DataFrame, columns: Mapping[str, str], formats: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """A large table for `st.column_config` formats: money as float dollars, for display only."""
    money = set(formats.get("money", ()))
    return frame.select((pl.col(c) / 1_000_000).alias(c) if c in money else pl.col(c) for c in columns)


def plain_config(columns: Mapping[str, str], formats: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Labels and number formats of a large table (no colours)."""
    config: dict[str, Any] = {c: st.column_config.Column(label) for c, label in columns.items()}
    for c in formats.get("money", ()):
        config[c] = st.column_config.NumberColumn(columns[c], format="dollar")
    for c in formats.get("pct", ()):
        config[c] = st.column_config.NumberColumn(columns[c], format="percent")
    for c in formats.get("pts", ()):
        config[c] = st.column_config.NumberColumn(columns[c], format="%+.0f pts")
    for c in (*formats.get("counts", ()), *formats.get("ratios", ())):
        config[c] = st.column_config.NumberColumn(columns[c], format="localized")
    return config


def show(
    frame: pl.DataFrame,
    *,
    key: str,
    csv: str,
    file_name: str,
    columns: Mapping[str, str],
    height: int = 400,
    empty: str = "Nothing to show for this period.",
    **formats: Any,
) -> None:
    """Draw the table and, under it, the CSV download of the same rows (CLI columns and number format)."""
    if frame.is_empty():
        st.caption(empty)
    else:
        st.dataframe(
            styled(frame, columns=columns, **formats)
            if frame.height <= STYLED_ROWS
            else plain(frame, columns, formats),
            column_config=None if frame.height <= STYLED_ROWS else plain_config(columns, formats),
            hide_index=True,
            height="auto" if frame.height <= 12 else height,
            key=key,
            placeholder="—",
        )
    st.download_button(
        "Download CSV",
        csv,
        file_name=file_name,
        mime="text/csv",
        on_click="ignore",
        key=f"{key}_csv",
        icon=":material/download:",
    )

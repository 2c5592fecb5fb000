"""Notes that travel with the figures they qualify: models counted at $0, and how much of each provider
key's traffic the request events cover (rules §4.1, §4.2 step 3)."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from margin_core import app_actions
from pages import _data, _tables


def unpriced_note(version: int, start: date, end: date) -> None:
    """A warning naming every model without a price whose tokens this period's cost counts at $0."""
    lines = _data.unpriced_notes(version, start, end)
    if lines:
        st.warning(
            "These figures count models without a price at $0; add a price override in Settings:\n\n"
            + "\n".join(f"- {line}" for line in lines),
            icon=":material/warning:",
        )


def coverage_table(version: int, start: date, end: date, *, key: str) -> None:
    """Per provider key: its tokens, the part request events cover and the share (least covered first)."""
    table = _data.coverage(version, start, end)
    names = _data.customer_list(version).select("customer_id", pl.col("name").alias("customer_name"))
    shown = table.join(names, on="customer_id", how="left").with_columns(
        pl.when(pl.col("api_key_id") == "").then(pl.lit("(no key)")).otherwise(pl.col("api_key_id")).alias("key"),
        pl.when(pl.col("customer_id").is_null())
        .then(pl.lit("not mapped: the rest is unattributed"))
        .otherwise(pl.coalesce(pl.col("customer_name").replace("", None), "customer_id"))
        .alias("mapped_to"),
        # whole percents, never rounded up to 100% while a token is uncovered
        pl.when(pl.col("row_tokens") > 0)
        .then((pl.col("covered_tokens") * 100 // pl.col("row_tokens")) / 100)
        .alias("coverage_shown"),
    )
    _tables.show(
        shown,
        key=key,
        csv=app_actions.csv_text(table),
        file_name=f"event_coverage_{start}_{end}.csv",
        empty="No provider usage in this period.",
        columns={
            "provider": "Provider",
            "key": "API key",
            "key_label": "Name",
            "mapped_to": "Mapped to",
            "row_tokens": "Tokens billed",
            "covered_tokens": "Tokens in events",
            "coverage_shown": "Coverage",
        },
        counts=["row_tokens", "covered_tokens"],
        pct=["coverage_shown"],
        neutral=["coverage_shown"],
    )

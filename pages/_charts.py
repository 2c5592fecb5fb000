"""Altair builders: (pl.DataFrame) -> alt.Chart, no Streamlit calls. Money arrives in micro-dollars and
becomes float dollars here, for drawing only. Status colours are the same on every chart."""

from __future__ import annotations

import altair as alt
import polars as pl
from altair.utils.schemapi import UndefinedType

from margin_core import insights
from margin_core.vocabulary import UNATTRIBUTED

STATUS_DOMAIN = ["profitable", "break_even", "unprofitable"]
STATUS_RANGE = ["#2e7d32", "#f59e0b", "#d32f2f"]
STATUS_LABELS = {"profitable": "Profitable", "break_even": "Break-even", "unprofitable": "Unprofitable"}
SERIES_DOMAIN = ["Revenue", "LLM cost"]
SERIES_RANGE = ["#2563eb", "#f97316"]
MONEY = "$,.0f"
PCT = ".0%"
PROVIDER_DOMAIN = ["openai", "anthropic", "openrouter", "other"]
PROVIDER_RANGE = ["#0ea5e9", "#8b5cf6", "#475569", "#94a3b8"]
TOKEN_RANGE = ["#1d4ed8", "#93c5fd", "#7c3aed", "#14b8a6"]
LABELS = 280  # px of axis label before it is cut
TOKEN_TYPES = {
    "input_tokens": "Input",
    "cached_input_tokens": "Cached input",
    "cache_write_tokens": "Cache write",
    "output_tokens": "Output",
}


def _status_color(title: str = "Status") -> alt.Color:
    return alt.Color(
        "status:N",
        title=title,
        scale=alt.Scale(domain=STATUS_DOMAIN, range=STATUS_RANGE),
        legend=alt.Legend(orient="bottom", labelExpr=_label_expr(STATUS_LABELS)),
    )


def _label_expr(labels: dict[str, str]) -> str:
    cases = " : ".join(f"datum.label == '{key}' ? '{value}'" for key, value in labels.items())
    return f"{cases} : datum.label"


def _time_x(frame: pl.DataFrame, column: str, *, title: str) -> tuple[pl.DataFrame, alt.X]:
    """The period axis: up to 16 periods one labelled band each ("Oct 26"), more as a UTC date scale (days
    stay days whatever the browser's time zone). Returns the frame with its label column and the encoding."""
    periods = frame[column].unique().sort()
    if periods.len() <= 16:
        labelled = frame.with_columns(pl.col(column).dt.strftime("%b %-d").alias("period_label"))
        order = [f"{d:%b} {d.day}" for d in periods.to_list()]
        return labelled, alt.X("period_label:O", title=title, sort=order, axis=alt.Axis(labelAngle=0))
    return frame, alt.X(f"utcyearmonthdate({column}):T", title=title, axis=alt.Axis(format="%b %-d", labelOverlap=True))


def _date_tip(column: str, title: str) -> alt.Tooltip:
    return alt.Tooltip(f"utcyearmonthdate({column}):T", title=title, format="%a %b %-d, %Y")


def _dollars(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """`x_micros` → `x_usd` floats (drawing only)."""
    return frame.with_columns((pl.col(c) / 1_000_000).alias(c.replace("_micros", "_usd")) for c in columns)


def margin_over_time(series: pl.DataFrame, *, title: str = "Revenue, LLM cost and gross margin") -> alt.LayerChart:
    """Revenue and cost lines (left axis) with gross margin % points coloured by status (right axis)."""
    data, x = _time_x(
        _dollars(series, "revenue_micros", "cost_micros", "margin_micros"), "period_start", title="Period"
    )
    keep = ["period_start", "margin_pct", "status", *(["period_label"] if "period_label" in data.columns else [])]
    long = data.unpivot(
        index=keep,
        on=["revenue_usd", "cost_usd"],
        variable_name="series",
        value_name="usd",
    ).with_columns(pl.col("series").replace({"revenue_usd": "Revenue", "cost_usd": "LLM cost"}))
    base = alt.Chart(long, title=title).encode(x=x)
    money = base.mark_line(point=True, strokeWidth=2).encode(
        y=alt.Y("usd:Q", title="US dollars", axis=alt.Axis(format=MONEY)),
        color=alt.Color(
            "series:N",
            title=None,
            scale=alt.Scale(domain=SERIES_DOMAIN, range=SERIES_RANGE),
            legend=alt.Legend(orient="top"),
        ),
        tooltip=[
            _date_tip("period_start", "Period"),
            alt.Tooltip("series:N", title="Series"),
            alt.Tooltip("usd:Q", title="Amount", format=MONEY),
        ],
    )
    pct = (
        alt.Chart(data.filter(pl.col("margin_pct").is_not_null()))
        .mark_point(filled=True, size=60, shape="diamond")
        .encode(
            x=x,
            y=alt.Y("margin_pct:Q", title="Gross margin %", axis=alt.Axis(format=PCT, orient="right")),
            color=_status_color("Margin status"),
            tooltip=[
                _date_tip("period_start", "Period"),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("cost_usd:Q", title="LLM cost", format=MONEY),
                alt.Tooltip("margin_usd:Q", title="Gross margin", format=MONEY),
                alt.Tooltip("margin_pct:Q", title="Gross margin %", format=PCT),
                alt.Tooltip("status:N", title="Status"),
            ],
        )
    )
    return alt.layer(money, pct).resolve_scale(y="independent", color="independent").properties(height=430)


def status_counts(counts: dict[str, int], *, title: str = "Customers by status") -> alt.Chart:
    """Horizontal bars: how many customers are profitable, break-even, unprofitable."""
    frame = pl.DataFrame(
        {"status": STATUS_DOMAIN, "customers": [counts.get(s, 0) for s in STATUS_DOMAIN]},
    ).with_columns(pl.col("status").replace(STATUS_LABELS).alias("label"))
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("customers:Q", title="Customers", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("label:N", title=None, sort=[STATUS_LABELS[s] for s in STATUS_DOMAIN]),
            color=alt.Color("status:N", scale=alt.Scale(domain=STATUS_DOMAIN, range=STATUS_RANGE), legend=None),
            tooltip=[alt.Tooltip("label:N", title="Status"), alt.Tooltip("customers:Q", title="Customers")],
        )
        .properties(height=190)
    )


def diverging_margins(frame: pl.DataFrame, *, value: str, title: str) -> alt.LayerChart | alt.FacetChart:
    """Margin in dollars per value of a dimension, left of zero in red, right in green (by status)."""
    data = _dollars(frame, "revenue_micros", "cost_micros", "margin_micros").with_columns(
        pl.col(value).cast(pl.String).alias("value")
    )
    order = data.sort("margin_usd", descending=True)["value"].to_list()
    bars = (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=alt.X("margin_usd:Q", title="Gross margin (US dollars)", axis=alt.Axis(format=MONEY)),
            y=alt.Y(
                "value:N", title=value.replace("_", " ").capitalize(), sort=order, axis=alt.Axis(labelLimit=LABELS)
            ),
            color=_status_color(),
            tooltip=[
                alt.Tooltip("value:N", title=value.capitalize()),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("cost_usd:Q", title="LLM cost", format=MONEY),
                alt.Tooltip("margin_usd:Q", title="Gross margin", format=MONEY),
                alt.Tooltip("margin_pct:Q", title="Gross margin %", format=PCT),
                alt.Tooltip("status:N", title="Status"),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"x": [0]})).mark_rule(color="#6b7280").encode(x="x:Q")
    return alt.layer(bars, zero).properties(height=140 + 26 * len(order))


def cost_by_day(frame: pl.DataFrame, *, by: str, title: str) -> alt.Chart:
    """Stacked daily LLM cost coloured by `by` (provider or model)."""
    data, x = _time_x(
        _dollars(frame.group_by("day", by).agg(pl.col("cost_micros").sum()), "cost_micros"), "day", title="Day"
    )
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("sum(cost_usd):Q", title="LLM cost (US dollars)", axis=alt.Axis(format=MONEY)),
            color=alt.Color(
                f"{by}:N",
                title=by.capitalize(),
                legend=alt.Legend(orient="bottom", columns=4, labelLimit=LABELS),
                scale=alt.Scale(domain=PROVIDER_DOMAIN, range=PROVIDER_RANGE)
                if by == "provider"
                else alt.Scale(scheme="tableau10"),
            ),
            tooltip=[
                _date_tip("day", "Day"),
                alt.Tooltip(f"{by}:N", title=by.capitalize()),
                alt.Tooltip("cost_usd:Q", title="LLM cost", format="$,.2f"),
            ],
        )
        .properties(height=440)
    )


def tokens_by_type(frame: pl.DataFrame, *, title: str = "Tokens by type and model") -> alt.Chart:
    """Horizontal stacked bars: each model's input, cached input, cache write and output tokens."""
    long = frame.unpivot(index=["provider", "model"], on=list(TOKEN_TYPES), variable_name="type", value_name="n")
    long = long.with_columns(pl.col("type").replace(TOKEN_TYPES))
    order = frame.sort("tokens", descending=True)["model"].to_list()
    return (
        alt.Chart(long, title=title)
        .mark_bar()
        .encode(
            x=alt.X("n:Q", title="Tokens", axis=alt.Axis(format="~s")),
            y=alt.Y("model:N", title="Model", sort=order, axis=alt.Axis(labelLimit=LABELS)),
            color=alt.Color(
                "type:N",
                title="Token type",
                scale=alt.Scale(domain=list(TOKEN_TYPES.values()), range=TOKEN_RANGE),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("provider:N", title="Provider"),
                alt.Tooltip("model:N", title="Model"),
                alt.Tooltip("type:N", title="Token type"),
                alt.Tooltip("n:Q", title="Tokens", format=","),
            ],
        )
        .properties(height=150 + 26 * len(order))
    )


def reported_vs_estimated(frame: pl.DataFrame, *, title: str = "Billed (reported) vs estimated cost") -> alt.Chart:
    """Stacked daily cost: what providers reported and what Margin priced itself."""
    daily = frame.group_by("day").agg(pl.col("reported_micros").sum(), pl.col("estimated_micros").sum())
    long = (
        _dollars(daily, "reported_micros", "estimated_micros")
        .unpivot(index="day", on=["reported_usd", "estimated_usd"], variable_name="source", value_name="usd")
        .with_columns(pl.col("source").replace({"reported_usd": "Reported", "estimated_usd": "Estimated"}))
    )
    long, x = _time_x(long, "day", title="Day")
    return (
        alt.Chart(long, title=title)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("usd:Q", title="LLM cost (US dollars)", axis=alt.Axis(format=MONEY), stack=True),
            color=alt.Color(
                "source:N",
                title="Cost source",
                scale=alt.Scale(domain=["Reported", "Estimated"], range=["#475569", "#a78bfa"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                _date_tip("day", "Day"),
                alt.Tooltip("source:N", title="Cost source"),
                alt.Tooltip("usd:Q", title="LLM cost", format="$,.2f"),
            ],
        )
        .properties(height=150 + 26 * 10)
    )


SPLIT_MEASURES = {
    "margin_pct": ("Gross margin %", PCT),
    "cost_usd": ("LLM cost (US dollars)", MONEY),
    "revenue_usd": ("Revenue (US dollars)", MONEY),
    "margin_usd": ("Gross margin (US dollars)", MONEY),
}


def split_over_time(frame: pl.DataFrame, *, measure: str, by: str, title: str) -> alt.Chart:
    """One line per value of the split dimension."""
    label, fmt = SPLIT_MEASURES[measure]
    data, x = _time_x(_dollars(frame, "revenue_micros", "cost_micros", "margin_micros"), "period_start", title="Period")
    scale: alt.Scale | UndefinedType = alt.Undefined
    if measure == "margin_pct":  # a −1,500% loss-maker would flatten every other line: clip at ±100%
        scale = alt.Scale(domain=[-1, 1], clamp=True)
    return (
        alt.Chart(data, title=title)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y(f"{measure}:Q", title=label, axis=alt.Axis(format=fmt), scale=scale),
            color=alt.Color(
                "value:N",
                title=by.capitalize(),
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=LABELS),
                scale=alt.Scale(scheme="tableau10"),
            ),
            tooltip=[
                _date_tip("period_start", "Period"),
                alt.Tooltip("value:N", title=by.capitalize()),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("cost_usd:Q", title="LLM cost", format=MONEY),
                alt.Tooltip("margin_pct:Q", title="Gross margin %", format=PCT),
            ],
        )
        .properties(height=460)
    )


def profile_vs_average(frame: pl.DataFrame, *, by: str, name: str, title: str) -> alt.LayerChart | alt.FacetChart:
    """This customer's LLM cost per `by` value (bars) against the average customer's (black ticks)."""
    data = frame.select(
        pl.col(by).alias("value"),
        (pl.col("cost_micros") / 1_000_000).alias("cost_usd"),
        (pl.col("avg_cost_micros") / 1_000_000).alias("avg_usd"),
        "cost_vs_average",
    )
    order = data.sort("cost_usd", descending=True)["value"].to_list()
    tooltip = [
        alt.Tooltip("value:N", title=by.capitalize()),
        alt.Tooltip("cost_usd:Q", title=name, format="$,.2f"),
        alt.Tooltip("avg_usd:Q", title="Average customer", format="$,.2f"),
        alt.Tooltip("cost_vs_average:Q", title="× average", format=",.1f"),
    ]
    y = alt.Y("value:N", title=by.capitalize(), sort=order, axis=alt.Axis(labelLimit=LABELS))
    bars = (
        alt.Chart(data, title=title)
        .mark_bar(color="#f97316")
        .encode(y=y, x=alt.X("cost_usd:Q", title="LLM cost (US dollars)", axis=alt.Axis(format=MONEY)), tooltip=tooltip)
    )
    ticks = (
        alt.Chart(data)
        .mark_tick(color="#111827", thickness=3, size=22)
        .encode(y=y, x=alt.X("avg_usd:Q"), tooltip=tooltip)
    )
    return alt.layer(bars, ticks).properties(height=110 + 32 * len(order))


def unattributed_bars(frame: pl.DataFrame, *, title: str = "Unattributed spend by key, project or user") -> alt.Chart:
    """Horizontal bars of unattributed cost per (provider, value), largest first."""
    data = _dollars(frame, "cost_micros").with_columns(
        pl.concat_str(pl.col("provider"), pl.lit(" · "), pl.col("value")).alias("label")
    )
    order = data.sort("cost_usd", descending=True)["label"].to_list()
    return (
        alt.Chart(data, title=title)
        .mark_bar(color="#d32f2f")
        .encode(
            x=alt.X("cost_usd:Q", title="Unattributed cost (US dollars)", axis=alt.Axis(format=MONEY)),
            y=alt.Y("label:N", title="Provider · key, project or user", sort=order, axis=alt.Axis(labelLimit=LABELS)),
            tooltip=[
                alt.Tooltip("provider:N", title="Provider"),
                alt.Tooltip("dimension:N", title="Dimension"),
                alt.Tooltip("value:N", title="Value"),
                alt.Tooltip("cost_usd:Q", title="Cost", format="$,.2f"),
                alt.Tooltip("requests:Q", title="Requests", format=","),
            ],
        )
        .properties(height=130 + 30 * len(order))
    )


# --- investor view and customer page -------------------------------------------------------------------

PATTERN_LABELS = {
    "power": "Power (top 10%)",
    "regular": "Regular",
    "light": "Light (bottom 50%)",
    "none": "No tokens",
    UNATTRIBUTED: UNATTRIBUTED,
}


def value_bars(
    frame: pl.DataFrame,
    *,
    value: str,
    measure: str,
    title: str,
    axis_title: str,
    fmt: str = PCT,
    color: str = "#2563eb",
    upper: float | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """Horizontal bars of one measure per value, in the frame's order, each labelled with its figure; the
    axis leaves room for the labels (`upper` fixes the right end, e.g. 1.0 for shares)."""
    data = frame.select(pl.col(value).cast(pl.String).alias("value"), pl.col(measure).alias("measure")).filter(
        pl.col("measure").is_not_null()
    )
    order = data["value"].to_list()
    values = [v for v in data["measure"].to_list() if v is not None]
    low, high = min([0.0, *values]), max([0.0, *values, *([upper] if upper is not None else [])])
    span = (high - low) or 1.0
    domain = [low - 0.22 * span if low < 0 else 0.0, high + 0.16 * span]
    y = alt.Y("value:N", title=None, sort=order, axis=alt.Axis(labelLimit=LABELS, labelFontSize=13, labelOverlap=False))
    bars = (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            color=alt.condition("datum.measure < 0", alt.value("#d32f2f"), alt.value(color)),
            x=alt.X(
                "measure:Q",
                title=axis_title,
                axis=alt.Axis(format=fmt, tickCount=5),
                scale=alt.Scale(domain=domain, nice=False),
            ),
            y=y,
            tooltip=[alt.Tooltip("value:N", title="Value"), alt.Tooltip("measure:Q", title=axis_title, format=fmt)],
        )
    )
    text = alt.Text("measure:Q", format=fmt)
    right = (  # labels past the end of each bar: right of positive bars, left of negative ones
        alt.Chart(data.filter(pl.col("measure") >= 0))
        .mark_text(align="left", dx=4, fontSize=13, fontWeight="bold")
        .encode(x="measure:Q", y=y, text=text)
    )
    left = (
        alt.Chart(data.filter(pl.col("measure") < 0))
        .mark_text(align="right", dx=-4, fontSize=13, fontWeight="bold")
        .encode(x="measure:Q", y=y, text=text)
    )
    zero = alt.Chart(pl.DataFrame({"x": [0]})).mark_rule(color="#6b7280").encode(x="x:Q")
    return alt.layer(bars, right, left, zero).properties(height=alt.Step(44))


def monthly_margin(months: pl.DataFrame, *, title: str = "Gross margin by month") -> alt.LayerChart | alt.FacetChart:
    """Gross margin % per month (bars by status), labelled with the change in points from the month before."""
    data = months.filter(pl.col("margin_pct").is_not_null()).with_columns(
        pl.col("period_start").dt.strftime("%b %Y").alias("month")
    )
    labels_text = [
        insights.pct_text(p) + ("" if c is None else f" ({insights.pts_text(c)})")
        for p, c in zip(data["margin_pct"].to_list(), data["change_pts"].to_list(), strict=True)
    ]
    data = data.with_columns(pl.Series("label", labels_text, dtype=pl.String))
    order = data["month"].to_list()
    x = alt.X("month:N", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelFontSize=13))
    bars = (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("margin_pct:Q", title="Gross margin %", axis=alt.Axis(format=PCT)),
            color=_status_color(),
            tooltip=[
                alt.Tooltip("month:N", title="Month"),
                alt.Tooltip("margin_pct:Q", title="Gross margin %", format=".1%"),
                alt.Tooltip("change_pts:Q", title="Change (pts)", format="+.1f"),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-8, fontSize=13, fontWeight="bold")
        .encode(x=x, y=alt.Y("margin_pct:Q"), text="label:N")
    )
    return alt.layer(bars, labels).properties(height=320)


def cost_per_million(
    months: pl.DataFrame, *, title: str = "LLM cost per million tokens, by month"
) -> alt.LayerChart | alt.FacetChart:
    """Dollars per million tokens per month, labelled."""
    data = months.filter(pl.col("cost_per_mtok_usd").is_not_null()).with_columns(
        pl.col("period_start").dt.strftime("%b %Y").alias("month")
    )
    order = data["month"].to_list()
    x = alt.X("month:N", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelFontSize=13))
    bars = (
        alt.Chart(data, title=title)
        .mark_bar(color="#f97316")
        .encode(
            x=x,
            y=alt.Y("cost_per_mtok_usd:Q", title="US dollars per million tokens", axis=alt.Axis(format="$,.2f")),
            tooltip=[
                alt.Tooltip("month:N", title="Month"),
                alt.Tooltip("cost_per_mtok_usd:Q", title="$ per million tokens", format="$,.2f"),
                alt.Tooltip("tokens:Q", title="Tokens", format=","),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-8, fontSize=13, fontWeight="bold")
        .encode(x=x, y="cost_per_mtok_usd:Q", text=alt.Text("cost_per_mtok_usd:Q", format="$,.2f"))
    )
    return alt.layer(bars, labels).properties(height=320)


def concentration(found: dict[str, object], *, title: str) -> alt.LayerChart | alt.FacetChart:
    """The top customers' shares of tokens, LLM cost and revenue as labelled bars."""
    data = pl.DataFrame(
        {
            "measure": ["Tokens", "LLM cost", "Revenue"],
            "share": [found.get("token_share"), found.get("cost_share"), found.get("revenue_share")],
        },
        schema={"measure": pl.String, "share": pl.Float64},
    )
    return value_bars(
        data, value="measure", measure="share", title=title, axis_title="Share of the total", color="#7c3aed", upper=1.0
    )


def png(chart: alt.TopLevelMixin, *, width: int = 720) -> bytes:
    """The chart as PNG bytes (Altair's `save` through vl-convert), at a fixed width for a document."""
    import io

    buffer = io.BytesIO()
    chart.properties(width=width).save(buffer, format="png", scale_factor=2)
    return buffer.getvalue()

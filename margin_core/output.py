"""CSV and JSON text of report frames (rules §4.8): two-decimal money, four-decimal margin_pct."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import polars as pl

from margin_core import reports
from margin_core.engine import revenue
from margin_core.vocabulary import ReportKind
from margin_core.workspace import Workspace

# OWASP's rule against CSV formula injection (rules §5): a text cell a spreadsheet would read as a formula.
_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"  # printed money and counts, "-12.34": left as they are


def to_csv(frame: pl.DataFrame) -> str:
    """CSV with a header; null is the empty field. The one CSV writer of the CLI and the app.

    A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so no
    spreadsheet runs it (customer names come from outside); numbers, printed or not, are never changed.
    """
    return defuse_formulas(frame).write_csv()


def defuse_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with rules §5's formula-injection rule applied to its text columns."""
    text = [name for name, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical) or dtype == pl.Enum]
    if not text:
        return frame
    return frame.with_columns(_defused(pl.col(name).cast(pl.String)).alias(name) for name in text)


def _defused(cell: pl.Expr) -> pl.Expr:
    risky = cell.str.contains(_FORMULA_START) & ~cell.str.contains(_PLAIN_NUMBER)
    return pl.when(risky).then(pl.lit("'") + cell).otherwise(cell)


def to_json(frame: pl.DataFrame) -> str:
    """A JSON list of objects with the CSV's column names; numbers keep their printed decimals."""
    objects = []
    for row in frame.iter_rows(named=True):
        fields = []
        for name, value in row.items():
            fields.append(f"{json.dumps(name)}: {_json_value(name, value)}")
        objects.append("{" + ", ".join(fields) + "}")
    return "[" + ",\n ".join(objects) + "]\n"


def _json_value(name: str, value: object) -> str:
    if value is None:
        return "null"
    if name.endswith("_usd") or name in ("margin_pct", "change_pct"):
        return str(value)  # exact decimal text from usd / pct4 (below): a JSON number as printed
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def unconverted_warnings(workspace: Workspace, *, start: date, end: date) -> Iterator[str]:
    """One line per revenue item in the range that has no exchange rate (rules §4.3)."""
    missing = revenue.unconverted(workspace.revenue.lazy(), start=start, end=end).collect()
    for customer_id, source_id, amount, code in missing.iter_rows():
        yield (
            f"no exchange rate for {code.upper()}: {source_id} of {customer_id} ({amount} minor units) adds 0 to "
            f"revenue_usd; set a rate with `import rates` or on the Settings page"
        )


# --- printing: exact text of money and margins (moved from reports.py: one home for printing) ---------


def usd(micros: pl.Expr) -> pl.Expr:
    """Micro-dollars as dollar text with two decimals, rounded half-up (away from zero): exact."""
    cents = (micros.abs().cast(pl.Int64) + 5_000) // 10_000
    sign = pl.when((micros < 0) & (cents > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2))


def pct4(margin_micros: pl.Expr, revenue_micros: pl.Expr) -> pl.Expr:
    """margin / revenue as text with four decimals, rounded half-up (away from zero) from the exact
    integers, never from a float; null where revenue ≤ 0 (rules §4.4, §4.8)."""
    margin, revenue = margin_micros.cast(pl.Int128), revenue_micros.cast(pl.Int128)
    scaled = ((margin.abs() * 20_000 + revenue) // (revenue * 2)).cast(pl.Int64)  # |m|/r × 10^4, half up
    return pl.when(revenue > 0).then(_fraction_text(scaled, negative=margin < 0)).otherwise(None)


def _fraction_text(scaled: pl.Expr, *, negative: pl.Expr) -> pl.Expr:
    """Ten-thousandths (non-negative integers) as "0.1234", with a minus sign where negative and non-zero."""
    sign = pl.when(negative & (scaled > 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        sign, (scaled // 10_000).cast(pl.String), pl.lit("."), (scaled % 10_000).cast(pl.String).str.zfill(4)
    )


def printable(frame: pl.DataFrame) -> pl.DataFrame:
    """Money and percentages as printed text: each `*_micros` as `*_usd` (two decimals) in its place and
    margin_pct with four decimals, both rounded half-up only here (rules §4.8)."""
    converted = frame.with_columns(
        usd(pl.col(c)).alias(c.replace("_micros", "_usd")) for c in frame.columns if c.endswith("_micros")
    )
    if "margin_pct" in frame.columns:
        if {"margin_micros", "revenue_micros"} <= set(frame.columns):
            pct = pct4(pl.col("margin_micros"), pl.col("revenue_micros"))
        else:  # a derived frame without the integers: from the float, half away from zero
            scaled = (pl.col("margin_pct").abs() * 10_000).round(0, mode="half_away_from_zero").cast(pl.Int64)
            pct = _fraction_text(scaled, negative=pl.col("margin_pct") < 0)
        converted = converted.with_columns(pct.alias("margin_pct"))
    return converted.select(c.replace("_micros", "_usd") for c in frame.columns)


def to_cli_frame(frame: pl.DataFrame, kind: ReportKind) -> pl.DataFrame:
    """The report's CLI columns: USD as exact 2-decimal text, margin_pct as exact 4-decimal text."""
    if kind == "alerts":
        from margin_core import alerting

        return alerting.to_cli_frame(frame)
    converted = printable(frame).rename({"estimated_usd": "estimated_cost_usd"}, strict=False)
    if "revenue_usd" in reports.COLUMNS[kind] and "revenue_usd" not in converted.columns:
        converted = converted.with_columns(pl.lit("0.00").alias("revenue_usd"))
    return converted.select(reports.COLUMNS[kind])

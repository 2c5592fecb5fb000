"""CSV and JSON text of report frames (DESIGN §4.8): two-decimal money, four-decimal margin_pct."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import polars as pl

from margin_core.engine import revenue
from margin_core.workspace import Workspace

# OWASP's rule against CSV formula injection (DESIGN §5): a text cell a spreadsheet would read as a formula.
_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"  # printed money and counts, "-12.34": left as they are


def to_csv(frame: pl.DataFrame) -> str:
    """CSV with a header; null is the empty field. The one CSV writer of the CLI and the app.

    A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so no
    spreadsheet runs it (customer names come from outside); numbers, printed or not, are never changed.
    """
    return defuse_formulas(frame).write_csv()


def defuse_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with DESIGN §5's formula-injection rule applied to its text columns."""
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
        return str(value)  # exact decimal text from reports.usd / pct4: a JSON number as printed
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def unconverted_warnings(workspace: Workspace, *, start: date, end: date) -> Iterator[str]:
    """One line per revenue item in the range that has no exchange rate (DESIGN §4.3)."""
    missing = revenue.unconverted(workspace.revenue.lazy(), start=start, end=end).collect()
    for customer_id, source_id, amount, code in missing.iter_rows():
        yield (
            f"no exchange rate for {code.upper()}: {source_id} of {customer_id} ({amount} minor units) adds 0 to "
            f"revenue_usd; set a rate with `import rates` or on the Settings page"
        )

"""CSV and JSON text of report frames (DESIGN §4.8): two-decimal money, four-decimal margin_pct."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import polars as pl

from margin_core.engine import revenue
from margin_core.workspace import Workspace


def to_csv(frame: pl.DataFrame) -> str:
    """CSV with a header; null is the empty field."""
    return frame.write_csv()


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

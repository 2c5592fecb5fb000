"""CSV of what a page shows, in the CLI's number format, and the full export of every report."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from margin_core import reports
from margin_core.workspace import Workspace


def csv_text(frame: pl.DataFrame, *, kind: reports.ReportKind | None = None) -> str:
    """CSV of a shown frame: a report kind's exact CLI columns, else its own columns printed like them."""
    from margin_core import output

    shaped = output.to_cli_frame(frame, kind) if kind else output.printable(frame)
    return output.to_csv(shaped)


def full_export(workspace: Workspace, *, start: date, end: date) -> dict[str, str]:
    """Every report of rules §5 for the range as CSV text, by file name."""
    return {
        f"{kind}_{start}_{end - timedelta(days=1)}.csv": csv_text(
            reports.report(workspace, kind, start=start, end=end), kind=kind
        )
        for kind in reports.REPORT_KINDS
    }

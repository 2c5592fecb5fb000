"""Provider dashboard exports imported together: reported dollars split over usage rows, as a sync does."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from margin_core.__main__ import main
from margin_core.store import repo
from margin_core.store.db import make_engine
from tests.connectors.test_provider_exports import OPENAI_COSTS, OPENAI_USAGE


def test_openai_usage_and_cost_exports_reconcile_per_day_and_project(tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(OPENAI_USAGE)
    (tmp_path / "costs.csv").write_text(OPENAI_COSTS)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert (
        main(["--db", db, "import", "provider-export", str(tmp_path / "usage.csv"), str(tmp_path / "costs.csv")]) == 0
    )
    usage = repo.read_usage(make_engine(db))
    per_grain = {
        (d.isoformat(), p): c
        for d, p, c in usage.group_by("day", "project_id").agg(pl.col("cost_micros").sum()).iter_rows()
    }
    # reported grains exactly as exported; proj_B's dollars have no usage row, so they stand as `(other)`
    assert per_grain[("2025-10-05", "proj_A")] == 1_000_000
    assert per_grain[("2025-10-06", "proj_B")] == 561_771
    sources = dict(usage.select(pl.concat_str("day", "project_id", "model", separator=" "), "cost_source").iter_rows())
    assert sources == {
        "2025-10-05 proj_A gpt-4o-2024-08-06": "reported",
        "2025-10-06 proj_A gpt-5-2025-08-07": "estimated",  # no reported cost on that day and project
        "2025-10-06 proj_B (other)": "reported",
    }
    assert set(usage["source"]) == {"csv"}


def test_a_file_that_is_no_export_is_rejected_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["--db", db, "import", "provider-export", str(tmp_path / "x.csv")]) == 1
    assert "not an OpenAI or Anthropic usage/cost export" in capsys.readouterr().err
    assert repo.read_usage(make_engine(db)).is_empty()


def test_overlapping_exports_are_rejected_rather_than_counted_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.csv").write_text(OPENAI_USAGE)
    (tmp_path / "b.csv").write_text(OPENAI_USAGE)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["--db", db, "import", "provider-export", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 1
    assert "the exports overlap" in capsys.readouterr().err
    assert repo.read_usage(make_engine(db)).is_empty()

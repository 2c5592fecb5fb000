"""Printed numbers (rules §4.8): money with two decimals and margin_pct with four, half-up, from integers."""

from __future__ import annotations

import json

import polars as pl
import pytest

from margin_core import output, reports


@pytest.mark.parametrize(
    ("revenue_micros", "margin_micros", "printed"),
    [
        (200_000_000, 30_000, "0.0002"),  # 0.00015 exactly: half-up, where a float would give 0.0001
        (40_000, 5, "0.0001"),  # 0.000125
        (200_000, 29, "0.0001"),  # 0.000145: below the half, down
        (4_200_000_000, 2_310_000_000, "0.5500"),
        (200_000_000, -11_800_000_000, "-59.0000"),
        (100, -1, "-0.0100"),
        (1_000_000_000, -1, "0.0000"),  # rounds to zero: no minus sign
        (0, 5, None),
        (-10, 5, None),
    ],
)
def test_margin_pct_is_rounded_half_up_from_the_exact_fraction(
    revenue_micros: int, margin_micros: int, printed: str | None
) -> None:
    frame = pl.DataFrame({"revenue_micros": [revenue_micros], "margin_micros": [margin_micros]})
    got = frame.select(output.pct4(pl.col("margin_micros"), pl.col("revenue_micros"))).item()
    assert got == printed


def test_money_is_rounded_half_up_away_from_zero() -> None:
    frame = pl.DataFrame({"cost_micros": [5_000, 4_999, -5_000, -4_999, 123_455_000, 0]})
    assert frame.select(output.usd(pl.col("cost_micros"))).to_series().to_list() == [
        "0.01",
        "0.00",
        "-0.01",
        "0.00",
        "123.46",
        "0.00",
    ]


def test_json_keeps_the_printed_decimals() -> None:
    frame = pl.DataFrame({"tier": ["pro"], "revenue_usd": ["500.00"], "margin_pct": ["0.1740"], "requests": [3]})
    text = output.to_json(frame)
    assert '"revenue_usd": 500.00' in text
    assert '"margin_pct": 0.1740' in text
    assert json.loads(text) == [{"tier": "pro", "revenue_usd": 500.0, "margin_pct": 0.174, "requests": 3}]


def test_the_snapshot_ledger_outlives_many_ranges(tmp_path) -> None:
    from datetime import date, timedelta

    from margin_core.store.db import make_engine
    from margin_core.workspace import load_workspace

    workspace = reports.prepare(load_workspace(make_engine(f"sqlite:///{tmp_path / 'm.db'}")))
    for offset in range(40):
        start = date(2026, 1, 1) + timedelta(days=offset)
        reports.customer_margins(workspace, start=start, end=start + timedelta(days=7))
    assert ("days",) in workspace.memo
    assert len(workspace.memo) <= 16


def test_a_result_asked_for_by_several_threads_is_computed_once(tmp_path) -> None:
    import threading
    import time

    import pytest

    from margin_core.store.db import make_engine
    from margin_core.workspace import load_workspace

    workspace = load_workspace(make_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)  # the others ask meanwhile
        return 42

    found: list[int] = []
    threads = [threading.Thread(target=lambda: found.append(workspace.remember(("k",), slow))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [42] * 4 and len(calls) == 1

    def failing() -> int:
        calls.append(1)
        raise ValueError("no")

    for _ in range(2):  # an error is not kept: the next caller computes again, and sees it
        with pytest.raises(ValueError, match="no"):
            workspace.remember(("bad",), failing)
    assert len(calls) == 3

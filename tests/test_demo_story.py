"""The demo tells the product page's story (rules §1): the last full month's figures, as the CLI prints them."""

from __future__ import annotations

import csv
import io

import pytest

from margin_core.__main__ import main

TODAY = "2026-12-06"  # the demo's last full month is November 2026
MONTH = ("2026-11-01", "2026-12-01")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    assert main(["--db", db, "demo", "--today", TODAY]) == 0
    return db


def report(
    db: str, capsys: pytest.CaptureFixture[str], kind: str, start: str, end: str, *extra: str
) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["--db", db, "report", kind, "--start", start, "--end", end, *extra]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def test_last_full_month_customers(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r["customer_name"]: r for r in report(demo_db, capsys, "customers", *MONTH)}
    shown = {
        name: (rows[name]["revenue_usd"], rows[name]["cost_usd"], rows[name]["margin_usd"], rows[name]["status"])
        for name in ("Acme Corp", "StartupCo", "DataFlow Inc")
    }
    assert shown == {
        "Acme Corp": ("4200.00", "1890.00", "2310.00", "profitable"),
        "StartupCo": ("200.00", "12000.00", "-11800.00", "unprofitable"),
        "DataFlow Inc": ("500.00", "413.00", "87.00", "break_even"),
    }
    assert float(rows["(unattributed)"]["cost_usd"]) > 0  # the unmapped internal keys


def test_blended_margin_falls_from_58_to_42_percent(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    months = report(demo_db, capsys, "over-time", "2026-10-01", "2026-12-01", "--granularity", "month")
    before, last = (float(m["margin_pct"]) for m in months)
    assert before == pytest.approx(0.58, abs=0.005)
    assert last == pytest.approx(0.42, abs=0.005)
    assert (last - before) * 100 == pytest.approx(-16, abs=0.5)


def test_margin_by_model(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    models = {r["model"]: float(r["margin_pct"]) for r in report(demo_db, capsys, "models", *MONTH) if r["margin_pct"]}
    expected = {
        "claude-3-5-haiku-20241022": 0.84,
        "gpt-4o-mini-2024-07-18": 0.61,
        "gpt-4o-2024-08-06": 0.22,
        "gpt-4-turbo-2024-04-09": -0.12,
        "claude-opus-4-20250514": -0.31,
    }
    for model, margin in expected.items():
        assert models[model] == pytest.approx(margin, abs=0.01), model


def test_the_bill_spike_fires_an_alert(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    # the last full week before 2026-12-06 is Nov 23-29: OpenAI's bill clearly above Nov 16-22
    week_before = report(demo_db, capsys, "providers", "2026-11-16", "2026-11-23")
    last_week = report(demo_db, capsys, "providers", "2026-11-23", "2026-11-30")
    openai = [float(next(r for r in w if r["provider"] == "openai")["cost_usd"]) for w in (week_before, last_week)]
    assert openai[1] > 1.25 * openai[0]
    alerts = report(demo_db, capsys, "alerts", "2026-11-01", TODAY)
    spikes = {a["subject"]: a for a in alerts if a["kind"] == "cost_spike"}
    assert {"customer Cobalt Health", "feature code-review"} <= set(spikes)
    assert spikes["customer Cobalt Health"]["first_day"] >= "2026-11-23"


def test_power_users_and_an_unmapped_key(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    patterns = {r["usage_pattern"]: r for r in report(demo_db, capsys, "usage-patterns", *MONTH)}
    assert {"power", "regular", "light"} <= set(patterns)
    assert float(patterns["power"]["margin_pct"]) < float(patterns["light"]["margin_pct"])
    unattributed = report(demo_db, capsys, "unattributed", *MONTH)
    assert any(r["value"] == "key_internal_evals" for r in unattributed)

"""Alerts end to end (rules §4.9, §5): `report alerts`, the webhook after a sync, the new report kinds."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
import respx

from margin_core import alerting
from margin_core.__main__ import main
from margin_core.errors import MarginError
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.workspace import load_workspace
from tests.pages._store import build_store

TODAY = date(2026, 11, 16)
HOOK = "https://hooks.example.test/services/T000/B000"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("alerts")
    url = f"sqlite:///{folder / 'alerts.db'}"
    build_store(url, folder / "csv", today=TODAY)
    return url


def test_report_alerts_lists_the_spike_and_the_unpriced_model(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--db", store, "report", "alerts", "--start", "2026-10-01", "--end", TODAY.isoformat()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kind,subject,previous,current,change_pct,first_day"
    rows = [line.split(",") for line in lines[1:]]
    subjects = {(r[0], r[1]) for r in rows}
    assert ("cost_spike", "customer Globex") in subjects  # its gpt-4o cost is 5× over the last 7 days
    assert ("cost_spike", "model gpt-4o") not in subjects  # +$50 but not 2× the model's whole cost
    assert ("unpriced_model", "model openai/mystery-model-x") in subjects
    globex = next(r for r in rows if r[1] == "customer Globex")
    assert float(globex[4]) > 1.0 and date.fromisoformat(globex[5]) >= TODAY - timedelta(days=7)


def test_a_range_ending_before_the_spike_has_no_spike(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--db", store, "report", "alerts", "--start", "2026-10-01", "--end", "2026-11-01"]) == 0
    assert "cost_spike" not in capsys.readouterr().out


def test_webhook_posts_each_new_alert_once(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(store)
    with engine.begin() as connection:
        repo.set_setting(connection, alerting.SENT_KEY, "[]")
    monkeypatch.setenv(alerting.WEBHOOK_ENV, HOOK)
    workspace = load_workspace(engine)
    last_day = TODAY - timedelta(days=1)
    expected = alerting.evaluate(workspace, last_day=last_day).height
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
        assert alerting.notify(engine, workspace, last_day=last_day) == expected
        assert route.call_count == expected >= 2
        texts = [json.loads(call.request.content)["text"] for call in route.calls]
        assert any(t.startswith("LLM cost jumped — customer Globex: $") for t in texts)
        assert alerting.notify(engine, workspace, last_day=last_day) == 0  # remembered in settings
        assert route.call_count == expected


def test_webhook_failure_keeps_what_was_sent_and_says_so(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(store)
    with engine.begin() as connection:
        repo.set_setting(connection, alerting.SENT_KEY, "[]")
    monkeypatch.setenv(alerting.WEBHOOK_ENV, HOOK)
    workspace = load_workspace(engine)
    last_day = TODAY - timedelta(days=1)
    with respx.mock() as mock:
        mock.post(HOOK).mock(side_effect=[httpx.Response(200), httpx.Response(500)])
        with pytest.raises(MarginError, match="1 alert"):
            alerting.notify(engine, workspace, last_day=last_day)
    with engine.connect() as connection:
        assert len(json.loads(repo.read_settings(connection)[alerting.SENT_KEY])) == 1


def test_no_webhook_without_the_setting(store: str) -> None:
    engine = make_engine(store)
    with respx.mock(assert_all_mocked=True):
        assert alerting.notify(engine, load_workspace(engine), last_day=TODAY) == 0


def test_usage_patterns_report_and_granularity_override(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--db", store, "report", "usage-patterns", "--start", "2026-10-01", "--end", "2026-11-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "usage_pattern,revenue_usd,cost_usd,margin_usd,margin_pct,requests,tokens"
    # six customers with tokens: 1 power, 3 light, 2 regular, and the unattributed row
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["(unattributed)", "light", "power", "regular"]
    args = ["--db", store, "report", "over-time", "--start", "2026-10-01", "--end", "2026-11-01"]
    assert main([*args, "--granularity", "week"]) == 0
    weeks = capsys.readouterr().out.splitlines()[1:]
    assert len(weeks) == 5 and all(",week," in w for w in weeks)
    assert main([*args, "--granularity", "month", "--format", "json"]) == 0
    assert '"granularity": "month"' in capsys.readouterr().out
    assert (
        main(["--db", store, "report", "tiers", "--start", "2026-10-01", "--end", "2026-11-01", "--granularity", "day"])
        == 2
    )


def test_after_a_sync_new_alerts_go_to_the_webhook(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(store)
    with engine.begin() as connection:
        repo.set_setting(connection, alerting.SENT_KEY, "[]")
    assert alerting.notify_after_sync(engine, today=TODAY) == 0  # no webhook set: nothing leaves the machine
    monkeypatch.setenv(alerting.WEBHOOK_ENV, HOOK)
    with respx.mock() as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(204))
        sent = alerting.notify_after_sync(engine, today=TODAY)
        assert sent == route.call_count >= 2
        assert all(set(json.loads(c.request.content)) == {"text"} for c in route.calls)


def test_alerts_as_json_keep_change_pct_a_number(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    args = ["--db", store, "report", "alerts", "--start", "2026-10-01", "--end", TODAY.isoformat(), "--format", "json"]
    assert main(args) == 0
    alerts = json.loads(capsys.readouterr().out)
    spike = next(a for a in alerts if a["subject"] == "customer Globex")
    assert isinstance(spike["change_pct"], float) and spike["change_pct"] > 1
    assert set(spike) == {"kind", "subject", "previous", "current", "change_pct", "first_day"}
    assert next(a for a in alerts if a["kind"] == "unpriced_model")["change_pct"] is None

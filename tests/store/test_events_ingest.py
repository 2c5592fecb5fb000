"""Event ingest: de-duplicated by event_id, rolled up without changing any sum, the store version bumped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from connectors.records import EventRecord
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.store.events import ingest_events


def _event(i: int, **overrides) -> EventRecord:
    fields = {
        "event_id": f"evt_{i}",
        "ts": datetime(2026, 3, 1, 23, 59, tzinfo=UTC) + timedelta(minutes=i),
        "customer_id": "acme",
        "feature": "chat",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 10 * i,
        "output_tokens": i,
        "metadata": {"plan": "pro", "env": "prod"},
    }
    return EventRecord(**{**fields, **overrides})


def test_events_roll_up_by_day_and_key_and_are_never_counted_twice(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    batch = [_event(i) for i in range(1, 4)] + [
        _event(9, cost_usd=Decimal("0.0000015"), metadata={"env": "prod", "plan": "pro"})
    ]
    version = repo.data_version(engine)
    assert ingest_events(engine, batch) == 4
    assert repo.data_version(engine) == version + 1
    assert ingest_events(engine, [*batch, _event(4)]) == 1  # only the new one
    rows = repo.read_events(engine).sort("day", "has_cost")
    got = rows.select("day", "has_cost", "requests", "input_tokens", "output_tokens", "cost_micros").rows()
    assert set(rows["day"]) == {date(2026, 3, 2)}  # 23:59 UTC plus a minute or more: the UTC day after
    assert sum(r[2] for r in got) == 5
    assert sum(r[3] for r in got) == 10 * (1 + 2 + 3 + 9 + 4)
    assert [r for r in got if r[1]] == [(got[-1][0], True, 1, 90, 9, 2)]  # 1.5 micro-dollars, half-even → 2
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM event_seen")).scalar() == 5
    assert set(rows["metadata_json"]) == {'{"env":"prod","plan":"pro"}'}


def test_work_beside_gives_its_result_or_error_and_runs_inline_when_no_thread_may_start(monkeypatch) -> None:
    import threading

    import pytest

    from margin_core.store.events import beside

    assert beside(lambda: 6 * 7)() == 42
    failing = beside(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        failing()

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    ran: list[str] = []

    def work() -> str:
        ran.append(threading.current_thread().name)
        return "done"

    result = beside(work)
    assert ran == [threading.main_thread().name]  # already done, here
    assert result() == "done"

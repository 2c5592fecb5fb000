"""`tracker.record` for any provider, and failures inside Margin never reaching the caller."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import openai
import pytest

from margin_core.sdk import Tracker, openai_wrap
from tests.sdk.llm_fixture_server import LLMServer, Reply, chat_completion, chat_usage
from tests.sdk.sdk_store import rollup

OPENROUTER_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 40},
    "cost": 0.00123456,
    "is_byok": False,
}


def _only_row(url: str) -> dict[str, object]:
    rows = rollup(url)
    assert len(rows) == 1, rows
    return rows[0]


def test_openrouter_usage_dict_with_cost(tracker: Tracker, db_url: str) -> None:
    with tracker.context(customer_id="cus_or", feature="draft", tier="free"):
        tracker.record(provider="openrouter", model="anthropic/claude-sonnet-4.6", usage=OPENROUTER_USAGE)
    assert tracker.flush(10)
    row = _only_row(db_url)
    assert (row["customer_id"], row["feature"], row["metadata_json"]) == ("cus_or", "draft", '{"tier":"free"}')
    assert (row["provider"], row["model"]) == ("openrouter", "anthropic/claude-sonnet-4.6")
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (1000, 200, 300)
    assert (row["has_cost"], row["cost_micros"]) == (1, 1235)  # $0.00123456 to micro-dollars, half-even


def test_sdk_usage_object_and_explicit_values(tracker: Tracker, db_url: str) -> None:
    usage = openai.types.CompletionUsage.model_validate({**OPENROUTER_USAGE, "cost": 0.5})
    with tracker.context(customer_id="cus_ctx", feature="ctx-feature", plan="pro"):
        tracker.record(
            provider="openrouter",
            model="openai/gpt-5.6",
            usage=usage,  # `cost` is an extra field of the pydantic model
            customer_id="cus_explicit",
            output_tokens=310,
            metadata={"route": "fallback"},
            ts=datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        )
    assert tracker.flush(10)
    row = _only_row(db_url)
    assert (row["customer_id"], row["feature"]) == ("cus_explicit", "ctx-feature")
    assert row["metadata_json"] == '{"plan":"pro","route":"fallback"}'
    assert (row["input_tokens"], row["output_tokens"], row["cost_micros"]) == (1000, 310, 500_000)
    assert str(row["day"]) == "2026-03-02"  # 23:30 at UTC-5 is the next UTC day


@pytest.mark.parametrize("cost", [Decimal("0.0042"), "0.0042", 0.0042])
def test_caller_cost_in_any_form(tracker: Tracker, db_url: str, cost: object) -> None:
    tracker.record(provider="other", model="mistral-large-2411", input_tokens=10, output_tokens=5, cost_usd=cost)  # type: ignore[arg-type]
    assert tracker.flush(10)
    assert _only_row(db_url)["cost_micros"] == 4200


def test_anthropic_shaped_usage_and_no_cost(tracker: Tracker, db_url: str) -> None:
    usage = {
        "input_tokens": 12,
        "cache_read_input_tokens": 900,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 300},
        "output_tokens": 44,
    }
    tracker.record(provider="anthropic", model="claude-haiku-4-5-20251001", usage=usage, customer_id="c")
    assert tracker.flush(10)
    row = _only_row(db_url)
    names = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
    assert tuple(row[n] for n in names) == (12, 900, 300, 300, 44)
    assert (row["has_cost"], row["cost_micros"]) == (0, 0)  # priced by the engine at report time


def test_a_resent_event_id_counts_once(tracker: Tracker, db_url: str) -> None:
    first = tracker.record(provider="openai", model="gpt-4o-2024-08-06", input_tokens=5, customer_id="c")
    second = tracker.record(
        provider="openai", model="gpt-4o-2024-08-06", input_tokens=5, customer_id="c", event_id=first
    )
    assert first == second and len(first) == 32
    assert tracker.flush(10)
    assert _only_row(db_url)["requests"] == 1


def test_record_defaults_to_now_and_empty_attribution(tracker: Tracker, db_url: str) -> None:
    tracker.record(provider="openai", model="gpt-4o-2024-08-06")
    assert tracker.flush(10)
    row = _only_row(db_url)
    today = datetime.now(UTC).date()
    assert str(row["day"]) in (today.isoformat(), (today - timedelta(days=1)).isoformat())  # run at midnight
    assert (row["customer_id"], row["feature"], row["api_key_id"], row["metadata_json"]) == ("", "", "", "{}")


def test_bad_input_is_logged_once_and_never_raised(
    tracker: Tracker, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="margin_core.sdk"):
        for _ in range(3):
            tracker.record(provider="openai", model="gpt-4o", cost_usd="twelve dollars")
    assert tracker.flush(10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not record" in warnings[0].getMessage()
    assert rollup(db_url) == []


def test_a_failure_reading_usage_never_reaches_the_caller(
    tracker: Tracker,
    llm_server: LLMServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm_server.route("/v1/chat/completions", lambda body: Reply(body=chat_completion(chat_usage(10, 2))))

    def broken(usage: object) -> object:
        raise KeyError("prompt_tokens")

    monkeypatch.setattr(openai_wrap, "openai_chat_tokens", broken)
    with openai.OpenAI(api_key="sk-test", base_url=f"{llm_server.url}/v1", max_retries=0) as raw:
        client = tracker.wrap(raw)
        with caplog.at_level(logging.WARNING, logger="margin_core.sdk"):
            results = [client.chat.completions.create(model="gpt-4o", messages=[]) for _ in range(2)]
    assert [r.choices[0].message.content for r in results] == ["Hello there.", "Hello there."]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert tracker.flush(10)
    row = _only_row(db_url)  # the requests still count, with the model the response reported
    assert (row["requests"], row["model"], row["input_tokens"]) == (2, "gpt-4o-2024-08-06", 0)


def test_a_closed_tracker_drops_events_without_raising(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker(db_url, flush_interval=0.05)
    tracker.record(provider="openai", model="gpt-4o-2024-08-06")
    assert tracker.close(timeout=10)
    with caplog.at_level(logging.WARNING, logger="margin_core.sdk"):
        tracker.record(provider="openai", model="gpt-4o-2024-08-06")
    assert "closed" in caplog.text
    assert _only_row(db_url)["requests"] == 1

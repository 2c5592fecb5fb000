"""Price overrides (rules §4.1): from their date on they win over genai-prices, for events and estimates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from connectors.records import EventRecord
from margin_core import app_actions, prices, reports, schemas
from margin_core.errors import ConfigError
from margin_core.reports import unpriced_models
from margin_core.store.db import make_engine
from margin_core.store.events import ingest_events
from margin_core.workspace import load_workspace, priced_store_frames


def test_an_override_applies_from_its_date_on() -> None:
    keys = pl.DataFrame(
        {"provider": ["openai"] * 2, "model": ["gpt-4o"] * 2, "day": [date(2026, 3, 1), date(2026, 3, 2)]}
    )
    overrides = pl.DataFrame(
        [("openai", "gpt-4o", date(2026, 3, 2), *(prices.per_mtok_to_atto(Decimal(v)) for v in (1, 0, 0, 0, 4)))],
        schema=schemas.PRICE_OVERRIDES,
        orient="row",
    )
    rates = prices.rate_table(keys, overrides=overrides).sort("day")
    assert rates["input_atto"].to_list() == [2_500_000_000_000, 1_000_000_000_000]  # $2.50 list, then $1.00
    assert rates["output_atto"].to_list() == [10_000_000_000_000, 4_000_000_000_000]


def test_events_are_priced_with_the_override_and_an_unknown_model_becomes_known(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    ts = datetime(2026, 3, 5, 12, tzinfo=UTC)
    ingest_events(
        engine,
        [
            EventRecord(
                event_id="a",
                ts=ts,
                customer_id="c",
                feature="f",
                provider="other",
                model="our-llama-70b",
                input_tokens=1_000_000,
                output_tokens=500_000,
            ),
        ],
    )
    start, end = date(2026, 3, 1), date(2026, 4, 1)
    before = load_workspace(engine)
    assert priced_store_frames(before)[1]["cost_micros"].to_list() == [0]
    assert unpriced_models(before, start=start, end=end)["model"].to_list() == ["our-llama-70b"]
    app_actions.save_price_override(
        engine,
        provider="other",
        model="our-llama-70b",
        effective_from=date(2026, 3, 1),
        per_mtok={"input": "0.40", "output": "1.20"},
    )
    after = load_workspace(engine)
    assert priced_store_frames(after)[1]["cost_micros"].to_list() == [1_000_000]  # 1 M × $0.40 + 0.5 M × $1.20 = $1.00
    assert unpriced_models(after, start=start, end=end).is_empty()
    assert app_actions.price_overrides(engine)["output_per_mtok"].to_list() == ["1.20"]


def test_a_bad_override_is_refused(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ConfigError, match="input"):
        app_actions.save_price_override(
            engine, provider="openai", model="gpt-4o", effective_from=date(2026, 3, 1), per_mtok={"input": "-1"}
        )
    assert app_actions.price_overrides(engine).is_empty()


def test_an_override_for_any_provider_prices_a_recorded_event_from_its_date_on(tmp_path) -> None:
    from margin_core.sdk import Tracker

    url = f"sqlite:///{tmp_path / 'm.db'}"
    tracker = Tracker(url, flush_interval=0.05)
    for day in (4, 5):  # one event the day before the override, one on its first day
        tracker.record(
            provider="bedrock",
            model="acme.house-model-v1",
            customer_id="c",
            input_tokens=2_000_000,
            output_tokens=1_000_000,
            ts=datetime(2026, 3, day, 9, tzinfo=UTC),
        )
    assert tracker.flush(10)
    tracker.close(timeout=10)
    engine = make_engine(url)
    start, end = date(2026, 3, 1), date(2026, 4, 1)
    with pytest.raises(ConfigError, match="provider"):
        app_actions.save_price_override(
            engine, provider="  ", model="acme.house-model-v1", effective_from=start, per_mtok={"input": "1"}
        )
    app_actions.save_price_override(
        engine,
        provider=" bedrock ",
        model="acme.house-model-v1",
        effective_from=date(2026, 3, 5),
        per_mtok={"input": "0.25", "output": "1.50"},
    )
    assert app_actions.price_overrides(engine)["provider"].to_list() == ["bedrock"]
    workspace = load_workspace(engine)
    ledger, _ = reports.ledger(workspace, start=start, end=end)  # events without usage: their own cost
    costs = ledger.sort("day").select("day", "cost_micros").collect().rows()
    # 2 M × $0.25 + 1 M × $1.50 = $2.00 from March 5; the day before stays unpriced
    assert costs == [(date(2026, 3, 4), 0), (date(2026, 3, 5), 2_000_000)]
    unpriced = unpriced_models(workspace, start=start, end=end)
    assert unpriced.rows() == [("bedrock", "acme.house-model-v1", 3_000_000)]
    assert app_actions.override_choices(workspace) == (["bedrock"], ["acme.house-model-v1"])


def test_the_cli_names_a_model_without_a_price_for_a_range_that_holds_its_tokens(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from margin_core.__main__ import main

    url = f"sqlite:///{tmp_path / 'm.db'}"
    event = EventRecord(
        event_id="a",
        ts=datetime(2026, 3, 5, 12, tzinfo=UTC),
        customer_id="c",
        feature="f",
        provider="groq",
        model="our-llama-70b",
        input_tokens=1_200,
        output_tokens=34,
    )
    ingest_events(make_engine(url), [event])
    capsys.readouterr()
    assert main(["--db", url, "report", "customers", "--start", "2026-03-01", "--end", "2026-04-01"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: our-llama-70b (groq) has no price: its 1,234 tokens are counted at $0 until a price override is set"
    ]
    assert main(["--db", url, "report", "models", "--start", "2026-04-01", "--end", "2026-05-01"]) == 0
    assert capsys.readouterr().err == ""

"""The columnar events CSV parser gives exactly the row parser's batch, or hands the file back to it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from margin_core import imports, ingest
from margin_core.errors import ImportFileError
from margin_core.imports_events import parse_events_file
from margin_core.store.db import make_engine
from margin_core.store.events import BATCH_COLUMNS, ROLLUP_KEY, events_frame, usd_to_micros

HEADER = (
    "event_id,ts,customer_id,feature,provider,model,api_key_id,input_tokens,cached_input_tokens,"
    "cache_write_tokens,output_tokens,cost_usd"
)
ROWS = [
    "e1,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,key_a,100,20,0,50,",
    "e2,2026-03-01T23:30:00-02:00,cus_2,search,OpenAI,gpt-4o,,1,0,0,2,0.0000125",  # the next UTC day
    "e3,2026-03-02T00:10:00+05:30,cus_1, chat ,anthropic,claude-sonnet-4-20250514,key_b,7,0,3,9,1.5",  # the day before
    "e4,2026-03-02 08:00,cus_3,,openrouter,openai/gpt-4o-mini,,0,0,0,0,.0000005",  # half: to even (0)
    "e5,2026-03-02T08:00:00.123456,cus_3,chat,openrouter,x/y,,,,,,0.0000015",  # half: to even (2)
    ",,,,,,,,,,,",  # blank rows are skipped
    "e1,2026-03-03T00:00:00Z,cus_9,chat,openai,gpt-4o,key_a,1,1,1,1,",  # a repeated id: the first counts
    "e6,2026-03-03T00:00:00Z,cus_9,chat,openai,gpt-4o,key_a,123456789012,0,0,1,99999.9999995",
]


def _both(path: Path) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    slow = events_frame(imports.parse_file("events", path).rows).select(BATCH_COLUMNS)
    return parse_events_file(path), slow


def _write(tmp_path: Path, lines: list[str], *, header: str = HEADER) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_the_columnar_batch_is_the_row_parsers(tmp_path: Path) -> None:
    fast, slow = _both(_write(tmp_path, ROWS))
    assert fast is not None
    assert fast.schema == slow.schema
    assert fast.equals(slow)


def test_metadata_columns_give_the_same_canonical_json(tmp_path: Path) -> None:
    lines = [f"{row},{meta}" for row, meta in zip(ROWS[:5], ["prod,eu", ",", "b a,x", "prod,", "\\t,y"], strict=True)]
    fast, slow = _both(_write(tmp_path, lines, header=f"{HEADER},meta_zone,meta_env"))
    assert fast is not None and fast.equals(slow)
    assert fast["metadata_json"].to_list()[0] == '{"env":"eu","zone":"prod"}'


@pytest.mark.parametrize(
    "line",
    [
        '"e7",2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,',  # quoted
        "e7,2026-03-01T25:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,",  # no such hour
        "e7,2026-02-30T10:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,",  # no such day
        "e7,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,-1,0,0,2,",  # negative
        "e7,2026-03-01T12:00:00Z,cus_1,chat,mistral,gpt-4o,,1,0,0,2,",  # unknown provider
        "e7,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,-0.5",  # negative cost
        "e7,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0",  # a field short
        "e7,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,,",  # a field too many
        "e7,2026-03-01T12:00:00Z,cus_1\x1f,chat,openai,gpt-4o,,1,0,0,2,",  # str.strip removes it, polars keeps it
        "e7,2026-03-01T12:00:00Z,,chat,openai,gpt-4o,,1,0,0,2,",  # no customer
        "é7,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,",  # not ASCII: json/escapes decided exactly
    ],
)
def test_what_it_cannot_check_goes_to_the_row_parser(tmp_path: Path, line: str) -> None:
    path = _write(tmp_path, [ROWS[0], line])
    assert parse_events_file(path) is None
    try:
        slow = events_frame(imports.parse_file("events", path).rows).select(BATCH_COLUMNS)
    except ImportFileError:
        return  # the row parser names the line, as it always did
    assert slow.height == 2


def test_import_writes_what_the_row_parser_would(tmp_path: Path) -> None:
    path = _write(tmp_path, ROWS)
    fast_engine = make_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    assert ingest.import_file(fast_engine, "events", path) == 6
    slow_engine = make_engine(f"sqlite:///{tmp_path / 'slow.db'}")
    assert ingest.write_parsed(slow_engine, imports.parse_file("events", path)) == 6
    query = "SELECT * FROM event_rollup ORDER BY day, customer_id, feature, model, has_cost"
    with fast_engine.connect() as a, slow_engine.connect() as b:
        assert [r[1:] for r in a.exec_driver_sql(query)] == [r[1:] for r in b.exec_driver_sql(query)]


@given(st.decimals(min_value=0, max_value=10**10, places=9, allow_nan=False, allow_infinity=False))
def test_costs_round_half_even_to_the_micro_dollar(tmp_path_factory: pytest.TempPathFactory, cost: Decimal) -> None:
    path = tmp_path_factory.mktemp("c") / "events.csv"
    path.write_text(f"{HEADER}\ne1,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,,1,0,0,2,{cost:f}\n")
    fast = parse_events_file(path)
    assert fast is not None
    assert fast["cost_micros"].to_list() == [usd_to_micros(cost)]


# Duplicates inside the file and across stores, metadata, offsets both ways, costs past the sixth decimal,
# blank lines of both kinds, blanks around values.
MIXED = [
    "a1,2026-03-01T12:00:00Z,cus_1,chat,openai,gpt-4o,key_a,100,20,0,50,,prod",
    "a2,2026-03-01T23:30:00-02:00,cus_2,search,OpenAI,gpt-4o,,1,0,0,2,0.0000125,prod",
    "a3,2026-03-02T00:10:00+05:30,cus_1, chat ,anthropic,claude-sonnet-4-20250514,key_b,7,0,3,9,1.5,",
    "",
    "   ",
    "a4,2026-03-02 08:00,cus_3,,openrouter,openai/gpt-4o-mini,,0,0,0,0,.0000005,dev",
    "a5,2026-03-02T08:00:00.123456,cus_3,chat,openrouter,x/y,,,,,,0.0000015,dev",
    ",,,,,,,,,,,,",
    "a1,2026-03-03T00:00:00Z,cus_9,chat,openai,gpt-4o,key_a,1,1,1,1,,prod",  # repeated in the file
    "seen_1,2026-03-03T00:00:00Z,cus_9,chat,openai,gpt-4o,key_a,5,0,0,5,0.10000050000001,prod",  # in the store
    "a6,2026-03-03T01:00:00+01:00,cus_9,chat,openai,gpt-4o,key_a,123456789012,0,0,1,99999.9999995,prod",
    "a7,2026-03-03T22:59:59.5-01:00,cus_9,chat,openai,gpt-4o,key_a,3,0,0,1,2.00000250,prod",
    "a8,2026-03-03T23:00-01:00,cus_9,chat,openai,gpt-4o,key_a,3,0,0,1,2.0000035,prod",
]


def _store_state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        rollup = connection.exec_driver_sql("SELECT * FROM event_rollup ORDER BY id").all()
        seen = connection.exec_driver_sql("SELECT event_key FROM event_seen ORDER BY event_key").all()
        days = connection.exec_driver_sql("SELECT day FROM day_version ORDER BY day").all()
        version = connection.exec_driver_sql("SELECT value FROM setting WHERE key = 'data_version'").scalar()
    return {"rollup": rollup, "seen": seen, "days": days, "version": version}


def _seeded(path: Path) -> Engine:
    """A store that has seen `seen_1` already (from another file, another day)."""
    engine = make_engine(f"sqlite:///{path}")
    seed = path.parent / f"{path.stem}-seed.csv"
    seed.write_text(f"{HEADER},meta_env\nseen_1,2026-02-27T10:00:00Z,cus_9,chat,openai,gpt-4o,key_a,9,0,0,9,,prod\n")
    assert ingest.write_parsed(engine, imports.parse_file("events", seed)) == 1
    return engine


def test_the_columnar_import_stores_what_the_row_parser_import_stores(tmp_path: Path) -> None:
    path = _write(tmp_path, MIXED, header=f"{HEADER},meta_env")
    assert parse_events_file(path) is not None  # the columnar path takes this file
    fast, slow = _seeded(tmp_path / "fast.db"), _seeded(tmp_path / "slow.db")
    assert ingest.import_file(fast, "events", path) == 8
    assert ingest.write_parsed(slow, imports.parse_file("events", path)) == 8
    got, expected = _store_state(fast), _store_state(slow)
    assert got == expected
    # and both are the sums of the parsed rows themselves: first of each id, none already seen, per key
    rows = imports.parse_file("events", path).rows
    sums: dict[tuple[Any, ...], list[int]] = {}
    ids = {"seen_1"}
    for row in events_frame(rows).with_columns(pl.Series("id", [r.event_id for r in rows])).iter_rows(named=True):
        if row["id"] in ids:
            continue
        ids.add(row["id"])
        key = (row["day"].isoformat(), *(row[name] for name in ROLLUP_KEY[1:]))
        total = sums.setdefault(key, [0] * 4)
        for i, name in enumerate(("input_tokens", "output_tokens", "cost_micros")):
            total[i] += row[name]
        total[3] += 1
    with fast.connect() as connection:
        stored = {
            (r[0], *r[1:7], bool(r[7])): r[8:]
            for r in connection.exec_driver_sql(
                "SELECT day, customer_id, feature, provider, model, api_key_id, metadata_json, has_cost, "
                "input_tokens, output_tokens, cost_micros, requests FROM event_rollup WHERE day > '2026-02-27'"
            )
        }
    assert stored == {key: tuple(total) for key, total in sums.items()}
    assert [d[0] for d in got["days"]] == ["2026-02-27", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    # the same file again adds nothing (and, as before, the columnar path then leaves the version alone)
    assert ingest.import_file(fast, "events", path) == 0
    assert _store_state(fast) == got

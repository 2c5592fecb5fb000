"""Workload generators for the benchmarks (rules §7). Workload "L": 1,000 API keys, 5,000 customers,
90 days, 3 providers, 30 models, 10 M request events, 20,000 invoice lines. Deterministic, vectorized.

    python bench/generate.py --db sqlite:///bench/out/l.db --events 10000000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from margin_core.demo import with_list_cost
from margin_core.store import repo
from margin_core.store.db import make_engine
from margin_core.store.events import BATCH_COLUMNS, ingest_frame

MODELS = {
    "openai": [
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "o1-2024-12-17",
        "o3-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4-turbo-2024-04-09",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ],
    "anthropic": [
        "claude-3-5-haiku-20241022",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022",
        "claude-3-haiku-20240307",
        "claude-3-opus-20240229",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
    ],
    "openrouter": [
        "google/gemini-2.5-flash",
        "deepseek/deepseek-chat-v3-0324",
        "google/gemini-2.5-pro",
        "meta-llama/llama-3.3-70b-instruct",
        "mistralai/mistral-large",
        "qwen/qwen-2.5-72b-instruct",
        "x-ai/grok-3",
        "cohere/command-r-plus",
        "google/gemini-2.0-flash-001",
        "openai/gpt-4o-mini",
    ],
}
FEATURES = ["chat", "summarize", "search", "agent", "classify", "translate", "extract", "report"]
CUSTOMERS, KEYS, DAYS, INVOICE_MONTHS = 5_000, 1_000, 90, 4


def _rand(index: pl.Expr, seed: int, modulo: int) -> pl.Expr:
    return (index.hash(seed) % modulo).cast(pl.Int64, wrap_numerical=True)


def events_batch(first: int, count: int, *, start: date) -> pl.DataFrame:
    """Events first..first+count in `events_frame` shape (keys from the index, not from string ids)."""
    models = pl.DataFrame(
        [(p, m, i) for i, (p, m) in enumerate((p, m) for p, ms in MODELS.items() for m in ms)],
        schema=["provider", "model", "model_index"],
        orient="row",
    )
    i = pl.int_range(first, first + count, dtype=pl.Int64)
    frame = (
        pl.select(i.alias("i"))
        .with_columns(
            _rand(pl.col("i"), 1, CUSTOMERS).alias("c"),
            (pl.col("i") % DAYS).alias("d"),
        )
        .with_columns(
            ((pl.col("c") * 7 + _rand(pl.col("i"), 2, 3)) % 30).alias("model_index"),
            pl.concat_str(pl.lit("cus_"), pl.col("c").cast(pl.String).str.zfill(5)).alias("customer_id"),
            (pl.lit(start) + pl.duration(days=pl.col("d"))).alias("day"),
            # a customer uses two features most days: realistic, and what the roll-up on write is for
            pl.lit(FEATURES).list.get((pl.col("c") + _rand(pl.col("i"), 3, 2)) % len(FEATURES)).alias("feature"),
            pl.concat_str(pl.lit("key_"), (pl.col("c") % KEYS).cast(pl.String).str.zfill(4)).alias("api_key_id"),
            (100 + _rand(pl.col("i"), 4, 3_000)).alias("input_tokens"),
            (_rand(pl.col("i"), 5, 500)).alias("cached_input_tokens"),
            (20 + _rand(pl.col("i"), 6, 800)).alias("output_tokens"),
            pl.when(pl.col("c") % 2 == 0)
            .then(pl.lit('{"env":"prod"}'))
            .otherwise(pl.lit('{"env":"batch"}'))
            .alias("metadata_json"),
        )
    )
    frame = frame.join(models, on="model_index").with_columns(
        pl.col("i").hash(99).cast(pl.Int64, wrap_numerical=True).alias("event_key"),
        pl.lit(0, pl.Int64).alias("cache_write_tokens"),
        pl.lit(0, pl.Int64).alias("cache_write_1h_tokens"),
        pl.lit(0, pl.Int64).alias("latency_ms_sum"),
        (pl.col("provider") == "openrouter").alias("has_cost"),
        pl.lit(0, pl.Int64).alias("cost_micros"),
    )
    return frame


def generate(db: str, *, events: int, start: date) -> None:
    engine = make_engine(db)
    began = time.perf_counter()
    usage_parts = []
    batch = 500_000
    for first in range(0, events, batch):
        frame = events_batch(first, min(batch, events - first), start=start)
        frame = with_list_cost(frame, cost_where="has_cost")
        usage_parts.append(
            frame.group_by("day", "provider", "model", "api_key_id").agg(
                pl.col(
                    "input_tokens",
                    "cached_input_tokens",
                    "cache_write_tokens",
                    "cache_write_1h_tokens",
                    "output_tokens",
                ).sum(),
                pl.len().alias("requests"),
            )
        )
        ingest_frame(engine, frame.select(BATCH_COLUMNS))
        done = first + len(frame)
        print(f"events {done:,}/{events:,} ({done / (time.perf_counter() - began):,.0f}/s)", flush=True)
    keys = ["day", "provider", "model", "api_key_id"]
    usage = pl.concat(usage_parts).group_by(keys).agg(pl.exclude(keys).sum())
    usage = with_list_cost(usage).with_columns(
        pl.lit("").alias("project_id"),
        pl.lit("").alias("user_id"),
        pl.lit("reported").alias("cost_source"),
        pl.lit("api").alias("source"),
    )
    tiers = [("starter", 4_900), ("pro", 19_900), ("business", 99_900), ("enterprise", 420_000)]
    with engine.begin() as connection:
        repo.upsert_usage(connection, usage)
        repo.upsert_customers(
            connection,
            [
                (
                    f"cus_{c:05d}",
                    f"Customer {c}",
                    f"c{c}@example.test",
                    tiers[c % 4][0],
                    ("smb", "mid", "ent")[c % 3],
                    ("na", "emea", "apac")[c % 3],
                    '{"industry":"x"}',
                    "bench",
                )
                for c in range(CUSTOMERS)
            ],
        )
        repo.upsert_mappings(
            connection, [("*", "api_key_id", f"key_{k:04d}", f"cus_{k:05d}") for k in range(0, KEYS, 3)]
        )
        lines = []
        for c in range(CUSTOMERS):
            for m in range(INVOICE_MONTHS):
                month = date(start.year, start.month, 1) + timedelta(days=31 * m)
                month = date(month.year, month.month, 1)
                following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
                cents = tiers[c % 4][1]
                lines.append(
                    (
                        f"il_{c}_{m}",
                        "invoice_line",
                        f"cus_{c:05d}",
                        month,
                        following,
                        cents,
                        "usd",
                        cents,
                        None,
                        tiers[c % 4][0],
                        "",
                    )
                )
        repo.upsert_revenue(connection, lines)
        repo.bump_version(connection)
    print(f"usage rows {usage.height:,}, invoice lines {len(lines):,}; {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 6, 1))
    args = parser.parse_args()
    generate(args.db, events=args.events, start=args.start)

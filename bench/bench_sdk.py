"""SDK targets of rules §7: capture overhead per call (< 50 µs) and event ingest (> 100,000 events/s).

    .venv/bin/python bench/bench_sdk.py                 # 500k events, 100k calls, temp SQLite stores
    .venv/bin/python bench/bench_sdk.py --events 2000000 --calls 200000

Capture overhead is measured on the caller's thread, with the writer thread running (it competes for
the GIL as it would in an app): `tracker.record`, and `tracker.wrap` around an `openai.OpenAI` whose
`chat.completions.create` is replaced by an in-process fake (no network, so the figure is Margin's own
cost), minus the same fake called unwrapped. A run through the real client over an in-memory httpx2
transport shows the whole-call figure too. Ingest is `ingest_events` into a fresh embedded store.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
import openai  # noqa: E402
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam  # noqa: E402
from sqlalchemy import text  # noqa: E402

from connectors.records import EventRecord  # noqa: E402
from margin_core.sdk import Tracker  # noqa: E402
from margin_core.store.db import make_engine  # noqa: E402
from margin_core.store.events import ingest_events  # noqa: E402

USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop", "logprobs": None}
    ],
    "usage": USAGE,
}


def per_call_us(fn: Callable[[], object], calls: int, *, repeats: int = 5) -> float:
    """Median over `repeats` runs of the mean time per call, in microseconds."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


class FakeStream:
    """Stands in for `openai.Stream`: iterates its `_iterator`, which Margin replaces."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._iterator: Iterator[ChatCompletionChunk] = iter(chunks)

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        yield from self._iterator


def stream_chunks() -> list[ChatCompletionChunk]:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1767225600, "model": "gpt-4o-2024-08-06"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}], "usage": None}
        for w in ("a", "b", "c", "d", "e", "f", "g", "h")
    ]
    chunks.append({**base, "choices": [], "usage": USAGE})
    return [ChatCompletionChunk.model_validate(c) for c in chunks]


def bench_capture(db_url: str, calls: int) -> None:
    completion = ChatCompletion.model_validate(COMPLETION)
    chunks = stream_chunks()
    with Tracker(db_url) as tracker:
        with tracker.context(customer_id="cus_bench", feature="chat", plan="pro"):
            record_us = per_call_us(
                lambda: tracker.record(provider="openrouter", model="openai/gpt-5.6", usage=USAGE, cost_usd="0.0012"),
                calls,
            )

            client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
            client.chat.completions.create = lambda **kwargs: (  # type: ignore[method-assign, assignment]
                FakeStream(list(chunks)) if kwargs.get("stream") else completion
            )
            wrapped = tracker.wrap(client)
            messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
            bare_us = per_call_us(lambda: client.chat.completions.create(model="gpt-4o", messages=messages), calls)
            wrap_us = per_call_us(lambda: wrapped.chat.completions.create(model="gpt-4o", messages=messages), calls)

            def consume(c: openai.OpenAI) -> None:
                for _ in c.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
                    pass

            bare_stream_us = per_call_us(lambda: consume(client), calls // 4)
            wrap_stream_us = per_call_us(lambda: consume(wrapped), calls // 4)

            http = httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=COMPLETION)))
            real = openai.OpenAI(api_key="sk-bench", base_url="http://bench.invalid/v1", http_client=http)
            real_wrapped = tracker.wrap(real)
            http_calls = max(calls // 100, 200)
            # Interleaved runs, median of the differences: the SDK's own ~0.5 ms call drifts between runs.
            pairs = [
                (
                    per_call_us(
                        lambda: real.chat.completions.create(model="gpt-4o", messages=messages), http_calls, repeats=1
                    ),
                    per_call_us(
                        lambda: real_wrapped.chat.completions.create(model="gpt-4o", messages=messages),
                        http_calls,
                        repeats=1,
                    ),
                )
                for _ in range(9)
            ]
            real_us = statistics.median(bare for bare, _ in pairs)
            real_wrapped_us = statistics.median(wrapped for _, wrapped in pairs)
            real_overhead_us = statistics.median(wrapped - bare for bare, wrapped in pairs)
        queued = time.perf_counter()
        assert tracker.flush(600)
        drain_s = time.perf_counter() - queued

    print(f"capture overhead on the caller's thread (target < 50 µs/call), {calls:,} calls per run:")
    print(f"  tracker.record(usage=..., cost_usd=...)           {record_us:6.2f} µs/call")
    print(
        f"  wrap: chat.completions.create, whole response     {wrap_us - bare_us:6.2f} µs/call "
        f"(wrapped {wrap_us:.2f} − fake alone {bare_us:.2f})"
    )
    print(
        f"  wrap: chat.completions.create, 9-chunk stream     {wrap_stream_us - bare_stream_us:6.2f} µs/call "
        f"(wrapped {wrap_stream_us:.2f} − fake alone {bare_stream_us:.2f}; incl. the hidden usage chunk)"
    )
    print(
        f"  real client over an in-memory transport           {real_overhead_us:6.2f} µs/call "
        f"(wrapped {real_wrapped_us:.1f} − unwrapped {real_us:.1f}, median of 9 interleaved runs; noisy)"
    )
    print(f"  writer drained the last batches in {drain_s:.2f} s after the timed runs")


MODELS = [(p, f"{p}-model-{i}") for p in ("openai", "anthropic", "openrouter") for i in range(10)]
FEATURES = ["chat", "summarize", "search", "agent", "classify", "translate", "extract", "report"]
EVENTS_PER_DAY = 10_000_000 // 90  # workload L


def make_events(count: int, *, distinct: bool = False, seed: int = 7) -> list[EventRecord]:
    """Workload-L traffic in bench/generate.py's shape, as the SDK sees it: `count` events are
    count / 111,111 days of it. A customer has one key, uses 2 features and 3 models a day, and its
    metadata marks it prod or batch. `distinct`: every event its own roll-up row (the worst case).
    """
    rng = random.Random(seed)
    days = 30 if distinct else max(1, round(count / EVENTS_PER_DAY))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    metadata = [{"env": "prod"}, {"env": "batch"}]
    events = []
    for n in range(count):
        c = rng.randrange(5000)
        if distinct:
            model_index, feature = rng.randrange(30), FEATURES[rng.randrange(8)]
            key, meta = rng.randrange(1000), metadata[rng.randrange(2)]
        else:
            model_index, feature = (c * 7 + rng.randrange(3)) % 30, FEATURES[(c + rng.randrange(2)) % 8]
            key, meta = c % 1000, metadata[c % 2]
        provider, model = MODELS[model_index]
        events.append(
            EventRecord(
                event_id=f"bench-{seed}-{n:012d}",
                ts=start + timedelta(days=n % days, seconds=rng.randrange(86400)),
                customer_id=f"cus_{c:05d}",
                feature=feature,
                provider=provider,
                model=model,
                api_key_id=f"key_{key:04d}",
                input_tokens=100 + rng.randrange(3000),
                cached_input_tokens=rng.randrange(500),
                output_tokens=20 + rng.randrange(800),
                cost_usd=Decimal(rng.randrange(1, 5000)) / 1_000_000 if provider == "openrouter" else None,
                latency_ms=rng.randrange(100, 9000),
                metadata=meta,
            )
        )
    return events


def _ingest(url: str, events: list[EventRecord], batch: int) -> tuple[float, int]:
    engine = make_engine(url)
    started = time.perf_counter()
    written = sum(ingest_events(engine, events[i : i + batch]) for i in range(0, len(events), batch))
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM event_rollup")).scalar_one()
    engine.dispose()
    assert written == len(events)
    return elapsed, int(rows)


def bench_ingest(directory: Path, count: int) -> None:
    events = make_events(count)
    print(f"ingest into the embedded store (target > 100,000 events/s), {count:,} events:")
    for batch in (50_000, 5_000):
        elapsed, rows = _ingest(f"sqlite:///{directory}/ingest-{batch}.db", events, batch)
        print(
            f"  ingest_events, workload-L traffic, batches of {batch:>6,}: {count / elapsed:>9,.0f} events/s "
            f"({elapsed:.2f} s, {rows:,} roll-up rows)"
        )
    worst = make_events(count, distinct=True)
    elapsed, rows = _ingest(f"sqlite:///{directory}/ingest-worst.db", worst, 50_000)
    print(
        f"  ingest_events, every event its own row, 50,000:  {count / elapsed:>9,.0f} events/s "
        f"({elapsed:.2f} s, {rows:,} roll-up rows)"
    )

    url = f"sqlite:///{directory}/tracker.db"
    with Tracker(url) as tracker:
        started = time.perf_counter()
        for event in events:
            tracker.record(
                provider=event.provider,
                model=event.model,
                customer_id=event.customer_id,
                feature=event.feature,
                api_key_id=event.api_key_id,
                input_tokens=event.input_tokens,
                cached_input_tokens=event.cached_input_tokens,
                output_tokens=event.output_tokens,
                cost_usd=event.cost_usd,
                metadata=event.metadata,
                ts=event.ts,
            )
        queued = time.perf_counter() - started
        assert tracker.flush(600)
        elapsed = time.perf_counter() - started
    print(
        f"  Tracker.record -> writer thread -> store:          {count / elapsed:>9,.0f} events/s "
        f"({elapsed:.2f} s, of which {queued:.2f} s queuing on the caller's thread)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000, help="events to ingest (>= 500k for the target)")
    parser.add_argument("--calls", type=int, default=100_000, help="calls per timed capture run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="margin-bench-sdk-") as tmp:
        directory = Path(tmp)
        bench_capture(f"sqlite:///{directory}/capture.db", args.calls)
        bench_ingest(directory, args.events)


if __name__ == "__main__":
    main()

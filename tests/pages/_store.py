"""A small, deterministic workspace built through the canonical CSV imports, for page tests and dev runs.

Six customers on three plans, OpenAI and Anthropic usage mapped by key, request events split by feature,
unmapped keys (unattributed spend), a model without a price, and a cost spike in the last week.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from margin_core import ingest
from margin_core.imports import COLUMNS
from margin_core.store.db import make_engine

# customer_id, name, tier, segment, region, industry, monthly revenue USD, daily cost USD
CUSTOMERS = (
    ("acme", "Acme Corp", "enterprise", "enterprise", "na", "fintech", 4000, 18.0),
    ("umbrella", "Umbrella", "enterprise", "enterprise", "emea", "health", 3500, 30.0),
    ("globex", "Globex", "pro", "mid_market", "emea", "retail", 900, 6.0),
    ("dataflow", "DataFlow Inc", "pro", "mid_market", "emea", "fintech", 900, 22.0),
    ("startup", "StartupCo", "starter", "smb", "na", "media", 200, 35.0),
    ("initech", "Initech", "starter", "smb", "apac", "retail", 200, 1.5),
)
MODELS = (("openai", "gpt-4o-mini", 0.3), ("openai", "gpt-4o", 0.4), ("anthropic", "claude-sonnet-4", 0.3))
FEATURES = (("chat", 0.5), ("summarize", 0.3), ("search", 0.2))
DAYS = 75
SPIKE_CUSTOMER = "globex"  # its cost jumps 5x over the last 7 days, on the chat feature


def _write(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_csvs(folder: Path, *, today: date) -> dict[str, Path]:
    """The canonical CSVs of the workspace, its last day being the day before `today`."""
    rng = random.Random(7)
    first = today - timedelta(days=DAYS)
    days = [first + timedelta(days=i) for i in range(DAYS)]
    customers = [
        [cid, name, f"ops@{cid}.test", tier, segment, region, industry]
        for cid, name, tier, segment, region, industry, _, _ in CUSTOMERS
    ]
    revenue: list[list[object]] = []
    month = first.replace(day=1)
    while month < today:
        following = (month + timedelta(days=32)).replace(day=1)
        for cid, *_, monthly, _ in CUSTOMERS:
            revenue.append([cid, f"inv_{cid}_{month:%Y%m}", month, following, f"{monthly}.00", "usd"])
        month = following
    usage: list[list[object]] = []
    events: list[list[object]] = []
    mappings = [["*", "api_key_id", f"key_{cid}", cid] for cid, *_ in CUSTOMERS]
    event_id = 0
    for day in days:
        spike = day >= today - timedelta(days=7)
        for cid, *_, daily in CUSTOMERS:
            for provider, model, share in MODELS:
                factor = 5.0 if spike and cid == SPIKE_CUSTOMER and model == "gpt-4o" else 1.0
                cost = round(daily * share * factor * rng.uniform(0.8, 1.2), 4)
                input_tokens = int(cost * 150_000)
                output_tokens = int(cost * 20_000)
                requests = max(1, int(cost * 40))
                usage.append(
                    [day, provider, model, f"key_{cid}", "", "", input_tokens, 0, 0, output_tokens, requests, cost]
                )
                for feature, weight in FEATURES:
                    feature_weight = weight * (4 if factor > 1 and feature == "chat" else 1)
                    for channel in ("web", "api"):
                        event_id += 1
                        events.append(
                            [
                                f"ev{event_id}",
                                f"{day}T12:00:00Z",
                                cid,
                                feature,
                                provider,
                                model,
                                f"key_{cid}",
                                math.ceil(input_tokens * feature_weight / 2),  # the SDK sees all of the key's traffic
                                0,
                                0,
                                math.ceil(output_tokens * feature_weight / 2),
                                "",
                                channel,
                            ]
                        )
        # Spend nobody can attribute yet: an orphan key, a legacy project and a user, one unpriced model.
        usage.append([day, "openai", "gpt-4o-mini", "key_orphan", "", "", 200_000, 0, 0, 30_000, 50, 2.5])
        usage.append([day, "openai", "gpt-4.1", "", "proj_legacy", "", 100_000, 0, 0, 10_000, 20, 1.25])
        usage.append([day, "anthropic", "claude-3-5-haiku", "", "", "user_bob", 50_000, 0, 0, 5_000, 9, 0.75])
        usage.append([day, "openai", "mystery-model-x", "key_orphan", "", "", 10_000, 0, 0, 1_000, 3, ""])
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "customers": _write(folder / "customers.csv", [*COLUMNS["customers"], "meta_industry"], customers),
        "revenue": _write(folder / "revenue.csv", list(COLUMNS["revenue"]), revenue),
        "usage": _write(folder / "usage.csv", list(COLUMNS["usage"]), usage),
        "mappings": _write(folder / "mappings.csv", list(COLUMNS["mappings"]), mappings),
        "events": _write(folder / "events.csv", [*COLUMNS["events"], "meta_channel"], events),
    }


def build_store(url: str, folder: Path, *, today: date) -> None:
    """Import the workspace's CSVs into the store at `url`."""
    engine = make_engine(url)
    files = write_csvs(folder, today=today)
    for kind in ("customers", "revenue", "usage", "mappings", "events"):
        ingest.import_file(engine, kind, files[kind])
    engine.dispose()


if __name__ == "__main__":
    import sys
    from datetime import UTC, datetime

    target = Path(sys.argv[1])
    build_store(f"sqlite:///{target}", target.parent / "csv", today=datetime.now(UTC).date())

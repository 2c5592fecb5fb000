"""The built-in demo workspace (DESIGN §1, §8): 120 deterministic days that tell the four founder stories.

- Bill spike: Cobalt Health's document summaries jump about 400% in the last full week.
- Investor question: a realistic blend of tiers, with unattributed internal spend to map.
- Pricing decision: StartupCo on the $200 Starter plan burns ~60× Acme Corp's tokens ($4,200 plan);
  Claude Opus and GPT-4 Turbo features lose money.
- Customer conversation: every customer has features, models and metadata to drill into.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import Engine, text

from margin_core import fx, prices, schemas
from margin_core.engine import pricing
from margin_core.store import repo
from margin_core.store.db import shared_engine
from margin_core.store.events import BATCH_COLUMNS, ingest_frame

DAYS = 120
SEED = 20_260_301
TIERS = {"starter": 20_000, "pro": 50_000, "business": 150_000, "enterprise": 420_000}  # monthly US cents
SEGMENT = {"starter": "self_serve", "pro": "smb", "business": "mid_market", "enterprise": "enterprise"}
INDUSTRIES = ("legal", "healthcare", "fintech", "devtools", "ecommerce", "media")
# feature -> (provider, model, input tokens, cached input, output tokens) per request
FEATURES = {
    "chat": ("openai", "gpt-4o-mini-2024-07-18", 1_800, 600, 350),
    "document-summarize": ("anthropic", "claude-sonnet-4-20250514", 9_000, 3_000, 700),
    "code-review": ("openai", "gpt-4o-2024-08-06", 14_000, 4_000, 1_400),
    "search-embeddings": ("openai", "text-embedding-3-small", 2_500, 0, 0),
    "agent-workflow": ("anthropic", "claude-opus-4-20250514", 30_000, 6_000, 3_000),
    "report-generation": ("openai", "gpt-4-turbo-2024-04-09", 40_000, 0, 3_000),
    "translation": ("openrouter", "google/gemini-2.5-flash", 2_000, 0, 1_800),
    "classification": ("openrouter", "deepseek/deepseek-chat-v3-0324", 900, 0, 60),
    "support-triage": ("anthropic", "claude-3-5-haiku-20241022", 2_200, 800, 250),
}
# requests of a feature per unit of a customer's daily volume: cheap features are called far more often
VOLUME = {
    "chat": 4.0,
    "classification": 5.0,
    "search-embeddings": 5.0,
    "support-triage": 4.0,
    "document-summarize": 2.0,
    "code-review": 1.0,
    "translation": 2.0,
    "agent-workflow": 0.5,
    "report-generation": 0.5,
}
SHARED_KEYS = {"openai": "key_prod_shared", "anthropic": "apikey_prod_shared", "openrouter": "or_prod_shared"}
NAMED = [  # (name, tier, features, daily requests, region)
    ("Acme Corp", "enterprise", ("code-review", "chat", "search-embeddings"), 11, "na"),
    ("StartupCo", "starter", ("agent-workflow", "report-generation", "chat"), 520, "na"),
    ("DataFlow Inc", "pro", ("document-summarize", "classification"), 9, "emea"),
    ("Cobalt Health", "business", ("document-summarize", "support-triage", "chat"), 60, "na"),
]
FIRST = (
    "Aurora",
    "Arbor",
    "Beacon",
    "Cedar",
    "Delta",
    "Ember",
    "Fable",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Riverbend",
    "Summit",
    "Tidal",
    "Umbra",
    "Vantage",
    "Willow",
    "Xenon",
    "Yonder",
    "Zephyr",
    "Atlas",
    "Borealis",
    "Cascade",
    "Drift",
    "Evergreen",
    "Foundry",
    "Glacier",
    "Helix",
    "Ion",
    "Jade",
    "Keystone",
    "Lattice",
    "Mosaic",
    "Northwind",
    "Onyx",
    "Prism",
    "Quill",
    "Radiant",
    "Sable",
    "Tundra",
    "Upland",
    "Vertex",
    "Wren",
    "Yarrow",
    "Zenith",
    "Alpine",
    "Bramble",
    "Crest",
)
SUFFIX = ("Labs", "AI", "Systems", "Analytics", "Software", "Health", "Legal", "Cloud")


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    customer_id: str
    name: str
    tier: str
    segment: str
    region: str
    industry: str
    features: tuple[str, ...]
    daily_requests: int
    currency: str
    joined: int  # day index the customer started
    dedicated_key: str  # a mapped provider key instead of SDK events ("" for SDK customers)


def _customers(rnd: random.Random) -> list[DemoCustomer]:
    people = []
    for index, (name, tier, features, requests, region) in enumerate(NAMED):
        people.append(
            DemoCustomer(
                f"cus_demo{index:03d}",
                name,
                tier,
                SEGMENT[tier],
                region,
                INDUSTRIES[index % 6],
                features,
                requests,
                "usd",
                0,
                "",
            )
        )
    tiers = ["starter"] * 16 + ["pro"] * 20 + ["business"] * 12 + ["enterprise"] * 7
    for index, tier in enumerate(tiers, start=len(NAMED)):
        name = f"{FIRST[(index - len(NAMED)) % len(FIRST)]} {rnd.choice(SUFFIX)}"
        features = tuple(rnd.sample(sorted(FEATURES), k=rnd.randint(1, 3)))
        scale = {"starter": 3, "pro": 8, "business": 20, "enterprise": 45}[tier]
        if index % 7 == 3:  # a few heavy users per tier: the break-even band
            scale *= 4
        region = rnd.choice(("na", "na", "emea", "apac"))
        currency = {"emea": rnd.choice(("usd", "eur", "gbp")), "apac": "usd", "na": "usd"}[region]
        dedicated = f"key_dedicated_{index:03d}" if tier == "enterprise" and index % 2 == 0 else ""
        joined = rnd.choice((0, 0, 0, 0, 30, 60)) if tier != "enterprise" else 0
        people.append(
            DemoCustomer(
                f"cus_demo{index:03d}",
                name,
                tier,
                SEGMENT[tier],
                region,
                rnd.choice(INDUSTRIES),
                features,
                max(1, int(scale * rnd.uniform(0.5, 1.6))),
                currency,
                joined,
                dedicated,
            )
        )
    return people


def _event_frame(people: list[DemoCustomer], start: date, rnd: random.Random) -> pl.DataFrame:
    """One row per (customer, day, feature) with its request count; expanded to events later."""
    rows = []
    spike_days = range(DAYS - 9, DAYS - 2)
    for person in people:
        if person.dedicated_key:
            continue
        for offset in range(person.joined, DAYS):
            day = start + timedelta(days=offset)
            weekday_factor = 0.55 if day.weekday() >= 5 else 1.0
            growth = 1 + offset / DAYS * 0.35
            for feature in person.features:
                volume = person.daily_requests * VOLUME[feature]
                count = int(volume * weekday_factor * growth * rnd.uniform(0.7, 1.3))
                if person.name == "Cobalt Health" and feature == "document-summarize" and offset in spike_days:
                    count *= 6
                if count:
                    workflow = "batch" if feature in ("classification", "search-embeddings") else "interactive"
                    rows.append((person.customer_id, day, feature, count, workflow))
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.String, "day": pl.Date, "feature": pl.String, "n": pl.Int64, "workflow": pl.String},
        orient="row",
    )


def _expand_events(combos: pl.DataFrame) -> pl.DataFrame:
    """Per-event rows in `events_frame` shape, costs from list prices for OpenRouter (which reports them)."""
    spec = pl.DataFrame(
        [(f, *v) for f, v in FEATURES.items()],
        schema=["feature", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens"],
        orient="row",
    )
    events = (
        combos.join(spec, on="feature")
        .with_columns(pl.int_ranges(0, pl.col("n")).alias("i"))
        .explode("i")
        .with_columns(
            pl.concat_str(
                pl.lit("demo-"),
                "customer_id",
                pl.lit("-"),
                pl.col("day").cast(pl.String),
                pl.lit("-"),
                "feature",
                pl.lit("-"),
                pl.col("i").cast(pl.String),
            ).alias("event_id"),
            pl.col("provider").replace_strict(SHARED_KEYS).alias("api_key_id"),
            pl.concat_str(pl.lit('{"workflow":"'), "workflow", pl.lit('"}')).alias("metadata_json"),
            pl.lit(0, pl.Int64).alias("cache_write_tokens"),
            pl.lit(0, pl.Int64).alias("cache_write_1h_tokens"),
            pl.lit(0, pl.Int64).alias("latency_ms_sum"),
            (pl.col("provider") == "openrouter").alias("has_cost"),
        )
    )
    return with_list_cost(events, cost_where="has_cost")


def with_list_cost(frame: pl.DataFrame, *, cost_where: str | None = None) -> pl.DataFrame:
    """Add cost_micros at list price (all rows, or only where `cost_where` is true)."""
    for column in ("cache_write_tokens", "cache_write_1h_tokens"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(0, pl.Int64).alias(column))
    rates = prices.rate_table(
        frame.select("provider", "model", "day"), overrides=pl.DataFrame(schema=schemas.PRICE_OVERRIDES)
    )
    listed = pricing.with_rates(frame.lazy(), rates=rates.lazy()).with_columns(
        (pricing.token_cost_atto() // 10**12).cast(pl.Int64).alias("_list")
    )
    keep = pl.col(cost_where) if cost_where else pl.lit(True)
    return (
        listed.with_columns(pl.when(keep).then(pl.col("_list")).otherwise(0).alias("cost_micros"))
        .drop("_list", *[c for c in rates.columns if c.endswith("_atto") or c == "known"])
        .collect()
    )


def _usage(events: pl.DataFrame, people: list[DemoCustomer], start: date, rnd: random.Random) -> pl.DataFrame:
    """Provider usage: the shared keys (split by events), dedicated mapped keys, internal unmapped keys."""
    tokens = ["input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens"]
    shared = events.group_by("day", "provider", "model", "api_key_id").agg(
        *(pl.col(t).sum() for t in tokens), pl.len().alias("requests")
    )
    extra = []
    for person in people:
        if not person.dedicated_key:
            continue
        for offset in range(DAYS):
            for feature in person.features:
                provider, model, inp, cached, out = FEATURES[feature]
                n = int(person.daily_requests * VOLUME[feature] * rnd.uniform(0.7, 1.3))
                key = person.dedicated_key if provider == "openai" else f"{person.dedicated_key}_{provider}"
                extra.append(
                    (start + timedelta(days=offset), provider, model, key, n * inp, n * cached, 0, 0, n * out, n)
                )
    for offset in range(DAYS):  # internal evals and a legacy batch job nobody mapped yet
        day = start + timedelta(days=offset)
        extra.append((day, "openai", "o1-2024-12-17", "key_internal_evals", 900_000, 0, 0, 0, 400_000, 120))
        extra.append(
            (day, "anthropic", "claude-opus-4-20250514", "apikey_internal_evals", 300_000, 0, 0, 0, 60_000, 40)
        )
        if offset % 3 == 0:
            extra.append(
                (day, "openai", "gpt-4o-mini-2024-07-18", "key_batch_legacy", 4_000_000, 0, 0, 0, 500_000, 900)
            )
    columns = ["day", "provider", "model", "api_key_id", *tokens, "requests"]
    extra_frame = pl.DataFrame(extra, schema=columns, orient="row").with_columns(pl.col("day").cast(pl.Date))
    usage = pl.concat([shared.select(columns), extra_frame], how="vertical_relaxed")
    usage = with_list_cost(usage)
    return usage.with_columns(
        pl.lit("").alias("project_id"),
        pl.lit("").alias("user_id"),
        pl.lit("reported").alias("cost_source"),
        pl.lit("api").alias("source"),
    )


def _revenue_rows(people: list[DemoCustomer], start: date, end: date) -> list[tuple[object, ...]]:
    rates = {"usd": 1, "eur": 1.10, "gbp": 1.30}
    rows: list[tuple[object, ...]] = []
    for person in people:
        month = date(start.year, start.month, 1)
        joined = start + timedelta(days=person.joined)
        while month < end:
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            period_start = max(month, date(joined.year, joined.month, 1))
            if following > joined:
                usd_cents = TIERS[person.tier]
                amount = round(usd_cents / rates[person.currency])  # priced in local currency
                cents = usd_cents if person.currency == "usd" else None
                source = f"il_demo_{person.customer_id}_{month:%Y%m}"
                rows.append(
                    (
                        source,
                        "invoice_line",
                        person.customer_id,
                        period_start,
                        following,
                        amount,
                        person.currency,
                        cents,
                        None,
                        person.tier.title(),
                        f"{person.tier.title()} plan",
                    )
                )
            month = following
    return rows


def build(engine: Engine, *, today: date) -> str:
    """Replace the store's content with the demo workspace ending the day before `today`."""
    end = today
    start = end - timedelta(days=DAYS)
    rnd = random.Random(SEED)
    people = _customers(rnd)
    events = _expand_events(_event_frame(people, start, rnd))
    usage = _usage(events, people, start, rnd)
    clear(engine)
    with engine.begin() as connection:
        repo.upsert_customers(
            connection,
            [
                (
                    p.customer_id,
                    p.name,
                    f"billing@{p.name.lower().replace(' ', '')}.example",
                    p.tier,
                    p.segment,
                    p.region,
                    repo.customer_metadata({"industry": p.industry}),
                    "demo",
                )
                for p in people
            ],
        )
        repo.upsert_usage(connection, usage)
        mappings = [("*", "api_key_id", p.dedicated_key, p.customer_id) for p in people if p.dedicated_key]
        mappings += [
            (prov, "api_key_id", f"{p.dedicated_key}_{prov}", p.customer_id)
            for p in people
            if p.dedicated_key
            for prov in ("anthropic", "openrouter")
        ]
        repo.upsert_mappings(connection, mappings)
        labels = [(prov, key, f"{prov} production (shared)", "") for prov, key in SHARED_KEYS.items()]
        labels += [
            ("openai", "key_internal_evals", "internal evals (o1)", ""),
            ("anthropic", "apikey_internal_evals", "internal evals (Opus)", ""),
            ("openai", "key_batch_legacy", "legacy nightly batch", ""),
        ]
        repo.upsert_api_keys(connection, labels)
        repo.upsert_revenue(connection, _revenue_rows(people, start, end))
        fx.save_rates(connection, [("EUR", "1.10"), ("GBP", "1.30")])
        repo.set_setting(connection, "workspace_kind", "demo")
        repo.set_setting(connection, "demo_today", today.isoformat())
        repo.bump_version(connection)
    batch = events.with_columns(pl.col("event_id").map_batches(_keys, return_dtype=pl.Int64).alias("event_key")).select(
        BATCH_COLUMNS
    )
    ingest_frame(engine, batch)
    return f"{len(people)} customers, {events.height:,} request events, {usage.height:,} usage rows, {start} to {end}"


def _keys(ids: pl.Series) -> pl.Series:
    from margin_core.store.events import event_key

    return pl.Series([event_key(i) for i in ids.to_list()], dtype=pl.Int64)


TABLES = (
    "provider_usage",
    "usage_mapping",
    "api_key_label",
    "event_rollup",
    "event_seen",
    "revenue_line",
    "customer",
    "customeralias",
    "exchange_rate",
    "price_override",
    "sync_run",
)


def clear(engine: Engine) -> None:
    """Empty every data table and mark the store as the user's own (connections are kept)."""
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
        connection.execute(text("DELETE FROM setting WHERE key = 'demo_today'"))
        repo.set_setting(connection, "workspace_kind", "own")  # cleared: never refilled with the demo
        repo.bump_version(connection)


def is_empty(engine: Engine) -> bool:
    """True when the store has no usage, events, revenue or customers."""
    with engine.connect() as connection:
        for table in ("provider_usage", "event_rollup", "revenue_line", "customer"):
            if connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return False
    return True


def ensure_demo(engine: Engine | None = None) -> bool:
    """Fill a new, empty store with the demo workspace (the app's first start); True if it did.

    A store whose demo was cleared (workspace_kind=own) stays empty for the user's own data.
    """
    engine = engine or shared_engine()
    with engine.connect() as connection:
        kind = repo.read_settings(connection).get("workspace_kind")
    if kind == "own" or not is_empty(engine):
        return False
    build(engine, today=datetime.now(UTC).date())
    return True

"""The built-in demo workspace (rules §1, §8): 120 deterministic days that tell the product page's stories.

In the last full month (the calendar month before `today`'s):
- Acme Corp $4,200 revenue / $1,890 cost (profitable), StartupCo $200 / $12,000 (unprofitable), DataFlow
  Inc $500 / $413 (break-even); blended margin 58% the month before, 42% in it; by model Claude Haiku
  +84%, GPT-4o mini +61%, GPT-4o +22%, GPT-4 Turbo −12%, Claude Opus −31%. The providers' reported cost
  is planted to give these figures (`_calibrate`); tokens and requests stay as generated.
- Bill spike: Cobalt Health's code reviews (GPT-4o) jump in the last full week and keep rising, so the
  OpenAI bill of that week is clearly above the week before and a cost-spike alert fires.
- Power users, unattributed internal keys to map, every customer with features, models and metadata.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import Engine

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
    "chat": ("openai", "gpt-4o-mini-2024-07-18", 80_000, 40_000, 3_000),
    "document-summarize": ("anthropic", "claude-sonnet-4-20250514", 60_000, 20_000, 4_000),
    "code-review": ("openai", "gpt-4o-2024-08-06", 30_000, 8_000, 3_000),
    "search-embeddings": ("openai", "text-embedding-3-small", 20_000, 0, 0),
    "agent-workflow": ("anthropic", "claude-sonnet-4-20250514", 120_000, 20_000, 10_000),
    "deep-research": ("anthropic", "claude-opus-4-20250514", 30_000, 6_000, 3_000),
    "report-generation": ("openai", "gpt-4-turbo-2024-04-09", 40_000, 0, 3_000),
    "translation": ("openrouter", "google/gemini-2.5-flash", 15_000, 0, 12_000),
    "classification": ("openrouter", "deepseek/deepseek-chat-v3-0324", 8_000, 0, 600),
    "support-triage": ("anthropic", "claude-3-5-haiku-20241022", 20_000, 6_000, 2_500),
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
    "deep-research": 0.5,
    "report-generation": 0.5,
}
SHARED_KEYS = {"openai": "key_prod_shared", "anthropic": "apikey_prod_shared", "openrouter": "or_prod_shared"}
NAMED = [  # (name, tier, features, daily requests, region)
    ("Acme Corp", "enterprise", ("code-review", "chat", "document-summarize"), 40, "na"),
    ("StartupCo", "starter", ("agent-workflow", "report-generation", "chat"), 520, "na"),
    ("DataFlow Inc", "pro", ("document-summarize", "classification"), 30, "emea"),
    ("Cobalt Health", "business", ("document-summarize", "support-triage", "code-review"), 60, "na"),
]
# The last full month's figures of the product page (rules §1): cost per named customer in micro-dollars,
# blended margin the month before and in it, margin per model.
CUSTOMER_COST = {"Acme Corp": 1_890_000_000, "StartupCo": 12_000_000_000, "DataFlow Inc": 413_000_000}
BLENDED_MARGIN = (0.58, 0.42)
MODEL_MARGIN = {
    "claude-3-5-haiku-20241022": 0.84,
    "gpt-4o-mini-2024-07-18": 0.61,
    "gpt-4o-2024-08-06": 0.22,
    "gpt-4-turbo-2024-04-09": -0.12,
    "claude-opus-4-20250514": -0.31,
}
SPIKE = ("Cobalt Health", "code-review", 40)  # requests × 40 in the last full week, × 81 after it
# the named customers of CUSTOMER_COST call through keys of their own (mapped), with SDK events on them
OWN_KEY_PREFIX = {"openai": "key_", "anthropic": "apikey_", "openrouter": "or_"}


def own_key_suffix(name: str) -> str:
    """ "Acme Corp" → "acme_corp": the suffix of a named customer's own provider keys."""
    return name.lower().replace(" ", "_")


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
    currency: str = "usd"
    joined: int = 0  # day index the customer started
    dedicated_key: str = ""  # a mapped provider key instead of SDK events ("" for SDK customers)


def _customers(rnd: random.Random) -> list[DemoCustomer]:
    people = []
    for index, (name, tier, features, requests, region) in enumerate(NAMED):
        people.append(
            DemoCustomer(
                customer_id=f"cus_demo{index:03d}",
                name=name,
                tier=tier,
                segment=SEGMENT[tier],
                region=region,
                industry=INDUSTRIES[index % 6],
                features=features,
                daily_requests=requests,
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
            DemoCustomer(  # keywords in this order: the two draws from `rnd` below must stay in it
                customer_id=f"cus_demo{index:03d}",
                name=name,
                tier=tier,
                segment=SEGMENT[tier],
                region=region,
                industry=rnd.choice(INDUSTRIES),
                features=features,
                daily_requests=max(1, int(scale * rnd.uniform(0.5, 1.6))),
                currency=currency,
                joined=joined,
                dedicated_key=dedicated,
            )
        )
    return people


def last_full_week(today: date) -> tuple[date, date]:
    """The Monday and Sunday of the last ISO week that ended before `today`."""
    yesterday = today - timedelta(days=1)
    sunday = yesterday - timedelta(days=(yesterday.weekday() + 1) % 7)
    return sunday - timedelta(days=6), sunday


def last_full_month(today: date) -> tuple[date, date]:
    """The calendar month before `today`'s, as [first day, first day of the next month)."""
    end = today.replace(day=1)
    return (end - timedelta(days=1)).replace(day=1), end


def _event_frame(people: list[DemoCustomer], start: date, rnd: random.Random, *, today: date) -> pl.DataFrame:
    """One row per (customer, day, feature) with its request count; expanded to events later."""
    rows = []
    monday, sunday = last_full_week(today)
    spiker, spiked, factor = SPIKE
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
                if person.name == spiker and feature == spiked and day >= monday:
                    # rose in the last full week and kept rising: 7-day cost ≥ 2× the 7 days before it on
                    # every weekday `today` may fall on (rules §4.9)
                    count *= factor if day <= sunday else 2 * factor + 1
                if count:
                    workflow = "batch" if feature in ("classification", "search-embeddings") else "interactive"
                    rows.append((person.customer_id, day, feature, count, workflow))
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.String, "day": pl.Date, "feature": pl.String, "n": pl.Int64, "workflow": pl.String},
        orient="row",
    )


def _expand_events(combos: pl.DataFrame, people: list[DemoCustomer]) -> pl.DataFrame:
    """Per-event rows in `events_frame` shape, costs from list prices for OpenRouter (which reports them)."""
    spec = pl.DataFrame(
        [(f, *v) for f, v in FEATURES.items()],
        schema=["feature", "provider", "model", "input_tokens", "cached_input_tokens", "output_tokens"],
        orient="row",
    )
    own = pl.DataFrame(
        {
            "customer_id": [p.customer_id for p in people],
            "own_key": [own_key_suffix(p.name) if p.name in CUSTOMER_COST else "" for p in people],
        }
    )
    events = (
        combos.join(spec, on="feature")
        .join(own, on="customer_id", how="left")
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
            pl.when(pl.col("own_key") != "")
            .then(pl.concat_str(pl.col("provider").replace_strict(OWN_KEY_PREFIX), pl.col("own_key")))
            .otherwise(pl.col("provider").replace_strict(SHARED_KEYS))
            .alias("api_key_id"),
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
        extra.append((day, "openai", "o1-2024-12-17", "key_internal_evals", 2_500_000, 0, 0, 0, 1_000_000, 120))
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


def _calibrate(usage: pl.DataFrame, events: pl.DataFrame, people: list[DemoCustomer], *, today: date) -> pl.DataFrame:
    """Plant the providers' reported cost so that the last full month tells the product page's story.

    Each usage row keeps its tokens and requests; its cost is its list cost times a factor:
    - before the last full month, one factor for every row, giving the month before BLENDED_MARGIN[0];
    - from the last full month on, per model of MODEL_MARGIN: that model's cost is its allocated revenue
      (each customer's revenue split by its requests, rules §4.5) times 1 − its margin; each named
      customer of CUSTOMER_COST puts the rest of its cost on its other models' rows (exact to the
      micro-dollar in the month); every other row shares one factor, giving BLENDED_MARGIN[1].
    """
    first, end = last_full_month(today)
    before_first = (first - timedelta(days=1)).replace(day=1)
    joined_by = {p.customer_id: today - timedelta(days=DAYS - p.joined) for p in people}
    owner = {}
    for person in people:
        if person.name in CUSTOMER_COST:
            for prefix in OWN_KEY_PREFIX.values():
                owner[f"{prefix}{own_key_suffix(person.name)}"] = person.customer_id
        elif person.dedicated_key:
            owner[person.dedicated_key] = person.customer_id
            for provider in ("anthropic", "openrouter"):
                owner[f"{person.dedicated_key}_{provider}"] = person.customer_id

    def month_revenue(month_end: date) -> dict[str, int]:
        return {p.customer_id: TIERS[p.tier] * 10_000 for p in people if joined_by[p.customer_id] < month_end}

    # requests per customer and model in the month: SDK events, and mapped rows without events
    in_month = (pl.col("day") >= first) & (pl.col("day") < end)
    requests = pl.concat(
        [
            events.filter(in_month).group_by("customer_id", "model").agg(pl.len().cast(pl.Int64).alias("requests")),
            usage.filter(in_month)
            .with_columns(pl.col("api_key_id").replace_strict(owner, default=None).alias("customer_id"))
            .filter(
                pl.col("customer_id").is_not_null() & ~pl.col("customer_id").is_in(list(events["customer_id"].unique()))
            )
            .group_by("customer_id", "model")
            .agg(pl.col("requests").sum()),
        ]
    )
    revenue = month_revenue(end)
    allocated = (
        requests.with_columns(
            pl.col("customer_id").replace_strict(revenue, default=0, return_dtype=pl.Int64).alias("revenue"),
            (pl.col("requests") / pl.col("requests").sum().over("customer_id")).alias("share"),
        )
        .group_by("model")
        .agg((pl.col("revenue") * pl.col("share")).sum().alias("allocated"))
    )
    model_revenue = dict(allocated.iter_rows())
    rows = usage.with_row_index("_row").with_columns(
        pl.col("api_key_id").replace_strict(owner, default=None).alias("_owner"),
        pl.col("cost_micros").cast(pl.Float64).alias("_list"),
    )
    named = {p.customer_id: CUSTOMER_COST[p.name] for p in people if p.name in CUSTOMER_COST}
    month_rows = rows.filter(in_month)
    model_cost = {m: model_revenue.get(m, 0.0) * (1 - margin) for m, margin in MODEL_MARGIN.items()}
    model_list = dict(month_rows.group_by("model").agg(pl.col("_list").sum()).iter_rows())
    model_factor = {m: model_cost[m] / model_list[m] for m in MODEL_MARGIN if model_list.get(m)}
    free = ~pl.col("model").is_in(list(MODEL_MARGIN))
    owner_factor = {}
    for customer_id, target in named.items():
        mine = month_rows.filter(pl.col("_owner") == customer_id)
        fixed = sum(
            model_factor.get(m, 0.0) * c
            for m, c in mine.filter(~free).group_by("model").agg(pl.col("_list").sum()).iter_rows()
        )
        rest = float(mine.filter(free)["_list"].sum())
        if rest <= 0 or fixed >= target:
            raise AssertionError(f"demo: {customer_id} cannot reach its cost ({fixed:.0f} of {target} on fixed models)")
        owner_factor[customer_id] = (target - fixed) / rest
    total = sum(revenue.values()) * (1 - BLENDED_MARGIN[1])
    others = month_rows.filter(free & ~(pl.col("_owner").is_in(list(named)).fill_null(False)))
    remaining = (
        total
        - sum(model_cost.values())
        - sum(named.values())
        + sum(
            model_factor[m] * c
            for m, c in month_rows.filter(~free & pl.col("_owner").is_in(list(named)))
            .group_by("model")
            .agg(pl.col("_list").sum())
            .iter_rows()
        )
    )
    if remaining <= 0:
        raise AssertionError(f"demo: no cost left for the other models ({remaining:.0f})")
    late_factor = remaining / float(others["_list"].sum())
    previous = rows.filter((pl.col("day") >= before_first) & (pl.col("day") < first))
    early_factor = sum(month_revenue(first).values()) * (1 - BLENDED_MARGIN[0]) / float(previous["_list"].sum())
    factor = (
        pl.when(pl.col("day") < first)
        .then(early_factor)
        .when(pl.col("model").is_in(list(model_factor)))
        .then(pl.col("model").replace_strict(model_factor, default=None, return_dtype=pl.Float64))
        .when(pl.col("_owner").is_in(list(owner_factor)))
        .then(pl.col("_owner").replace_strict(owner_factor, default=None, return_dtype=pl.Float64))
        .otherwise(late_factor)
    )
    scaled = rows.with_columns((pl.col("_list") * factor).round(0).cast(pl.Int64).alias("cost_micros"))
    # each named customer's month to the micro-dollar: the difference on its largest row of the month
    for customer_id, target in named.items():
        mine = scaled.filter(in_month & (pl.col("_owner") == customer_id)).sort(
            "cost_micros", "_row", descending=[True, False]
        )
        gap = target - int(mine["cost_micros"].sum())
        row = mine["_row"][0]
        scaled = scaled.with_columns(
            pl.when(pl.col("_row") == row)
            .then(pl.col("cost_micros") + gap)
            .otherwise(pl.col("cost_micros"))
            .alias("cost_micros")
        )
    return scaled.drop("_row", "_owner", "_list")


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
    events = _expand_events(_event_frame(people, start, rnd, today=today), people)
    usage = _calibrate(_usage(events, people, start, rnd), events, people, today=today)
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
        mappings += [
            (provider, "api_key_id", f"{prefix}{own_key_suffix(p.name)}", p.customer_id)
            for p in people
            if p.name in CUSTOMER_COST
            for provider, prefix in OWN_KEY_PREFIX.items()
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
    # The derived day ledger is built now, once, so that the first report and the app's first page read it.
    from margin_core.workspace import load_workspace

    load_workspace(engine).days.frames(None, None)
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
    "sync_gap",
)


def clear(engine: Engine) -> None:
    """Empty every data table and mark the store as the user's own (connections are kept)."""
    with engine.begin() as connection:
        repo.clear_tables(connection, TABLES)
        repo.delete_setting(connection, "demo_today")
        repo.forget_day_versions(connection)  # no derived ledger file of the demo is trusted again
        repo.set_setting(connection, "workspace_kind", "own")  # cleared: never refilled with the demo
        repo.bump_version(connection)


def is_empty(engine: Engine) -> bool:
    """True when the store has no usage, events, revenue or customers."""
    with engine.connect() as connection:
        for table in ("provider_usage", "event_rollup", "revenue_line", "customer"):
            if repo.has_rows(connection, table):
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

"""Use cases the app's pages call that the other modules do not already offer: the app's engine and store
version, settings, mappings, connections, demo actions and the page-shaped reads (drill-down, split series,
cost breakdowns, freshness). Pages never see SQL, the store or the engine: everything goes through here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, text

from connectors import anthropic, openai, openrouter, stripe_revenue
from connectors.errors import ConnectorError
from margin_core import demo, imports, ingest, insights, reports, secrets, settings, sync
from margin_core.engine import dimensions, granularity, margins
from margin_core.engine.dimensions import NO_USAGE
from margin_core.engine.margins import DEFAULT_BREAK_EVEN, UNATTRIBUTED, with_margin
from margin_core.errors import ConfigError
from margin_core.store import db, repo
from margin_core.workspace import Workspace, load_workspace

__all__ = [
    "NO_USAGE",
    "UNATTRIBUTED",
    "ConnectionCheck",
    "Granularity",
    "app_engine",
    "change_in_points",
    "choose_granularity",
]

Granularity = granularity.Granularity
choose_granularity = granularity.choose_granularity
change_in_points = granularity.change_in_points
PROVIDERS = ("openai", "anthropic", "openrouter", "stripe")
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "stripe": "Stripe"}
SPLITS = ("customer", "tier", "feature", "model", "provider")
_TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
_SUMS = ("cost_micros", "estimated_micros", "requests", *_TOKENS)


# --- the store --------------------------------------------------------------------------------------


def app_engine() -> Engine:
    """The app's engine (MARGIN_DATABASE_URL or data/margin.db); an empty store gets the demo workspace."""
    engine = db.shared_engine()
    demo.ensure_demo(engine)
    return engine


def store_version(engine: Engine) -> int:
    """The store's change counter: any sync, import, mapping or setting changes it."""
    return repo.data_version(engine)


def load(engine: Engine) -> Workspace:
    """The workspace snapshot every report of the app is computed from, attributed once for all ranges."""
    return reports.prepare(load_workspace(engine))


def workspace_label(engine: Engine) -> str:
    """Where the store lives, without credentials: "SQLite · data/margin.db", "PostgreSQL · host/db"."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        short = path.removeprefix(str(settings.REPO_ROOT) + "/")
        return f"SQLite · {short}"
    return f"PostgreSQL · {url.host or 'localhost'}/{url.database or ''}"


def _bump(engine: Engine, write: Callable[[Connection], object]) -> None:
    with engine.begin() as connection:
        write(connection)
        repo.bump_version(connection)


# --- settings -----------------------------------------------------------------------------------------


def read_settings(engine: Engine) -> dict[str, str]:
    """Every key/value setting."""
    with engine.connect() as connection:
        return repo.read_settings(connection)


def settings_table(engine: Engine) -> pl.DataFrame:
    """The settings that matter to the user, as shown on the Settings page."""
    values = read_settings(engine)
    rows = [
        ("Break-even threshold", f"{float(values.get('break_even_pct', DEFAULT_BREAK_EVEN * 100)):g}%"),
        ("Allocation basis", values.get("allocation_basis", "requests")),
        ("Workspace", "demo" if values.get("workspace_kind") == "demo" else "own data"),
        ("Store version", values.get("data_version", "0")),
    ]
    return pl.DataFrame(rows, schema=["setting", "value"], orient="row")


def save_settings(engine: Engine, *, break_even_pct: float | None = None, allocation_basis: str | None = None) -> None:
    """Save the break-even threshold (percent, 0–100) and/or the allocation basis (requests | tokens)."""
    if break_even_pct is not None and not 0 <= break_even_pct <= 100:
        raise ConfigError(f"break-even threshold {break_even_pct}% must be between 0 and 100")
    if allocation_basis is not None and allocation_basis not in ("requests", "tokens"):
        raise ConfigError(f"allocation basis {allocation_basis!r} must be requests or tokens")

    def write(connection: Connection) -> None:
        if break_even_pct is not None:
            repo.set_setting(connection, "break_even_pct", f"{break_even_pct:g}")
        if allocation_basis is not None:
            repo.set_setting(connection, "allocation_basis", allocation_basis)

    _bump(engine, write)


def exchange_rates(engine: Engine) -> pl.DataFrame:
    """currency, rate_to_usd (text Decimal) of the rate table."""
    with engine.connect() as connection:
        rates = repo.read_exchange_rates(connection)
    rows = [(code, str(rate)) for code, rate in sorted(rates.items())]
    return pl.DataFrame(rows, schema={"currency": pl.String, "rate_to_usd": pl.String}, orient="row")


def save_exchange_rates(engine: Engine, rows: list[tuple[str, str]]) -> int:
    """Validate and save (currency, rate_to_usd) rows; revenue is reconverted. Raises ConfigError."""
    clean: list[tuple[str, str]] = []
    for code, raw in rows:
        code = (code or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ConfigError(f"{code or '(empty)'!r} is not a 3-letter currency code")
        try:
            rate = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ConfigError(f"{code}: {raw!r} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise ConfigError(f"{code}: the rate must be a positive number")
        clean.append((code, str(rate)))
    _bump(engine, lambda connection: repo.upsert_rates(connection, clean))
    return len(clean)


def unconverted_revenue(workspace: Workspace, *, start: date, end: date) -> list[str]:
    """One line per revenue item in the range without an exchange rate (DESIGN §4.3)."""
    from margin_core import output

    return list(output.unconverted_warnings(workspace, start=start, end=end))


# --- mappings -----------------------------------------------------------------------------------------


def save_mapping(engine: Engine, *, provider: str, dimension: str, value: str, customer_id: str) -> None:
    """Map one key, project or user (of one provider, or `*`) to a customer; reports change at once."""
    if dimension not in imports.DIMENSIONS:
        raise ConfigError(f"dimension {dimension!r} is not one of {', '.join(imports.DIMENSIONS)}")
    if not value or not customer_id:
        raise ConfigError("a mapping needs a value and a customer")
    _bump(engine, lambda c: repo.upsert_mappings(c, [(provider, dimension, value, customer_id)]))


def delete_mapping(engine: Engine, *, provider: str, dimension: str, value: str) -> None:
    """Remove one mapping."""
    _bump(
        engine,
        lambda c: c.execute(
            text("DELETE FROM usage_mapping WHERE provider = :p AND dimension = :d AND value = :v"),
            {"p": provider, "d": dimension, "v": value},
        ),
    )


def import_csv(engine: Engine, kind: str, content: str, *, source: str) -> int:
    """Validate a canonical CSV whole, then write it (refused in the demo workspace); rows written."""
    parsed = imports.parse_text(kind, content, source=source)
    return ingest.write_parsed(engine, parsed)


def key_labels(workspace: Workspace) -> dict[tuple[str, str], str]:
    """Names of provider API keys by (provider, api_key_id), as their admin APIs list them."""
    return {(p, k): n for p, k, n, _ in workspace.api_keys.iter_rows() if n}


# --- connections --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of a key check: ok, and a message for the user."""

    ok: bool
    message: str


def check_key(kind: str, secret: str) -> ConnectionCheck:
    """Check a key's format, then make one cheap authenticated call (DESIGN §7)."""
    if kind not in _KEY_TESTS:
        raise ConfigError(f"unknown connection {kind!r}")
    try:
        _KEY_TESTS[kind](secret)
    except ConnectorError as exc:
        return ConnectionCheck(False, str(exc))
    return ConnectionCheck(True, f"{PROVIDER_NAMES[kind]} accepted the key.")


def _test_openai(secret: str) -> None:
    openai.validate_key_format(secret)
    with closing(openai.make_client(secret, base_url=settings.base_url("openai"))) as client:
        openai.OpenAIConnector(client).test_key()


def _test_anthropic(secret: str) -> None:
    anthropic.validate_key_format(secret)
    with closing(anthropic.make_client(secret, base_url=settings.base_url("anthropic"))) as client:
        anthropic.AnthropicConnector(client).test_key()


def _test_openrouter(secret: str) -> None:
    openrouter.validate_key_format(secret)
    with closing(openrouter.make_client(secret, base_url=settings.base_url("openrouter"))) as client:
        openrouter.OpenRouterConnector(client).test_key()


def _test_stripe(secret: str) -> None:
    stripe_revenue.validate_key_format(secret)
    stripe_revenue.StripeRevenue(stripe_revenue.make_client(secret, base_url=settings.base_url("stripe"))).test_key()


# Each raises ConnectorError when the key's format is wrong or the provider refuses it.
_KEY_TESTS: dict[str, Callable[[str], None]] = {
    "openai": _test_openai,
    "anthropic": _test_anthropic,
    "openrouter": _test_openrouter,
    "stripe": _test_stripe,
}


def save_connection(engine: Engine, kind: str, secret: str) -> None:
    """Save (or replace) a provider's key, encrypted at rest; only its masked form is ever shown."""
    if kind not in PROVIDERS:
        raise ConfigError(f"unknown connection {kind!r}")
    token, label = secrets.encrypt(secret), secrets.mask(secret)
    with engine.begin() as connection:
        updated = connection.execute(
            text(
                "UPDATE connection SET secret_encrypted = :s, label = :l, status = 'connected', last_error = '' "
                "WHERE kind = :k"
            ),
            {"s": token, "l": label, "k": kind},
        )
        if updated.rowcount == 0:
            connection.execute(
                text(
                    "INSERT INTO connection (kind, label, secret_encrypted, status, created_at, last_error) "
                    "VALUES (:k, :l, :s, 'connected', :t, '')"
                ),
                {"k": kind, "l": label, "s": token, "t": datetime.now(UTC)},
            )


def remove_connection(engine: Engine, kind: str) -> None:
    """Forget a provider's key (the data already synced stays)."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM connection WHERE kind = :k"), {"k": kind})


def saved_key(engine: Engine, kind: str) -> str | None:
    """A saved key in clear, for a test call; never shown."""
    with engine.connect() as connection:
        token = connection.execute(
            text("SELECT secret_encrypted FROM connection WHERE kind = :k"), {"k": kind}
        ).scalar()
    return secrets.decrypt(token) if token else None


def connections(engine: Engine) -> pl.DataFrame:
    """One row per provider: masked key, status, last sync, its rows and error (env keys included)."""
    with engine.connect() as connection:
        saved = {
            row.kind: row
            for row in connection.execute(
                text("SELECT kind, label, status, last_synced_at, last_error FROM connection")
            )
        }
        runs = {
            row.provider: row
            for row in connection.execute(
                text(
                    "SELECT provider, status, rows_written, error, finished_at FROM sync_run r WHERE id = "
                    "(SELECT MAX(id) FROM sync_run s WHERE s.provider = r.provider)"
                )
            )
        }
    rows = []
    for kind in PROVIDERS:
        row, run = saved.get(kind), runs.get(kind)
        env = settings.key_from_env(kind)
        if row is not None:
            key, source, status = row.label, "saved", row.status
        elif env:
            key, source, status = secrets.mask(env), "environment", "connected"
        else:
            key, source, status = "", "", "not connected"
        last = (row.last_synced_at if row is not None else None) or (run.finished_at if run else None)
        rows.append(
            {
                "provider": kind,
                "name": PROVIDER_NAMES[kind],
                "key": key,
                "source": source,
                "status": status,
                "last_sync": _aware(last),
                "last_result": run.status if run else "",
                "rows_written": run.rows_written if run else None,
                "last_error": (row.last_error if row is not None else "") or (run.error if run else ""),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "provider": pl.String,
            "name": pl.String,
            "key": pl.String,
            "source": pl.String,
            "status": pl.String,
            "last_sync": pl.Datetime("us", "UTC"),
            "last_result": pl.String,
            "rows_written": pl.Int64,
            "last_error": pl.String,
        },
    )


def _aware(value: datetime | str | None) -> datetime | None:
    """SQLite gives naive datetimes (or text) even for aware columns: re-attach UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_sync(
    engine: Engine, *, only: str | None, today: date, progress: Callable[[str], None] | None = None
) -> list[sync.SyncResult]:
    """Run `margin_core.sync.sync_all` (results have provider, status, rows_written, error)."""
    return sync.sync_all(engine, only=only, today=today, days=None, progress=progress)


# --- demo ---------------------------------------------------------------------------------------------


def reset_demo(engine: Engine, *, today: date) -> str:
    """Rebuild the demo workspace ending the day before `today`."""
    return demo.build(engine, today=today)


def clear_demo(engine: Engine) -> None:
    """Empty the demo store so the user's own data can come in (connections are kept)."""
    demo.clear(engine)


# --- page-shaped reads ------------------------------------------------------------------------------


def ledger_summary(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The range's ledger summed per day, customer, feature, provider and model, with customer names."""
    ledger, _ = reports.ledger(workspace, start=start, end=end)
    names = workspace.customers.lazy().select("customer_id", pl.col("name").alias("customer_name"))
    return (
        ledger.group_by("day", "customer_id", "feature", "provider", "model")
        .agg(pl.col(c).sum() for c in _SUMS)
        .join(names, on="customer_id", how="left")
        .with_columns(
            pl.when(pl.col("customer_id").is_null())
            .then(pl.lit(UNATTRIBUTED))
            .when(pl.col("customer_name").is_null() | (pl.col("customer_name") == ""))
            .then(pl.col("customer_id"))
            .otherwise(pl.col("customer_name"))
            .alias("customer_name")
        )
        .sort("day", "customer_id", "feature", "provider", "model", nulls_last=True)
        .collect()
    )


def customer_table(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """The customers report (micro-dollars) with segment, region, requests and tokens for filtering."""
    table = reports.report(workspace, "customers", start=start, end=end)
    attributes = workspace.customers.select("customer_id", "segment", "region")
    usage = insights.customer_usage(ledger_summary(workspace, start=start, end=end)).select(
        "customer_id", "requests", "tokens"
    )
    return (
        table.join(attributes, on="customer_id", how="left")
        .join(usage, on="customer_id", how="left")
        .with_columns(
            pl.col("segment", "region").fill_null(""),
            pl.col("requests", "tokens").fill_null(0),
        )
    )


def plan_history(workspace: Workspace, *, customer_id: str) -> pl.DataFrame:
    """A customer's revenue lines: the plan history the customer page shows (DESIGN §8)."""
    return (
        workspace.revenue.filter(pl.col("customer_id") == customer_id)
        .select(
            "service_start",
            "service_end",
            "plan",
            "kind",
            "source_id",
            (pl.col("amount_usd_cents") * 10_000).alias("amount_micros"),
            "currency",
        )
        .sort("service_start", "source_id", descending=[True, False])
    )


def over_time_split(
    workspace: Workspace, *, start: date, end: date, grain: Granularity, by: str, top: int = 6
) -> pl.DataFrame:
    """Revenue, cost and margin per period and per value of `by` (customer, tier, feature, model,
    provider): each period is its own report range, so values add up to the unsplit series. Values past
    the `top` by cost are summed as "(other)"."""
    if by not in SPLITS:
        raise ConfigError(f"cannot split by {by!r}; one of {', '.join(SPLITS)}")
    # Attribution is per day: compute the range's ledger and revenue once, then slice them per period.
    ledger = reports.ledger(workspace, start=start, end=end)[0].collect().lazy()
    daily = reports.daily_revenue(workspace, start=start, end=end).collect().lazy()
    customers = workspace.customers.lazy()
    starts = granularity.period_starts(start, end, grain).collect()["period_start"].to_list()
    lazy_frames = []
    for index, period in enumerate(starts):
        following = starts[index + 1] if index + 1 < len(starts) else end
        first, last = max(period, start), min(following, end)
        inside = (pl.col("day") >= first) & (pl.col("day") < last)
        led, rev = ledger.filter(inside), daily.filter(inside)
        if by == "customer":
            rows = margins.customer_margins(led, daily_revenue=rev, customers=customers).select(
                pl.col("customer_name").alias("value"), "revenue_micros", "cost_micros"
            )
        elif by == "tier":
            rows = dimensions.by_customer_attribute(
                led, daily_revenue=rev, customers=customers, attribute="tier"
            ).select("value", "revenue_micros", "cost_micros")
        else:
            values = ["provider", "model"] if by == "model" else [by]
            rows = dimensions.by_usage_attribute(led, daily_revenue=rev, values=values, basis=workspace.basis).select(
                pl.col(by).alias("value"), "revenue_micros", "cost_micros"
            )
        lazy_frames.append(rows.with_columns(pl.lit(period).alias("period_start")))
    frames = pl.collect_all(lazy_frames)
    if not frames:
        return pl.DataFrame(
            schema={"period_start": pl.Date, "value": pl.String, "revenue_micros": pl.Int64, "cost_micros": pl.Int64}
        )
    stacked = pl.concat(frames)
    ranking = (
        stacked.group_by("value")
        .agg(pl.col("cost_micros").sum(), pl.col("revenue_micros").sum())
        .sort("cost_micros", "revenue_micros", "value", descending=[True, True, False])
    )
    keep = ranking.head(top)["value"].to_list()
    grouped = (
        stacked.with_columns(
            pl.when(pl.col("value").is_in(keep)).then(pl.col("value")).otherwise(pl.lit("(other)")).alias("value")
        )
        .group_by("period_start", "value")
        .agg(pl.col("revenue_micros").sum(), pl.col("cost_micros").sum())
    )
    return (
        with_margin(grouped.lazy(), break_even=workspace.break_even)
        .sort("period_start", "value")
        .collect()
        .select("period_start", "value", "revenue_micros", "cost_micros", "margin_micros", "margin_pct", "status")
    )


def with_change_in_points(series: pl.DataFrame) -> pl.DataFrame:
    """Add `change_pts`: each period's margin_pct against the previous period's, in points."""
    previous = series["margin_pct"].shift(1).to_list()
    current = series["margin_pct"].to_list()
    changes = [change_in_points(p, c) for p, c in zip(previous, current, strict=True)]
    return series.with_columns(pl.Series("change_pts", changes, dtype=pl.Float64))


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The range of the same length just before [start, end)."""
    return start - (end - start), start


def totals(customers: pl.DataFrame) -> dict[str, Any]:
    """Headline figures of a customers report: revenue, cost, margin, shares and status counts."""
    revenue = int(customers["revenue_micros"].sum())
    cost = int(customers["cost_micros"].sum())
    unattributed = int(customers.filter(pl.col("customer_id") == UNATTRIBUTED)["cost_micros"].sum())
    real = customers.filter(pl.col("customer_id") != UNATTRIBUTED)
    counts = {status: real.filter(pl.col("status") == status).height for status in STATUSES}
    return {
        "revenue_micros": revenue,
        "cost_micros": cost,
        "margin_micros": revenue - cost,
        "margin_pct": (revenue - cost) / revenue if revenue > 0 else None,
        "cost_share": cost / revenue if revenue > 0 else None,
        "unattributed_micros": unattributed,
        "unattributed_share": unattributed / cost if cost > 0 else None,
        "customers": real.height,
        "status_counts": counts,
    }


STATUSES = ("profitable", "break_even", "unprofitable")


def cost_by_day(daily: pl.DataFrame) -> pl.DataFrame:
    """Cost per day, provider and model; reported and estimated parts."""
    return (
        daily.group_by("day", "provider", "model")
        .agg(pl.col("cost_micros").sum(), pl.col("estimated_micros").sum(), pl.col("requests").sum())
        .with_columns((pl.col("cost_micros") - pl.col("estimated_micros")).alias("reported_micros"))
        .sort("day", "provider", "model")
    )


def tokens_by_model(daily: pl.DataFrame) -> pl.DataFrame:
    """Tokens of each type, requests and cost per provider and model, largest cost first."""
    return (
        daily.group_by("provider", "model")
        .agg(pl.col(c).sum() for c in ("requests", *_TOKENS, "cost_micros", "estimated_micros"))
        .with_columns(pl.sum_horizontal(_TOKENS).alias("tokens"))
        .sort("cost_micros", "provider", "model", descending=[True, False, False])
    )


def freshness(engine: Engine, workspace: Workspace) -> pl.DataFrame:
    """Per source: the last day with data, the last sync and its result."""
    with engine.connect() as connection:
        runs = {
            row.provider: row
            for row in connection.execute(
                text(
                    "SELECT provider, status, finished_at, error FROM sync_run r WHERE id = "
                    "(SELECT MAX(id) FROM sync_run s WHERE s.provider = r.provider)"
                )
            )
        }
    usage_last = dict(workspace.usage.group_by("provider").agg(pl.col("day").max()).iter_rows())
    events_last = dict(workspace.events.group_by("provider").agg(pl.col("day").max()).iter_rows())
    rows: list[dict[str, Any]] = []
    for provider in PROVIDERS[:3]:
        run = runs.get(provider)
        rows.append(
            {
                "source": f"{PROVIDER_NAMES[provider]} usage",
                "last_day": usage_last.get(provider),
                "last_sync": _aware(run.finished_at) if run else None,
                "result": run.status if run else "",
            }
        )
    last_event = max(events_last.values()) if events_last else None
    rows.append({"source": "SDK events", "last_day": last_event, "last_sync": None, "result": ""})
    stripe = runs.get("stripe")
    last_revenue = workspace.revenue["service_start"].max() if not workspace.revenue.is_empty() else None
    rows.append(
        {
            "source": "Stripe revenue",
            "last_day": last_revenue,
            "last_sync": _aware(stripe.finished_at) if stripe else None,
            "result": stripe.status if stripe else "",
        }
    )
    return pl.DataFrame(
        rows,
        schema={"source": pl.String, "last_day": pl.Date, "last_sync": pl.Datetime("us", "UTC"), "result": pl.String},
    )


def metadata_keys(workspace: Workspace) -> tuple[list[str], list[str]]:
    """The event metadata keys and the customer metadata keys present in the store."""

    def keys(series: pl.Series) -> list[str]:
        found: set[str] = set()
        for raw in series.unique().to_list():
            if raw and raw != "{}":
                found.update(json.loads(raw))
        return sorted(found)

    return keys(workspace.events["metadata_json"]), keys(workspace.customers["metadata_json"])


def dimension_choices(workspace: Workspace) -> dict[str, str]:
    """Cross-subsidy dimensions: id → label (meta:<key> for events, cmeta:<key> for customers)."""
    choices = {d: d.capitalize() for d in ("feature", "model", "provider", "tier", "segment", "region")}
    event_keys, customer_keys = metadata_keys(workspace)
    choices.update({f"meta:{k}": f"Event metadata: {k}" for k in event_keys})
    choices.update({f"cmeta:{k}": f"Customer metadata: {k}" for k in customer_keys})
    return choices


def export_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A shown frame in the CLI's number format: *_micros as *_usd text with two decimals, margin_pct
    with four decimals (rounded half-up only here)."""
    converted = frame.with_columns(
        reports.usd(pl.col(c)).alias(c.replace("_micros", "_usd")) for c in frame.columns if c.endswith("_micros")
    ).drop(c for c in frame.columns if c.endswith("_micros"))
    if "margin_pct" in converted.columns:
        converted = converted.with_columns(reports.pct4(pl.col("margin_pct")))
    order = [c.replace("_micros", "_usd") for c in frame.columns]
    return converted.select(order)


def csv_text(frame: pl.DataFrame, *, kind: reports.ReportKind | None = None) -> str:
    """CSV of a shown frame: a report kind's exact CLI columns, else `export_frame`'s."""
    from margin_core import output

    shaped = reports.to_cli_frame(frame, kind) if kind else export_frame(frame)
    return output.to_csv(shaped)


def full_export(workspace: Workspace, *, start: date, end: date) -> dict[str, str]:
    """Every report of DESIGN §5 for the range as CSV text, by file name."""
    return {
        f"{kind}_{start}_{end - timedelta(days=1)}.csv": csv_text(
            reports.report(workspace, kind, start=start, end=end), kind=kind
        )
        for kind in reports.REPORT_KINDS
    }


def today_utc() -> date:
    """Today's UTC date (the app's clock lives here, not in the engine)."""
    return datetime.now(UTC).date()

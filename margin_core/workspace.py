"""A workspace snapshot: the store's frames loaded once, events priced, ids resolved (DESIGN §4.1, §8).

Reports for any range are computed from a snapshot; the app caches one per store version, the CLI
loads one per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import polars as pl
from sqlalchemy import Engine

from margin_core import prices
from margin_core.engine import attribution, pricing
from margin_core.engine.dimensions import Basis
from margin_core.engine.margins import DEFAULT_BREAK_EVEN
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.store import repo

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Workspace:
    """Frames of one store version, ready for the engine."""

    usage: pl.DataFrame  # USAGE, estimated rows priced
    events: pl.DataFrame  # EVENTS, each row's own cost in cost_micros, price_known
    mappings: pl.DataFrame
    customers: pl.DataFrame
    revenue: pl.DataFrame
    api_keys: pl.DataFrame
    price_overrides: pl.DataFrame  # PRICE_OVERRIDES
    settings: dict[str, str]
    version: int
    # Per-range results shared by every report of that range (a page shows several); bounded.
    memo: dict[tuple[object, ...], object] = field(default_factory=dict, compare=False, repr=False)

    def remember(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """`compute()` once per key for this snapshot; past 16 entries the oldest goes, except the whole
        snapshot's ledger (`("ledger",)`), which every range of the app is cut from."""
        if key not in self.memo:
            if len(self.memo) >= 16:
                self.memo.pop(next(k for k in self.memo if k != ("ledger",)))
            self.memo[key] = compute()
        return self.memo[key]  # type: ignore[return-value]

    @property
    def break_even(self) -> float:
        return float(self.settings.get("break_even_pct", str(DEFAULT_BREAK_EVEN * 100))) / 100

    @property
    def basis(self) -> Basis:
        return "tokens" if self.settings.get("allocation_basis") == "tokens" else "requests"

    @property
    def is_demo(self) -> bool:
        return self.settings.get("workspace_kind") == "demo"


def load_workspace(engine: Engine) -> Workspace:
    """Read every frame from the store, resolve customer aliases and price what needs a price."""
    version = repo.data_version(engine)
    with engine.connect() as connection:
        settings = repo.read_settings(connection)
        overrides = prices.override_frame(repo.read_price_override_rows(connection))
    frames = repo.read_snapshot(engine)
    usage, aliases = frames["usage"], frames["aliases"]
    mappings = _resolve(frames["mappings"], aliases)
    events = _resolve(frames["events"], aliases)
    rate_keys = pl.concat(
        [
            events.filter(~pl.col("has_cost")).select("provider", "model", "day"),
            usage.filter(pl.col("cost_source") == "estimated").select("provider", "model", "day"),
        ]
    )
    rates = prices.rate_table(rate_keys, overrides=overrides).lazy()
    priced_events = attribution.order_events(pricing.price_events(events.lazy(), rates=rates)).collect()
    priced_usage = pricing.price_estimated_usage(usage.lazy(), rates=rates).collect()
    return Workspace(
        usage=priced_usage,
        events=priced_events,
        mappings=mappings,
        customers=frames["customers"],
        revenue=frames["revenue"],
        api_keys=frames["api_keys"],
        price_overrides=overrides,
        settings=settings,
        version=version,
    )


def _resolve(frame: pl.DataFrame, aliases: pl.DataFrame) -> pl.DataFrame:
    """Replace app customer ids with the Stripe ids they are linked to (DESIGN §8)."""
    if aliases.is_empty():
        return frame
    return (
        frame.join(aliases.rename({"alias": "customer_id", "customer_id": "_linked"}), on="customer_id", how="left")
        .with_columns(pl.coalesce("_linked", "customer_id").alias("customer_id"))
        .drop("_linked")
    )


def unpriced_models(workspace: Workspace, *, start: date, end: date) -> pl.DataFrame:
    """Models without a price in the range, with the tokens they carry (never a silent $0, DESIGN §4.1)."""
    in_range = (pl.col("day") >= start) & (pl.col("day") < end)
    frames = [
        workspace.events.filter(in_range & ~pl.col("price_known")).select("provider", "model", *TOKEN_COLUMNS),
        workspace.usage.filter(in_range & ~pl.col("price_known")).select("provider", "model", *TOKEN_COLUMNS),
    ]
    return (
        pl.concat(frames)
        .group_by("provider", "model")
        .agg(pl.sum_horizontal(TOKEN_COLUMNS).sum().alias("tokens"))
        .sort("tokens", descending=True)
    )


__all__ = ["Workspace", "load_workspace", "unpriced_models"]

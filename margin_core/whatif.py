"""Use case: what switching a feature to another model would save, on the measured tokens of a range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from margin_core import prices, reports
from margin_core.engine.whatif import cost_on_model
from margin_core.schemas import TOKEN_COLUMNS
from margin_core.vocabulary import OTHER_MODEL
from margin_core.workspace import Workspace


@dataclass(frozen=True, slots=True)
class ModelSwitch:
    """A feature's cost now and on another model, for the same requests and tokens."""

    feature: str
    models_now: list[str]
    requests: int
    tokens: int
    cost_micros: int
    new_provider: str
    new_model: str
    new_cost_micros: int
    priced: bool  # False when the new model has no price on some day (its cost there counts 0)

    @property
    def saving_micros(self) -> int:
        return self.cost_micros - self.new_cost_micros


def feature_on_model(
    workspace: Workspace, *, start: date, end: date, feature: str, provider: str, model: str
) -> ModelSwitch:
    """The feature's attributed cost in [start, end) against its tokens priced on `provider`/`model`."""
    ledger, _ = reports.ledger(workspace, start=start, end=end)
    rows = ledger.filter(pl.col("feature") == feature).collect()
    by_day = rows.group_by("day").agg(pl.col(*TOKEN_COLUMNS).sum())
    keys = by_day.select(pl.lit(provider).alias("provider"), pl.lit(model).alias("model"), "day")
    rates = prices.rate_table(keys, overrides=workspace.price_overrides)
    priced = cost_on_model(by_day.lazy(), rates=rates.lazy()).collect()
    return ModelSwitch(
        feature=feature,
        models_now=sorted(rows.filter(pl.col("cost_micros") != 0)["model"].unique().to_list()),
        requests=int(rows["requests"].sum()),
        tokens=int(rows.select(pl.sum_horizontal(TOKEN_COLUMNS)).to_series().sum()),
        cost_micros=int(rows["cost_micros"].sum()),
        new_provider=provider,
        new_model=model,
        new_cost_micros=int(priced["new_cost_micros"].sum()),
        priced=bool(priced["known"].all()),
    )


def known_models(workspace: Workspace) -> list[tuple[str, str]]:
    """(provider, model) pairs the workspace has seen, to offer as switch targets."""
    return sorted(reports.models_seen(workspace).filter(pl.col("model") != OTHER_MODEL).iter_rows())

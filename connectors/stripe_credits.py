"""Credits against a revenue item: a catch-up for the days already delivered, the rest from then on.

Credit notes and refunds on an invoice's charge both reduce revenue from their effective date on
(fixtures README rules 3 and 5). Only the catch-up needs rule 6's arithmetic, to know how much of the
credited item the days before that date already recognized; the engine spreads the items themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from connectors.records import RevenueLineRecord

ONE_DAY = timedelta(days=1)


def credit_against(
    line: RevenueLineRecord, *, credit: int, effective: date, kind: str, source_id: str, description: str
) -> list[RevenueLineRecord]:
    """A credit of `credit` minor units on `line` from `effective` on: a catch-up for the days already
    delivered (rule 6 arithmetic) on the effective date, the rest over the line's remaining days."""
    days = (line.service_end - line.service_start).days
    delivered = min(max((effective - line.service_start).days, 0), days)
    catch_up = spread_prefix(credit, days=days, first=delivered)
    rest = credit - catch_up
    items = []
    if catch_up:
        items.append(
            replace(
                line,
                kind=kind,
                description=description,
                source_id=f"{source_id}:catch_up",
                service_start=effective,
                service_end=effective + ONE_DAY,
                amount=-catch_up,
            )
        )
    if rest:
        start = max(effective, line.service_start)
        items.append(
            replace(
                line,
                kind=kind,
                description=description,
                source_id=f"{source_id}:rest",
                service_start=start,
                amount=-rest,
            )
        )
    return items


def spread_prefix(amount: int, *, days: int, first: int) -> int:
    """What the first `first` of `days` days get when `amount` is spread by rule 6 (leftover units first)."""
    per_day, leftover = divmod(abs(amount), days)
    part = first * per_day + min(first, leftover)
    return part if amount >= 0 else -part


def split_by_weight(total: int, weights: Sequence[int]) -> list[int] | None:
    """Split `total` in proportion to `weights` by largest remainder (parts sum exactly); None if Σw ≤ 0."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return None
    exact = [total * weight for weight in weights]
    parts = [share // weight_sum for share in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] % weight_sum), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts

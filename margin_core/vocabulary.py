"""The words Margin puts in its own rows: placeholder labels and the report kinds. No imports, so the
engine, the use cases and the CLI (whose start-up stays light) can all read them.

The provider names live in `connectors/records.py` (`USAGE_PROVIDERS`, `SOURCES`), because connectors
cannot import `margin_core`; `margin_core` re-uses them from there.
"""

from __future__ import annotations

from typing import Literal, get_args

UNATTRIBUTED = "(unattributed)"
"""The customer of LLM cost that no event, mapping or key attributes to a customer."""
NO_USAGE = "(no usage)"
"""The feature/model/provider value of revenue whose customer has no usage in the range."""
UNSPECIFIED = "(unspecified)"
"""The feature of cost attributed to a customer (by a mapping) without a request event naming a feature."""
OTHER_MODEL = "(other)"
"""The model of provider-reported dollars that no usage row of the same grain carries."""
ALL_OTHERS = "(all others)"
"""A chart's bucket for every value past its top N (`app_actions.over_time_split`)."""
PLACEHOLDERS = (UNATTRIBUTED, UNSPECIFIED, NO_USAGE)
"""Labels that stand for no real customer or feature."""

ReportKind = Literal[
    "customers",
    "models",
    "providers",
    "features",
    "tiers",
    "segments",
    "usage-patterns",
    "over-time",
    "unattributed",
    "alerts",
]
REPORT_KINDS: tuple[ReportKind, ...] = get_args(ReportKind)
"""The kinds in the order the CLI lists them."""

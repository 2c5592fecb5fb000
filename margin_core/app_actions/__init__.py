"""Use cases the app's pages call that the other modules do not already offer. Pages never see SQL, the
store or the engine: everything goes through here.

- `store`: the app's engine and store version, the workspace snapshot, settings, exchange rates, mappings,
  CSV imports and the demo workspace;
- `prices`: price overrides that win over genai-prices from a date on, for any provider name;
- `reconciliation`: event coverage per provider key, and each provider's cost reconciled per month;
- `providers`: provider keys (check, save, remove, masked list) and syncs;
- `keeping`: the background sync setting, data freshness for every page, and sync gaps;
- `stripe_connect`: "Connect with Stripe" (OAuth) where a Connect client id is configured;
- `views`: page-shaped reads (ledger rows, per-day sums, insights, customer table, plan history, totals, cost
  breakdowns, freshness);
- `series`: margin over time, split by a dimension;
- `exports`: CSV of a shown frame and the full export;
- `clock`: today's UTC date.
"""

from margin_core.app_actions.clock import today_utc
from margin_core.app_actions.exports import csv_text, full_export
from margin_core.app_actions.keeping import (
    SYNC_HOUR_CHOICES,
    background_sync_status,
    data_freshness,
    save_sync_schedule,
    start_background_sync,
    sync_gaps,
    sync_schedule_hours,
)
from margin_core.app_actions.prices import (
    delete_price_override,
    override_choices,
    price_overrides,
    save_price_override,
    unpriced_notes,
)
from margin_core.app_actions.providers import (
    PROVIDER_NAMES,
    PROVIDERS,
    ConnectionCheck,
    check_key,
    connections,
    remove_connection,
    run_sync,
    save_connection,
    saved_key,
)
from margin_core.app_actions.reconciliation import coverage, reconciliation_table
from margin_core.app_actions.series import SPLITS, over_time_split, previous_range, with_change_in_points
from margin_core.app_actions.store import (
    StoreHandle,
    app_engine,
    clear_demo,
    delete_mapping,
    exchange_rates,
    import_csv,
    load,
    read_settings,
    reset_demo,
    save_exchange_rates,
    save_mapping,
    save_settings,
    settings_table,
    store_version,
    workspace_label,
)
from margin_core.app_actions.stripe_connect import connect_state_matches, connect_url, finish_connect
from margin_core.app_actions.views import (
    STATUSES,
    cost_by_day,
    cost_usage,
    customer_daily,
    customer_table,
    dimension_choices,
    freshness,
    key_labels,
    ledger_rows,
    overview_insights,
    plan_history,
    tokens_by_model,
    totals,
    unconverted_revenue,
)
from margin_core.engine.granularity import change_in_points, choose_granularity
from margin_core.engine.margins import margin_pct
from margin_core.vocabulary import ALL_OTHERS, NO_USAGE, PLACEHOLDERS, UNATTRIBUTED, UNSPECIFIED

__all__ = [
    "ALL_OTHERS",
    "NO_USAGE",
    "PLACEHOLDERS",
    "PROVIDERS",
    "PROVIDER_NAMES",
    "SPLITS",
    "STATUSES",
    "UNATTRIBUTED",
    "UNSPECIFIED",
    "ConnectionCheck",
    "StoreHandle",
    "app_engine",
    "change_in_points",
    "check_key",
    "choose_granularity",
    "clear_demo",
    "connect_state_matches",
    "connect_url",
    "connections",
    "cost_by_day",
    "cost_usage",
    "coverage",
    "csv_text",
    "customer_daily",
    "customer_table",
    "delete_mapping",
    "delete_price_override",
    "dimension_choices",
    "exchange_rates",
    "finish_connect",
    "freshness",
    "full_export",
    "import_csv",
    "key_labels",
    "ledger_rows",
    "load",
    "margin_pct",
    "over_time_split",
    "override_choices",
    "overview_insights",
    "plan_history",
    "previous_range",
    "price_overrides",
    "read_settings",
    "reconciliation_table",
    "remove_connection",
    "reset_demo",
    "run_sync",
    "save_connection",
    "save_exchange_rates",
    "save_mapping",
    "save_price_override",
    "save_settings",
    "saved_key",
    "settings_table",
    "store_version",
    "today_utc",
    "tokens_by_model",
    "totals",
    "unconverted_revenue",
    "unpriced_notes",
    "with_change_in_points",
    "workspace_label",
]
__all__ += [  # keeping the data fresh (issue 12)
    "SYNC_HOUR_CHOICES",
    "background_sync_status",
    "data_freshness",
    "save_sync_schedule",
    "start_background_sync",
    "sync_gaps",
    "sync_schedule_hours",
]

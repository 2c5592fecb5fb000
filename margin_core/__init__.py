"""Margin's core: the store, the sync, the pure-polars engine, reports, the SDK and the CLI."""

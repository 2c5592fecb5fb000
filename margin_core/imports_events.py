"""The canonical events CSV, columnar (rules §5, §7: an import at the SDK's ingest rate).

`imports.parse_file` validates row by row in Python (about 40,000 events/s here); this module parses a
plain file with polars string kernels into `events_frame`'s batch shape. It takes only what it can check
wholly: a UTF-8 file without quotes, NUL bytes, carriage returns inside lines or over-long fields, every
value of the forms it knows. Anything else, or any row it finds wrong, returns None: the caller then runs
the row-by-row parser, which accepts the file or names the first bad line exactly as before.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from connectors.records import PROVIDERS
from margin_core import imports
from margin_core.store.events import BATCH_COLUMNS

COUNTS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
_MAX_FIELD = 10_000
_MAX_COUNT_DIGITS = 18  # below 2^63 for sure; a longer count goes to the exact parser
# What both parsers read alike: a date (checked by polars), a valid time, an optional Z or valid offset.
_TS = r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
_COST = r"^(\d{1,11}(\.\d{1,18})?|\.\d{1,18})$"  # non-negative, below 10^11 USD: inside every bound


def parse_events_file(path: Path) -> pl.DataFrame | None:
    """The file's events as a batch frame (BATCH_COLUMNS), or None where the row-by-row parser must decide."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if any(mark in raw for mark in (b'"', b"\x00", b"\r", b"\x01")):
        return None  # quoting, NUL bytes, other line ends: the exact parser's cases
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first = raw.split(b"\n", 1)[0].decode()
    header = [h.strip() for h in next(csv.reader(io.StringIO(first)))] if first.strip() else []
    try:
        imports._check_header("events", header, str(path))
    except Exception:
        return None
    # polars' CSV reader twice: whole lines (each line's field count) and the fields themselves
    lines = pl.read_csv(
        raw, has_header=False, separator="\x01", quote_char=None, infer_schema=False, new_columns=["line"]
    ).slice(1)
    blank = pl.col("line").is_null() | (pl.col("line").str.replace_all(",", "", literal=True).str.strip_chars() == "")
    commas = lines.filter(~blank).select(pl.col("line").str.count_matches(",", literal=True))
    if (commas.to_series() != len(header) - 1).any():
        return None
    fields = pl.read_csv(raw, infer_schema=False, quote_char=None, new_columns=header).with_columns(
        pl.all().fill_null("")
    )
    fields = fields.filter(pl.any_horizontal(pl.all().str.strip_chars() != ""))
    if fields.is_empty():
        return pl.DataFrame(schema=_batch_schema())
    if fields.select(pl.any_horizontal(pl.all().str.len_chars() > _MAX_FIELD)).to_series().any():
        return None
    return _typed(fields, header)


def _typed(fields: pl.DataFrame, header: list[str]) -> pl.DataFrame | None:
    meta = [h for h in header if h.startswith("meta_")]
    text = {
        name: pl.col(name).str.strip_chars() if name in header else pl.lit("") for name in imports.COLUMNS["events"]
    }
    checks = [
        *(text[name] != "" for name in imports.REQUIRED["events"]),
        text["provider"].str.to_lowercase().is_in(list(PROVIDERS)),
        text["ts"].str.contains(_TS),
        *((text[c] == "") | text[c].str.contains(rf"^\d{{1,{_MAX_COUNT_DIGITS}}}$") for c in COUNTS),
        (text["cost_usd"] == "") | text["cost_usd"].str.contains(_COST),
    ]
    if not fields.select(pl.all_horizontal(checks)).to_series().all():
        return None
    ts = text["ts"].str.replace(r"Z$", "+00:00").str.replace(" ", "T", literal=True)
    offset = ts.str.extract(r"([+-]\d{2}:\d{2})$").fill_null("+00:00")
    local = ts.str.replace(r"[+-]\d{2}:\d{2}$", "")
    local = pl.when(local.str.len_chars() == 16).then(local + ":00").otherwise(local)
    sign = pl.when(offset.str.head(1) == "-").then(1).otherwise(-1)
    shift = sign * (offset.str.slice(1, 2).cast(pl.Int64) * 60 + offset.str.slice(4, 2).cast(pl.Int64))
    day = (local.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False) + pl.duration(minutes=shift)).dt.date()
    cost = text["cost_usd"]
    whole = cost.str.extract(r"^(\d*)").replace("", "0").cast(pl.Int64, strict=False)
    fraction = cost.str.extract(r"\.(\d+)$").fill_null("")
    # micro-dollars rounded half-even on the decimal digits, never through a float (rules §3)
    kept = (fraction + "000000").str.head(6).cast(pl.Int64)
    rest = fraction.str.slice(6)
    over_half = rest.str.contains(r"^(5\d*[1-9]\d*|[6-9]\d*)$")
    exactly_half = rest.str.contains(r"^50*$")
    up = over_half | (exactly_half & (kept % 2 == 1))
    micros = whole * 1_000_000 + kept + up.cast(pl.Int64)
    metadata = _metadata_json(meta)
    batch = fields.select(
        text["event_id"].alias("event_id"),
        day.alias("day"),
        text["customer_id"].alias("customer_id"),
        text["feature"].alias("feature"),
        text["provider"].str.to_lowercase().alias("provider"),
        text["model"].alias("model"),
        text["api_key_id"].alias("api_key_id"),
        metadata.alias("metadata_json"),
        (cost != "").alias("has_cost"),
        *(pl.when(text[c] == "").then(0).otherwise(text[c].cast(pl.Int64, strict=False)).alias(c) for c in COUNTS),
        pl.lit(0, pl.Int64).alias("cache_write_1h_tokens"),
        pl.when(cost == "").then(0).otherwise(micros).alias("cost_micros"),
        pl.lit(0, pl.Int64).alias("latency_ms_sum"),
    )
    if batch.select(pl.any_horizontal(pl.all().is_null())).to_series().any():
        return None  # a timestamp or a number polars could not read as the exact parser would: let it decide
    out_of_bounds = fields.select(
        (day.dt.year() < 1).any() | (day.dt.year() > 9999).any() | (whole.abs() >= 10**12).any()
    ).item()
    if out_of_bounds:
        return None  # a day outside years 1 to 9999 in UTC, or a cost of 10^12 dollars or more: the bounds' rules
    return _with_keys(batch)


def _metadata_json(meta: list[str]) -> pl.Expr:
    """Canonical JSON of the meta_* values (sorted keys; empty values left out), as `metadata_json` writes it."""
    if not meta:
        return pl.lit("{}")
    import json

    parts = [
        pl.when(pl.col(name) != "")
        .then(pl.lit(json.dumps(name.removeprefix("meta_")) + ":") + _json_string(pl.col(name)))
        .otherwise(None)
        for name in sorted(meta, key=lambda n: n.removeprefix("meta_"))
    ]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")


def _json_string(value: pl.Expr) -> pl.Expr:
    escaped = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    escaped = escaped.str.replace_all("\t", "\\t", literal=True).str.replace_all("\n", "\\n", literal=True)
    return pl.lit('"') + escaped + pl.lit('"')


def _with_keys(batch: pl.DataFrame) -> pl.DataFrame | None:
    """`event_key` from each event_id, as `events.event_key` computes it (blake2b, 8 bytes, signed)."""
    if not batch["event_id"].str.contains(r"^[\x20-\x7e]*$").all():
        return None  # non-ASCII ids or metadata: the exact parser and `json.dumps` handle their escapes
    if not batch["metadata_json"].str.contains(r"^[\x20-\x7e]*$").all():
        return None
    from margin_core.store.events import event_key

    keys = pl.Series("event_key", [event_key(e) for e in batch["event_id"].to_list()], dtype=pl.Int64)
    return batch.with_columns(keys).select(BATCH_COLUMNS)


def _batch_schema() -> pl.Schema:
    from margin_core.store.events import events_frame

    return events_frame([]).select(BATCH_COLUMNS).schema

"""The canonical events CSV, columnar (rules §5, §7: an import at the SDK's ingest rate).

`imports.parse_file` validates row by row in Python (about 40,000 events/s here); this module parses a
plain file with polars string kernels into `events_frame`'s batch shape. It takes only what it can check
wholly: a UTF-8 file without quotes, NUL bytes, carriage returns inside lines or over-long fields, every
value of the forms it knows. Anything else, or any row it finds wrong, returns None: the caller then runs
the row-by-row parser, which accepts the file or names the first bad line exactly as before.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import polars as pl

from connectors.records import PROVIDERS
from margin_core import imports
from margin_core.store.events import BATCH_COLUMNS, beside

COUNTS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
_MAX_FIELD = 10_000
_MAX_COUNT_DIGITS = 18  # below 2^63 for sure; a longer count goes to the exact parser
# What both parsers read alike: a date (checked by polars), a valid time, an optional Z or valid offset.
_TS = r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
# quotes, NUL, lines that end otherwise, polars' separator below, and what `str.strip` removes but polars keeps
_MARKS = (b'"', b"\x00", b"\r", b"\x01", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_PRINTABLE = r"^[\x20-\x7e]*$"  # ASCII without controls: no escapes to decide
_COST = r"^(\d{1,11}(\.\d{1,18})?|\.\d{1,18})$"  # non-negative, below 10^11 USD: inside every bound


def parse_events_file(path: Path, *, on_keys: Callable[[pl.Series], None] | None = None) -> pl.DataFrame | None:
    """The file's events as a batch frame (BATCH_COLUMNS), or None where the row-by-row parser must decide.

    `on_keys` gets the event keys of the file's rows (in file order, repeats included) as soon as they are
    known, from another thread, while the rest is still being checked: a writer may start recording them.
    The file may still turn out to be one for the row-by-row parser (None), so that writer must be ready
    to drop what it did.
    """
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if any(mark in raw for mark in _MARKS):
        return None  # quoting, NUL bytes, other line ends, what Python strips and polars keeps: the exact parser's
    ascii_only = raw.isascii()
    if not ascii_only:
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
    try:
        fields = pl.read_csv(raw, infer_schema=False, quote_char=None, new_columns=header)
    except pl.exceptions.PolarsError:
        return None  # a line with more fields than the header: the exact parser names it
    # No line has more fields (polars says so above): if the commas add up, every line has them all.
    if raw.count(b",") != (len(header) - 1) * (fields.height + 1) and _short_line(raw, len(header)):
        return None
    if fields.select(pl.any_horizontal(pl.all().str.len_bytes() > _MAX_FIELD).any()).item():
        return None  # bytes bound chars: a long field (even a blank row's) goes to the exact parser
    # every value stripped, as the row parser strips each field (nothing to strip in ASCII without blanks)
    spaced = not ascii_only or any(blank in raw for blank in (b" ", b"\t", b"\x0b", b"\x0c"))
    del raw
    fields = fields.select(pl.all().fill_null("").str.strip_chars() if spaced else pl.all().fill_null(""))
    fields = fields.filter(pl.any_horizontal(pl.all() != ""))  # blank rows are skipped
    if fields.is_empty():
        return pl.DataFrame(schema=_batch_schema())
    if not fields.select(pl.col("event_id").str.contains(_PRINTABLE).all()).item():
        return None  # non-ASCII ids: the exact parser decides
    # the ids' keys in a thread (blake2b in Python) while polars types the rest without holding the GIL
    ids = fields["event_id"]
    keys = beside(lambda: _keys_told(_event_keys(ids), on_keys))
    batch = _typed(fields, header)
    computed = keys()  # joined either way: `on_keys` never runs after this returns
    return None if batch is None else batch.with_columns(computed).select(BATCH_COLUMNS)


def _keys_told(keys: pl.Series, on_keys: Callable[[pl.Series], None] | None) -> pl.Series:
    if on_keys is not None:
        on_keys(keys)
    return keys


def _short_line(raw: bytes, width: int) -> bool:
    """Whether a line that is not blank (commas and blanks only) has fewer fields than the header."""
    lines = pl.read_csv(
        raw, has_header=False, separator="\x01", quote_char=None, infer_schema=False, new_columns=["line"]
    ).slice(1)
    short = lines.filter(pl.col("line").str.count_matches(",", literal=True) != width - 1)
    blank = pl.col("line").is_null() | (pl.col("line").str.replace_all(",", "", literal=True).str.strip_chars() == "")
    return not short.select(blank.all()).item()


def _typed(fields: pl.DataFrame, header: list[str]) -> pl.DataFrame | None:
    meta = [h for h in header if h.startswith("meta_")]
    text = {name: pl.col(name) if name in header else pl.lit("") for name in imports.COLUMNS["events"]}
    ts = text["ts"]
    # the UTC day: the date written, moved by a day where an offset carries the local time over midnight
    has_offset = ts.str.slice(-6, 1).is_in(["+", "-"])
    checks = [
        *(text[name] != "" for name in imports.REQUIRED["events"]),
        text["provider"].str.to_lowercase().is_in(list(PROVIDERS)),
        ts.str.contains(_TS),
        *((text[c] == "") | text[c].str.contains(rf"^\d{{1,{_MAX_COUNT_DIGITS}}}$") for c in COUNTS),
        (text["cost_usd"] == "") | text["cost_usd"].str.contains(_COST),
    ]
    valid, any_offset = fields.select(pl.all_horizontal(checks).all(), has_offset.any()).row(0)
    if not valid:
        return None
    written = ts.str.head(10).str.to_date("%Y-%m-%d", strict=False)
    day = written
    if any_offset:
        minutes = [ts.str.slice(at, 2).cast(pl.Int32, strict=False) for at in (11, 14, -5, -2)]  # null: no offset
        local, offset = minutes[0] * 60 + minutes[1], minutes[2] * 60 + minutes[3]
        utc = local - pl.when(ts.str.slice(-6, 1) == "-").then(-offset).otherwise(offset)
        # seconds never cross a day here: an offset is whole minutes
        moved = (written.cast(pl.Int32) + utc.floordiv(1440)).cast(pl.Date)
        day = pl.when(has_offset).then(moved).otherwise(written)
    cost = text["cost_usd"]
    parts = cost.str.split_exact(".", 1)
    whole_text = parts.struct.field("field_0")
    whole = pl.when(whole_text == "").then(0).otherwise(whole_text.cast(pl.Int64, strict=False))
    fraction = parts.struct.field("field_1").fill_null("")
    # micro-dollars rounded half-even on the decimal digits, never through a float (rules §3): past the
    # sixth digit, without its trailing zeros, "5" is exactly half and anything above it is more
    kept = (fraction + "000000").str.head(6).cast(pl.Int64)
    rest = fraction.str.slice(6).str.strip_chars_end("0")
    up = (rest > "5") | ((rest == "5") & (kept % 2 == 1))
    micros = whole * 1_000_000 + kept + up.cast(pl.Int64)
    metadata = _metadata_json(meta)
    batch = fields.select(
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
        micros.alias("cost_micros"),
        pl.lit(0, pl.Int64).alias("latency_ms_sum"),
        whole.alias("whole_usd"),
    )
    if any(batch.null_count().row(0)):
        return None  # a date or a number polars could not read as the exact parser would: let it decide
    low, high, largest = batch.select(
        pl.col("day").min().dt.year().alias("low"), pl.col("day").max().dt.year().alias("high"), pl.max("whole_usd")
    ).row(0)
    if low < 1 or high > 9999 or largest >= 10**12:
        return None  # a day outside years 1 to 9999 in UTC, or a cost of 10^12 dollars or more: the bounds' rules
    if not batch.select(pl.col("metadata_json").str.contains(_PRINTABLE).all()).item():
        return None  # non-ASCII metadata: `json.dumps` escapes it, the exact parser decides
    return batch.drop("whole_usd")


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


def _event_keys(ids: pl.Series) -> pl.Series:
    """`event_key` of each event_id, as `events.event_key` computes it (blake2b, 8 bytes, big-endian, signed)."""
    digest = functools.partial(hashlib.blake2b, digest_size=8)
    digests = pl.Series("event_key", [digest(i).digest() for i in ids.cast(pl.Binary).to_list()])
    return digests.bin.reinterpret(dtype=pl.Int64, endianness="big")


def _batch_schema() -> pl.Schema:
    from margin_core.store.events import events_frame

    return events_frame([]).select(BATCH_COLUMNS).schema

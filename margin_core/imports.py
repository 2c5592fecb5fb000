"""Canonical CSV imports (rules §5): validated line by line, written all or nothing.

A bad file is rejected with its physical line number (header = line 1) and the reason; a header error
names the column. Parsing yields batches of plain tuples/records as the file is read, so memory stays
bounded whatever the file's size; `ingest.py` writes every batch inside one transaction, which a bad
line anywhere rolls back. Every value is bounded: counts and tokens within a signed 64-bit integer (their
sums over the file too), usage and event costs non-negative, any amount below 10^12, a rate below 10^6,
a field at most 10,000 characters, no NUL byte, UTF-8 only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from connectors.records import PROVIDERS, EventRecord
from margin_core import currency
from margin_core.errors import ImportFileError

KINDS = ("customers", "usage", "mappings", "events", "revenue", "rates")
COLUMNS = {
    "customers": ("customer_id", "name", "email", "tier", "segment", "region"),
    "usage": (
        "day",
        "provider",
        "model",
        "api_key_id",
        "project_id",
        "user_id",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "requests",
        "cost_usd",
    ),
    "mappings": ("provider", "dimension", "value", "customer_id"),
    "events": (
        "event_id",
        "ts",
        "customer_id",
        "feature",
        "provider",
        "model",
        "api_key_id",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "cost_usd",
    ),
    "revenue": ("customer_id", "source_id", "service_start", "service_end", "amount", "currency"),
    "rates": ("currency", "rate_to_usd"),
}
META_KINDS = ("customers", "events")  # kinds that accept meta_* columns
REQUIRED = {
    "customers": ("customer_id",),
    "usage": ("day", "provider", "model"),
    "mappings": ("provider", "dimension", "value", "customer_id"),
    "events": ("event_id", "ts", "customer_id", "provider", "model"),
    "revenue": ("customer_id", "source_id", "service_start", "service_end", "amount", "currency"),
    "rates": ("currency", "rate_to_usd"),
}
DIMENSIONS = ("api_key_id", "project_id", "user_id")
_WHOLE = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?|-?\.[0-9]+")
MAX_INT64 = 2**63 - 1
MAX_AMOUNT = Decimal(10) ** 12  # USD, and any amount in its own currency
MAX_RATE = Decimal(10) ** 6
MAX_FIELD = 10_000  # characters
BATCH_LINES = 20_000  # rows parsed, then written, at a time


@dataclass(frozen=True, slots=True)
class Parsed:
    """A validated file or part of one: its kind, its rows (tuples or EventRecords) and their lines."""

    kind: str
    rows: list[Any]
    lines: list[int] = field(default_factory=list)  # the physical line of each row


class _Row:
    """One CSV row with typed getters that raise ValueError naming the column."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def text(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def count(self, name: str) -> int:
        raw = self.text(name)
        if raw == "":
            return 0
        if raw.startswith("-") and _WHOLE.fullmatch(raw[1:]):
            raise ValueError(f"{name}: {raw} is negative")
        if not _WHOLE.fullmatch(raw):
            raise ValueError(f"{name}: {raw!r} is not a whole number")
        if len(raw) > 19 or int(raw) > MAX_INT64:
            raise ValueError(f"{name}: {_short(raw)} is beyond a 64-bit integer (at most {MAX_INT64})")
        return int(raw)

    def decimal(self, name: str, *, ceiling: Decimal = MAX_AMOUNT, negative: bool = False) -> Decimal | None:
        """A decimal below `ceiling` (in absolute value); negative only where allowed."""
        raw = self.text(name)
        if raw == "":
            return None
        if not _NUMBER.fullmatch(raw):  # a "." decimal point, no separators or exponents (rules §5)
            raise ValueError(f"{name}: {_short(raw)!r} is not a number")
        whole = raw.lstrip("-").split(".")[0].lstrip("0")
        if len(whole) > len(str(int(ceiling))) - 1 or len(raw) > 60:  # before Decimal: no 30-digit arithmetic
            raise ValueError(f"{name}: {_short(raw)} is out of range (must be below {ceiling:,})")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError(f"{name}: {raw!r} is not a number") from None
        if abs(value) >= ceiling:
            raise ValueError(f"{name}: {raw} is out of range (must be below {ceiling:,})")
        if value < 0 and not negative:
            raise ValueError(f"{name}: {raw} is negative")
        return value

    def day(self, name: str) -> date:
        raw = self.text(name)
        try:
            return date.fromisoformat(raw) if len(raw) == 10 else _bad_date(raw)
        except ValueError:
            raise ValueError(f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from None

    def timestamp(self, name: str) -> datetime:
        raw = self.text(name)
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except ValueError:
            raise ValueError(f"{name}: {_short(raw)!r} is not an ISO 8601 timestamp") from None
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
            raise ValueError(f"{name}: {raw!r} is outside the years 1 to 9999 once converted to UTC") from None

    def provider(self, *, allow_star: bool = False) -> str:
        value = self.text("provider").lower()
        if value in PROVIDERS or (allow_star and value == "*"):
            return value
        allowed = ", ".join((*PROVIDERS, "*") if allow_star else PROVIDERS)
        raise ValueError(f"provider: unknown provider {value!r} (one of {allowed})")

    def metadata(self) -> dict[str, str]:
        return {k.removeprefix("meta_"): v for k, v in self.values.items() if k.startswith("meta_") and v}


def _bad_date(raw: str) -> date:
    raise ValueError(raw)


def _short(raw: str) -> str:
    """A value for a message: long ones cut."""
    return raw if len(raw) <= 40 else f"{raw[:20]}…({len(raw)} characters)"


def _customer(row: _Row) -> tuple[Any, ...]:
    from margin_core.store.repo import customer_metadata

    return (
        row.text("customer_id"),
        row.text("name"),
        row.text("email"),
        row.text("tier"),
        row.text("segment"),
        row.text("region"),
        customer_metadata(row.metadata()),
        "csv",
    )


def _usage(row: _Row) -> tuple[Any, ...]:
    cost = row.decimal("cost_usd")
    return (
        row.day("day"),
        row.provider(),
        row.text("model"),
        row.text("api_key_id"),
        row.text("project_id"),
        row.text("user_id"),
        row.count("input_tokens"),
        row.count("cached_input_tokens"),
        row.count("cache_write_tokens"),
        row.count("output_tokens"),
        row.count("requests"),
        cost,
    )


def _mapping(row: _Row) -> tuple[Any, ...]:
    dimension = row.text("dimension")
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension: {dimension!r} is not one of {', '.join(DIMENSIONS)}")
    return (row.provider(allow_star=True), dimension, row.text("value"), row.text("customer_id"))


def _event(row: _Row) -> EventRecord:
    return EventRecord(
        event_id=row.text("event_id"),
        ts=row.timestamp("ts"),
        customer_id=row.text("customer_id"),
        feature=row.text("feature"),
        provider=row.provider(),
        model=row.text("model"),
        api_key_id=row.text("api_key_id"),
        input_tokens=row.count("input_tokens"),
        cached_input_tokens=row.count("cached_input_tokens"),
        cache_write_tokens=row.count("cache_write_tokens"),
        output_tokens=row.count("output_tokens"),
        cost_usd=row.decimal("cost_usd"),
        metadata=row.metadata(),
    )


def _revenue(row: _Row) -> tuple[Any, ...]:
    start, end = row.day("service_start"), row.day("service_end")
    if end < start:
        raise ValueError(f"service_end: {end} is before service_start {start}")
    code = row.text("currency").lower()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency: {row.text('currency')!r} is not a 3-letter currency code")
    amount = row.decimal("amount", negative=True)  # credit notes are negative
    assert amount is not None
    try:
        minor = currency.to_minor_units(amount, code)
    except ValueError as exc:
        raise ValueError(f"amount: {exc}") from None
    return (row.text("customer_id"), row.text("source_id"), start, end, minor, code)


def _rate(row: _Row) -> tuple[Any, ...]:
    code = row.text("currency").upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency: {row.text('currency')!r} is not a 3-letter currency code")
    rate = row.decimal("rate_to_usd", ceiling=MAX_RATE)
    if rate is None or rate <= 0:
        raise ValueError("rate_to_usd: must be a positive number")
    return (code, str(rate))


_PARSERS: dict[str, Callable[[_Row], Any]] = {
    "customers": _customer,
    "usage": _usage,
    "mappings": _mapping,
    "events": _event,
    "revenue": _revenue,
    "rates": _rate,
}


def parse_file(kind: str, path: Path) -> Parsed:
    """Parse and validate a canonical CSV file whole (all rows in memory); ImportFileError on a bad line."""
    try:
        with path.open("rb") as handle:
            return _whole(kind, iter_batches(kind, text_lines(handle, source=str(path)), source=str(path)))
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc}", path=str(path)) from exc


def parse_text(kind: str, content: str, *, source: str = "") -> Parsed:
    """Parse and validate CSV text of `kind`."""
    lines = io.StringIO(content.removeprefix("\ufeff"), newline="")
    return _whole(kind, iter_batches(kind, lines, source=source))


def _whole(kind: str, batches: Iterator[Parsed]) -> Parsed:
    whole = Parsed(kind, [], [])
    for batch in batches:
        whole.rows.extend(batch.rows)
        whole.lines.extend(batch.lines)
    return whole


def text_lines(handle: BinaryIO, *, source: str) -> Iterator[str]:
    """The file's physical lines as text; bytes that are not UTF-8 are named by their line (rules §5)."""
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"byte {raw[exc.start]:#04x} at column {exc.start + 1} is not UTF-8; save the file as UTF-8",
                path=source,
                line=number,
            ) from None
        yield line.removeprefix("\ufeff") if number == 1 else line


def iter_batches(kind: str, lines: Iterable[str], *, source: str = "", size: int = BATCH_LINES) -> Iterator[Parsed]:
    """Validate the CSV lines of `kind` as they come; yield the parsed rows `size` at a time.

    Raises ImportFileError on the first bad line: a caller writing each batch as it comes must do so in
    one transaction, so that the error leaves nothing of the file behind.
    """
    if kind not in KINDS:
        raise ImportFileError(f"unknown import kind {kind!r} (one of {', '.join(KINDS)})", path=source)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(_csv_problem(exc), path=source, line=1) from None
    if not header:
        raise ImportFileError("the file is empty: a header row is required", path=source, line=1)
    header = [h.strip() for h in header]
    _check_header(kind, header, source)
    parse = _PARSERS[kind]
    totals = _Totals(kind)
    rows: list[Any] = []
    numbers: list[int] = []
    first_line: dict[object, tuple[int, bool]] = {}  # key → (line, has a cost) of its first row
    for line, values in _numbered(reader, source=source):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise ImportFileError(f"{len(values)} fields where the header has {len(header)}", path=source, line=line)
        try:
            for name, value in zip(header, values, strict=True):
                if len(value) > MAX_FIELD:
                    raise ValueError(f"{name}: the field has {len(value):,} characters, over {MAX_FIELD:,} characters")
                if "\x00" in value:
                    raise ValueError(f"{name}: the field contains a NUL byte")
            row = _Row(dict(zip(header, values, strict=True)))
            for name in REQUIRED[kind]:
                if row.text(name) == "":
                    raise ValueError(f"{name}: a value is required")
            parsed = parse(row)
            _check_repeat(kind, parsed, line=line, first_line=first_line)
            totals.add(parsed)
        except ValueError as exc:
            raise ImportFileError(str(exc), path=source, line=line) from None
        rows.append(parsed)
        numbers.append(line)
        if len(rows) >= size:
            yield Parsed(kind, rows, numbers)
            rows, numbers = [], []
    if rows:
        yield Parsed(kind, rows, numbers)


class _Totals:
    """Running sums of a file's counts: rows of one bucket are summed, and no sum may pass 64 bits."""

    _USAGE: tuple[str, ...] = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests")
    _EVENTS: tuple[str, ...] = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sums = [0] * 5

    def add(self, parsed: object) -> None:
        if self.kind == "usage":
            assert isinstance(parsed, tuple)
            values: tuple[int, ...] = parsed[6:11]
            names = self._USAGE
        elif self.kind == "events":
            assert isinstance(parsed, EventRecord)
            values = (parsed.input_tokens, parsed.cached_input_tokens, parsed.cache_write_tokens, parsed.output_tokens)
            names = self._EVENTS
        else:
            return
        for i, value in enumerate(values):
            self.sums[i] += value
            if self.sums[i] > MAX_INT64:
                raise ValueError(f"{names[i]}: the file's total passes a 64-bit integer here")


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {MAX_FIELD:,} characters"
    return f"unreadable CSV ({exc})"


# The key a row may not repeat in one file (last-wins would silently drop the earlier row).
_UNIQUE: dict[str, Callable[[tuple[Any, ...]], object]] = {
    "customers": lambda r: r[0],
    "mappings": lambda r: r[:3],
    "revenue": lambda r: r[1],
    "rates": lambda r: r[0],
}


def _check_repeat(kind: str, parsed: object, *, line: int, first_line: dict[object, tuple[int, bool]]) -> None:
    """Reject a repeated key (customers, mappings, revenue, rates: small files, their keys kept in memory).

    Usage rows of one bucket are summed; whether a bucket mixes a cost with an empty one is checked once the
    whole file is staged (`ingest`), so that a usage file's keys are never all held in memory.
    """
    if not isinstance(parsed, tuple) or kind not in _UNIQUE:  # events: a repeated event_id is written once
        return
    unique = _UNIQUE[kind](parsed)
    if unique in first_line:
        raise ValueError(f"{unique!r} repeats line {first_line[unique][0]}: each may appear once in a file")
    first_line[unique] = (line, False)


class _LineReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...


def _numbered(reader: _LineReader, *, source: str) -> Iterator[tuple[int, list[str]]]:
    # The physical line a record starts on (a quoted field may span lines).
    previous_end = 1
    records = iter(reader)
    while True:
        try:
            values = next(records)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(_csv_problem(exc), path=source, line=previous_end + 1) from None
        yield previous_end + 1, values
        previous_end = reader.line_num


def _check_header(kind: str, header: list[str], source: str) -> None:
    known = COLUMNS[kind]
    for name in header:
        if name not in known and not (kind in META_KINDS and name.startswith("meta_") and len(name) > 5):
            raise ImportFileError(f"unknown column {name!r} (expected {', '.join(known)})", path=source, line=1)
    if len(set(header)) != len(header):
        raise ImportFileError("a column appears twice in the header", path=source, line=1)
    for name in REQUIRED[kind]:
        if name not in header:
            raise ImportFileError(f"missing column {name!r}", path=source, line=1)

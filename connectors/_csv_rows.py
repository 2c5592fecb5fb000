"""CSV rows with their physical line numbers, and typed cells that fail naming the line and the reason.

A bad file is rejected whole (rules §5): the first bad cell raises PayloadError(provider="csv") with the
physical line of its record (the header is line 1; a record whose quoted cell spans lines starts where its
first line is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from connectors.errors import PayloadError

PROVIDER = "csv"
MAX_INT64 = 2**63 - 1
MAX_AMOUNT = Decimal(10) ** 12  # USD (rules §5)
MAX_FIELD = 10_000  # characters


def fail(source: str, *, line: int, reason: str) -> PayloadError:
    """The error for a bad export: which file kind, which physical line, what is wrong."""
    return PayloadError(f"csv {source}, line {line}: {reason}", provider=PROVIDER, endpoint=source)


class Row:
    """One record of the file: cells by column name, with the physical line it starts on."""

    __slots__ = ("_cells", "line", "source")

    def __init__(self, cells: dict[str, str], *, line: int, source: str) -> None:
        self._cells = cells
        self.line = line
        self.source = source

    def has(self, column: str) -> bool:
        """True when the file has this column (whatever this row holds in it)."""
        return column in self._cells

    def text(self, column: str) -> str:
        """The cell, stripped; "" when the file has no such column."""
        return self._cells.get(column, "").strip()

    def is_blank(self, columns: Sequence[str]) -> bool:
        """True when every one of `columns` is empty (an export's bucket without data)."""
        return all(not self.text(column) for column in columns)

    def _fail(self, column: str, *, reason: str) -> PayloadError:
        return fail(self.source, line=self.line, reason=f"column {column}: {reason}")

    def required(self, column: str) -> str:
        """A cell that must not be empty."""
        value = self.text(column)
        if not value:
            raise self._fail(column, reason="is empty")
        return value

    def count(self, column: str, *, required: bool = True) -> int:
        """A non-negative whole number; exports may write it as `59200.0`. Empty is 0 unless required."""
        value = self.text(column)
        if not value:
            if required:
                raise self._fail(column, reason="is empty")
            return 0
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._fail(column, reason=f"{value!r} is not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise self._fail(column, reason=f"{value!r} is not a whole number")
        if number < 0:
            raise self._fail(column, reason=f"{value!r} is negative")
        if number > MAX_INT64:
            raise self._fail(column, reason=f"{value} is beyond a 64-bit integer")
        return int(number)

    def money(self, column: str) -> Decimal:
        """An exact decimal amount with a `.` decimal point."""
        value = self.required(column)
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self._fail(column, reason=f"{value!r} is not a decimal number") from None
        if not amount.is_finite():
            raise self._fail(column, reason=f"{value!r} is not a decimal number")
        if abs(amount) >= MAX_AMOUNT:
            raise self._fail(column, reason=f"{value} is out of range (must be below {MAX_AMOUNT:,})")
        return amount

    def day(self, column: str) -> date:
        """A UTC day from `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (hourly exports) or an ISO 8601 timestamp."""
        value = self.required(column)
        try:
            parsed = datetime.fromisoformat(value)
            # An offset is converted to UTC; a naive value already is UTC (the exports' convention).
            return parsed.astimezone(UTC).date() if parsed.tzinfo is not None else parsed.date()
        except ValueError:
            raise self._fail(column, reason=f"{value!r} is not a date (YYYY-MM-DD)") from None
        except OverflowError:
            raise self._fail(column, reason=f"{value!r} is outside the years 1 to 9999 in UTC") from None

    def unix_day(self, column: str) -> date:
        """The UTC day of unix seconds (`1759622400` or `1759622400.0`)."""
        seconds = self.count(column)
        try:
            return datetime.fromtimestamp(seconds, UTC).date()
        except (OverflowError, ValueError, OSError):
            raise self._fail(column, reason=f"{seconds} is not a time in the years 1 to 9999") from None


def read_rows(text: str, *, source: str, required: Sequence[Sequence[str]]) -> Iterator[Row]:
    """Yield the data rows of `text`; each entry of `required` lists alternative column names, one needed."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise fail(source, line=1, reason="the file is empty; expected a header row") from None
    except csv.Error as exc:
        raise fail(source, line=1, reason=_csv_problem(exc)) from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise fail(source, line=1, reason=f"column {duplicates[0]} appears twice in the header")
    for alternatives in required:
        if not any(name in header for name in alternatives):
            raise fail(source, line=1, reason=f"missing column {' or '.join(alternatives)}; is this the right export?")
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise fail(source, line=line, reason=_csv_problem(exc)) from None
        for cell in cells:
            if len(cell) > MAX_FIELD:
                raise fail(
                    source, line=line, reason=f"a field has {len(cell):,} characters, over {MAX_FIELD:,} characters"
                )
            if "\x00" in cell:
                raise fail(source, line=line, reason="a field contains a NUL byte")
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        if len(cells) != len(header):
            raise fail(source, line=line, reason=f"has {len(cells)} fields, the header has {len(header)}")
        yield Row(dict(zip(header, cells, strict=True)), line=line, source=source)


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {MAX_FIELD:,} characters"
    return f"unreadable CSV ({exc})"


def decode(data: bytes, *, source: str) -> str:
    """UTF-8 text of an export (a BOM dropped); bytes that are not UTF-8 are named by line (rules §5)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(
            source, line=line, reason=f"byte {data[exc.start]:#04x} is not UTF-8; save the file as UTF-8"
        ) from None

"""Typed reads of provider JSON: a missing field or a wrong type raises PayloadError naming where it sits.

Bodies are parsed with `parse_float=Decimal` (rules §3), so a JSON number is an `int` or a `Decimal`, never
a float. Every accessor knows the provider, the endpoint and the path from the root (`data[2].results[0]`),
so the message says exactly which field of which response broke.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from connectors.errors import PayloadError


class Node:
    """One JSON value inside a response, with what is needed to name it in an error."""

    __slots__ = ("_endpoint", "_path", "_provider", "value")

    def __init__(self, value: object, *, provider: str, endpoint: str, path: str = "") -> None:
        self.value = value
        self._provider = provider
        self._endpoint = endpoint
        self._path = path

    def fail(self, key: str, *, problem: str) -> PayloadError:
        """A PayloadError for field `key` of this node; the caller raises it."""
        where = f"{self._path}.{key}" if self._path else key
        ident = _identity(self.value)
        of = f" (in the object with {ident})" if ident else ""
        return PayloadError(
            f"{self._provider} {self._endpoint}: field {where} {problem}{of}; the response does not have the "
            "shape the provider documents. Sync again later; if it persists, the provider changed its API: "
            "report this message (it names the object and the field)",
            provider=self._provider,
            endpoint=self._endpoint,
        )

    def _raw(self, key: str, *, required: bool) -> object:
        if not isinstance(self.value, dict):
            raise self.fail(key, problem=f"cannot be read: its parent is {_kind(self.value)}, not an object")
        if key not in self.value:
            if required:
                raise self.fail(key, problem="is missing")
            return None
        return self.value[key]

    def _node(self, value: object, key: str) -> Node:
        where = f"{self._path}.{key}" if self._path else key
        return Node(value, provider=self._provider, endpoint=self._endpoint, path=where)

    def child(self, key: str) -> Node:
        """The object at `key` (required)."""
        value = self._raw(key, required=True)
        if not isinstance(value, dict):
            raise self.fail(key, problem=f"should be an object, got {_kind(value)}")
        return self._node(value, key)

    def opt_child(self, key: str) -> Node | None:
        """The object at `key`, or None when it is null or absent."""
        value = self._raw(key, required=False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(key, problem=f"should be an object or null, got {_kind(value)}")
        return self._node(value, key)

    def children(self, key: str) -> list[Node]:
        """The items of the array at `key` (required)."""
        value = self._raw(key, required=True)
        if not isinstance(value, list):
            raise self.fail(key, problem=f"should be an array, got {_kind(value)}")
        return [self._node(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def text(self, key: str) -> str:
        """A required, non-empty string."""
        value = self._raw(key, required=True)
        if not isinstance(value, str) or not value:
            raise self.fail(key, problem=f"should be a non-empty string, got {_kind(value)}")
        return value

    def opt_text(self, key: str) -> str:
        """A string dimension; null or absent is the empty string (rules §3: key parts are never NULL)."""
        value = self._raw(key, required=False)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(key, problem=f"should be a string or null, got {_kind(value)}")
        return value

    def flag(self, key: str) -> bool:
        """A required boolean."""
        value = self._raw(key, required=True)
        if not isinstance(value, bool):
            raise self.fail(key, problem=f"should be true or false, got {_kind(value)}")
        return value

    def count(self, key: str) -> int:
        """A required non-negative integer (tokens, requests, unix seconds)."""
        value = self._raw(key, required=True)
        return self._check_count(key, value)

    def opt_count(self, key: str) -> int:
        """A non-negative integer; null or absent is 0 (a counter the provider only sends when used)."""
        value = self._raw(key, required=False)
        return 0 if value is None else self._check_count(key, value)

    def _check_count(self, key: str, value: object) -> int:
        # bool is an int subclass; `true` is not a token count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, problem=f"should be a whole number, got {_kind(value)}")
        if value < 0:
            raise self.fail(key, problem=f"should not be negative, got {value}")
        return value

    def money(self, key: str, *, allow_string: bool = False) -> Decimal:
        """A required exact amount: a JSON number, or a decimal string where the provider sends one."""
        value = self._raw(key, required=True)
        if isinstance(value, bool):
            raise self.fail(key, problem="should be a number, got a boolean")
        if isinstance(value, int | Decimal):
            amount = Decimal(value)
        elif allow_string and isinstance(value, str):
            try:
                amount = Decimal(value)
            except InvalidOperation:
                raise self.fail(key, problem=f"should be a decimal string, got {value!r}") from None
        else:
            raise self.fail(key, problem=f"should be a number, got {_kind(value)}")
        if not amount.is_finite():
            raise self.fail(key, problem=f"should be a finite amount, got {value!r}")
        return amount

    def opt_money(self, key: str, *, allow_string: bool = False) -> Decimal | None:
        """An exact amount, or None when the field is null or absent."""
        return None if self._raw(key, required=False) is None else self.money(key, allow_string=allow_string)

    def day(self, key: str) -> date:
        """A required `YYYY-MM-DD` date."""
        value = self.text(key)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(key, problem=f"should be a YYYY-MM-DD date, got {value!r}") from None

    def timestamp(self, key: str) -> datetime:
        """A required RFC 3339 timestamp, returned as an aware UTC datetime (naive means UTC)."""
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(key, problem=f"should be an RFC 3339 timestamp, got {value!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def opt_timestamp(self, key: str) -> datetime | None:
        """An RFC 3339 timestamp, or None when null or absent."""
        return None if self._raw(key, required=False) is None else self.timestamp(key)

    def unix_day(self, key: str) -> date:
        """The UTC day of a required unix-seconds field (a bucket start)."""
        return datetime.fromtimestamp(self.count(key), UTC).date()


def root(value: object, *, provider: str, endpoint: str) -> Node:
    """The top of a response body, which must be a JSON object."""
    if not isinstance(value, dict):
        raise PayloadError(
            f"{provider} {endpoint}: the response should be a JSON object, got {_kind(value)}",
            provider=provider,
            endpoint=endpoint,
        )
    return Node(value, provider=provider, endpoint=endpoint)


def _identity(value: object) -> str:
    """What names the object a field sits in: its id (or key hash), else the bucket or day it belongs to."""
    if not isinstance(value, dict):
        return ""
    for key in ("id", "hash", "api_key_id", "starting_at", "date"):
        found = value.get(key)
        if isinstance(found, str) and found:
            return f"{key} {found[:64]!r}"
    start = value.get("start_time")
    if isinstance(start, int) and not isinstance(start, bool):
        return f"the bucket starting {datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M} UTC"
    return ""


def _kind(value: object) -> str:
    """A short, safe description of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__

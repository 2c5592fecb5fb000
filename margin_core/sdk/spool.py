"""The local spool: events the store could not take, as fsync'd JSON lines, replayed once it is back.

Lines are removed only after the write that replayed them committed; a crash in between replays them
again, which the store's event_id de-duplication makes harmless. An exclusive `flock` covers append and
replay, so several processes may share one spool file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.records import EventRecord
from margin_core.sdk.usage import to_decimal
from margin_core.sdk.validate import problem
from margin_core.spool_path import default_spool_path

if TYPE_CHECKING:
    from sqlalchemy import Engine

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock, one process per spool file
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


def encode(record: EventRecord) -> dict[str, Any]:
    """A record as a JSON-ready dict (ts ISO 8601, cost as a decimal string)."""
    return {
        "event_id": record.event_id,
        "ts": record.ts.isoformat(),
        "customer_id": record.customer_id,
        "feature": record.feature,
        "provider": record.provider,
        "model": record.model,
        "api_key_id": record.api_key_id,
        "input_tokens": record.input_tokens,
        "cached_input_tokens": record.cached_input_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "cache_write_1h_tokens": record.cache_write_1h_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": None if record.cost_usd is None else str(record.cost_usd),
        "latency_ms": record.latency_ms,
        "metadata": record.metadata,
    }


def decode(row: dict[str, Any]) -> EventRecord:
    """The record `encode` wrote; ValueError for one the store could not take (validate.problem)."""
    record = EventRecord(
        event_id=str(row["event_id"]),
        ts=datetime.fromisoformat(row["ts"]),
        customer_id=str(row["customer_id"]),
        feature=str(row["feature"]),
        provider=str(row["provider"]),
        model=str(row["model"]),
        api_key_id=str(row.get("api_key_id", "")),
        input_tokens=int(row.get("input_tokens", 0)),
        cached_input_tokens=int(row.get("cached_input_tokens", 0)),
        cache_write_tokens=int(row.get("cache_write_tokens", 0)),
        cache_write_1h_tokens=int(row.get("cache_write_1h_tokens", 0)),
        output_tokens=int(row.get("output_tokens", 0)),
        cost_usd=to_decimal(row.get("cost_usd")),
        latency_ms=None if row.get("latency_ms") is None else int(row["latency_ms"]),
        metadata={str(k): str(v) for k, v in (row.get("metadata") or {}).items()},
    )
    reason = problem(record)
    if reason is not None:
        raise ValueError(reason)
    return record


class Spool:
    """An append-only JSON-lines file of events waiting for the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending = path.exists() and path.stat().st_size > 0  # left over by an earlier process

    @contextmanager
    def _locked(self, wait: float | None = None) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # customer ids inside: owner only
        try:
            if fcntl is not None:
                _lock(fd, wait)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, records: Sequence[EventRecord], *, wait: float | None = None) -> None:
        """Append the records and fsync, so they survive a crash of this process.

        `wait` bounds the wait for another holder of the lock (TimeoutError after it); None waits.
        """
        if not records:
            return
        payload = "".join(json.dumps(encode(r), separators=(",", ":")) + "\n" for r in records).encode()
        with self._locked(wait) as fd:
            end = os.lseek(fd, 0, os.SEEK_END)
            # A crash mid-line leaves no newline: start on a fresh line so only that line is lost.
            if end and os.pread(fd, 1, end - 1) != b"\n":
                payload = b"\n" + payload
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        self.pending = True

    def replay(self, write: Callable[[list[EventRecord]], object]) -> int:
        """Call `write` with every spooled event, then empty the spool; if `write` raises, keep it all."""
        with self._locked() as fd:
            size = os.lseek(fd, 0, os.SEEK_END)
            records = list(self._read(fd, size=size))
            write(records)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        self.pending = False
        return len(records)

    def _read(self, fd: int, *, size: int) -> Iterator[EventRecord]:
        data = os.pread(fd, size, 0) if size else b""
        bad, reason = 0, ""
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                yield decode(json.loads(line))
            except (ValueError, KeyError, TypeError, OverflowError) as exc:
                bad += 1  # a line torn by a crash mid-append, or an event the store cannot take
                reason = str(exc)
        if bad:
            logger.warning("margin sdk: skipped %d unreadable line(s) in spool %s (%s)", bad, self.path, reason)


def _lock(fd: int, wait: float | None) -> None:
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("the spool is locked by another writer") from None
            time.sleep(0.05)


def replay_store_spool(engine: Engine) -> int:
    """Write the events the SDK spooled for this store (its default spool); return how many were replayed.

    The app and the CLI call this when they open the store (rules §6), so events spooled by an SDK process
    that has since ended are not left waiting for a later SDK process. A stat when there is nothing to do;
    a failure is logged and never stops the caller (the spool stays for the next try).
    """
    from margin_core.store import events

    path = default_spool_path(engine.url.render_as_string(hide_password=False))
    try:
        if not path.exists() or path.stat().st_size == 0:
            return 0
        count = Spool(path).replay(lambda records: events.ingest_events(engine, records))
    except Exception:
        logger.warning("margin: could not replay the SDK spool %s; it is kept for the next start", path, exc_info=True)
        return 0
    if count:
        logger.info("margin: wrote %d event(s) the SDK had spooled in %s", count, path)
    return count

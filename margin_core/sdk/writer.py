"""The background writer: one daemon thread drains the capture queue into the store in batches.

Callers only `put` onto a `SimpleQueue`. The thread writes a batch when it is full, when `flush_interval`
has passed since its first event, or when `flush` asks. A batch the store refuses goes to the spool and
is replayed, together with the next batch and in the same transaction, once the store answers again.
"""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401  (see below)
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING

from connectors.records import EventRecord
from margin_core.sdk._once import LogOnce
from margin_core.sdk.spool import Spool
from margin_core.sdk.validate import problem

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The store's modules are imported by the writer thread on its first write, which may be the final drain at
# exit. Importing `concurrent.futures.thread` (which polars imports) after the interpreter began shutting
# down raises "can't register atexit after shutdown", and the batch would be spooled instead of written:
# it is imported now, while that is still allowed.

logger = logging.getLogger(__name__)
_MAX_HELD = 1_000_000  # events kept in memory when even the spool fails (disk full); beyond: dropped


@dataclass(slots=True)
class _Marker:
    """Placed in the queue by `flush`/`close`: everything before it is handled when `done` is set."""

    stop: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class BatchWriter:
    """Writes queued events through `ingest_events`, spooling what the store refuses."""

    def __init__(
        self,
        database_url: str,
        *,
        spool: Spool,
        batch_size: int,
        flush_interval: float,
        retry_interval: float,
    ) -> None:
        self._url = database_url
        self._spool = spool
        self._batch_size = max(1, batch_size)
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._queue: SimpleQueue[EventRecord | _Marker] = SimpleQueue()
        self._held: list[EventRecord] = []
        self._once = LogOnce(logger)
        self._next_retry = 0.0
        self.written = 0  # events the store took (counted by ingest_events: new ones only)
        self.rejected = 0  # invalid events refused alone (validate.problem)
        self.dropped = 0  # events neither written nor spooled, and no longer held
        self._inflight: list[EventRecord] = []  # the batch being written right now
        self._progress_at = time.monotonic()  # when the thread last finished a write or took an event
        self._engine_used: Engine | None = None
        self._stopped = False
        self._thread = self._start()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="margin-sdk-writer", daemon=True)
        thread.start()
        return thread

    def _restart_after_fork(self) -> None:
        # A forked worker (gunicorn --preload) has no writer thread and must not reuse the parent's
        # connections; the parent still owns, and writes, what was queued before the fork.
        self._queue = SimpleQueue()
        self._held = []
        if self._engine_used is not None:
            self._engine_used.dispose(close=False)
        self._thread = self._start()

    def put(self, record: EventRecord) -> None:
        """Queue one event (O(1), never blocks)."""
        self._queue.put(record)

    def backlog(self) -> int:
        """Events queued and not yet taken by the thread (approximate)."""
        return self._queue.qsize()

    def unsaved(self) -> int:
        """Events accepted but neither in the store nor in the spool: held in memory, or dropped."""
        return len(self._held) + self.dropped

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event queued before this call is written or spooled.

        False on timeout, or when events are only held in memory (store and spool both unavailable).
        """
        return self._wait(_Marker(), timeout=timeout) and not self.unsaved()

    def close(self, timeout: float | None = None, *, stall: float | None = None) -> bool:
        """Drain the queue, then stop the thread; False if it did not finish within `timeout` (or made no
        progress for `stall` seconds), or if events could be neither written nor spooled."""
        self._stopped = True
        finished = self._wait(_Marker(stop=True), timeout=timeout, stall=stall)
        if finished:
            self._thread.join(timeout)
        return finished and not self.unsaved()

    def rescue(self) -> int:
        """After a close that did not finish: spool what the thread still has; return the events lost.

        The batch being written is spooled too: if its transaction commits after all, its replay is
        harmless (event ids are de-duplicated), while not spooling it would lose it when the process ends.
        """
        left = list(self._inflight or self._held)  # the batch in flight includes the held events
        while True:
            try:
                item = self._queue.get_nowait()
            except Empty:
                break
            if not isinstance(item, _Marker):
                left.append(item)
        if not left:
            return self.dropped
        try:
            self._spool.append(left, wait=2.0)
        except Exception:
            logger.exception("margin sdk: cannot write the spool %s", self._spool.path)
            return self.dropped + len(left)
        self._held = []
        return self.dropped

    def _wait(self, marker: _Marker, *, timeout: float | None, stall: float | None = None) -> bool:
        if not self._thread.is_alive():
            return False
        self._queue.put(marker)
        deadline = None if timeout is None else time.monotonic() + timeout
        # Wait in slices: if the thread died, nobody would ever set `done`.
        while not marker.done.wait(0.1):
            now = time.monotonic()
            if (
                not self._thread.is_alive()
                or (deadline is not None and now >= deadline)
                or (stall is not None and now - self._progress_at >= stall)
            ):
                return marker.done.is_set()
        return True

    def _run(self) -> None:
        batch: list[EventRecord] = []
        deadline = 0.0
        while True:
            if batch:
                timeout: float | None = max(0.0, deadline - time.monotonic())
            elif self._spool.pending or self._held:
                timeout = max(0.0, self._next_retry - time.monotonic())
            else:
                timeout = None  # idle: sleep until an event arrives
            try:
                item = self._queue.get(timeout=timeout)
            except Empty:
                self._write(batch)  # the batch is due, or the spool's retry is
                batch = []
                continue
            self._progress_at = time.monotonic()
            if isinstance(item, _Marker):
                marker: _Marker | None = item
            else:
                if not batch:
                    deadline = time.monotonic() + self._flush_interval
                batch.append(item)
                marker = self._drain(batch)
            if marker is not None or len(batch) >= self._batch_size:
                self._write(batch)
                batch = []
            if marker is not None:
                marker.done.set()
                if marker.stop:
                    return

    def _drain(self, batch: list[EventRecord]) -> _Marker | None:
        """Move what is already queued into `batch` without blocking; stop at a marker or a full batch."""
        take, append = self._queue.get_nowait, batch.append
        for _ in range(self._batch_size - len(batch)):
            try:
                item = take()
            except Empty:
                return None
            if isinstance(item, _Marker):
                return item
            append(item)
        return None

    def _write(self, batch: list[EventRecord]) -> None:
        """Write spool + held + batch in one transaction; on failure spool the new events."""
        # The held events stay counted in `_held` until written or spooled: `flush` reads it meanwhile.
        records = self._valid(self._held + batch if self._held else batch)
        if not records and not self._spool.pending:
            return
        self._inflight = records
        self._progress_at = time.monotonic()
        try:
            self._write_or_keep(records)
        finally:
            self._inflight = []
            self._progress_at = time.monotonic()

    def _valid(self, records: list[EventRecord]) -> list[EventRecord]:
        """The records the store can take; each invalid one is rejected alone and logged (once)."""
        bad = [(r, reason) for r in records if (reason := problem(r)) is not None]
        if not bad:
            return records
        self.rejected += len(bad)
        record, reason = bad[0]
        self._once.warning("invalid", "margin sdk: event %s rejected: %s", record.event_id, reason, exc_info=False)
        rejected = {id(r) for r, _ in bad}
        return [r for r in records if id(r) not in rejected]

    def _write_or_keep(self, records: list[EventRecord]) -> None:
        try:
            engine = self._engine()
            if self._spool.pending:
                self._spool.replay(lambda spooled: self._ingest(engine, records=spooled + records))
            else:
                self._ingest(engine, records=records)
        except Exception:
            self._once.warning("store", "margin sdk: the store is unavailable; spooling events to %s", self._spool.path)
            self._next_retry = time.monotonic() + self._retry_interval
            self._keep(records)
            return
        self._held = []
        if self._once.reset("store"):
            logger.info("margin sdk: the store is reachable again; spooled events written")

    def _ingest(self, engine: Engine, *, records: Sequence[EventRecord]) -> None:
        from margin_core.store import events  # looked up per call: the import is heavy, tests patch it

        self._engine_used = engine
        self.written += events.ingest_events(engine, records)

    def _engine(self) -> Engine:
        from margin_core.store.db import shared_engine

        # Retried on every write: an engine is cached only once the store answered (tables created).
        return shared_engine(self._url)

    def _keep(self, records: list[EventRecord]) -> None:
        """Spool `records` (the held events and the new batch); if the spool fails too, hold them."""
        try:
            self._spool.append(records)
            self._once.reset("spool")
        except Exception:
            self._once.warning(
                "spool", "margin sdk: cannot write the spool %s; keeping events in memory", self._spool.path
            )
            if len(records) > _MAX_HELD:
                self.dropped += len(records) - _MAX_HELD
                logger.error("margin sdk: dropped %d events: store and spool unavailable", len(records) - _MAX_HELD)
            self._held = records[:_MAX_HELD]
            return
        self._held = []


def _restart_in_child(ref: weakref.ref[BatchWriter]) -> None:
    writer = ref()
    if writer is not None and not writer._stopped:
        writer._restart_after_fork()

"""`Tracker`: request-level capture into the store (rules §6).

The caller's thread only builds a small `EventRecord` and queues it; `BatchWriter` does the I/O. A
failure inside Margin is logged once and never reaches the caller.
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast
from uuid import uuid4

from connectors.records import EventRecord
from margin_core import settings
from margin_core.sdk._once import LogOnce
from margin_core.sdk.capture import Call
from margin_core.sdk.context import CaptureContext, current_scope
from margin_core.sdk.proxy import ClientProxy
from margin_core.sdk.spool import Spool
from margin_core.sdk.usage import NO_TOKENS, to_decimal, tokens_from_any, usage_cost
from margin_core.sdk.validate import problem
from margin_core.sdk.writer import BatchWriter
from margin_core.spool_path import default_spool_path

logger = logging.getLogger(__name__)
_C = TypeVar("_C")


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class Tracker:
    """Captures LLM calls per customer and feature and writes them to the store in the background."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        spool_path: Path | None = None,
        batch_size: int = 50_000,
        flush_interval: float = 1.0,
        retry_interval: float = 5.0,
    ) -> None:
        self.database_url = database_url or settings.database_url()
        self.spool_path = spool_path or default_spool_path(self.database_url)
        self._once = LogOnce(logger)
        self._closed = False
        self._rejected = 0
        self._writer = BatchWriter(
            self.database_url,
            spool=Spool(self.spool_path),
            batch_size=batch_size,
            flush_interval=flush_interval,
            retry_interval=retry_interval,
        )
        atexit.register(self._drain_at_exit)

    def context(
        self,
        *,
        customer_id: object = None,
        feature: object = None,
        api_key_id: object = None,
        **metadata: object,
    ) -> CaptureContext:
        """A context manager and decorator attributing the calls inside it; other keywords become metadata."""
        return CaptureContext(customer_id=customer_id, feature=feature, api_key_id=api_key_id, metadata=metadata)

    def wrap(self, client: _C) -> _C:
        """An instrumented proxy of an `OpenAI`, `AsyncOpenAI`, `Anthropic` or `AsyncAnthropic` client."""
        if type(client) is ClientProxy:
            return client  # already wrapped: wrapping again would count every call twice
        openai = sys.modules.get("openai")
        if openai is not None and isinstance(client, openai.OpenAI | openai.AsyncOpenAI):
            from margin_core.sdk.openai_wrap import wrap_openai

            return cast(_C, wrap_openai(client, sink=self._sink))
        anthropic = sys.modules.get("anthropic")
        if anthropic is not None and isinstance(client, anthropic.Anthropic | anthropic.AsyncAnthropic):
            from margin_core.sdk.anthropic_wrap import wrap_anthropic

            return cast(_C, wrap_anthropic(client, sink=self._sink))
        raise TypeError(
            f"Tracker.wrap: cannot instrument {type(client).__qualname__}; pass an openai.OpenAI, "
            "openai.AsyncOpenAI, anthropic.Anthropic or anthropic.AsyncAnthropic client, "
            "or call tracker.record() after other providers' calls"
        )

    def record(
        self,
        *,
        provider: str,
        model: str,
        usage: Mapping[str, Any] | object | None = None,
        customer_id: str | None = None,
        feature: str | None = None,
        api_key_id: str | None = None,
        cost_usd: Decimal | float | str | None = None,
        input_tokens: int | None = None,
        cached_input_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cache_write_1h_tokens: int | None = None,
        output_tokens: int | None = None,
        latency_ms: int | None = None,
        metadata: Mapping[str, object] | None = None,
        event_id: str | None = None,
        ts: datetime | None = None,
    ) -> str:
        """Record one call to any provider; returns its event_id (pass it again and it is not re-counted).

        `usage` may be an OpenAI-, Responses- or Anthropic-shaped usage object or dict; explicit token
        counts override it. `cost_usd`, else a `cost` in the usage (OpenRouter), is the event's cost;
        without one the engine prices the tokens. Unset customer, feature and key come from the context.
        """
        event_id = event_id or uuid4().hex
        try:
            tokens = NO_TOKENS if usage is None else tokens_from_any(usage)
            given = {
                "input_tokens": input_tokens,
                "cached_input_tokens": cached_input_tokens,
                "cache_write_tokens": cache_write_tokens,
                "cache_write_1h_tokens": cache_write_1h_tokens,
                "output_tokens": output_tokens,
            }
            tokens = tokens._replace(**{name: int(value) for name, value in given.items() if value is not None})
            cost = to_decimal(cost_usd) if cost_usd is not None else usage_cost(usage)
            scope = current_scope()
            extra = {str(k): str(v) for k, v in metadata.items() if v is not None} if metadata else None
            self._put(
                EventRecord(
                    event_id=str(event_id),
                    ts=_utc(ts),
                    customer_id=scope.customer_id if customer_id is None else str(customer_id),
                    feature=scope.feature if feature is None else str(feature),
                    provider=provider,
                    model=model,
                    api_key_id=scope.api_key_id if api_key_id is None else str(api_key_id),
                    input_tokens=tokens.input_tokens,
                    cached_input_tokens=tokens.cached_input_tokens,
                    cache_write_tokens=tokens.cache_write_tokens,
                    cache_write_1h_tokens=min(tokens.cache_write_1h_tokens, tokens.cache_write_tokens),
                    output_tokens=tokens.output_tokens,
                    cost_usd=cost,
                    latency_ms=latency_ms,
                    metadata={**scope.metadata, **extra} if extra else scope.metadata,
                )
            )
        except Exception:
            self._once.warning("record", "margin sdk: could not record an event for %s %s", provider, model)
        return event_id

    @property
    def rejected(self) -> int:
        """Events refused as invalid (a token count out of range, a NUL byte…), each logged: never queued."""
        return self._rejected + self._writer.rejected

    @property
    def unsaved(self) -> int:
        """Events accepted but neither in the store nor in the spool (both unavailable): lost at exit."""
        return self._writer.unsaved()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every event queued so far is written (or spooled).

        False if `timeout` ran out, or if some events could be neither written nor spooled (`unsaved`).
        """
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued and stop the writer; later events are dropped (with a warning).

        False, with an error logged, if the writer did not finish in time or some events could be neither
        written nor spooled: those are lost when the process ends.
        """
        self._closed = True
        atexit.unregister(self._drain_at_exit)
        done = self._writer.close(timeout)
        if not done:
            self._report_loss(self._writer.rescue())
        return done

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _drain_at_exit(self) -> None:
        # Waits as long as the writer makes progress (a busy store under several writers is slow, not
        # gone); once it has made none for 30 s (past SQLite's 10 s busy timeout and a slow first import of the store
        # modules on a loaded host), what is left is spooled.
        self._closed = True
        if not self._writer.close(stall=30.0):
            self._report_loss(self._writer.rescue())

    def _report_loss(self, lost: int) -> None:
        if lost:
            logger.error("margin sdk: %d events could be neither written to the store nor spooled: lost", lost)
        else:
            logger.warning("margin sdk: the store did not finish writing; the rest is spooled to %s", self.spool_path)

    def _sink(self, call: Call) -> None:
        tokens = call.tokens or NO_TOKENS
        scope = call.scope
        self._put(
            EventRecord(
                event_id=uuid4().hex,
                ts=call.ts,
                customer_id=scope.customer_id,
                feature=scope.feature,
                provider=call.provider,
                model=call.model,
                api_key_id=scope.api_key_id,
                input_tokens=tokens.input_tokens,
                cached_input_tokens=tokens.cached_input_tokens,
                cache_write_tokens=tokens.cache_write_tokens,
                cache_write_1h_tokens=tokens.cache_write_1h_tokens,
                output_tokens=tokens.output_tokens,
                cost_usd=call.cost_usd,
                latency_ms=call.latency_ms,
                metadata=scope.metadata,
            )
        )

    def _put(self, record: EventRecord) -> None:
        if self._closed:
            self._once.warning("closed", "margin sdk: the tracker is closed; event dropped", exc_info=False)
            return
        reason = problem(record)
        if reason is not None:  # rejected alone, here: it never reaches a batch, so never blocks the others
            self._rejected += 1
            self._once.warning("invalid", "margin sdk: event %s rejected: %s", record.event_id, reason, exc_info=False)
            return
        self._writer.put(record)

"""One captured call: its scope, start time and latency, and the usage read from its response or stream.

Streams stay the SDK's own objects: their private `_iterator` is replaced by a generator that passes
each item on (or holds back the usage chunk Margin asked for) and sends the event when the stream ends.
Any failure in here is logged once and never reaches the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from margin_core.sdk._once import LogOnce
from margin_core.sdk.context import current_scope
from margin_core.sdk.usage import Tokens

logger = logging.getLogger(__name__)
once = LogOnce(logger)

Observer = Callable[[object], bool]  # sees each stream item; False holds it back from the caller


class Call:
    """A request in flight; `finish` hands it to the tracker's sink exactly once."""

    __slots__ = ("_done", "_sink", "_t0", "cost_usd", "latency_ms", "model", "provider", "scope", "tokens", "ts")

    def __init__(self, sink: Callable[[Call], None], *, provider: str, model: object) -> None:
        self._sink = sink
        self.provider = provider
        self.model = model if isinstance(model, str) else ""  # the response's model replaces it
        self.tokens: Tokens | None = None
        self.cost_usd: Decimal | None = None
        self.scope = current_scope()
        self.ts = datetime.now(UTC)
        self.latency_ms = 0
        self._t0 = time.perf_counter()
        self._done = False

    def discard(self) -> None:
        """Send nothing for this call."""
        self._done = True

    def finish(self) -> None:
        """Measure the latency and send the event (a second call does nothing)."""
        if self._done:
            return
        self._done = True
        self.latency_ms = round((time.perf_counter() - self._t0) * 1000)
        try:
            self._sink(self)
        except Exception:
            once.warning("sink", "margin sdk: could not queue an event; the call itself is unaffected")


def settle(call: Call, *, read: Callable[[Call, object], None], response: object) -> None:
    """Read usage from a whole response and send the event; failures are logged, not raised."""
    try:
        read(call, response)
    except Exception:
        once.warning("read", "margin sdk: could not read usage from %s", type(response).__name__)
    call.finish()


def _guarded(observe: Observer, *, call: Call) -> Observer:
    def safe(item: object) -> bool:
        try:
            return observe(item)
        except Exception:
            once.warning("observe", "margin sdk: could not read usage from a %s stream", call.provider)
            return True

    return safe


def _observe_sync(inner: Iterator[object], *, call: Call, observe: Observer) -> Iterator[object]:
    # Refers to the inner generator and the call only, never to the stream: no reference cycle.
    try:
        for item in inner:
            if observe(item):
                yield item
    finally:
        call.finish()


async def _observe_async(inner: AsyncIterator[object], *, call: Call, observe: Observer) -> AsyncIterator[object]:
    try:
        async for item in inner:
            if observe(item):
                yield item
    finally:
        call.finish()


def instrument_stream(stream: object, *, call: Call, observe: Observer) -> None:
    """Route `stream`'s items through `observe`; the event is sent when the stream ends or is dropped."""
    try:
        inner = stream._iterator  # type: ignore[attr-defined]
        safe = _guarded(observe, call=call)
        if isinstance(inner, AsyncIterator):
            stream._iterator = _observe_async(inner, call=call, observe=safe)  # type: ignore[attr-defined]
        elif isinstance(inner, Iterator):
            stream._iterator = _observe_sync(inner, call=call, observe=safe)  # type: ignore[attr-defined]
        else:
            raise TypeError(f"unexpected stream iterator {type(inner).__name__}")
    except Exception:
        once.warning("stream", "margin sdk: cannot observe a %s stream; it is not captured", type(stream).__name__)


def instrument_manager(
    manager: object,
    *,
    attribute: str,
    start: Callable[[], Call],
    observer: Callable[[Call], Observer],
) -> None:
    """Instrument the raw stream a helper manager (`messages.stream`, ...) opens on `__enter__`.

    `attribute` is the manager's name-mangled request: a callable (sync) or an awaitable (async).
    """
    request = getattr(manager, attribute, None)
    if request is None:
        once.warning("manager", "margin sdk: %s has no %s; stream not captured", type(manager).__name__, attribute)
        return
    if callable(request):

        def open_sync() -> object:
            call = start()
            stream = request()
            instrument_stream(stream, call=call, observe=observer(call))
            return stream

        setattr(manager, attribute, open_sync)
    else:
        awaitable: Awaitable[object] = request

        async def open_async() -> object:
            call = start()
            stream = await awaitable
            instrument_stream(stream, call=call, observe=observer(call))
            return stream

        setattr(manager, attribute, open_async())

"""Wrappers for SDK methods: `create`-like calls (whole or `stream=True`) and `stream()` helper managers.

The wrapped method is called with the caller's arguments (plus `stream_options.include_usage` where the
API needs it to report a stream's usage); its result and its exceptions reach the caller unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

from margin_core.sdk.capture import Call, Observer, instrument_manager, instrument_stream, once, settle

Sink = Callable[[Call], None]


def _never(_kwargs: Mapping[str, object]) -> bool:
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    """How to read one API's usage: from a whole response (`read`) and from its stream (`observer`)."""

    sink: Sink
    provider: str
    read: Callable[[Call, object], None]
    observer: Callable[[Call, bool], Observer]  # bool: hold back the usage chunk Margin asked for
    inject_usage: bool = False  # OpenAI chat streams report usage only with stream_options.include_usage
    passthrough: Callable[[Mapping[str, object]], bool] = _never  # calls not to capture (resumed streams)

    def start(self, kwargs: Mapping[str, object]) -> Call:
        """A call starting now, for the caller's current scope."""
        return Call(self.sink, provider=self.provider, model=kwargs.get("model"))


def with_usage_chunk(kwargs: dict[str, object]) -> tuple[dict[str, object], bool]:
    """Ask for the final usage chunk unless the caller did; True when Margin added it (and must hide it)."""
    options = kwargs.get("stream_options")
    if isinstance(options, Mapping):
        if options.get("include_usage") is True:
            return kwargs, False
        return {**kwargs, "stream_options": {**options, "include_usage": True}}, True
    return {**kwargs, "stream_options": {"include_usage": True}}, True


def _prepare(api: Api, *, kwargs: dict[str, object], streaming: bool) -> tuple[dict[str, object], bool]:
    if not (streaming and api.inject_usage):
        return kwargs, False
    try:
        return with_usage_chunk(kwargs)
    except Exception:
        once.warning("inject", "margin sdk: could not request stream usage; passing the call through")
        return kwargs, False


def _after(api: Api, *, call: Call, result: object, streaming: bool, hide: bool) -> None:
    if streaming:
        instrument_stream(result, call=call, observe=api.observer(call, hide))
    else:
        settle(call, read=api.read, response=result)


def capture_call(method: Callable[..., object], *, api: Api, is_async: bool) -> Callable[..., object]:
    """Wrap a `create`-like method: one event per successful call, streams included."""
    if is_async:

        @functools.wraps(method)
        async def capture_async(*args: object, **kwargs: object) -> object:
            if api.passthrough(kwargs):
                return await cast(Awaitable[object], method(*args, **kwargs))
            streaming = kwargs.get("stream") is True
            call = api.start(kwargs)
            kwargs, hide = _prepare(api, kwargs=kwargs, streaming=streaming)
            result = await cast(Awaitable[object], method(*args, **kwargs))
            _after(api, call=call, result=result, streaming=streaming, hide=hide)
            return result

        return capture_async

    @functools.wraps(method)
    def capture(*args: object, **kwargs: object) -> object:
        if api.passthrough(kwargs):
            return method(*args, **kwargs)
        streaming = kwargs.get("stream") is True
        call = api.start(kwargs)
        kwargs, hide = _prepare(api, kwargs=kwargs, streaming=streaming)
        result = method(*args, **kwargs)
        _after(api, call=call, result=result, streaming=streaming, hide=hide)
        return result

    return capture


def _request_attribute(manager: object) -> str:
    """The name-mangled `__api_request` of the manager's class (or of the base class that defines it)."""
    for cls in type(manager).__mro__:
        name = f"_{cls.__name__.lstrip('_')}__api_request"
        if hasattr(manager, name):
            return name
    return f"_{type(manager).__name__}__api_request"


def capture_stream_helper(method: Callable[..., object], *, api: Api) -> Callable[..., object]:
    """Wrap a `stream(...)` helper: the manager it returns is unchanged, its raw stream is observed."""

    @functools.wraps(method)
    def open_manager(*args: object, **kwargs: object) -> object:
        if api.passthrough(kwargs):
            return method(*args, **kwargs)
        kwargs, hide = _prepare(api, kwargs=kwargs, streaming=True)
        manager = method(*args, **kwargs)
        instrument_manager(
            manager,
            attribute=_request_attribute(manager),
            start=lambda: api.start(kwargs),
            observer=lambda call: api.observer(call, hide),
        )
        return manager

    return open_manager


def rewrap(method: Callable[..., object], *, wrap: Callable[[object], object]) -> Callable[..., object]:
    """Wrap `client.with_options`/`copy` so the new client is instrumented too."""

    @functools.wraps(method)
    def rewrapped(*args: object, **kwargs: object) -> object:
        return wrap(method(*args, **kwargs))

    return rewrapped

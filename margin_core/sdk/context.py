"""Who a captured request is for: customer, feature and custom dimensions, per thread and asyncio task.

The scope lives in a `ContextVar`, so each thread starts empty and each asyncio task sees the scope of the
code that created it; nested contexts merge, the inner value winning (rules §6).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Scope:
    """The attribution an event gets: empty strings where nothing was set."""

    customer_id: str = ""
    feature: str = ""
    api_key_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # The scope a `with` block restores on exit: kept in the scope itself, not on the CaptureContext,
    # so one module-level context object can be entered by many threads and tasks at once.
    parent: Scope | None = field(default=None, compare=False, repr=False)

    def merged(
        self,
        *,
        customer_id: str | None = None,
        feature: str | None = None,
        api_key_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Scope:
        """This scope with the given values on top (None keeps the outer value)."""
        return Scope(
            customer_id=self.customer_id if customer_id is None else customer_id,
            feature=self.feature if feature is None else feature,
            api_key_id=self.api_key_id if api_key_id is None else api_key_id,
            # Events share this dict (never mutated), so an unchanged scope costs no copy per call.
            metadata={**self.metadata, **metadata} if metadata else self.metadata,
            parent=self,
        )


EMPTY_SCOPE = Scope()
_SCOPE: ContextVar[Scope] = ContextVar("margin_sdk_scope", default=EMPTY_SCOPE)


def current_scope() -> Scope:
    """The scope of the running thread or task."""
    return _SCOPE.get()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class CaptureContext:
    """`with tracker.context(...)`, `async with`, or `@tracker.context(...)` on sync and async functions."""

    __slots__ = ("_api_key_id", "_customer_id", "_feature", "_metadata")

    def __init__(
        self,
        *,
        customer_id: object = None,
        feature: object = None,
        api_key_id: object = None,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        self._customer_id = _text(customer_id)
        self._feature = _text(feature)
        self._api_key_id = _text(api_key_id)
        self._metadata = {str(k): str(v) for k, v in (metadata or {}).items() if v is not None}

    def _push(self) -> Token[Scope]:
        scope = _SCOPE.get().merged(
            customer_id=self._customer_id,
            feature=self._feature,
            api_key_id=self._api_key_id,
            metadata=self._metadata,
        )
        return _SCOPE.set(scope)

    def __enter__(self) -> Scope:
        self._push()
        return _SCOPE.get()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _SCOPE.set(_SCOPE.get().parent or EMPTY_SCOPE)

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorate `function` so that each call runs inside this context."""
        if inspect.iscoroutinefunction(function):
            coroutine_function = cast(Callable[_P, Coroutine[Any, Any, object]], function)

            @functools.wraps(function)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> object:
                # A token per call, not on self: the same decorated function may run in many tasks at once.
                token = self._push()
                try:
                    return await coroutine_function(*args, **kwargs)
                finally:
                    _SCOPE.reset(token)

            return cast(Callable[_P, _R], run_async)

        @functools.wraps(function)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            token = self._push()
            try:
                return function(*args, **kwargs)
            finally:
                _SCOPE.reset(token)

        return run

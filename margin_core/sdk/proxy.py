"""A transparent proxy: every attribute comes from the wrapped object except the few Margin instruments.

`isinstance(proxy, OpenAI)` still holds (`__class__` reports the target's class, as `wrapt` does), and
instrumented children (`client.chat`, `client.chat.completions.create`) are built once and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

Hook = Callable[[Any], Any]  # the real attribute in, its instrumented stand-in out


class Proxy:
    """Forward attribute reads and writes to `target`; names in `hooks` are replaced by `hook(value)`."""

    __slots__ = ("__weakref__", "_margin_cache", "_margin_hooks", "_margin_target")

    def __init__(self, target: object, *, hooks: Mapping[str, Hook]) -> None:
        object.__setattr__(self, "_margin_target", target)
        object.__setattr__(self, "_margin_hooks", hooks)
        object.__setattr__(self, "_margin_cache", {})

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401  (a proxy's attributes are the target's)
        hook = self._margin_hooks.get(name)
        if hook is None:
            return getattr(self._margin_target, name)
        cache: dict[str, Any] = self._margin_cache
        if name not in cache:
            cache[name] = hook(getattr(self._margin_target, name))
        return cache[name]

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._margin_target, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._margin_target, name)

    def __dir__(self) -> list[str]:
        return dir(self._margin_target)

    def __repr__(self) -> str:
        return repr(self._margin_target)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # reports the target's class, so isinstance(proxy, OpenAI) holds
        return type(self._margin_target)


class ClientProxy(Proxy):
    """A proxy for a client: `with`/`async with` hand back the proxy, not the bare client."""

    __slots__ = ()

    def __enter__(self) -> ClientProxy:
        self._margin_target.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._margin_target.__exit__(exc_type, exc, tb)  # type: ignore[no-any-return]

    async def __aenter__(self) -> ClientProxy:
        await self._margin_target.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._margin_target.__aexit__(exc_type, exc, tb)  # type: ignore[no-any-return]

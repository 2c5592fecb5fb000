"""HTTP plumbing shared by the provider connectors: client factory, retries, error translation, paging.

The retry policy itself (which statuses, how long to wait, how many attempts) lives in `_retry.py`;
this module only applies it at the transport level, so every request of every connector gets it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import httpx

from connectors._payload import Node, root
from connectors._retry import MAX_ATTEMPTS, backoff_delay, is_retryable, parse_retry_after
from connectors._window import in_window
from connectors.errors import AuthError, ConnectorError, PayloadError, RateLimitedError, UpstreamError

logger = logging.getLogger(__name__)

Params = Mapping[str, str | int | Sequence[str]]

# Key in `Response.extensions` where RetryTransport records how many attempts a response took.
ATTEMPTS_EXTENSION = "margin_attempts"
# rules §7: a whole answer (headers and body) within this many seconds, whatever the per-read timeouts (a
# server trickling one byte every few seconds never trips those); read at each request, so tests can lower it.
REQUEST_DEADLINE = 60.0
# rules §7: pages followed in one listing at most; a cursor that never ends fails clearly instead.
MAX_PAGES = 10_000

# Transport failures worth another attempt. Failed connects are already retried by
# `HTTPTransport(retries=2)`, so they are not retried again here.
_RETRYABLE_ERRORS = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError)

# What to tell the user on 401 / 403, per provider: the fix is always about which key was pasted.
_UNAUTHORIZED_HINTS = {
    "openai": "this endpoint needs an admin key (sk-admin-…), created under Organization settings → Admin keys",
    "anthropic": "this endpoint needs an Admin API key (sk-ant-admin…), created under Console → Settings → Admin keys",
    "openrouter": "the key was refused; use a management key (sk-or-…) created at "
    "openrouter.ai/settings/management-keys",
}
_FORBIDDEN_HINTS = {
    "openai": "the key lacks a permission this endpoint needs; use an admin key (sk-admin-…) with read "
    "access to usage, created by an organization owner",
    "anthropic": "the key may not read this; use an Admin API key (sk-ant-admin…) of an organization admin",
    "openrouter": "this endpoint needs a management key, not a regular API key; create one at "
    "openrouter.ai/settings/management-keys",
}


class DeadlineExceeded(httpx.TimeoutException):
    """The provider did not send its whole answer within REQUEST_DEADLINE (not retried: it would only repeat)."""


class DeadlineTransport(httpx.BaseTransport):
    """Bounds each request, headers and body, by an overall deadline (REQUEST_DEADLINE unless given)."""

    def __init__(self, transport: httpx.BaseTransport, *, seconds: float | None = None) -> None:
        self._transport = transport
        self._seconds = seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` with no per-read timeout past the deadline; the body is checked as it streams."""
        seconds = REQUEST_DEADLINE if self._seconds is None else self._seconds
        deadline = time.monotonic() + seconds
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {k: seconds if v is None else min(v, seconds) for k, v in timeouts.items()}
        response = self._transport.handle_request(request)
        if time.monotonic() > deadline:
            response.close()
            raise DeadlineExceeded(f"no answer within {seconds:g} s", request=request)
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_DeadlineStream(stream, deadline=deadline, seconds=seconds, request=request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(
        self, stream: httpx.SyncByteStream, *, deadline: float, seconds: float, request: httpx.Request
    ) -> None:
        self._stream, self._deadline, self._seconds, self._request = stream, deadline, seconds, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise DeadlineExceeded(f"the answer took over {self._seconds:g} s", request=self._request)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class RetryTransport(httpx.BaseTransport):
    """Retry 429 and 5xx (and read timeouts) with backoff, at most MAX_ATTEMPTS attempts in all."""

    def __init__(
        self,
        transport: httpx.BaseTransport,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._transport = transport
        self._sleep = sleep
        self._max_attempts = max_attempts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`, retrying what the policy allows; the last answer or error is returned as is."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._transport.handle_request(request)
            except _RETRYABLE_ERRORS as exc:
                if attempt == self._max_attempts:
                    raise
                delay = backoff_delay(attempt, retry_after=None)
                logger.warning("%s %s: %s, retrying in %.1fs", request.method, request.url.path, exc, delay)
            else:
                if not is_retryable(response.status_code) or attempt == self._max_attempts:
                    response.extensions[ATTEMPTS_EXTENSION] = attempt
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = backoff_delay(attempt, retry_after=retry_after)
                # The body of a failed attempt is not needed; release the connection before waiting.
                response.close()
                logger.warning(
                    "%s %s: HTTP %d, attempt %d of %d, retrying in %.1fs",
                    request.method,
                    request.url.path,
                    response.status_code,
                    attempt,
                    self._max_attempts,
                    delay,
                )
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises on its last attempt")

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


def build_client(
    base_url: str,
    *,
    headers: dict[str, str],
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx.Client with auth headers, a 30 s timeout, an overall deadline per request (REQUEST_DEADLINE)
    and the retry policy on every request."""
    inner = DeadlineTransport(transport if transport is not None else httpx.HTTPTransport(retries=2))
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(30.0),
        transport=RetryTransport(inner, sleep=sleep),
    )


@contextmanager
def translate_errors(provider: str, *, endpoint: str) -> Iterator[None]:
    """Turn httpx errors raised inside the block into ConnectorErrors naming provider, endpoint and fix."""
    where = f"{provider} {endpoint}"
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise _status_error(exc.response, provider=provider, endpoint=endpoint) from exc
    except DeadlineExceeded as exc:
        raise UpstreamError(
            f"{where}: {exc}, the provider answers too slowly; try again later (a proxy in between may be "
            "throttling the connection)",
            provider=provider,
            endpoint=endpoint,
        ) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError(
            f"{where}: timed out ({type(exc).__name__}); try again later",
            provider=provider,
            endpoint=endpoint,
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamError(
            f"{where}: could not reach the provider ({exc}); check the network connection and the base URL",
            provider=provider,
            endpoint=endpoint,
        ) from exc


def _status_error(response: httpx.Response, *, provider: str, endpoint: str) -> ConnectorError:
    """The ConnectorError for an HTTP error status, with the provider's own message when it gave one."""
    status = response.status_code
    attempts = response.extensions.get(ATTEMPTS_EXTENSION, 1)
    where = f"{provider} {endpoint}"
    detail = _provider_message(response)
    tail = f" (provider says: {detail})" if detail else ""
    kwargs = {"provider": provider, "endpoint": endpoint}
    if status == 401:
        hint = _UNAUTHORIZED_HINTS.get(provider, "the key was refused; check it")
        return AuthError(f"{where}: 401, {hint}{tail}", **kwargs)
    if status == 403:
        hint = _FORBIDDEN_HINTS.get(provider, "the key lacks a permission this endpoint needs")
        return AuthError(f"{where}: 403, {hint}{tail}", **kwargs)
    if status == 429:
        return RateLimitedError(
            f"{where}: still rate limited (HTTP 429) after {attempts} attempts; wait a few minutes and sync "
            f"again{tail}",
            **kwargs,
        )
    if status >= 500:
        return UpstreamError(f"{where}: failed {attempts} times (HTTP {status}); try again later{tail}", **kwargs)
    return ConnectorError(
        f"{where}: unexpected HTTP {status}; check the base URL and that the key belongs to the right "
        f"organization{tail}",
        **kwargs,
    )


def _provider_message(response: httpx.Response) -> str:
    """`error.message` from an error body (all three providers' envelope), plus Anthropic's request id."""
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif isinstance(error, str):
            message = error
    request_id = response.headers.get("request-id")
    if request_id:
        message = f"{message} [request-id {request_id}]".strip()
    return message[:500]


def get_json(client: httpx.Client, *, path: str, provider: str, endpoint: str, params: Params | None = None) -> Node:
    """GET `path` and return its JSON object body; HTTP and shape failures become ConnectorErrors."""
    with translate_errors(provider, endpoint=endpoint):
        response = client.get(path, params=params)
        response.raise_for_status()
    try:
        body = response.json(parse_float=Decimal)
    except ValueError as exc:
        raise PayloadError(
            f"{provider} {endpoint}: the response is not JSON ({type(exc).__name__}); check the base URL "
            "(a proxy or captive portal may be answering)",
            provider=provider,
            endpoint=endpoint,
        ) from exc
    return root(body, provider=provider, endpoint=endpoint)


def iter_pages(
    client: httpx.Client,
    *,
    path: str,
    provider: str,
    endpoint: str,
    params: Params,
    cursor_field: str = "next_page",
    cursor_param: str = "page",
) -> Iterator[Node]:
    """Yield each page of a `data`/`has_more` listing, sending `<cursor_param>=<cursor_field>` until done.

    The usage and cost endpoints answer `next_page` and take `page`; key listings answer `last_id`.
    """
    query: dict[str, str | int | Sequence[str]] = dict(params)
    seen: set[str] = set()
    pages = 0
    while True:
        page = get_json(client, path=path, provider=provider, endpoint=endpoint, params=query)
        yield page
        pages += 1
        if not page.flag("has_more"):
            return
        if pages >= MAX_PAGES:
            raise PayloadError(
                f"{provider} {endpoint}: still has_more after {pages:,} pages, the cap of one listing; the "
                "provider's cursor does not end (sync a shorter period with --days, or try again later)",
                provider=provider,
                endpoint=endpoint,
            )
        cursor = page.text(cursor_field)
        if cursor in seen:
            # A provider bug that would otherwise loop for ever.
            raise page.fail(cursor_field, problem=f"repeats an earlier cursor {cursor!r}")
        seen.add(cursor)
        query[cursor_param] = cursor


def iter_day_buckets(
    client: httpx.Client,
    *,
    path: str,
    provider: str,
    params: Params,
    day_of: Callable[[Node], date],
    start: date,
    end: date,
) -> Iterator[tuple[date, Node]]:
    """Yield (day, bucket) for each `data` bucket of a paged usage or cost report whose day is in [start, end).

    Providers may answer buckets just outside the window asked for; they belong to another sync.
    """
    for page in iter_pages(client, path=path, provider=provider, endpoint=path, params=params):
        for bucket in page.children("data"):
            day = day_of(bucket)
            if in_window(day, start=start, end=end):
                yield day, bucket

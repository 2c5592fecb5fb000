"""Errors raised by connectors, each naming the provider, the endpoint and what to do.

ConnectorError
├── AuthError          401/403: wrong key, or not an admin/management key
├── RateLimitedError   429 still failing after the retries
├── UpstreamError      5xx, timeouts, connection failures after the retries
└── PayloadError       a response that does not have the documented shape
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector error; `str()` is a message meant for the user."""

    def __init__(self, message: str, *, provider: str, endpoint: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.endpoint = endpoint


class AuthError(ConnectorError):
    """The key was refused (401) or lacks a permission (403)."""


class RateLimitedError(ConnectorError):
    """The provider kept answering 429 after every allowed attempt."""


class UpstreamError(ConnectorError):
    """The provider failed (5xx), timed out or could not be reached after every allowed attempt."""


class PayloadError(ConnectorError):
    """A response body is not what the provider documents (missing field, wrong type)."""

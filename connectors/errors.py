"""Errors raised by connectors, each naming the provider, the endpoint and what to do.

ConnectorError
├── AuthError          401/403: wrong key, or not an admin/management key
├── RateLimitedError   429 still failing after the retries
├── UpstreamError      5xx, timeouts, connection failures after the retries
└── PayloadError       a response that does not have the documented shape
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
# Anything shaped like a credential (rules §7): a provider or a proxy may echo the key it was sent, and the
# message of a ConnectorError is stored (sync_run.error, connection.last_error), logged, printed and shown.
_SECRETS = re.compile(
    r"""
    (?:sk|pk|rk)-(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{8,}  # sk-…, sk-proj-…, sk-admin-…, sk-ant-…, sk-or-v1-…
    | (?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{6,}           # Stripe secret, publishable and restricted keys
    | (?:rk|whsec)_(?=[A-Za-z_]*[0-9])[A-Za-z0-9]{12,}      # other Stripe-style secrets
    | \b(?i:bearer|basic|token|x-api-key|api[_-]?key|authorization|password|secret)(?:["']?\s*[:=]\s*["']?|\s+)
      (?=[^\s"']*[0-9])[A-Za-z0-9._~+/=\-]{8,}              # a labelled value (Authorization: Bearer …)
    | (?<![A-Za-z0-9_\-])(?=[A-Za-z_\-]*[0-9])(?=[0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}  # long random tokens
    """,
    re.VERBOSE,
)
_LABEL = re.compile(
    r"(?i)(?:bearer|basic|token|x-api-key|api[_-]?key|authorization|password|secret)(?:[\"']?\s*[:=]\s*[\"']?|\s+)"
)


def redact(text: str) -> str:
    """`text` with everything shaped like a key, a token or an Authorization value replaced by [redacted]."""
    return _SECRETS.sub(_replace, text)


def _replace(found: re.Match[str]) -> str:
    value = found.group(0)
    label = _LABEL.match(value)
    return (label.group(0) if label else "") + REDACTED


class ConnectorError(Exception):
    """Base of every connector error; `str()` is a message meant for the user, with any key redacted."""

    def __init__(self, message: str, *, provider: str, endpoint: str = "") -> None:
        super().__init__(redact(message))
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

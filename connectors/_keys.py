"""The format check every connector runs on a key before its first call (rules §7)."""

from __future__ import annotations

from connectors.errors import AuthError


def check_key_prefix(api_key: str, *, provider: str, prefix: str, wrong_key: str) -> None:
    """Raise AuthError when the key has stray spaces or lacks `prefix`; `wrong_key` says which key to use."""
    if api_key != api_key.strip():
        raise AuthError(f"{provider}: the key has leading or trailing spaces; paste it again", provider=provider)
    if not api_key.startswith(prefix):
        raise AuthError(f"{provider}: {wrong_key}", provider=provider)

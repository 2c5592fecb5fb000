"""Secrets at rest (DESIGN §7): Fernet with `MARGIN_SECRET_KEY`, else a 0600 key file under data/."""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from margin_core import settings
from margin_core.errors import ConfigError


def _fernet() -> Fernet:
    source = settings.secret_key_source()
    if source.env_value:
        return Fernet(source.env_value.encode())
    path = source.key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


def encrypt(secret: str) -> str:
    """The secret encrypted for storage."""
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    """The stored secret in clear; ConfigError when the key that encrypted it is gone."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "a saved key cannot be decrypted: MARGIN_SECRET_KEY or data/secret.key changed since it was saved; "
            "remove the connection and add the key again"
        ) from None


def mask(secret: str) -> str:
    """What the app shows of a key: its prefix and last four characters."""
    if len(secret) <= 12:
        return "••••"
    return f"{secret[:7]}…{secret[-4:]}"

"""Secrets at rest (rules §7): Fernet with `MARGIN_SECRET_KEY`, else a 0600 key file under data/."""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from margin_core import settings
from margin_core.errors import ConfigError

_KEY_FORMAT = "32 random bytes in URL-safe base64, 44 characters, as `Fernet.generate_key()` makes"


def _fernet() -> Fernet:
    source = settings.secret_key_source()
    if source.env_value:
        return _key(source.env_value.encode(), where="MARGIN_SECRET_KEY")
    path = source.key_file
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key())
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read or create the secret key file {path}: {exc.strerror or exc}") from None
    return _key(data.strip(), where=str(path))


def _key(value: bytes, *, where: str) -> Fernet:
    """A Fernet for `value`; ConfigError naming where the key came from when it is malformed."""
    try:
        return Fernet(value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"the secret key in {where} is malformed: it must be {_KEY_FORMAT}. Restore the key that encrypted "
            "the saved connections, or remove it to start over (saved keys must then be added again)"
        ) from None


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

"""The saved provider keys (encrypted) and their status: the `connection` table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, text


def read_connections(engine: Engine) -> dict[str, Row[Any]]:
    """kind → its row (kind, label, status, last_synced_at, last_error); the secret is not read."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, label, status, last_synced_at, last_error FROM connection"))
        return {row.kind: row for row in rows}


def read_secrets(engine: Engine) -> dict[str, str]:
    """kind → its encrypted secret, for every saved connection."""
    with engine.connect() as connection:
        return {
            str(kind): str(token)
            for kind, token in connection.execute(text("SELECT kind, secret_encrypted FROM connection"))
        }


def read_secret(engine: Engine, kind: str) -> str | None:
    """One connection's encrypted secret, or None."""
    with engine.connect() as connection:
        token = connection.execute(
            text("SELECT secret_encrypted FROM connection WHERE kind = :k"), {"k": kind}
        ).scalar()
    return str(token) if token else None


def save_connection(engine: Engine, kind: str, *, token: str, label: str) -> None:
    """Save or replace a connection's encrypted secret and masked label; its status becomes connected."""
    with engine.begin() as connection:
        updated = connection.execute(
            text(
                "UPDATE connection SET secret_encrypted = :s, label = :l, status = 'connected', last_error = '' "
                "WHERE kind = :k"
            ),
            {"s": token, "l": label, "k": kind},
        )
        if updated.rowcount == 0:
            connection.execute(
                text(
                    "INSERT INTO connection (kind, label, secret_encrypted, status, created_at, last_error) "
                    "VALUES (:k, :l, :s, 'connected', :t, '')"
                ),
                {"k": kind, "l": label, "s": token, "t": datetime.now(UTC)},
            )


def delete_connection(engine: Engine, kind: str) -> None:
    """Forget one connection."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM connection WHERE kind = :k"), {"k": kind})


def saved_kinds(connection: Connection) -> set[str]:
    """The kinds with a saved connection."""
    return set(connection.execute(text("SELECT kind FROM connection")).scalars())

"""Where the SDK spools the events a store could not take (rules §6): the one rule the SDK and the CLI share.

It sits outside `margin_core/sdk/` on purpose: importing anything there runs `sdk/__init__` (the
`Tracker`), and a CLI report checks for a spool before it loads SQLAlchemy, which a SQLite file never needs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import unquote

from margin_core import settings

# `sqlite[+driver]:///<file>[?query]`, read as `sqlalchemy.engine.make_url` reads it (the file unquoted).
_SQLITE_FILE = re.compile(r"sqlite(?:\+\w+)?:///(?P<database>[^?]*)(?:\?.*)?", re.DOTALL)


def _beside(database: str) -> Path:
    path = Path(database)
    return path.with_name(f"{path.name}-spool.jsonl")


def sqlite_spool_path(database_url: str) -> Path | None:
    """`<db file>-spool.jsonl` next to the SQLite file of a `sqlite:///` URL; None for any other URL."""
    match = _SQLITE_FILE.fullmatch(database_url)
    database = unquote(match["database"]) if match else ""
    return None if database in ("", ":memory:") else _beside(database)


def default_spool_path(database_url: str) -> Path:
    """`<db file>-spool.jsonl` next to a SQLite file (like its -wal); else one per URL under data/."""
    beside = sqlite_spool_path(database_url)
    if beside is not None:
        return beside
    from sqlalchemy.engine import make_url  # a server store (or an unusual SQLite URL): parse it in full

    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        return _beside(database)
    # One spool per store: a spool replayed into another store would put events where they do not belong.
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return settings.DATA_DIR / f"sdk-spool-{digest}.jsonl"

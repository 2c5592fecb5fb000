"""Store test fixtures: an engine on the PostgreSQL server `make test` starts, in a schema of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from margin_core.store.db import make_engine
from tests.conftest import pg_url


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A store on PostgreSQL in a fresh schema, so tests never see each other's rows."""
    url = pg_url()
    if url is None:
        pytest.skip("no PostgreSQL server (make test starts one)")
    schema = f"t_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(f"{url}?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()

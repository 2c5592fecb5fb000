"""The spool's place (rules §6): one rule for the SDK and the CLI, read without SQLAlchemy for a SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from margin_core import settings
from margin_core.__main__ import main
from margin_core.sdk.spool import Spool, decode
from margin_core.spool_path import default_spool_path, sqlite_spool_path
from tests.sdk.sdk_store import totals

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////tmp/d.db", "/tmp/d.db-spool.jsonl"),
        ("sqlite:///data/margin.db", "data/margin.db-spool.jsonl"),
        ("sqlite+pysqlite:////srv/m.db", "/srv/m.db-spool.jsonl"),
        ("sqlite:////tmp/m.db?mode=ro", "/tmp/m.db-spool.jsonl"),
        ("sqlite:////tmp/my%20store.db", "/tmp/my store.db-spool.jsonl"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://margin:secret@db:5432/margin", None),
    ],
)
def test_a_sqlite_file_url_is_read_as_sqlalchemy_reads_it(url: str, expected: str | None) -> None:
    assert sqlite_spool_path(url) == (None if expected is None else Path(expected))
    database = make_url(url).database or ""
    if expected is not None:
        assert Path(expected) == Path(database).with_name(f"{Path(database).name}-spool.jsonl")


def test_other_stores_get_one_spool_per_url_under_data_without_the_password() -> None:
    first = default_spool_path("postgresql+psycopg://margin:secret@db:5432/margin")
    assert first.parent == settings.DATA_DIR
    assert first.name.startswith("sdk-spool-")
    assert first == default_spool_path("postgresql+psycopg://margin:other@db:5432/margin")
    assert first != default_spool_path("postgresql+psycopg://margin:secret@db:5432/margin_2")
    assert default_spool_path("sqlite:///:memory:").parent == settings.DATA_DIR
    assert default_spool_path("sqlite:////tmp/d.db") == Path("/tmp/d.db-spool.jsonl")


def test_the_rule_loads_no_sqlalchemy_for_a_sqlite_file() -> None:
    code = (
        "import sys\n"
        "from margin_core.spool_path import default_spool_path\n"
        "default_spool_path('sqlite:////tmp/x.db')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'polars') or "
        "m.startswith('margin_core.sdk')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_cli_report_first_writes_what_the_sdk_spooled_beside_the_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "my store.db"
    url = f"sqlite:///{str(database).replace(' ', '%20')}"
    event = {
        "event_id": "e1",
        "ts": "2026-11-05T10:00:00+00:00",
        "customer_id": "cus_1",
        "feature": "f",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
    }
    Spool(tmp_path / "my store.db-spool.jsonl").append([decode(event)])
    assert totals(url, "requests") == {}
    assert main(["--db", url, "report", "customers", "--start", "2026-11-01", "--end", "2026-12-01"]) == 0
    assert totals(url, "requests") == {"cus_1": 1}
    assert (tmp_path / "my store.db-spool.jsonl").read_text() == ""

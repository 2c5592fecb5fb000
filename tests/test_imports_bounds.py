"""Bad input files (rules §5): every one rejected whole, with its line and reason, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from margin_core import secrets
from margin_core.__main__ import main
from margin_core.errors import ConfigError
from margin_core.store import repo
from margin_core.store.db import make_engine
from tests.connectors.test_provider_exports import ANTHROPIC_COSTS

USAGE = (
    "day,provider,model,api_key_id,project_id,user_id,input_tokens,cached_input_tokens,cache_write_tokens,"
    "output_tokens,requests,cost_usd\n"
)
EVENTS = (
    "event_id,ts,customer_id,feature,provider,model,api_key_id,input_tokens,cached_input_tokens,"
    "cache_write_tokens,output_tokens,cost_usd\n"
)
GOOD_USAGE = "2026-03-01,openai,gpt-4o,k,,,100,0,0,10,1,0.50\n"
BIG = 2**63


def _usage(line: str) -> str:
    return USAGE + GOOD_USAGE + line + "\n"


CASES = [
    ("usage", _usage(f"2026-03-02,openai,gpt-4o,k,,,{BIG},0,0,10,1,0.5"), 3, "64-bit"),
    ("usage", _usage(f"2026-03-02,openai,gpt-4o,k,,,1,0,0,{10**30},1,0.5"), 3, "64-bit"),
    ("usage", _usage(f"2026-03-02,openai,gpt-4o,k,,,1,0,0,1,{BIG * 4},0.5"), 3, "64-bit"),
    (
        "usage",
        USAGE + f"2026-03-01,openai,gpt-4o,k,,,{2**62},0,0,1,1,\n2026-03-01,openai,gpt-4o,k,,,{2**62},0,0,1,1,\n",
        3,
        "64-bit",
    ),
    ("usage", _usage("2026-03-02,openai,gpt-4o,k,,,1,0,0,1,1,-3.00"), 3, "negative"),
    ("usage", _usage("2026-03-02,openai,gpt-4o,k,,,1,0,0,1,1,123456789012345678901234567890"), 3, "out of range"),
    ("usage", _usage("2026-03-02,openai,gpt-4o,k,,,1,0,0,1,1,1000000000000"), 3, "out of range"),
    ("usage", _usage("2026-03-02,openai," + "m" * 10_001 + ",k,,,1,0,0,1,1,1"), 3, "10,000 characters"),
    ("usage", _usage("2026-03-02,openai," + "m" * 200_000 + ",k,,,1,0,0,1,1,1"), 3, "10,000 characters"),
    ("usage", _usage("2026-03-02,openai,gpt\x00,k,,,1,0,0,1,1,1"), 3, "NUL"),
    ("events", EVENTS + "e1,0001-01-01T00:00:00+01:00,c,f,openai,gpt-4o,,1,0,0,1,\n", 2, "years 1 to 9999"),
    ("events", EVENTS + "e1,9999-12-31T23:30:00-01:00,c,f,openai,gpt-4o,,1,0,0,1,\n", 2, "years 1 to 9999"),
    ("events", EVENTS + f"e1,2026-03-01T00:00:00Z,c,f,openai,gpt-4o,,{BIG},0,0,1,\n", 2, "64-bit"),
    ("events", EVENTS + "e1,2026-03-01T00:00:00Z,c,f,openai,gpt-4o,,1,0,0,1,-0.01\n", 2, "negative"),
    (
        "revenue",
        "customer_id,source_id,service_start,service_end,amount,currency\nc,s,2026-03-01,2026-04-01,1000000000000.00,usd\n",
        2,
        "out of range",
    ),
    ("rates", "currency,rate_to_usd\nEUR,1.1\nXYZ,1000000\n", 3, "out of range"),
]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    path = tmp_path / "seed.csv"
    path.write_text(USAGE + GOOD_USAGE)
    assert main(["--db", url, "import", "usage", str(path)]) == 0
    return url


@pytest.mark.parametrize(("kind", "content", "line", "reason"), CASES)
def test_a_bad_value_is_rejected_with_its_line_and_nothing_is_written(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, content: str, line: int, reason: str
) -> None:
    before = repo.read_usage(make_engine(db))
    path = tmp_path / f"bad_{kind}.csv"
    path.write_bytes(content.encode())
    capsys.readouterr()
    assert main(["--db", db, "import", kind, str(path)]) == 1
    err = capsys.readouterr().err
    assert f"line {line}: " in err and reason in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert repo.read_usage(make_engine(db)).equals(before)


def test_bytes_that_are_not_utf8_are_named_by_line(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (USAGE + GOOD_USAGE).encode() + "2026-03-02,openai,gpt-4o,Müller,,,1,0,0,1,1,1\n".encode("latin-1")
    )
    assert main(["--db", db, "import", "usage", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 3: " in err and "not UTF-8" in err


def test_a_bad_line_after_many_good_batches_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin_core import imports

    monkeypatch.setattr(imports, "BATCH_LINES", 7)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    rows = [f"2026-03-{1 + n % 28:02d},openai,gpt-4o,k{n},,,{n},0,0,1,1,0.10" for n in range(50)]
    rows.append(f"2026-03-02,openai,gpt-4o,k,,,{BIG},0,0,1,1,0.1")  # line 52
    path = tmp_path / "u.csv"
    path.write_text(USAGE + "\n".join(rows) + "\n")
    assert main(["--db", url, "import", "usage", str(path)]) == 1
    assert "line 52: " in capsys.readouterr().err
    assert repo.read_usage(make_engine(url)).is_empty()


def test_rows_of_one_bucket_in_different_batches_are_summed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from margin_core import imports

    monkeypatch.setattr(imports, "BATCH_LINES", 2)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    path = tmp_path / "u.csv"
    path.write_text(USAGE + "".join(f"2026-03-01,openai,gpt-4o,k,,,{n},0,0,1,1,0.25\n" for n in range(5)))
    assert main(["--db", url, "import", "usage", str(path)]) == 0
    usage = repo.read_usage(make_engine(url))
    assert usage.height == 1
    assert (usage["input_tokens"][0], usage["requests"][0], usage["cost_micros"][0]) == (10, 5, 1_250_000)


def test_an_anthropic_cost_export_alone_is_imported_as_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cost.csv"
    path.write_text(ANTHROPIC_COSTS)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["--db", url, "import", "provider-export", str(path)]) == 0
    usage = repo.read_usage(make_engine(url))
    assert set(usage["model"]) == {"(other)"} and int(usage["cost_micros"].sum()) == 1_720_000


@pytest.mark.parametrize("content", [b"not a key", b"", Fernet.generate_key()[:-2] + b"!!"])
def test_a_malformed_secret_key_file_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    from margin_core import settings

    key_file = tmp_path / "secret.key"
    key_file.write_bytes(content)
    monkeypatch.delenv("MARGIN_SECRET_KEY", raising=False)
    monkeypatch.setattr(
        settings, "secret_key_source", lambda: settings.SecretKeySource(env_value=None, key_file=key_file)
    )
    with pytest.raises(ConfigError, match=r"secret key in .*secret\.key is malformed"):
        secrets.encrypt("sk-admin-x")


def test_a_malformed_secret_key_in_the_environment_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from margin_core import app_actions

    db = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MARGIN_SECRET_KEY", Fernet.generate_key().decode())
    app_actions.save_connection(make_engine(db), "openai", "sk-admin-x")
    monkeypatch.setenv("MARGIN_SECRET_KEY", "not-a-fernet-key")
    assert main(["--db", db, "sync", "--today", "2026-03-01"]) == 1
    err = capsys.readouterr().err
    assert "MARGIN_SECRET_KEY is malformed" in err and "Traceback" not in err


def test_the_file_is_read_as_it_is_parsed_not_whole() -> None:
    from margin_core import imports

    read: list[int] = []

    def lines() -> Iterator[str]:
        yield USAGE
        for n in range(1_000):
            read.append(n)
            yield f"2026-03-01,openai,gpt-4o,k{n},,,1,0,0,1,1,0.01\n"

    batches = imports.iter_batches("usage", lines(), size=10)
    first = next(batches)
    assert len(first.rows) == 10 and first.lines == list(range(2, 12))
    assert len(read) <= 11  # one batch read ahead at most: memory follows the batch, not the file
    assert sum(len(batch.rows) for batch in batches) == 990

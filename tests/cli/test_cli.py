"""The CLI contract (rules §5): imports all-or-nothing with line numbers, reports with exact columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from margin_core.__main__ import main
from tests.provider_server import provider_server

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = {
    "customers.csv": "customer_id,name,email,tier,segment,region,meta_industry\n"
    "acme,Acme Corp,ops@acme.test,enterprise,enterprise,na,legal\n"
    "startup,StartupCo,hi@startup.test,starter,smb,na,devtools\n"
    "dataflow,DataFlow Inc,fin@dataflow.test,pro,mid_market,emea,fintech\n",
    "revenue.csv": "customer_id,source_id,service_start,service_end,amount,currency\n"
    "acme,inv_acme,2026-03-01,2026-04-01,4200.00,usd\n"
    "startup,inv_startup,2026-03-01,2026-04-01,200.00,USD\n"
    "dataflow,inv_df,2026-03-01,2026-04-01,500,usd\n",
    "usage.csv": "day,provider,model,api_key_id,project_id,user_id,input_tokens,cached_input_tokens,"
    "cache_write_tokens,output_tokens,requests,cost_usd\n"
    "2026-03-05,openai,gpt-4o,key_acme,,,1000,0,0,500,10,1890.00\n"
    "2026-03-06,anthropic,claude-opus-4-20250514,key_startup,,,5000,0,0,900,40,12000\n"
    "2026-03-07,openai,gpt-4o-mini,,proj_df,,100,0,0,50,3,413.00\n",
    "mappings.csv": "provider,dimension,value,customer_id\n"
    "*,api_key_id,key_acme,acme\nanthropic,api_key_id,key_startup,startup\nopenai,project_id,proj_df,dataflow\n",
}


def run(db: str, *args: str) -> int:
    return main(["--db", db, *args])


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def reference(tmp_path: Path, db: str) -> str:
    for name, content in REFERENCE.items():
        path = tmp_path / name
        path.write_text(content)
        assert run(db, "import", name.removesuffix(".csv"), str(path)) == 0
    return db


def test_founders_reference_month(reference: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(reference, "report", "customers", "--start", "2026-03-01", "--end", "2026-04-01") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "customer_id,customer_name,tier,revenue_usd,cost_usd,margin_usd,margin_pct,status,estimated_cost_usd"
    )
    assert "acme,Acme Corp,enterprise,4200.00,1890.00,2310.00,0.5500,profitable,0.00" in lines
    assert "startup,StartupCo,starter,200.00,12000.00,-11800.00,-59.0000,unprofitable,0.00" in lines
    assert "dataflow,DataFlow Inc,pro,500.00,413.00,87.00,0.1740,break_even,0.00" in lines
    assert '(unattributed),(unattributed),"",0.00,0.00,0.00,,unprofitable,0.00' in lines


def test_json_reports_keep_two_and_four_decimals(reference: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(reference, "report", "tiers", "--start", "2026-03-01", "--end", "2026-04-01", "--format", "json") == 0
    out = capsys.readouterr().out
    rows = {row["tier"]: row for row in json.loads(out)}
    assert rows["pro"]["margin_pct"] == 0.174 and '"margin_pct": 0.1740' in out
    assert '"revenue_usd": 4200.00' in out
    assert list(rows["starter"]) == [
        "tier",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "requests",
        "tokens",
    ]


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("usage", "day,provider,model,cost\n", "line 1: unknown column 'cost'"),
        ("usage", "provider,model\nopenai,gpt-4o\n", "line 1: missing column 'day'"),
        ("usage", "day,provider,model,input_tokens\n2026-03-01,openai,gpt-4o,12x\n", "line 2: input_tokens: '12x'"),
        (
            "usage",
            "day,provider,model,output_tokens\n2026-03-01,openai,m,1\n2026-03-02,openai,m,-5\n",
            "line 3: output_tokens",
        ),
        ("usage", "day,provider,model\n2026-03-01,mistral,m\n", "line 2: provider: unknown provider 'mistral'"),
        ("usage", "day,provider,model\n2026-13-01,openai,m\n", "line 2: day: '2026-13-01' is not a date"),
        (
            "revenue",
            "customer_id,source_id,service_start,service_end,amount,currency\nc,s,2026-03-01,2026-04-01,1.234,usd\n",
            "line 2: amount",
        ),
        ("events", "event_id,ts,customer_id,provider,model\ne1,yesterday,c,openai,m\n", "line 2: ts"),
        ("mappings", "provider,dimension,value,customer_id\nopenai,email,x,c\n", "line 2: dimension"),
    ],
)
def test_bad_files_are_rejected_whole_with_line_and_reason(
    reference: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, content: str, message: str
) -> None:
    capsys.readouterr()
    run(reference, "report", "customers", "--start", "2026-03-01", "--end", "2026-04-01")
    before = capsys.readouterr().out
    path = tmp_path / f"bad_{kind}.csv"
    path.write_text(content)
    assert run(reference, "import", kind, str(path)) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    run(reference, "report", "customers", "--start", "2026-03-01", "--end", "2026-04-01")
    assert capsys.readouterr().out == before


def test_demo_store_refuses_imports_until_cleared(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "demo", "--today", "2026-03-01") == 0
    path = tmp_path / "rates.csv"
    path.write_text("currency,rate_to_usd\nEUR,1.1\n")
    assert run(db, "import", "rates", str(path)) == 1
    assert "demo --clear" in capsys.readouterr().err
    assert run(db, "demo", "--clear") == 0
    assert run(db, "import", "rates", str(path)) == 0


def test_every_report_kind_runs_on_the_demo(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "demo", "--today", "2026-03-01") == 0
    for kind in (
        "customers",
        "models",
        "providers",
        "features",
        "tiers",
        "segments",
        "usage-patterns",
        "over-time",
        "unattributed",
        "alerts",
    ):
        capsys.readouterr()
        assert run(db, "report", kind, "--start", "2026-01-29", "--end", "2026-03-01") == 0
        out = capsys.readouterr().out.splitlines()
        assert len(out) > 1, kind
    assert run(db, "report", "over-time", "--start", "2025-11-01", "--end", "2026-03-01") == 0
    assert ",week," in capsys.readouterr().out


def test_sync_command_against_a_local_server_fills_the_store(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sync.db'}"
    with provider_server() as server:
        env = {
            **os.environ,
            **server.base_urls(),
            "OPENAI_ADMIN_KEY": "sk-admin-x",
            "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-x",
            "OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-x",
        }
        done = subprocess.run(
            [sys.executable, "-m", "margin_core", "--db", db, "sync", "--today", "2025-09-06", "--days", "5"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "openai: ok" in done.stderr and "openrouter: ok" in done.stderr
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "margin_core",
            "--db",
            db,
            "report",
            "providers",
            "--start",
            "2025-09-01",
            "--end",
            "2025-09-06",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    costs = {line.split(",")[0]: line.split(",")[2] for line in report.stdout.splitlines()[1:]}
    assert costs == {"openai": "232.60", "anthropic": "234.80", "openrouter": "68.82"}


def test_a_cleared_demo_is_not_refilled_on_the_next_start(db: str) -> None:
    from margin_core import demo
    from margin_core.store.db import make_engine

    engine = make_engine(db)
    assert demo.ensure_demo(engine) is True  # a new, empty store gets the demo
    assert demo.ensure_demo(engine) is False
    demo.clear(engine)
    assert demo.is_empty(engine)
    assert demo.ensure_demo(engine) is False  # the user cleared it for their own data


def test_customers_without_an_exchange_rate_keep_their_row_and_zero_lines_are_not_listed(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    revenue = tmp_path / "revenue.csv"
    revenue.write_text(
        "customer_id,source_id,service_start,service_end,amount,currency\n"
        "c1,r1,2026-03-01,2026-03-02,100.00,USD\n"
        "c2,r2,2026-03-01,2026-03-02,100.00,EUR\n"
        "c9,t1,2026-03-01,2026-03-15,0.00,USD\n"
    )
    assert run(db, "import", "revenue", str(revenue)) == 0
    capsys.readouterr()
    assert run(db, "report", "customers", "--start", "2026-03-01", "--end", "2026-03-02") == 0
    captured = capsys.readouterr()
    ids = [line.split(",")[0] for line in captured.out.splitlines()[1:]]
    assert sorted(ids) == ["(unattributed)", "c1", "c2"]
    assert 'c2,c2,"",0.00,0.00,0.00,,break_even,0.00' in captured.out
    assert "no exchange rate for EUR: r2 of c2" in captured.err


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        (
            "revenue",
            "customer_id,source_id,service_start,service_end,amount,currency\n"
            "c1,inv1,2026-03-01,2026-03-02,100.00,USD\nc2,inv1,2026-03-01,2026-03-02,50.00,USD\n",
            "line 3: 'inv1' repeats line 2",
        ),
        ("customers", "customer_id,name\nc1,A\nc1,B\n", "line 3: 'c1' repeats line 2"),
        ("mappings", "provider,dimension,value,customer_id\n*,api_key_id,k,a\n*,api_key_id,k,b\n", "line 3:"),
        (
            "usage",
            "day,provider,model,api_key_id,input_tokens,cost_usd\n2026-03-01,openai,gpt-4o,k1,1000,5.00\n"
            "2026-03-01,openai,gpt-4o,k1,1000,\n",
            "line 3: cost_usd: this bucket repeats line 2",
        ),
        ("usage", "day,provider,model,input_tokens\n2026-03-01,openai,m,1_000\n", "line 2: input_tokens: '1_000'"),
        ("usage", "day,provider,model,cost_usd\n2026-03-01,openai,m,1e3\n", "line 2: cost_usd: '1e3'"),
    ],
)
def test_repeated_keys_and_loose_numbers_are_rejected(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str], kind: str, content: str, message: str
) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(content)
    assert run(db, "import", kind, str(path)) == 1
    assert message in capsys.readouterr().err


def test_usage_rows_of_one_bucket_are_summed(tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        "day,provider,model,api_key_id,requests,cost_usd\n"
        "2026-03-01,openai,gpt-4o,k1,2,5.00\n2026-03-01,openai,gpt-4o,k1,3,2.50\n"
    )
    assert run(db, "import", "usage", str(path)) == 0
    capsys.readouterr()
    assert run(db, "report", "unattributed", "--start", "2026-03-01", "--end", "2026-03-02") == 0
    assert "openai,api_key_id,k1,7.50,5,2026-03-01,2026-03-01" in capsys.readouterr().out

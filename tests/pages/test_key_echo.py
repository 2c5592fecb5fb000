"""A provider or proxy that echoes the key in its error body: the key is never stored, printed or shown.

rules §7: provider error bodies are redacted of anything shaped like a key before they are stored
(sync_run.error, connection.last_error), logged, printed or shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import streamlit as st
from cryptography.fernet import Fernet
from streamlit.testing.v1 import AppTest

from connectors.errors import REDACTED, redact
from margin_core import app_actions
from margin_core.store.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-admin-Q7x9Lm2Vb8Nc4Zp1Rt6Yw3Ks5Hd0Jf"  # shaped like a real admin key


class _Echo(BaseHTTPRequestHandler):
    """Answers 401 with the Authorization header it received, as a careless proxy does."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        sent = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {sent.removeprefix('Bearer ')}"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_redact_removes_every_key_shape_and_keeps_the_hints() -> None:
    for secret in (
        KEY,
        "sk-ant-admin01-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5",
        "sk-or-v1-0123456789abcdef0123456789abcdef",
        "sk-proj-abc123DEF456ghi789jkl",
        "rk_live_51HabcdefGHIJKLmnop",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "a8f5f167f44f4964e6c998dee827110c0b1b2c3d",
    ):
        assert redact(f"error: {secret}.") == f"error: {REDACTED}."
    assert redact("Authorization: Bearer eyJhbGciOi.eyJzdWIiOjF9.c2ln") == f"Authorization: Bearer {REDACTED}"
    hint = "this endpoint needs an admin key (sk-admin-…) or a restricted key (rk_live_…) [request-id req_011CS]"
    assert redact(hint) == hint


def test_an_echoed_key_reaches_neither_the_store_nor_stderr_nor_the_page(
    tmp_path: Path, echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_ADMIN_KEY", "_API_KEY", "MANAGEMENT_KEY"))},
        "MARGIN_SECRET_KEY": Fernet.generate_key().decode(),
        "MARGIN_OPENAI_BASE_URL": echo_url,
        "MARGIN_DATABASE_URL": url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app_actions.save_connection(make_engine(url), "openai", KEY)  # saved in the app, encrypted
    done = subprocess.run(
        [sys.executable, "-m", "margin_core", "sync", "--provider", "openai", "--today", "2025-09-06", "--days", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "401" in done.stderr and REDACTED in done.stderr
    assert KEY not in done.stderr and KEY not in done.stdout
    assert KEY[10:30].encode() not in (tmp_path / "margin.db").read_bytes()  # sync_run.error, last_error
    for leftover in tmp_path.glob("margin.db-*"):
        assert KEY[10:30].encode() not in leftover.read_bytes()

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/connections.py").run()
    assert not at.exception
    shown = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.warning, *at.info, *at.success)]
    shown += [json.dumps(df.value.astype(str).to_dict()) for df in at.dataframe]
    assert any(REDACTED.replace("[", "\\[") in text or REDACTED in text for text in shown)  # the error is there…
    assert not any(KEY[10:30] in text for text in shown)  # …without the key

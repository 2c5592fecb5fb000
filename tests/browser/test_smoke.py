"""One real-browser smoke test (issue: the app): `streamlit run app.py` headless on a demo store, opened
in Debian's Chromium through Playwright; the Customers CSV download equals `report customers`.

Screenshots of every page go to tests/artifacts/ (not committed) for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = [
    "Overview",
    "Customers",
    "Margin over time",
    "Cross-subsidy",
    "Investor view",
    "Customer",
    "Costs",
    "Connections",
    "Mapping",
    "Import & export",
    "Settings",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: make test installs it")
        pytest.skip("Debian's chromium is not installed")
    store = tmp_path_factory.mktemp("browser") / "margin.db"
    env = {
        **os.environ,
        "MARGIN_DATABASE_URL": f"sqlite:///{store}",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "MARGIN_SECRET_KEY": "Vt1o5bHnQ2Rk9dK3mJ0YwX6cF8aS4eL7uP2iZ9gB1hE=",
    }
    today = datetime.now(UTC).date()
    subprocess.run(
        [sys.executable, "-m", "margin_core", "demo", "--today", str(today)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("streamlit did not start within 60 s")
            time.sleep(0.5)
    yield url, env, today
    server.terminate()
    server.wait(timeout=20)


def test_customers_download_matches_the_cli_report(app) -> None:
    from playwright.sync_api import sync_playwright

    url, env, today = app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100}, accept_downloads=True)
        page.goto(url)
        page.wait_for_selector(
            "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg", timeout=90_000
        )
        page.get_by_text("Demo data").first.wait_for(timeout=30_000)
        for name in PAGES:
            page.get_by_role("link", name=name).first.click()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1_500)
            page.screenshot(
                path=str(ARTIFACTS / f"{name.lower().replace(' ', '_').replace('&', 'and')}.png"), full_page=True
            )
            assert page.locator("[data-testid='stException']").count() == 0, name
        page.get_by_role("link", name="Customers").first.click()
        button = page.get_by_role("button", name="Download CSV").first
        button.wait_for(timeout=60_000)
        with page.expect_download(timeout=60_000) as download:
            button.click()
        downloaded = Path(download.value.path()).read_text()
        browser.close()
    start, end = today - timedelta(days=31), today  # the default period: the 31 days ending yesterday
    cli = subprocess.run(
        [sys.executable, "-m", "margin_core", "report", "customers", "--start", str(start), "--end", str(end)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert downloaded.splitlines()[0] == cli.splitlines()[0]
    assert sorted(downloaded.splitlines()) == sorted(cli.splitlines())


def test_investor_pack_downloads_in_the_browser(app) -> None:
    import io
    import zipfile

    from playwright.sync_api import sync_playwright

    url, _env, _today = app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100}, accept_downloads=True)
        page.goto(f"{url}/investor")
        button = page.get_by_role("button", name="Download the investor pack")
        button.wait_for(timeout=90_000)
        with page.expect_download(timeout=60_000) as download:
            button.click()
        pack = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        browser.close()
    charts = [n for n in pack.namelist() if n.endswith(".png")]
    assert len(charts) == 7 and all(pack.read(n).startswith(b"\x89PNG\r\n\x1a\n") for n in charts)
    assert len([n for n in pack.namelist() if n.endswith(".csv")]) == 5

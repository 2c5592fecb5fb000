"""Screenshot every page of a running app (a helper for looking at the pages, not a test).

MARGIN_DATABASE_URL=... .venv/bin/streamlit run app.py --server.headless true --server.port 8599 &
.venv/bin/python tests/pages/shoot.py http://localhost:8599 /tmp/shots [page ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = (
    "overview",
    "customers",
    "margin_over_time",
    "cross_subsidy",
    "investor",
    "customer",
    "costs",
    "connections",
    "mapping",
    "import_export",
    "settings",
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shoot(base: str, folder: Path, pages: tuple[str, ...] | list[str], *, height: int = 2600) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": height})
        for name in pages:
            page.goto(f"{base}/{'' if name == 'overview' else name}")
            page.wait_for_selector("[data-testid='stMain']", timeout=60_000)
            page.wait_for_timeout(1_500)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
            page.wait_for_timeout(2_500)
            errors = page.locator("[data-testid='stException']").count()
            page.screenshot(path=str(folder / f"{name.split('?')[0]}.png"), full_page=True)
            sys.stdout.write(f"{name}: {'EXCEPTION ' if errors else ''}ok\n")
        browser.close()


if __name__ == "__main__":
    shoot(sys.argv[1], Path(sys.argv[2]), sys.argv[3:] or list(PAGES))

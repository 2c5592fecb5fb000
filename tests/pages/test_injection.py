"""Text from outside is shown as text (rules §7) and CSV never carries a live formula (rules §5).

Stripe customer names and tiers are typed by end users: a name shaped like a markdown link or image must
not become a link or an image on any page, in a tooltip or an alert, and a name shaped like a formula must
reach spreadsheets quoted, from the CLI and from the app's downloads alike.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import streamlit as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from margin_core import app_actions, ingest
from margin_core.__main__ import main
from margin_core.store.db import make_engine
from pages._ui import escape_markdown
from tests.pages._store import build_store
from tests.pages.test_pages import APP, PAGES, _download, _KeptStorage, _open, _today

LINK = "[x](http://evil.test)"
IMAGE = "![i](http://evil.test/i.png)"
FORMULA = '=HYPERLINK("http://evil.test","click")'
RENDER = MarkdownIt("commonmark")


def _live(markdown: str) -> bool:
    """True when `markdown` renders to a link or an image to the attacker's site, or to raw HTML."""
    html = RENDER.render(markdown)
    return 'href="http://evil' in html or 'src="http://evil' in html or "<img" in html or "<script" in html


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    _KeptStorage.made.clear()
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", _KeptStorage)


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The page-test workspace, with its customers renamed by an attacker."""
    url = f"sqlite:///{tmp_path / 'margin.db'}"
    build_store(url, tmp_path / "csv", today=_today())
    customers = tmp_path / "hostile.csv"
    with customers.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "email", "tier", "segment", "region"])
        writer.writerow(["startup", f"{LINK} {IMAGE}", "a@startup.test", IMAGE, "smb", "na"])  # the loss-maker
        writer.writerow(["acme", FORMULA, "ops@acme.test", "+cmd|' /C calc'!A0", "enterprise", "na"])
        writer.writerow(["globex", "@SUM(1+1)", "ops@globex.test", LINK, "mid_market", "emea"])
        writer.writerow(["initech", "-2+3", "ops@initech.test", "starter", "smb", "apac"])
    ingest.import_file(make_engine(url), "customers", customers)
    monkeypatch.setenv("MARGIN_DATABASE_URL", url)
    return url


def test_escape_markdown_leaves_the_text_and_kills_the_markup() -> None:
    for raw in (LINK, IMAGE, "**bold** _x_ `code`", "<img src=x onerror=alert(1)>", "# title\n- item", ":red[x]"):
        escaped = escape_markdown(raw)
        assert not _live(escaped)
        assert RENDER.render(escaped).count("<p>") == 1  # one paragraph of text: no heading, list or code
        assert "<strong>" not in RENDER.render(escaped) and "<em>" not in RENDER.render(escaped)
    assert RENDER.render(escape_markdown(LINK)).strip() == f"<p>{LINK}</p>"  # shown as typed


def _texts(at: AppTest) -> list[str]:
    """Every markdown-rendered string of a run: markdown, captions, alerts, and metric tooltips and labels."""
    texts = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.warning, *at.info, *at.success)]
    texts += [m.proto.help for m in at.metric] + [m.label for m in at.metric]
    return texts


@pytest.mark.parametrize("page", PAGES)
def test_no_page_renders_a_customer_name_as_markup(hostile: str, page: str) -> None:
    at = _open(page)
    live = [text for text in _texts(at) if _live(text)]
    assert not live


def test_the_overview_tells_the_loss_maker_story_with_the_name_as_text(hostile: str) -> None:
    at = _open("overview")
    told = [m.value for m in at.markdown if "evil" in m.value]
    assert told, "the loss-maker insight names the customer"
    assert all(not _live(text) for text in told)
    assert any(LINK in RENDER.render(text) for text in told)  # shown as the characters typed


def test_the_drill_down_tooltip_shows_the_tier_as_text(hostile: str) -> None:
    at = _open("customers")
    at.selectbox(key="customers_drill").set_value("startup").run()
    revenue = [m for m in at.metric if m.label == "Revenue"][-1]  # the drill-down's, below the table's
    assert not _live(revenue.proto.help)
    assert RENDER.render(revenue.proto.help).strip() == f"<p>Tier: {IMAGE}</p>"  # shown as typed


def test_the_customers_download_quotes_formulas(hostile: str) -> None:
    at = _open("customers")
    served = list(csv.DictReader(io.StringIO(_download(at, "customers_table_csv"))))
    names = {row["customer_id"]: row["customer_name"] for row in served}
    assert names["acme"] == "'" + FORMULA
    assert names["globex"] == "'@SUM(1+1)"
    assert names["initech"] == "'-2+3"
    tiers = {row["customer_id"]: row["tier"] for row in served}
    assert tiers["acme"] == "'+cmd|' /C calc'!A0"
    margins = [row["margin_usd"] for row in served]
    assert any(m.startswith("-") for m in margins)  # numbers are never quoted, negative ones included


def test_the_cli_csv_quotes_formulas_and_leaves_numbers(hostile: str, capsys: pytest.CaptureFixture[str]) -> None:
    end = _today()
    code = main(["--db", hostile, "report", "customers", "--start", str(end - timedelta(days=31)), "--end", str(end)])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    names = {row["customer_id"]: row["customer_name"] for row in rows}
    assert names["acme"] == "'" + FORMULA and names["globex"] == "'@SUM(1+1)" and names["initech"] == "'-2+3"
    assert all(not row["margin_usd"].startswith("'") for row in rows)
    assert any(row["margin_usd"].startswith("-") for row in rows)


def test_a_crafted_oauth_error_address_shows_nothing(hostile: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["error"] = "access_denied"
    at.query_params["error_description"] = f"Your account is locked: {LINK}"
    at.run()
    at.switch_page("pages/connections.py").run()
    assert not at.exception
    assert not any("locked" in text for text in _texts(at))


def test_a_real_oauth_error_is_shown_as_text(hostile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGIN_STRIPE_CONNECT_CLIENT_ID", "ca_test_margin")
    monkeypatch.setenv("MARGIN_STRIPE_CONNECT_SECRET_KEY", "sk_test_platform")
    state = parse_qs(urlsplit(app_actions.connect_url(make_engine(hostile)) or "").query)["state"][0]
    at = AppTest.from_file(str(Path(APP).parent / "pages" / "connections.py"), default_timeout=60)
    at.query_params["error"] = "access_denied"
    at.query_params["error_description"] = f"Denied: {LINK}"
    at.query_params["state"] = state
    at.run()
    shown = [e.value for e in at.error if "Denied" in e.value]
    assert shown and not _live(shown[0])


def test_an_upload_that_is_not_utf8_is_refused_by_line_without_a_traceback(hostile: str) -> None:
    at = _open("import_export")
    at.selectbox(key="import_kind").set_value("customers").run()
    upload = b"customer_id,name,email,tier,segment,region\nzeta,Zeta,,pro,smb,na\n" + "m,Müller,,,,\n".encode("latin-1")
    at.file_uploader(key="import_file").set_value(("latin1.csv", upload, "text/csv"))
    at.button(key="import_go").click().run()
    assert not at.exception
    shown = [RENDER.render(e.value) for e in at.error]
    assert any("line 3" in text and "not UTF-8" in text for text in shown), shown

"""The app and the report in a real browser: Debian's chromium driven by Playwright.

Never downloads a browser: ``make test`` installs Debian's chromium when /usr/bin/chromium
is missing (``make chromium``). Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.app.conftest import PASSWORDS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed (run `make chromium`)"
    ),
]


@pytest.fixture(scope="module")
def artifacts(repo_root) -> Path:
    d = repo_root / "test-artifacts" / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


class Page:
    """A browser tab that remembers console errors and requests that left the machine."""

    def __init__(self, browser, base: str):
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.ctx.new_page()
        self.base = base
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "request",
            lambda r: (
                self.outside.append(r.url)
                if not r.url.startswith((base, "file:", "data:", "blob:", "about:"))
                else None
            ),
        )

    def go(self, path: str):
        resp = self.page.goto(self.base + path)
        if self.page.locator("figure.chart .plot").count():
            self.page.wait_for_function("window.totalplaceReady === true", timeout=120_000)
        return resp

    def sign_in(self, user: str):
        self.go("/login")
        self.page.fill("#username", user)
        self.page.fill("#password", PASSWORDS[user])
        self.page.click("form.stack button[type=submit]")
        self.page.wait_for_load_state("load")

    def shot(self, artifacts: Path, name: str):
        self.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)

    def close(self):
        self.ctx.close()


AGGREGATE_PAGES = [
    "/",
    "/section/glance",
    "/section/demand",
    "/section/people",
    "/section/journeys",
    "/section/money",
    "/section/appraise",
    "/section/link",
    "/section/methods",
    "/exports",
    "/cohorts",
    "/report",
]


@pytest.mark.parametrize("user", ["ana", "adm"])
def test_aggregate_roles_see_every_page_without_errors(browser, server, artifacts, user):
    t = Page(browser, server)
    t.sign_in(user)
    pages = AGGREGATE_PAGES + (["/admin/users", "/admin/audit"] if user == "adm" else [])
    for path in pages:
        resp = t.go(path)
        assert resp.status == 200, path
        t.shot(artifacts, f"{user}{path.replace('/', '_') or '_home'}")
    assert t.errors == [] and t.outside == []
    # Key numbers render: the glance headline, and its chart has drawn bars.
    t.go("/section/glance")
    text = t.page.inner_text("ul.headlines")
    assert re.search(r"\d[\d,]* person records, which describe \d[\d,]* people", text)
    assert t.page.locator("figure.chart .plot .main-svg").count() >= 2
    t.close()


def test_analyst_gets_403_on_a_person_page(browser, server, caseload):
    t = Page(browser, server)
    t.sign_in("ana")
    assert t.go(f"/person/{caseload[0]}?purpose=Safeguarding").status == 403
    assert "Not allowed" in t.page.inner_text("h1")
    t.close()


def test_practitioner_caseload_purpose_and_audit(browser, server, caseload, app_place, artifacts):
    from totalplace.app import Accounts

    acc = Accounts.for_place(app_place)

    def viewed(pid):
        return sum(
            1 for r in acc.audit_log(10_000) if r["person_id"] == pid and r["outcome"] == "viewed"
        )

    t = Page(browser, server)
    t.sign_in("pat")
    assert t.page.url.endswith("/caseload")
    t.shot(artifacts, "pat_caseload")
    assert t.go(f"/person/{caseload[2]}?purpose=Safeguarding").status == 403
    assert t.go("/section/glance").status == 403
    t.errors.clear()  # chromium logs each refused page (403) as a console error: expected here
    before = viewed(caseload[0])
    t.go("/caseload")
    t.page.click(f"a[href='/person/{caseload[0]}']")
    t.page.select_option("#purpose", "Safeguarding")
    t.page.click("#open-record")
    t.page.wait_for_selector("#timeline .main-svg", timeout=120_000)
    assert "Viewed for: Safeguarding" in t.page.inner_text("p.flash")
    assert t.page.locator("table.timeline tbody tr").count() > 0
    t.shot(artifacts, "pat_person")
    assert viewed(caseload[0]) == before + 1
    before = viewed(caseload[1])
    assert t.go(f"/person/{caseload[1]}?purpose=Case+review+or+supervision").status == 200
    assert viewed(caseload[1]) == before + 1
    assert t.errors == [] and t.outside == []
    t.close()


def test_the_report_file_opens_offline_with_every_chart(browser, app_place, artifacts):
    t = Page(browser, "file://")
    path = app_place / "report" / "index.html"
    t.page.goto(path.as_uri())
    t.page.wait_for_function("window.totalplaceReady === true", timeout=120_000)
    n = t.page.locator("figure.chart .plot").count()
    assert n >= 5 and t.page.locator("figure.chart .plot.js-plotly-plot").count() == n
    assert t.errors == [] and t.outside == []
    t.shot(artifacts, "report")
    t.close()


# Records the order in which charts are drawn (wraps Plotly.newPlot when plotly.js defines it).
RECORD_ORDER = """
window.drawOrder = []; var _plotly;
Object.defineProperty(window, "Plotly", {configurable: true, get() { return _plotly; },
  set(v) { _plotly = v; var newPlot = v.newPlot;
    v.newPlot = function (el) { window.drawOrder.push(el.id); return newPlot.apply(this, arguments); };
  }});
"""


def test_the_report_draws_the_linked_section_first_and_every_chart_to_print(browser, app_place):
    path = app_place / "report" / "index.html"
    t = Page(browser, "file://")
    t.page.add_init_script(RECORD_ORDER)
    t.page.goto(path.as_uri() + "#money")
    t.page.wait_for_function("window.totalplaceReady === true", timeout=120_000)
    money = t.page.eval_on_selector_all("#money figure.chart .plot", "els => els.map(e => e.id)")
    order = t.page.evaluate("window.drawOrder")
    assert money and order[0] in money and len(order) == len(set(order))
    t.close()
    # Printing as soon as the words are there: every chart is drawn into the PDF.
    t = Page(browser, "file://")
    t.page.goto(path.as_uri(), wait_until="domcontentloaded")
    assert t.page.pdf(format="A4")[:4] == b"%PDF"
    n = t.page.locator("figure.chart .plot").count()
    assert t.page.locator("figure.chart .plot.js-plotly-plot").count() == n
    assert t.errors == [] and t.outside == []
    t.close()

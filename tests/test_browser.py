"""The reading room in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Screenshots go to ``test-artifacts/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.reading_room import running_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SAMPLE_TITLE = "Thành phố Sa Đéc: Cam kết thực hiện công tác cải cách hành chính năm 2021"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Records what the page would rather hide: CSP violations and any sign the payload ran.
WATCH_SCRIPT = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium missing: apt-get install -y chromium"
    ),
]


HOSTILE_REPLICA_ARTICLE = 7224222
"""The replica's article whose body carries script, onerror, javascript: and iframe payloads."""


@pytest.fixture(scope="module")
def archive_db(crawled_db) -> Path:
    """A real crawl of the offline replica."""
    return crawled_db


@pytest.fixture(scope="module")
def base_url(archive_db):
    with running_server(archive_db) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="vi-VN")
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_search_then_read_an_article(page, base_url):
    page.goto(base_url + "/")
    page.fill("input[name=q]", "sa dec")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/-/search?q=sa+dec*")
    result = page.get_by_role("link", name=SAMPLE_TITLE)
    # Every article of the replica mentions Sa Đéc: turn pages as a reader would.
    for _ in range(10):
        if result.count() or not page.locator("a[rel=next]").count():
            break
        page.click("a[rel=next]")
        page.wait_for_load_state("load")
    assert result.is_visible()
    assert page.locator(".sadec-result mark").count() > 0
    shot(page, "search-sa-dec")

    result.click()
    page.wait_for_url("**/-/article/*")
    assert page.locator("h1").inner_text() == SAMPLE_TITLE
    paragraphs = page.locator(".sadec-body p")
    assert paragraphs.count() >= 2
    assert "Hội nghị" in page.locator(".sadec-body").inner_text()
    assert page.locator(".sadec-body img").count() >= 1
    # The replica is long gone by now: the photo shows because the archive kept its own copy.
    assert page.locator(".sadec-body img").first.evaluate("img => img.naturalWidth") > 0
    assert page.get_by_text("Quang cảnh buổi làm việc").first.is_visible()
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "article")


def test_hostile_article_runs_nothing(page, base_url, archive_db):
    page.goto(f"{base_url}/-/article/{HOSTILE_REPLICA_ARTICLE}")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # give an onerror handler time to fire, had one survived
    assert page.evaluate("window.__pwned") is None
    assert "pwned" not in page.title()
    assert page.dialogs == []
    assert page.locator(".sadec-body script, .sadec-body iframe, [onerror], [onclick]").count() == 0
    shot(page, "hostile-article")


def test_datasette_pages_work_under_the_csp(page, base_url):
    page.goto(base_url + "/archive/articles?_search=S%C3%A0+%C4%90%C3%A9c")
    page.wait_for_load_state("load")
    assert page.locator("table.rows-and-columns tbody tr").count() >= 1
    # table.js (allowed: 'self') adds a menu to each column header.
    assert page.locator("th svg, th .dropdown-menu-icon").count() >= 1
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "table-search")

    page.goto(base_url + "/-/charts")
    assert page.locator("svg.chart rect.bar").count() >= 3
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "charts")

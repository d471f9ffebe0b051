"""The reading room in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Screenshots go to ``test-artifacts/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.reliability import record
from tests.support.reading_room import running_server

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the browser marker's skip explains
    PlaywrightError = Exception

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


SCRIPTING_FILES = {
    ".svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg");'
    b'document.title="pwned"</script><rect width="9" height="9"/></svg>',
    ".html": b'<!DOCTYPE html><title>x</title><script src="payload.js"></script>'
    b'<script>alert("html")</script><img src=x onerror=alert("img")>',
    ".xml": b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
    b'<script>alert("xml")</script></html>',
    ".js": b'alert("js"); document.title = "pwned";',
}
"""Files as an archive made before red-team finding 3 was fixed holds them: stored under
their own scripting extensions in the files folder."""


@pytest.fixture(scope="module")
def scripting_files_server(tmp_path_factory):
    from tests.support.reading_room import build_sample_db

    folder = tmp_path_factory.mktemp("scripting-files")
    db = build_sample_db(folder / "archive.db")
    paths = []
    for extension, body in SCRIPTING_FILES.items():
        digest = hashlib.sha256(body).hexdigest()
        stored = folder / "files" / "sha256" / digest[:2] / f"{digest}{extension}"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(body)
        paths.append(f"/archived-files/sha256/{digest[:2]}/{digest}{extension}")
    with running_server(db) as url:
        yield url, paths


def test_archived_files_never_run_script_at_the_archive_address(browser, scripting_files_server):
    """Red-team finding 3: one click on a stored SVG, HTML or XML ran script (3 of 3 types)."""
    base, paths = scripting_files_server
    context = browser.new_context(accept_downloads=False)
    context.add_init_script(WATCH_SCRIPT)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened = 0
    try:
        for path in paths:
            try:
                page.goto(base + path)
                page.wait_for_timeout(200)
                opened += 1
                assert page.title() != "pwned"
            except PlaywrightError as error:
                # Offered as a download (Content-Disposition: attachment): nothing was shown.
                assert "Download is starting" in str(error) or "ERR_ABORTED" in str(error)
        # The same files embedded by a page at the archive's address.
        page.goto(base + "/-/about")
        page.evaluate(
            """paths => paths.forEach(p => {
                 const img = document.createElement('img'); img.src = p;
                 document.body.appendChild(img);
               })""",
            paths,
        )
        page.wait_for_timeout(300)
        assert page.title() != "pwned"
    finally:
        context.close()
    assert dialogs == []
    record("red-team", case_3=f"{len(paths)} scripting files opened in Chromium: 0 ran script")


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_the_screen(browser, base_url, archive_db, width):
    """At 390 px the search page once put the first result ~820 px down, its mode labels one
    word per line, and charts ran off the screen."""
    import sqlite3

    conn = sqlite3.connect(f"file:{archive_db}?mode=ro", uri=True)
    asset_id = conn.execute("select asset_id from articles where title = ?", [SAMPLE_TITLE])
    asset_id = asset_id.fetchone()[0]
    conn.close()
    context = browser.new_context(viewport={"width": width, "height": 844}, locale="vi-VN")
    page = context.new_page()
    try:
        for name, path in (
            ("search", "/-/search?q=sa+dec"),
            ("article", f"/-/article/{asset_id}"),
            ("charts", "/-/charts"),
            ("home", "/"),
        ):
            page.goto(base_url + path)
            page.wait_for_load_state("load")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            shot(page, f"{name}-{width}px")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at {width} px"
            if name == "search":
                label_height = page.locator(".sadec-modes label").first.bounding_box()["height"]
                assert label_height < 60, "a mode label wraps word by word"
                first = page.locator(".sadec-result").first.bounding_box()
                assert first["y"] < 700, f"the first result starts {first['y']:.0f} px down"
    finally:
        context.close()


def test_an_exact_search_survives_clicks_and_an_article_can_be_cited(page, base_url):
    """A facet click from an exact-tone search once gave 0 rows and rewrote the box without
    tone marks; the article page had nothing to cite it by."""
    page.goto(base_url + "/-/search?q=h%C3%B2a&mode=exact")
    exact_total = int(page.locator(".sadec-result-count strong").inner_text().replace(",", ""))
    assert exact_total > 0
    page.get_by_role("link", name="Same search as a table, with facets").click()
    page.wait_for_load_state("load")
    assert page.locator("input#_search").input_value() == "hòa"
    table_total = int(re.search(r"([\d,]+) rows?", page.locator("h3").first.inner_text())[1])
    assert table_total == exact_total
    facet = page.locator(".facet-info[data-column=category] li a").first
    facet_count = int(facet.locator("xpath=..").inner_text().rsplit(" ", 1)[-1].replace(",", ""))
    facet.click()
    page.wait_for_load_state("load")
    assert page.locator("input#_search").input_value() == "hòa", "the box keeps its marks"
    after = int(re.search(r"([\d,]+) rows?", page.locator("h3").first.inner_text())[1])
    assert 0 < after == facet_count <= exact_total
    shot(page, "exact-search-facet")

    page.goto(base_url + "/-/search?q=sa+dec")
    page.locator(".sadec-result h2 a").first.click()
    page.wait_for_url("**/-/article/*")
    assert page.locator("#cite-text").inner_text().strip()
    assert (
        page.locator("meta[name=citation_title]").get_attribute("content")
        == page.locator("h1").inner_text()
    )
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "article-cite")


def test_the_demo_twice_then_read_in_a_browser(browser, tmp_path):
    """The demo once failed on its second run (stored URLs carried the first run's replica
    port) and its "Original" links pointed at a dead port."""
    from tests.support.reading_room import run_demo_without_serving

    db = tmp_path / "demo" / "archive.db"
    for _ in range(2):
        result = run_demo_without_serving(db)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with running_server(db) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(url + "/-/search?q=sa+dec")
            page.locator(".sadec-result h2 a").first.click()
            page.wait_for_url("**/-/article/*")
            original = page.locator(".sadec-record dd a").first.get_attribute("href")
            assert original.startswith("https://sadec.dongthap.gov.vn/"), original
            page.goto(url + "/-/about")
            runs = page.locator("h2:has-text('Crawls') + table").inner_text()
            assert "incremental" in runs and "full" in runs, runs
            shot(page, "demo-twice-about")
        finally:
            context.close()

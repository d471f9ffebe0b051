"""The page worker (sadec_crawler.page_worker): the real worker process, asked what the crawl
asks it, answers as the parsers do in the crawl's own process; its failures are the crawl's to
record; it outlives the interrupts the crawl handles; a crawl whose worker dies loses nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replica import ReplicaServer, Site
from sadec.local import crawl_command, crawl_env
from sadec_crawler import page_worker
from sadec_crawler.article import build_article
from sadec_crawler.items import ArticlePage
from sadec_crawler.pages import extract_listing, parse_html, read_article_page
from tests.conftest import crawl_or_fail

PAGES = Path(__file__).parent / "pages"
BASE = "https://sadec.dongthap.gov.vn"
ARTICLE_URL = BASE + "/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/5123456"
LISTING_URL = BASE + "/tin-tuc-su-kien"


@pytest.fixture
def worker():
    started = page_worker.PageWorker()
    yield started
    started.close()


def article_page(html: str) -> ArticlePage:
    return ArticlePage(ARTICLE_URL, 5123456, ARTICLE_URL, 200, "2026-01-01T00:00:00Z", html)


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("article_*.html")))
def test_an_article_page_reads_and_builds_as_in_the_crawls_process(worker, name):
    html = (PAGES / name).read_text(encoding="utf-8")
    status, facts = worker._exchange(("facts", (html.encode(), ARTICLE_URL, BASE)))
    assert status == "ok"
    assert facts == read_article_page(parse_html(html, read_only=True), ARTICLE_URL, BASE)
    # Built from the tree the worker kept from "facts", and from a fresh parse: the same.
    status, built = worker._exchange(("build", (article_page(html), BASE)))
    assert status == "ok"
    assert built == build_article(article_page(html), BASE)
    assert worker._exchange(("build", (article_page(html), BASE))) == ("ok", built)
    # Sent without its text, the page is built from the one "facts" brought, once.
    worker._exchange(("facts", (html.encode(), ARTICLE_URL, BASE)))
    without_text = article_page(html)
    without_text.html = None
    assert worker._exchange(("build", (without_text, BASE))) == ("ok", built)
    assert worker._exchange(("build", (without_text, BASE))) == ("resend", None)


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("listing_*.html")))
def test_a_listing_page_reads_as_in_the_crawls_process(worker, name):
    html = (PAGES / name).read_text(encoding="utf-8")
    status, listing = worker._exchange(("listing", (html, LISTING_URL, BASE)))
    assert status == "ok" and listing.entries
    assert listing == extract_listing(html, LISTING_URL, BASE)


def test_what_a_parser_raises_comes_back_named_and_the_worker_goes_on(worker):
    status, message = worker._exchange(("facts", (None, ARTICLE_URL, BASE)))
    assert status == "error" and message.startswith(("AttributeError", "TypeError")), message
    status, message = worker._exchange(("build", (article_page("<p>nothing here</p>"), BASE)))
    assert status == "not_an_article" and "no article body" in message
    html = (PAGES / "article_stock.html").read_text(encoding="utf-8")
    assert worker._exchange(("facts", (html, ARTICLE_URL, BASE)))[0] == "ok"


def test_the_worker_outlives_the_interrupts_the_crawl_handles(worker):
    """Ctrl-C and a service manager's SIGTERM reach the whole process group: the crawl stops
    gracefully, and its worker must still read the pages it has in hand."""
    time.sleep(1)  # past its imports, when the handlers are set
    os.kill(worker.pid, signal.SIGINT)
    os.kill(worker.pid, signal.SIGTERM)
    html = (PAGES / "listing_table.html").read_text(encoding="utf-8")
    assert worker._exchange(("listing", (html, LISTING_URL, BASE)))[0] == "ok"
    worker.close()
    assert worker.cpu_s > 0


def test_a_dead_worker_says_so(worker):
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(page_worker.PageWorkerGone):
        worker._exchange(("listing", ("<html/>", LISTING_URL, BASE)))
    worker.close()  # and closing it then is quiet


def test_a_worker_that_stops_answering_is_ended_not_waited_for(worker, monkeypatch):
    monkeypatch.setattr(page_worker, "ANSWER_TIMEOUT", 1.0)
    os.kill(worker.pid, signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(page_worker.PageWorkerGone, match="no answer in 1 s"):
        worker._exchange(("listing", ("<html/>", LISTING_URL, BASE)))
    assert time.monotonic() - started < 10
    assert worker._process.wait(timeout=10) == -signal.SIGKILL


def _in_reactor(case: str, *pages: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.page_worker_in_reactor", case, *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_pages_sent_together_are_answered_each_with_its_own_page():
    """The crawl sends a page as soon as it has one; the answers come back in order."""
    listings = sorted(PAGES.glob("listing_*.html"))
    answered = _in_reactor("in-order", *listings, *reversed(listings))
    assert answered["same"] == [True] * (2 * len(listings))
    assert answered["cpu_s"] > 0


def test_pages_waiting_on_a_hung_worker_fail_and_the_worker_is_ended():
    answered = _in_reactor("hung", *sorted(PAGES.glob("listing_*.html")))
    assert answered["raised"] == ["PageWorkerGone: the page worker gave no answer in 1 s"] * 3
    assert answered["returncode"] == -signal.SIGKILL
    assert answered["gone"] == "the page worker gave no answer in 1 s"


def test_a_page_reaches_the_helper_in_one_turn_of_the_reactor():
    """Twisted writes 128 KB a turn unless told otherwise: the worker then waited for the rest
    of each article page while the crawl's thread ran other callbacks."""
    sent = _in_reactor("one-turn")
    assert sent["arrivals"] == [sent["frame"]]


def _worker_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"PPid:\t{parent}\n" in status and b"sadec_crawler.page_worker" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_crawl_whose_worker_dies_archives_every_article_all_the_same(tmp_path):
    site = Site(seed=0)
    db = tmp_path / "archive.db"
    with ReplicaServer(site) as server:
        argv = crawl_command(server.url, db, settings={"SADEC_WARC_DIR": "off"})
        crawl = subprocess.Popen(
            argv, env=crawl_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while not (pids := _worker_pids(crawl.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids, "the crawl started a page worker"
        while crawl.poll() is None and time.monotonic() < deadline:
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        stored = conn.execute("select count(*) from articles").fetchone()[0]
                except sqlite3.Error:
                    stored = 0
                if stored >= 3:
                    break
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        _, log = crawl.communicate(timeout=300)
    assert crawl.returncode == 0, log[-3000:]
    assert "the page worker process is gone" in log
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("select asset_id from articles")}
        errors = conn.execute("select count(*) from crawl_errors").fetchone()[0]
    assert stored == {truth.asset_id for truth in site.truth()} and errors == 0


def test_without_the_worker_a_crawl_stores_the_same_rows(tmp_path):
    """``SADEC_PAGE_WORKER=off`` reads every page in the crawl's own thread: same archive."""
    columns = "url, title, published_at, category, author, unit, summary, body_html, body_text"
    query = f"select {columns} from articles order by url"
    rows = {}
    with ReplicaServer(Site(seed=0)) as server:
        for choice in ("process", "off"):
            db = tmp_path / choice / "archive.db"
            result = crawl_or_fail(server.url, db, settings={"SADEC_PAGE_WORKER": choice})
            with sqlite3.connect(db) as conn:
                rows[choice] = conn.execute(query).fetchall()
            if choice == "process":
                resent = re.search(r"'sadec/page_worker/pages_resent': (\d+)", result.stderr)
    assert rows["process"] and rows["process"] == rows["off"]
    # The worker builds each article from the tree it parsed for the spider, not a second
    # copy of the page.
    assert resent is not None and int(resent.group(1)) == 0

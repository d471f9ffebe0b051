"""Pages read in a process of their own (``SADEC_PAGE_WORKER=process``, the default).

The crawl's reactor thread runs Scrapy, the spider and the pipelines; parsing the portal's
pages and cleaning article bodies were half of that thread's time (py-spy of a 564-article
crawl of the replica: article pages a third, listings a sixth). Here a second interpreter does
that work, on the other core:

- ``listing``: a listing (or home) page read into a :class:`ListingPage`;
- ``facts``: an article page parsed, and what the spider needs to go on
  (:class:`ArticlePageFacts`);
- ``build``: the :class:`ArticlePage` the spider yielded, cleaned into an :class:`Article`,
  from the tree ``facts`` parsed when it is still held.

All three are the pure functions of :mod:`sadec_crawler.pages` and :mod:`sadec_crawler.article`, so
``SADEC_PAGE_WORKER=off`` (everything in the crawl's process) gives the same items. A parser
that raises in the worker raises :class:`PageParseError` in the crawl, naming what it raised:
one page lost, one recorded error. A worker that dies is not restarted: the page it had and
every later one are read in the crawl's own process, with one error logged.

Like the WARC writer, the worker is a ``python -c`` over a socket pair (``multiprocessing``'s
"spawn" would run the crawl's main script, Scrapy and all, again in it), and it ignores the
interrupts the crawl handles: a graceful stop still has its pages read.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import resource
import signal
import subprocess
from collections import OrderedDict
from multiprocessing.connection import Connection

from . import pages
from .article import NotAnArticle, build_article
from .helper_link import HelperGone, HelperProcess
from .items import Article, ArticlePage
from .pages import ArticlePageFacts, ListingPage, parse_html, read_article_page

logger = logging.getLogger(__name__)

CHOICES = ("process", "off")

ANSWER_TIMEOUT = 120.0
"""Seconds the crawl waits for the worker's answer about one page (a page of the largest size
Scrapy accepts, 16 MB, is parsed in a few seconds); past them the worker is taken for hung."""

TREES_KEPT = 64
"""Parsed pages the worker holds between ``facts`` and ``build``; a page whose tree is gone by
then is sent again and parsed again. An article's build comes after the facts of other pages
still in flight: 9 of them at the median, 21 at the 90th percentile and 31 at most in a
564-article crawl with 8 requests in flight (a throwaway count in the worker), when 8 held
trees made 380 of 564 articles go twice. 64 trees of 176 KB replica pages take 31 MB."""


class PageParseError(RuntimeError):
    """A parser raised in the page worker; the message names what it raised and why."""


class PageWorkerGone(HelperGone):
    """The page worker process ended or stopped answering."""


def serve(fd: int, threshold: int = 0) -> None:
    """The worker's loop (``python -c``): one request at a time, answered in order, until the
    crawl closes the connection or dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The crawl's collector threshold (SADEC_GC_THRESHOLD, collector.py): parsing leaves the
    # collector nothing to find, and at Python's 700 it ran several times a page.
    if threshold > 0:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
    connection = Connection(fd)
    trees: OrderedDict[str, tuple[str | bytes, object]] = OrderedDict()
    while True:
        try:
            operation, args = connection.recv()
        except (EOFError, OSError):
            return
        if operation == "close":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            connection.send(("ok", usage.ru_utime + usage.ru_stime))
            return
        try:
            if operation == "listing":
                answer = ("ok", pages.extract_listing(*args))
            elif operation == "facts":
                html, page_url, base_url = args
                page = parse_html(html, read_only=True)
                trees[page_url] = (html, page)
                while len(trees) > TREES_KEPT:
                    trees.popitem(last=False)
                answer = ("ok", read_article_page(page, page_url, base_url))
            else:
                article_page, base_url = args
                held = trees.pop(article_page.fetched_url, None)
                if article_page.html is None:
                    # Sent without its text, which "facts" brought: taken from there.
                    if held is None:
                        connection.send(("resend", None))
                        continue
                    article_page.html = _text(held[0])
                    article_page.parsed = held[1]
                elif held is not None and _same_text(held[0], article_page.html):
                    article_page.parsed = held[1]
                answer = ("ok", build_article(article_page, base_url))
        except NotAnArticle as error:
            answer = ("not_an_article", str(error))
        except Exception as error:  # noqa: BLE001 - told to the crawl, which records it
            answer = ("error", f"{type(error).__name__}: {error}")
        connection.send(answer)


def _text(sent: str | bytes) -> str:
    return sent if isinstance(sent, str) else sent.decode("utf-8", "replace")


def _same_text(sent: str | bytes, html: str) -> bool:
    if isinstance(sent, str):
        return sent == html
    return sent == html.encode("utf-8", "replace")


WORKER_CODE = (
    "import sys; from sadec_crawler.page_worker import serve; "
    "serve(int(sys.argv[1]), int(sys.argv[2]))"
)
"""What the worker runs (``python -c``; the socket's descriptor and the collector's first
threshold as its arguments)."""


class PageWorker:
    """The crawl's side: starts the worker at once (its imports overlap the crawl's start),
    then sends it each page as it comes, through the reactor (:mod:`.helper_link`)."""

    def __init__(self, gc_threshold: int = 0):
        self._helper = HelperProcess(
            WORKER_CODE, [str(gc_threshold)], "page worker", lambda: ANSWER_TIMEOUT, PageWorkerGone
        )
        self._process: subprocess.Popen | None = self._helper.process
        self._link = self._helper.link
        self.gone: str | None = None
        """Why the worker is gone, once it is (pages are then read in the crawl's process)."""
        self.cpu_s = 0.0
        """CPU seconds the worker spent (known once closed)."""
        self.pages_resent = 0
        """Article pages sent twice because the worker no longer held their tree."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _exchange(self, message):
        """One request and its answer, waited for (the tests ask the worker directly)."""
        return self._link.exchange(message, ANSWER_TIMEOUT)

    async def _ask(self, operation: str, *args, resend: tuple = ()):
        from scrapy.utils.defer import maybe_deferred_to_future

        if self.gone is not None:
            raise PageWorkerGone(self.gone)
        try:
            status, value = await maybe_deferred_to_future(self._link.ask((operation, args)))
        except PageWorkerGone as error:
            if self.gone is None:
                self.gone = str(error)
                logger.error("%s: article pages are read in the crawl's process from now", error)
            raise
        if status == "resend" and resend:
            self.pages_resent += 1
            return await self._ask(operation, *resend)
        if status == "not_an_article":
            raise NotAnArticle(value)
        if status == "error":
            raise PageParseError(value)
        return value

    async def listing(self, html: str | bytes, page_url: str, base_url: str) -> ListingPage:
        """:func:`pages.extract_listing` of a listing (or home) page, in the worker."""
        return await self._ask("listing", html, page_url, base_url)

    async def facts(self, html: str | bytes, page_url: str, base_url: str) -> ArticlePageFacts:
        """:func:`pages.read_article_page` of the page, parsed in the worker."""
        return await self._ask("facts", html, page_url, base_url)

    async def build(self, page: ArticlePage, base_url: str) -> Article:
        """:func:`article.build_article` of the page in the worker (the spider's parsed tree,
        which cannot travel, is left behind). The page's text is sent only when the worker no
        longer holds it from ``facts``: 180 KB less to encode and copy an article."""
        whole = dataclasses.replace(page, parsed=None)
        light = dataclasses.replace(whole, html=None)
        return await self._ask("build", light, base_url, resend=(whole, base_url))

    async def close_when_done(self) -> None:
        """Let the worker end once it has answered what it was asked, learning its CPU time."""
        await self._helper.finish()
        self._closed()

    def close(self) -> None:
        """Let the worker end; a second call does nothing."""
        self._helper.finish_now()
        self._closed()

    def _closed(self) -> None:
        self._process = None
        if self._helper.close_error is not None:
            logger.debug("page worker: %s", self._helper.close_error)
        if self._helper.close_answer is not None:
            _, self.cpu_s = self._helper.close_answer


def for_crawler(crawler) -> PageWorker | None:
    """The crawl's page worker, started on first use and closed when the spider closes; None
    with ``SADEC_PAGE_WORKER=off``."""
    if hasattr(crawler, "sadec_page_worker"):
        return crawler.sadec_page_worker
    choice = (crawler.settings.get("SADEC_PAGE_WORKER") or "process").strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"SADEC_PAGE_WORKER={choice!r}: expected one of {', '.join(CHOICES)}")
    threshold = crawler.settings.getint("SADEC_GC_THRESHOLD")
    worker = PageWorker(threshold) if choice == "process" else None
    crawler.sadec_page_worker = worker
    if worker is not None:
        from scrapy import signals

        async def close(spider=None, reason=None):
            await worker.close_when_done()
            if worker.cpu_s:
                crawler.stats.set_value("sadec/page_worker/cpu_ms", round(worker.cpu_s * 1000))
            crawler.stats.set_value("sadec/page_worker/pages_resent", worker.pages_resent)

        crawler.sadec_page_worker_close = close  # signals hold their receivers weakly
        crawler.signals.connect(close, signal=signals.spider_closed)
    return worker

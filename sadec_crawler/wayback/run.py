"""A Wayback run on Scrapy's engine: ``scrapy crawl sadec -a source=wayback``.

The portal may be gone (site-spec §1); its pages survive as Wayback Machine captures. A run is
ordinary Scrapy requests whose callbacks are this run's methods, in phases:

1. Discovery: CDX prefix queries over the portal's host, page after page: its HTML pages (200
   only) and the article routes (every status, so that 404s and redirects are reported as
   such). The newest home-page capture's menus name the listings; one capture of each listing
   page per period (``SADEC_WAYBACK_LISTING_PERIOD`` timestamp digits, a month by default) is
   read for the listing dates and summaries.
2. Planning: every capture maps back to its article's canonical URL (url-title captures by
   their title's slug, else by opening one to read its asset id). Captures at or before what
   the database already holds for an article are skipped: a restarted backfill goes on where
   the last one stopped.
3. Archiving: each article's captures oldest → newest, as a chain of requests: the next capture
   is asked for once the pipelines are done with the previous one (``item_scraped`` and its
   kin), so that storage keeps every earlier differing capture as a version. A few chains run
   at once (``SADEC_WAYBACK_WORKERS``).
4. Report: articles that listings or related blocks name but no capture holds become
   ``no_capture`` errors; nothing is invented for them.

Each phase ends in the callback (or errback) that answers its last request, which starts the
next. The requests are not the spider's methods, so a ``JOBDIR`` never keeps them: a job
resumed after a clean stop plans again from the database, and from the discovery kept in
``spider.state`` (no index query, no listing read again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from parsel import Selector
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, Response, TextResponse

from ..items import ArticlePage, CrawlError, IndexPage, ListingEntry, WaybackDiscovery
from ..pages import (
    article_page_number,
    asset_id_of,
    continuation_links,
    discovery_links,
    extract_article,
    extract_listing,
    parse_html,
)
from ..steps import step_request
from ..textnorm import clean_inline, slugify
from ..urls import absolute, canonical_article_url, parse_article_link, strip_session
from ..warc import exception_kind
from .cdx import (
    CDX_PATH,
    CdxCapture,
    CdxQuery,
    capture_of,
    drop_identical_recaptures,
    host_of,
    parse_cdx_json,
    playback_url,
    split_window,
)
from .gate import ArchiveStopped
from .listings import ListingIndex, Sighting, select_listing_captures
from .resume import (
    UNPLAYABLE,
    IndexState,
    StoredState,
    capture_key,
    load_index_state,
    load_stored_state,
    same_page,
)

logger = logging.getLogger(__name__)

ARTICLE_PREFIXES = ("/chi-tiet-bai-viet", "/-/asset_publisher/")
"""Path prefixes of the article routes (site-spec §2): the display page, with every variant
(``/content/id/N``, ``/maximized``, url-title, ``;jsessionid=``, ``?redirect=``), and the
root ``/-/asset_publisher/…/content/<url-title>`` form."""
NOT_A_PAGE = ".*(/-/asset_publisher/|/documents/|/o/).*"
"""Captures the pages query leaves out: articles (queried apart), files and theme assets."""
DISCOVERY_STATE_KEY = "sadec_wayback_discovery"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
ANSWERED_STATUSES = list(range(400, 600))
"""Statuses the run's callbacks read themselves (after Scrapy's retries): an archived 404 is a
finding, a 5xx a failed capture; redirects are still followed."""


MAX_SPLITS = 64
"""Index queries split in halves at most per run: 64 bounds the cost of an index that fails
whatever is asked (every half failing) to about 130 requests."""


@dataclass
class Discovery:
    """What the index and the listings told: kept in ``spider.state`` under a JOBDIR."""

    key: str
    """The settings the discovery was made for; a different key means discover again."""
    articles: list[CdxCapture]
    listings: list[Sighting]
    home_read: bool


@dataclass
class ArticlePlan:
    """The captures of one article still to archive, oldest first."""

    asset_id: int
    url: str
    captures: list[CdxCapture]


@dataclass
class Chain:
    """One article's captures being archived, one after the other."""

    plan: ArticlePlan
    position: int = 0
    """Index in ``plan.captures`` of the capture being read."""


@dataclass
class _Discovering:
    """Discovery in progress."""

    pages: list[CdxCapture] = field(default_factory=list)
    articles: list[CdxCapture] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    home_read: bool = False
    queries: list[tuple[CdxQuery, str]] = field(default_factory=list)
    """Queries still to send, in order, with what their rows are (``pages``, ``articles``)."""
    listings_left: int = 0


class WaybackRun:
    """One Wayback run for a spider (see the module docstring)."""

    def __init__(self, spider):
        self.spider = spider
        self.crawler = spider.crawler
        settings = self.crawler.settings
        self.archive_url = settings.get("SADEC_WAYBACK_URL", "").rstrip("/")
        if urlsplit(self.archive_url).scheme not in ("http", "https"):
            raise ValueError(f"SADEC_WAYBACK_URL={self.archive_url!r} is not an http(s) URL")
        self.archive_host = host_of(self.archive_url)
        self.base_url = spider.base_url
        base = urlsplit(self.base_url)
        self.portal_host = base.hostname
        self.portal_origin = f"{base.scheme}://{base.netloc}"
        self.path_prefix = base.path.rstrip("/")
        """``/web/<site>`` for a portal served under a path of a shared host (its CDX queries
        are confined to it), else empty."""
        self.db_path = settings.get("SADEC_DB_PATH")
        self.cdx_limit = settings.getint("SADEC_WAYBACK_CDX_LIMIT", 1000)
        self.cdx_max_pages = settings.getint("SADEC_WAYBACK_CDX_MAX_PAGES", 1000)
        self.cdx_timeout = settings.getfloat("SADEC_WAYBACK_CDX_TIMEOUT", 120.0)
        self.splits = 0
        self.max_splits = MAX_SPLITS
        self.period_digits = settings.getint("SADEC_WAYBACK_LISTING_PERIOD", 6)
        workers = settings.getint("SADEC_WAYBACK_WORKERS", 0)
        per_host = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1)
        self.workers = workers if workers > 0 else max(2, per_host + 1)
        self.start, self.end = _window(spider)
        self.slugs: dict[str, int] = {}
        """Title slug → asset id: how a url-title is matched without opening its capture."""
        self.ambiguous: set[str] = set()
        """Title slugs two articles share: their url-titles are opened, never guessed."""
        self.url_titles: dict[str, int] = {}
        """Url-title → asset id known for sure (archived, or read from an opened capture)."""
        self.captured: set[int] = set()
        self.reported: set[int] = set()
        self.related: dict[int, tuple[str, str]] = {}
        self.link_slugs: dict[str, int] = {}
        self.prefetched: dict[tuple[str, str], Response] = {}
        self.file_timestamps: dict[str, str] = {}
        self.stored = StoredState()
        self.index_state = IndexState()
        self._kept_json = ("[]", "[]")
        self.listings = ListingIndex()
        self.discovering = _Discovering()
        self.discovery: Discovery | None = None
        self.url_titles_left = 0
        self.url_title_captures: dict[str, list[CdxCapture]] = {}
        self.queue: list[ArticlePlan] = []
        self.waiting: dict[str, Chain] = {}
        """Chains whose current capture is in the pipelines, by its playback URL."""
        self.active = 0
        self.reporting = "not yet"  # "not yet" → "due" → "done"
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            self.crawler.signals.connect(self.item_done, signal=signal)

    # --- requests ------------------------------------------------------------------------------
    def request(self, url: str, callback, errback=None, **cb_kwargs) -> Request:
        """A request to the archive, read by ``callback`` whatever its status; a failure
        without an answer goes to ``errback``."""
        return Request(
            url,
            callback=callback,
            errback=errback or self.on_failure,
            cb_kwargs=cb_kwargs,
            dont_filter=True,  # each capture is asked for once by the plan itself
            meta={"sadec_backoff": True, "handle_httpstatus_list": ANSWERED_STATUSES},
        )

    def on_failure(self, failure):
        """A request to the archive that got no answer (network, timeouts after retries)."""
        request = failure.request
        if failure.check(ArchiveStopped):
            return  # the run is stopping: nothing failed here, the next run asks again
        kind = f"wayback_{exception_kind(failure.value)}"
        yield CrawlError(request.url, kind, str(failure.value)[:300])
        next_step = request.cb_kwargs.get("step")
        if next_step is not None:
            yield from next_step()

    # --- the run -------------------------------------------------------------------------------
    def start_requests(self):
        self.spider.allowed_domains = [self.archive_host]
        self._warn_if_impolite()
        self.stored = load_stored_state(self.db_path)
        self.slugs = dict(self.stored.slugs)
        self.ambiguous = set(self.stored.ambiguous)
        self.url_titles = dict(self.stored.url_titles)
        state = getattr(self.spider, "state", None)
        cached = state.get(DISCOVERY_STATE_KEY) if isinstance(state, dict) else None
        if isinstance(cached, Discovery) and cached.key == self._discovery_key():
            logger.info("wayback: discovery from the JOBDIR state (no index queries)")
            yield from self._discovered(cached)
            return
        self.index_state = load_index_state(self.db_path, self._discovery_key())
        kept = self._kept_discovery()
        if kept is not None:
            logger.info(
                "wayback: discovery kept by an interrupted run (no index query, no listing "
                "read): %d article captures",
                len(kept.articles),
            )
            yield WaybackDiscovery(  # this run's now: kept until a run finishes
                kept.key, *self.index_state_json(), kept.home_read
            )
            yield from self._discovered(kept)
            return
        if self.index_state.pages:
            logger.info(
                "wayback: %d index pages kept by an interrupted run are read from the archive "
                "database, not asked for again",
                len(self.index_state.pages),
            )
        host = f"{self.portal_host}{self.path_prefix}"
        pages = CdxQuery(
            f"{host}/",
            filters=("statuscode:200", "mimetype:text/html", f"!original:{NOT_A_PAGE}"),
        )
        self.discovering.queries = [(self._windowed(pages), "pages")]
        self.discovering.queries += [
            (self._windowed(CdxQuery(f"{host}{prefix}")), "articles") for prefix in ARTICLE_PREFIXES
        ]
        yield from self._next_query()

    def _warn_if_impolite(self) -> None:
        """Paces past what the Internet Archive tolerates earn a firewall block (docs/wayback.md):
        said once, loudly, when the archive is not a local one."""
        settings = self.crawler.settings
        if urlsplit(self.archive_url).hostname in LOCAL_HOSTS:
            return
        cdx = settings.getfloat("SADEC_WAYBACK_CDX_PER_MINUTE")
        playback = settings.getfloat("SADEC_WAYBACK_PLAYBACK_PER_MINUTE")
        per_host = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        if not 0 < cdx <= 24 or not 0 < playback <= 30 or per_host > 1:
            logger.warning(
                "wayback: SADEC_WAYBACK_CDX_PER_MINUTE=%s, SADEC_WAYBACK_PLAYBACK_PER_MINUTE=%s "
                "and CONCURRENT_REQUESTS_PER_DOMAIN=%s are hard on the Internet Archive, which "
                "blocks clients past about 30 index and 20-30 playback requests a minute "
                "(docs/wayback.md asks for at most 24, 30 and 1)",
                cdx,
                playback,
                per_host,
            )

    # --- discovery -----------------------------------------------------------------------------
    def _discovery_key(self) -> str:
        return json.dumps(
            [self.archive_url, self.base_url, self.start, self.end, self.period_digits]
        )

    def _windowed(self, query: CdxQuery) -> CdxQuery:
        """``query`` within the run's ``from``/``to`` window, with the run's page size."""
        return dataclasses.replace(query, start=self.start, end=self.end, limit=self.cdx_limit)

    def _cdx_request(
        self, query: CdxQuery, kind: str, resume_key: str | None = None, page: int = 1, seen=()
    ) -> Request:
        url = query.request_url(self.archive_url, resume_key)
        request = self.request(
            url, self.on_cdx, errback=self.on_cdx_failure, query=query, kind=kind, page=page
        )
        request.cb_kwargs["seen"] = seen
        request.meta["download_timeout"] = self.cdx_timeout
        # One retry: a query that failed twice is split (below) rather than sent again whole.
        request.meta["max_retry_times"] = min(1, self.crawler.settings.getint("RETRY_TIMES"))
        return request

    def _next_query(self):
        """The next index query, or, all read, the home page and the listings."""
        if self.discovering.queries:
            query, kind = self.discovering.queries.pop(0)
            yield from self._read_query(query, kind)
        else:
            yield from self._read_home()

    def _read_query(self, query: CdxQuery, kind: str, resume_key=None, page: int = 1, seen=()):
        """The query's pages an interrupted run kept, then a request for the first it did
        not (a loop, not a recursion: a query can have a thousand pages)."""
        name = query.request_url(self.archive_url)
        while (name, resume_key or "") in self.index_state.pages:
            next_key, found = self.index_state.pages.pop((name, resume_key or ""))
            try:
                rows = [CdxCapture(**row) for row in found]
            except TypeError:
                break  # a damaged row: that page is asked for again
            getattr(self.discovering, kind).extend(rows)
            self.crawler.stats.inc_value("sadec/wayback/cdx_pages_kept")
            if not next_key:
                yield from self._next_query()
                return
            if next_key in seen or page >= self.cdx_max_pages:
                break  # the request below meets the same guard and says so
            resume_key, page, seen = next_key, page + 1, (*seen, next_key)
        yield self._cdx_request(query, kind, resume_key, page, seen)

    def _kept_discovery(self) -> Discovery | None:
        kept = self.index_state.discovery
        if kept is None:
            return None
        try:
            articles = [CdxCapture(**row) for row in kept["articles"]]
            listings = [
                Sighting(row["timestamp"], ListingEntry(**row["entry"])) for row in kept["listings"]
            ]
        except (TypeError, KeyError) as error:
            logger.warning("wayback: the kept discovery is damaged (%s): discovering again", error)
            return None
        self._kept_json = (json.dumps(kept["articles"]), json.dumps(kept["listings"]))
        return Discovery(self._discovery_key(), articles, listings, kept["home_read"])

    def index_state_json(self) -> tuple[str, str]:
        return self._kept_json

    def on_cdx(self, response: Response, query: CdxQuery, kind: str, page: int, seen):
        """One page of a CDX answer: the next page, the next query, or the listings. A page
        the server fails or garbles costs that query's remaining pages, never the rows read."""
        self.crawler.stats.inc_value("sadec/wayback/cdx_requests")
        if response.status != 200:
            yield from self._query_failed(query, kind, f"HTTP {response.status}", split=True)
            return
        try:
            rows, resume_key = parse_cdx_json(response.body)
        except (ValueError, KeyError, IndexError) as error:
            # The real server answers 200 with an HTML maintenance page at times (the gate
            # has asked again after a pause, RETRY_TIMES times).
            why = f"answer not understood ({type(error).__name__}: {str(error)[:80]})"
            yield from self._query_failed(query, kind, why, split=False)
            return
        getattr(self.discovering, kind).extend(rows)
        self.crawler.stats.inc_value("sadec/wayback/cdx_rows", len(rows))
        yield IndexPage(
            discovery_key=self._discovery_key(),
            kind=kind,
            query=query.request_url(self.archive_url),
            resume_key=seen[-1] if seen else "",
            next_key=resume_key or "",
            rows=json.dumps([dataclasses.asdict(row) for row in rows]),
        )
        if resume_key:
            # Empty pages can still carry a key (the server filters after paging): followed.
            if resume_key in seen:
                why = f"page {page} repeated the resume key {unquote_plus(resume_key)!r}"
                yield from self._query_failed(query, kind, why, split=False)
                return
            if page >= self.cdx_max_pages:
                why = f"more than {self.cdx_max_pages} pages (SADEC_WAYBACK_CDX_MAX_PAGES)"
                yield from self._query_failed(query, kind, why, split=False)
                return
            yield self._cdx_request(query, kind, resume_key, page + 1, (*seen, resume_key))
            return
        yield from self._next_query()

    def on_cdx_failure(self, failure):
        if failure.check(ArchiveStopped):
            return
        query, kind = failure.request.cb_kwargs["query"], failure.request.cb_kwargs["kind"]
        why = exception_kind(failure.value)
        yield from self._query_failed(query, kind, why, split=True)

    def _query_failed(self, query: CdxQuery, kind: str, why: str, split: bool):
        """An index query the server could not finish: asked again over each half of its
        window (a prefix query over every year is what times out under load), down to a day;
        else recorded. The rows read so far are kept and the run goes on."""
        halves = split_window(query, self._now_digits()) if split else None
        if halves and self.splits < self.max_splits:
            self.splits += 1
            self.crawler.stats.inc_value("sadec/wayback/cdx_queries_split")
            logger.warning(
                "wayback: index query failed (%s); asked again as %s-%s and %s-%s",
                why,
                halves[0].start,
                halves[0].end,
                halves[1].start,
                halves[1].end,
            )
            self.discovering.queries[0:0] = [(half, kind) for half in halves]
        else:
            message = f"index query {query.url} ({query.start or '…'}-{query.end or '…'}): {why}"
            logger.error("wayback: %s; the rows read so far are kept", message)
            self.crawler.stats.inc_value("sadec/wayback/cdx_queries_failed")
            yield CrawlError(self.archive_url + CDX_PATH, "wayback_cdx", message)
        yield from self._next_query()

    def _now_digits(self) -> str:
        return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")

    def _read_home(self):
        pages = list({(c.timestamp, c.original): c for c in self.discovering.pages}.values())
        self.discovering.pages = pages
        home = [c for c in pages if urlsplit(c.original).path.rstrip("/") == self.path_prefix]
        home = [c for c in home if not urlsplit(c.original).query]
        if not home:
            logger.warning("wayback: no capture of the home page; listings found by their URLs")
            yield from self._read_listings(set())
            return
        newest = max(home, key=lambda c: c.timestamp)
        yield self.request(
            playback_url(self.archive_url, newest.timestamp, newest.original),
            self.on_home,
            capture=newest,
            step=lambda: self._read_listings(set()),
        )

    def on_home(self, response: Response, capture: CdxCapture, step):
        if not self._page_answered(response, capture):
            yield from self._not_read(response, capture)
            yield from step()
            return
        self.discovering.home_read = True
        page_url = self.portal_url(capture.original)
        menu_paths = {
            urlsplit(url).path.rstrip("/") or "/"
            for url in discovery_links(response.text, page_url, self.base_url)
        }
        yield from self._sightings(response, capture, count=False)
        yield from self._read_listings(menu_paths)

    def _read_listings(self, menu_paths: set[str]):
        chosen = select_listing_captures(self.discovering.pages, menu_paths, self.period_digits)
        self.discovering.listings_left = len(chosen)
        if not chosen:
            yield from self._discovery_done()
            return
        for capture in chosen:
            yield self.request(
                playback_url(self.archive_url, capture.timestamp, capture.original),
                self.on_listing,
                capture=capture,
                step=self._listing_read,
            )

    def on_listing(self, response: Response, capture: CdxCapture, step):
        if self._page_answered(response, capture):
            yield from self._sightings(response, capture)
        else:
            yield from self._not_read(response, capture)
        yield from step()

    def _listing_read(self):
        self.discovering.listings_left -= 1
        if self.discovering.listings_left == 0:
            yield from self._discovery_done()

    def _discovery_done(self):
        found = self.discovering
        # A split query reads again rows a failed page had given: each capture once.
        articles = list({(c.timestamp, c.original): c for c in found.articles}.values())
        articles = drop_identical_recaptures(articles)
        self.crawler.stats.inc_value(
            "sadec/wayback/identical_recaptures_dropped", len(found.articles) - len(articles)
        )
        discovery = Discovery(self._discovery_key(), articles, found.sightings, found.home_read)
        yield WaybackDiscovery(
            discovery.key,
            json.dumps([dataclasses.asdict(capture) for capture in articles]),
            json.dumps(
                [
                    {"timestamp": s.timestamp, "entry": dataclasses.asdict(s.entry)}
                    for s in found.sightings
                ]
            ),
            discovery.home_read,
        )
        state = getattr(self.spider, "state", None)
        if isinstance(state, dict):
            state[DISCOVERY_STATE_KEY] = discovery
        yield from self._discovered(discovery)

    def _page_answered(self, response: Response, capture: CdxCapture) -> bool:
        return response.status == 200 and isinstance(response, TextResponse)

    def _not_read(self, response: Response, capture: CdxCapture):
        message = f"capture of {capture.original} answered HTTP {response.status}"
        yield CrawlError(response.url, f"wayback_http_{response.status}", message)

    def _sightings(self, response: TextResponse, capture: CdxCapture, count: bool = True):
        """Listing entries of a home or listing capture (into the discovery); a capture the
        parser cannot read, or an entry of it, is one error of the run."""
        try:
            page = extract_listing(response.text, self.portal_url(capture.original), self.base_url)
        except Exception as error:  # noqa: BLE001 - one capture never ends the run
            message = f"listing capture not read: {type(error).__name__}: {error}"[:300]
            logger.error("wayback: %s (%s)", message, response.url)
            yield CrawlError(response.url, "parse_error", message)
            return
        for url, message in page.errors:
            yield CrawlError(url, "parse_error", f"entry on {response.url}: {message}")
        if count and page.is_listing:
            self.crawler.stats.inc_value("sadec/pages/listing")
        self.discovering.sightings += [Sighting(capture.timestamp, e) for e in page.entries]

    # --- planning ------------------------------------------------------------------------------
    def _discovered(self, discovery: Discovery):
        """Discovery done: open the url-titles no slug names, then plan."""
        self.discovery = discovery
        self.listings = ListingIndex(discovery.listings)
        for slug, asset_id in self.listings.slugs().items():
            self._learn_slug(slug, asset_id)
        self.ambiguous |= self.listings.ambiguous_slugs()
        if discovery.home_read:
            self.crawler.stats.inc_value("sadec/pages/home")
        by_title: dict[str, list[CdxCapture]] = {}
        for capture in discovery.articles:
            link = parse_article_link(capture.original)
            if link is None or link.asset_id or article_page_number(capture.original) > 1:
                continue
            if link.url_title:
                by_title.setdefault(link.url_title, []).append(capture)
        self.url_title_captures = by_title
        to_open = []
        for url_title, captures in sorted(by_title.items()):
            usable = [c for c in captures if c.usable]
            if self.asset_for_url_title(url_title) is None and usable:
                to_open.append(max(usable, key=lambda c: c.timestamp))
        self.url_titles_left = len(to_open)
        if not to_open:
            yield from self._plan()
            return
        for capture in to_open:
            yield self.request(
                playback_url(self.archive_url, capture.timestamp, capture.original),
                self.on_url_title,
                capture=capture,
                step=self._url_title_opened,
            )

    def _learn_slug(self, slug: str, asset_id: int) -> None:
        if self.slugs.setdefault(slug, asset_id) != asset_id:
            self.ambiguous.add(slug)

    def asset_for_url_title(self, url_title: str) -> int | None:
        """The article a url-title names: known for sure, or by the slug of a title only one
        article has; None when it must be opened to tell."""
        if url_title in self.url_titles:
            return self.url_titles[url_title]
        if url_title in self.ambiguous:
            return None
        return self.slugs.get(url_title)

    def on_url_title(self, response: Response, capture: CdxCapture, step):
        """The asset id behind a url-title, read from its newest capture (kept for reuse)."""
        if not self._page_answered(response, capture):
            yield from self._not_read(response, capture)
        else:
            asset_id = asset_id_of(parse_html(response.text, read_only=True))
            if asset_id is None:
                message = f"capture {capture.timestamp} of {capture.original} has no asset id"
                yield CrawlError(self.portal_url(capture.original), "not_an_article", message)
            else:
                url_title = parse_article_link(capture.original).url_title
                self.url_titles[url_title] = asset_id
                self.prefetched[(capture.timestamp, capture.original)] = response
                self.crawler.stats.inc_value("sadec/wayback/url_titles_opened")
        yield from step()

    def _url_title_opened(self):
        self.url_titles_left -= 1
        if self.url_titles_left == 0:
            yield from self._plan()

    def _plan(self):
        """Group the article captures by article; keep those not archived yet; start."""
        by_id: dict[int, list[CdxCapture]] = {}
        instances: dict[int, str] = {}
        for capture in self.discovery.articles:
            link = parse_article_link(capture.original)
            if link is None or article_page_number(capture.original) > 1:
                continue  # a later page of an article is read with its first page
            if link.asset_id:
                by_id.setdefault(link.asset_id, []).append(capture)
                instances.setdefault(link.asset_id, link.instance)
        for url_title, captures in sorted(self.url_title_captures.items()):
            asset_id = self.asset_for_url_title(url_title)
            if asset_id is None and not any(c.usable for c in captures):
                yield from self._report_unresolved(captures)
            if asset_id:
                by_id.setdefault(asset_id, []).extend(captures)
                instances.setdefault(asset_id, parse_article_link(captures[0].original).instance)
        plans = []
        for asset_id, captures in sorted(by_id.items()):
            url = canonical_article_url(self.base_url, instances[asset_id], asset_id)
            plan = ArticlePlan(asset_id, url, [])
            yield from self._plan_article(plan, captures)
            if plan.captures:
                plans.append(plan)
        yield from self._merge_listings_into_stored(plans)
        total = sum(len(plan.captures) for plan in plans)
        logger.info(
            "wayback: %d captures of %d articles to archive (%d at once)",
            total,
            len(plans),
            self.workers,
        )
        self.queue = plans
        self.crawler.stats.set_value("sadec/wayback/captures_planned", total)
        self.crawler.stats.set_value("sadec/wayback/captures_done", 0)
        self.reporting = "due"
        for _ in range(min(self.workers, len(plans))):
            yield from self._next_chain()

    def _plan_article(self, plan: ArticlePlan, rows: list[CdxCapture]):
        by_moment: dict[str, CdxCapture] = {}
        for capture in sorted(rows, key=lambda c: (c.timestamp, not c.usable)):
            by_moment.setdefault(capture.timestamp, capture)
        captures = list(by_moment.values())
        usable = [c for c in captures if c.usable]
        watermark = self.stored.watermarks.get(plan.url, "")
        if usable:
            self.captured.add(plan.asset_id)
        yield from self._report_status_captures(plan, captures, usable, watermark)
        # The same bytes as the article's capture just before it, under another of its URLs
        # (``?inheritRedirect=false`` renders as the plain URL): nothing new to read. Compared
        # over every capture, archived or not, so that a later run drops the same ones.
        distinct = [
            c
            for before, c in zip([None, *usable], usable, strict=False)
            if before is None or c.digest != before.digest
        ]
        self.crawler.stats.inc_value(
            "sadec/wayback/identical_recaptures_dropped", len(usable) - len(distinct)
        )
        pending = [c for c in distinct if c.timestamp > watermark]
        self.crawler.stats.inc_value(
            "sadec/wayback/captures_already_archived", len(distinct) - len(pending)
        )
        playable = [
            c for c in pending if capture_key(c.timestamp, c.original) not in self.stored.unplayable
        ]
        self.crawler.stats.inc_value(
            "sadec/wayback/captures_known_unplayable", len(pending) - len(playable)
        )
        pending = playable
        plan.captures = pending

    def _report_status_captures(self, plan, captures, usable, watermark):
        """404s and redirects the archive holds for an article, reported as what they are:
        when nothing better was captured, or when a 404 came after the last good capture (the
        article was removed). Only captures newer than what is archived are reported."""
        others = [c for c in captures if not c.usable and c.status and c.timestamp > watermark]
        if not others:
            return
        newest = others[-1]
        if not usable:
            message = (
                f"no usable capture: the archive holds HTTP {newest.status} for "
                f"{newest.original} at {newest.timestamp}"
            )
        elif newest.status in (404, 410) and newest.timestamp > usable[-1].timestamp:
            message = (
                f"captured as HTTP {newest.status} at {newest.timestamp}, after its last good "
                f"capture at {usable[-1].timestamp}: removed from the portal"
            )
        else:
            return
        self.reported.add(plan.asset_id)
        yield CrawlError(plan.url, f"http_{newest.status}", message)

    def _report_unresolved(self, captures: list[CdxCapture]):
        """A url-title the archive holds only as errors or redirects: it names no article
        that can be identified, so the URL itself is reported."""
        newest = max((c for c in captures if c.status), key=lambda c: c.timestamp, default=None)
        if newest is None:
            return
        message = (
            f"no usable capture: the archive holds HTTP {newest.status} for {newest.original} "
            f"at {newest.timestamp}"
        )
        yield CrawlError(self.portal_url(newest.original), f"http_{newest.status}", message)

    def _merge_listings_into_stored(self, plans: list[ArticlePlan]):
        """Listing dates and summaries for archived articles this run does not fetch again."""
        planned = {plan.asset_id for plan in plans}
        for asset_id, sightings in sorted(self.listings.by_id.items()):
            url = sightings[0].entry.url
            if asset_id in planned or url not in self.stored.watermarks:
                continue
            entry = self.listings.entry_for(asset_id, url, None, "9" * 14)
            if entry.date_raw or entry.summary:
                yield entry

    # --- archiving -----------------------------------------------------------------------------
    def _next_chain(self):
        """Start the next article's chain, if one is queued."""
        if not self.queue:
            return
        self.active += 1
        yield from self._read_capture(Chain(self.queue.pop(0)))

    def _chain_ended(self):
        self.active -= 1
        yield from self._next_chain()

    def _read_capture(self, chain: Chain):
        """The request for the chain's current capture (requests only, so that a chain can go
        on from outside a callback): the archive's, or a step to the response kept when its
        url-title was opened."""
        if chain.position >= len(chain.plan.captures):
            yield from self._chain_ended()
            return
        capture = chain.plan.captures[chain.position]
        if (capture.timestamp, capture.original) in self.prefetched:
            yield self.step(self.on_prefetched, chain=chain)
            return
        yield self.request(
            playback_url(self.archive_url, capture.timestamp, capture.original),
            self.on_capture,
            errback=self.on_capture_failure,
            chain=chain,
        )

    def step(self, callback, **cb_kwargs) -> Request:
        """A request that fetches nothing (``data:``), for a callback to run: how work that
        yields items is done when no response of the archive is at hand."""
        self.crawler.stats.inc_value("sadec/wayback/steps")
        return step_request(callback, cb_kwargs)

    def on_prefetched(self, response: Response, chain: Chain):
        capture = chain.plan.captures[chain.position]
        kept = self.prefetched.pop((capture.timestamp, capture.original))
        yield from self.on_capture(kept, chain)

    def on_capture_failure(self, failure):
        """A capture the archive fails to serve ends the article's turn: later captures wait
        for the next run, so that no version is skipped for good."""
        if failure.check(ArchiveStopped):
            return  # the run is stopping; the next one goes on from what is stored
        self.crawler.stats.inc_value("sadec/wayback/captures_done")
        kind = f"wayback_{exception_kind(failure.value)}"
        yield CrawlError(failure.request.url, kind, str(failure.value)[:300])
        yield from self._chain_ended()

    def on_capture(self, response: Response, chain: Chain):
        capture = chain.plan.captures[chain.position]
        self.crawler.stats.inc_value("sadec/wayback/captures_done")
        if response.status >= 500 or response.status == 429:
            message = f"capture of {capture.original} answered HTTP {response.status}"
            yield CrawlError(response.url, f"wayback_http_{response.status}", message)
            yield from self._chain_ended()
            return
        try:
            item = self.page_from(chain.plan, capture, response)
        except Exception as error:  # noqa: BLE001 - one capture never ends the run
            message = f"capture not read: {type(error).__name__}: {error}"[:300]
            logger.error("wayback: %s (%s)", message, response.url)
            item = CrawlError(response.url, "parse_error", message)
        if not isinstance(item, ArticlePage):
            yield item
            chain.position += 1
            yield from self._read_capture(chain)
            return
        later = continuation_links(parse_html(item.html, read_only=True), item.page_url)
        yield from self._read_later_page(item, chain, capture, later)

    def _read_later_page(self, page: ArticlePage, chain: Chain, capture, later: list[str]):
        """Pages 2…N of a multi-page article, asked for at the first page's moment (the
        archive serves the nearest capture of each); then the article goes to the pipelines."""
        if not later:
            self.waiting[page.capture_url] = chain
            yield page
            return
        yield self.request(
            playback_url(self.archive_url, capture.timestamp, later[0]),
            self.on_later_page,
            errback=self.on_capture_failure,
            page=page,
            chain=chain,
            capture=capture,
            later=later,
        )

    def on_later_page(self, response: Response, page, chain, capture, later):
        if response.status != 200 or not isinstance(response, TextResponse):
            message = f"page {later[0]} of a capture answered HTTP {response.status}"
            yield CrawlError(response.url, f"wayback_http_{response.status}", message)
            yield from self._chain_ended()  # never stored incomplete; the next run tries again
            return
        page.continuation_html.append(response.text)
        yield from self._read_later_page(page, chain, capture, later[1:])

    def item_done(self, item, response=None, **kwargs):
        """The pipelines are done with an article capture (stored, dropped or failed): its
        chain goes on."""
        key = getattr(item, "capture_url", None) or getattr(item, "url", None)
        chain = self.waiting.pop(key, None) if key else None
        if chain is None:
            return
        chain.position += 1
        for request in self._read_capture(chain):
            self._schedule(request)

    def _schedule(self, request: Request) -> None:
        # When the spider is closing this is refused: the next run goes on from what is stored.
        with contextlib.suppress(RuntimeError, AttributeError):
            self.crawler.engine.crawl(request)

    def page_from(self, plan: ArticlePlan, capture: CdxCapture, response: Response):
        """The :class:`ArticlePage` of one capture, or the error that stands for it."""
        stats = self.crawler.stats
        served = capture_of(response.url)
        if served and served[0] != capture.timestamp and same_page(served[1], capture.original):
            # Listed by the index, not playable: the archive sent us to another moment of the
            # page. Stored under that date it would pass for this capture (and an older one
            # could replace a newer article); recorded, it is not asked for again.
            stats.inc_value("sadec/wayback/captures_unplayable")
            message = (
                f"the archive lists {capture.original} at {capture.timestamp} but plays it back "
                f"as {served[0]}: not stored under another date"
            )
            url = playback_url(self.archive_url, capture.timestamp, capture.original)
            return CrawlError(url, UNPLAYABLE, message)
        if response.status != 200:
            message = f"capture of {capture.original} answered HTTP {response.status}"
            return CrawlError(response.url, f"wayback_http_{response.status}", message)
        if not isinstance(response, TextResponse):
            content_type = response.headers.get("Content-Type")
            return CrawlError(response.url, "not_html", f"capture is {content_type!r}")
        timestamp = (capture_of(response.url) or (capture.timestamp, ""))[0]
        page_url = self.portal_url(capture.original)
        extract = extract_article(response.text, page_url, self.base_url)
        if extract.asset_anchor and extract.asset_anchor != plan.asset_id:
            message = f"capture {timestamp} shows asset {extract.asset_anchor}, not {plan.asset_id}"
            return CrawlError(response.url, "not_an_article", message)
        slug = slugify(extract.title) if extract.title else None
        if slug:
            self._learn_slug(slug, plan.asset_id)
        self._remember_links(response, page_url)
        self._remember_files(extract.body_html, page_url, timestamp)
        stats.inc_value("sadec/pages/article")
        stats.inc_value("sadec/wayback/captures_read")
        return ArticlePage(
            url=plan.url,
            asset_id=plan.asset_id,
            fetched_url=response.url,
            http_status=response.status,
            fetched_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            html=response.text,
            listing=self.listings.entry_for(plan.asset_id, plan.url, slug, timestamp),
            source="wayback",
            capture_timestamp=timestamp,
            capture_url=response.url,
            page_url=page_url,
            capture=response.meta.get("sadec_capture"),
        )

    def _remember_links(self, response: TextResponse, page_url: str) -> None:
        """Articles the page links to (related block, latest news), and the slugs of their
        titles: the report names those never captured, url-title listing entries included."""
        for anchor in response.css("a[href]"):
            url = absolute(page_url, anchor.attrib.get("href"))
            link = parse_article_link(url) if url and host_of(url) == host_of(page_url) else None
            if link is None or not link.asset_id:
                continue
            canonical = canonical_article_url(self.base_url, link.instance, link.asset_id)
            self.related.setdefault(link.asset_id, (canonical, page_url))
            title = clean_inline(" ".join(anchor.css("::text").getall()))
            if title:
                self.link_slugs.setdefault(slugify(title), link.asset_id)

    def _remember_files(self, body_html: str | None, page_url: str, timestamp: str) -> None:
        """Images and attachments are asked for at their page's capture moment: the archive
        then serves the capture of the file nearest to the page's."""
        if not body_html:
            return
        body = Selector(text=body_html)
        for href in body.css("img::attr(src)").getall() + body.css("a::attr(href)").getall():
            url = absolute(page_url, href)
            if url:
                self.file_timestamps.setdefault(url, timestamp)

    def portal_url(self, original: str) -> str:
        """The URL a captured page had on the portal, with ``SADEC_BASE_URL``'s scheme and
        host: captures may be of ``http://`` or ``:80`` forms; links resolve the same."""
        parts = urlsplit(original)
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.portal_origin}{parts.path or '/'}{query}"

    # --- requests for anything else ------------------------------------------------------------
    def archived_request(self, request: Request) -> Request | None:
        """The archive's copy of a request for another host (the files pipeline fetching an
        article's images from the portal): in this mode nothing but the archive is contacted.
        None for requests to the archive itself."""
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or host_of(request.url) == self.archive_host:
            return None
        original = strip_session(request.url)
        timestamp = self.file_timestamps.get(original) or dt.datetime.now(dt.UTC).strftime(
            "%Y%m%d%H%M%S"
        )
        self.crawler.stats.inc_value("sadec/wayback/requests_redirected_to_archive")
        return request.replace(
            url=playback_url(self.archive_url, timestamp, original),
            meta={**request.meta, "sadec_backoff": True, "sadec_wayback_original": original},
        )

    # --- report --------------------------------------------------------------------------------
    def on_idle(self) -> None:
        """Everything archived: the report of what no capture holds, once."""
        if self.reporting != "due" or self.active or self.queue:
            return
        self.reporting = "done"
        self._schedule(self.step(self.on_report))
        raise DontCloseSpider

    def on_report(self, response: Response):
        """Articles listings or related blocks name that no capture holds."""
        for asset_id, sightings in sorted(self.listings.by_id.items()):
            entry = self._category_sighting(sightings)
            yield from self._missing(asset_id, entry.url, f"listed on {entry.listing_url}")
        for url_title, sightings in sorted(self.listings.by_title.items()):
            entry = self._category_sighting(sightings)
            asset_id = self.asset_for_url_title(url_title) or self.link_slugs.get(url_title)
            if asset_id is None:
                message = f"listed on {entry.listing_url} but never captured"
                self.crawler.stats.inc_value("sadec/wayback/no_capture")
                yield CrawlError(entry.url, "no_capture", message)
            else:
                link = parse_article_link(entry.url)
                url = canonical_article_url(self.base_url, link.instance, asset_id)
                yield from self._missing(asset_id, url, f"listed on {entry.listing_url}")
        for asset_id, (url, page_url) in sorted(self.related.items()):
            yield from self._missing(asset_id, url, f"linked from {page_url}")

    def _category_sighting(self, sightings: list[Sighting]) -> ListingEntry:
        """An entry to name in a report: from a category listing rather than the home page."""
        home = self.base_url.rstrip("/")
        return min(sightings, key=lambda s: s.entry.listing_url.rstrip("/") == home).entry

    def _missing(self, asset_id: int, url: str, where: str):
        if asset_id in self.captured or asset_id in self.reported:
            return
        if url in self.stored.watermarks:
            return
        self.reported.add(asset_id)
        self.crawler.stats.inc_value("sadec/wayback/no_capture")
        window = " in the queried window" if self.start or self.end else ""
        yield CrawlError(url, "no_capture", f"{where} but never captured{window}")


def _window(spider) -> tuple[str | None, str | None]:
    """``-a since=… -a until=…`` as CDX ``from``/``to``: captures made in those days."""
    since, until = getattr(spider, "since", None), getattr(spider, "until", None)
    start = re.sub(r"\D", "", str(since))[:8] if since else None
    end = re.sub(r"\D", "", str(until))[:8] + "235959" if until else None
    return start, end

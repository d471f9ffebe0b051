"""Archiving from the Internet Archive's captures: ``scrapy crawl sadec -a source=wayback``.

The portal may be gone (site-spec §1); its pages survive as Wayback Machine captures. This
module finds them through the CDX API (``SADEC_WAYBACK_URL``/cdx/search/cdx), reads them raw
through ``id_`` playback (``/web/<timestamp>id_/<original URL>``: the page as captured, no
banner, links not rewritten) and hands them to the same pipelines as a live crawl, as
:class:`~sadec_crawler.items.ArticlePage` items that say which capture they were read from.

A run, all of it driven from the spider's ``start()`` (:func:`archive`):

1. Discovery: CDX prefix queries over the portal's host: its HTML pages (200 only) and the
   article routes (every status, so that 404s and redirects are reported as such). The newest
   home-page capture's menus name the listings; one capture of each listing page per period
   (``SADEC_WAYBACK_LISTING_PERIOD`` timestamp digits, a month by default) is read for the
   listing dates and summaries.
2. Planning: every capture maps back to its article's canonical URL (url-title captures by
   their title's slug, else by opening one to read its ``span.asset-anchor``). Captures at or
   before what the database already holds for an article are skipped: a restarted backfill
   goes on where the last one stopped.
3. Archiving: each article's captures oldest → newest, each awaited through the pipelines
   before the next is fetched, so that storage keeps every earlier differing capture as a
   version. A few articles are worked on at once.
4. Report: articles that listings or related blocks name but no capture holds become
   ``no_capture`` errors; nothing is invented for them.

Requests go through Scrapy's downloader (delays, robots.txt, retries, Retry-After, WARC
writing) by ``engine.download_async``, items through ``scraper.start_itemproc_async``: callbacks
could not give the strict per-article order, since the files pipeline may still be fetching one
capture's images when the next capture of the same article arrives. With a ``JOBDIR`` the
discovery is kept in ``spider.state``, so a job resumed after a clean stop does not query the
index or read the listings again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gzip
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from parsel import Selector
from scrapy.http import Request, Response, TextResponse

from pipelines.database import open_database

from .items import ArticlePage, CrawlError, ListingEntry
from .pages import (
    article_page_number,
    asset_id_of,
    continuation_links,
    discovery_links,
    extract_article,
    extract_listing,
    parse_html,
)
from .textnorm import clean_inline, slugify
from .urls import (
    absolute,
    canonical_article_url,
    listing_key,
    pagination_param,
    parse_article_link,
    strip_session,
)
from .warc import exception_kind

logger = logging.getLogger(__name__)

CDX_PATH = "/cdx/search/cdx"
CDX_FIELDS = ("timestamp", "original", "mimetype", "statuscode", "digest")
ARTICLE_PREFIXES = ("/chi-tiet-bai-viet", "/-/asset_publisher/")
"""Path prefixes of the article routes (site-spec §2): the display page, with every variant
(``/content/id/N``, ``/maximized``, url-title, ``;jsessionid=``, ``?redirect=``), and the
root ``/-/asset_publisher/…/content/<url-title>`` form."""
NOT_A_PAGE = ".*(/-/asset_publisher/|/documents/|/o/).*"
"""Captures the pages query leaves out: articles (queried apart), files and theme assets."""
PLAYBACK_PATH = re.compile(r"/web/(?P<timestamp>\d{14})(?:[a-z]{2}_)?/(?P<original>.+)$", re.S)
DISCOVERY_STATE_KEY = "sadec_wayback_discovery"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class WaybackError(RuntimeError):
    """The archive's index could not be read: nothing can be planned."""


class RunStopped(Exception):
    """The engine is closing the spider: this run sends nothing more."""


@dataclass(frozen=True)
class CdxCapture:
    """One row of the CDX index."""

    timestamp: str
    """14 digits, UTC."""
    original: str
    """The URL as captured (scheme, host and port as the archive saw them)."""
    mimetype: str
    status: int | None
    """HTTP status of the capture; None for revisit records (``-``)."""
    digest: str

    @property
    def usable(self) -> bool:
        """A capture of a page, not of an error or a redirect."""
        return self.status == 200 or (self.status is None and self.mimetype == "warc/revisit")


@dataclass(frozen=True)
class CdxQuery:
    """A CDX search, paged with ``showResumeKey``/``resumeKey`` (CDX server README)."""

    url: str
    match_type: str = "prefix"
    filters: tuple[str, ...] = ()
    collapse: str | None = "digest"
    """``digest`` skips identical re-captures (adjacent rows only, as the server does)."""
    start: str | None = None
    """``from``: 1–14 digit timestamp, inclusive."""
    end: str | None = None
    """``to``: 1–14 digit timestamp, inclusive."""
    limit: int = 5000

    def request_url(self, archive_url: str, resume_key: str | None = None) -> str:
        params = [
            ("url", self.url),
            ("matchType", self.match_type),
            ("output", "json"),
            ("fl", ",".join(CDX_FIELDS)),
        ]
        params += [("filter", spec) for spec in self.filters]
        if self.collapse:
            params.append(("collapse", self.collapse))
        if self.start:
            params.append(("from", self.start))
        if self.end:
            params.append(("to", self.end))
        params += [("limit", str(self.limit)), ("showResumeKey", "true")]
        url = f"{archive_url}{CDX_PATH}?{urlencode(params)}"
        # The server hands the key out already URL-encoded: it goes back verbatim.
        return f"{url}&resumeKey={resume_key}" if resume_key else url


def parse_cdx_json(body: bytes) -> tuple[list[CdxCapture], str | None]:
    """Rows of an ``output=json`` answer (header row first) and its resume key, if any."""
    if body[:2] == b"\x1f\x8b":
        # The CDX server gzips its answers unless asked not to (``gzip=false``); HTTP-level
        # compression is undone by Scrapy, a gzip payload without that header is not.
        body = gzip.decompress(body)
    data = json.loads(body or b"[]")
    if not data:
        return [], None
    header, rows, resume_key = data[0], data[1:], None
    if len(rows) >= 2 and rows[-2] == [] and len(rows[-1]) == 1:
        resume_key, rows = rows[-1][0], rows[:-2]
    rows = [row for row in rows if row]
    column = {name: index for index, name in enumerate(header)}
    captures = []
    for row in rows:
        status = row[column["statuscode"]]
        captures.append(
            CdxCapture(
                timestamp=row[column["timestamp"]],
                original=row[column["original"]],
                mimetype=row[column["mimetype"]],
                status=int(status) if status.isdigit() else None,
                digest=row[column["digest"]],
            )
        )
    return captures, resume_key


def playback_url(archive_url: str, timestamp: str, original: str) -> str:
    """The raw (``id_``) playback URL of a capture."""
    return f"{archive_url}/web/{timestamp}id_/{original}"


def capture_of(url: str) -> tuple[str, str] | None:
    """(timestamp, original URL) of a playback URL; None for anything else."""
    parts = urlsplit(url)
    match = PLAYBACK_PATH.search(parts.path)
    if match is None:
        return None
    original = match["original"] + (f"?{parts.query}" if parts.query else "")
    return match["timestamp"], original


def timestamp_digits(value: str | None) -> str | None:
    """``2025-06-13T09:00:00Z`` → ``20250613090000``."""
    digits = re.sub(r"\D", "", value or "")[:14]
    return digits.ljust(14, "0") if digits else None


def host_of(url: str) -> str:
    """Host name, lower case, without ``www.`` (the archive does not tell them apart)."""
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


@dataclass
class Sighting:
    """A listing entry as one listing capture showed it."""

    timestamp: str
    entry: ListingEntry


class ListingIndex:
    """Listing entries seen in captured listings, by asset id and by url-title."""

    def __init__(self, sightings: list[Sighting] | None = None):
        self.sightings: list[Sighting] = []
        self.by_id: dict[int, list[Sighting]] = {}
        self.by_title: dict[str, list[Sighting]] = {}
        for sighting in sightings or []:
            self.add(sighting)

    def add(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)
        entry = sighting.entry
        if entry.asset_id:
            self.by_id.setdefault(entry.asset_id, []).append(sighting)
            return
        link = parse_article_link(entry.url)
        if link and link.url_title:
            self.by_title.setdefault(link.url_title, []).append(sighting)

    def slugs(self) -> dict[str, int]:
        """Title slug → asset id, from entries that link by id (they name both)."""
        return {
            slugify(s.entry.title): s.entry.asset_id
            for s in self.sightings
            if s.entry.asset_id and s.entry.title
        }

    def entry_for(self, asset_id: int, url: str, slug: str | None, timestamp: str):
        """The entry as the listings showed it when the article was captured: each field from
        the newest listing capture at or before ``timestamp`` that has it, else the oldest
        after. None when no listing showed the article."""
        sightings = self.by_id.get(asset_id, []) + (self.by_title.get(slug, []) if slug else [])
        if not sightings:
            return None
        before = sorted((s for s in sightings if s.timestamp <= timestamp), key=_moment)
        after = sorted((s for s in sightings if s.timestamp > timestamp), key=_moment)
        ordered = before[::-1] + after

        def first(name: str):
            return next((getattr(s.entry, name) for s in ordered if getattr(s.entry, name)), None)

        return ListingEntry(
            url=url,
            asset_id=asset_id,
            listing_url=ordered[0].entry.listing_url,
            title=first("title"),
            date_raw=first("date_raw"),
            summary=first("summary"),
        )


def _moment(sighting: Sighting) -> str:
    return sighting.timestamp


@dataclass
class StoredState:
    """What the database already holds, as far as resuming needs it."""

    watermarks: dict[str, str] = field(default_factory=dict)
    """Canonical URL → newest moment (14 digits) whose content is stored: a capture at or
    before it was processed by an earlier run, or is older than a live fetch of the page."""
    slugs: dict[str, int] = field(default_factory=dict)
    """Title slug → asset id, so url-title captures need not be opened again."""


def load_stored_state(db_path: str | None) -> StoredState:
    """Read the archive's articles and versions (read-only use)."""
    state = StoredState()
    if not db_path:
        return state
    db = open_database(db_path)
    try:
        rows = db.query(
            "select url, asset_id, title, source, capture_timestamp, last_crawled_at from articles"
        )
        for row in rows:
            moment = (
                row["capture_timestamp"]
                if row["source"] == "wayback"
                else timestamp_digits(row["last_crawled_at"])
            )
            _raise_watermark(state, row["url"], moment)
            if row["title"]:
                state.slugs.setdefault(slugify(row["title"]), row["asset_id"])
        for row in db.query("select article_url, capture_timestamp from article_versions"):
            _raise_watermark(state, row["article_url"], row["capture_timestamp"])
    finally:
        db.close()
    return state


def _raise_watermark(state: StoredState, url: str, moment: str | None) -> None:
    if moment and moment > state.watermarks.get(url, ""):
        state.watermarks[url] = moment


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


class WaybackArchive:
    """One wayback run for a spider (see the module docstring)."""

    def __init__(self, spider):
        self.spider = spider
        self.crawler = spider.crawler
        settings = self.crawler.settings
        self.archive_url = settings.get("SADEC_WAYBACK_URL", "").rstrip("/")
        if urlsplit(self.archive_url).scheme not in ("http", "https"):
            raise ValueError(f"SADEC_WAYBACK_URL={self.archive_url!r} is not an http(s) URL")
        self.archive_host = host_of(self.archive_url)
        self.base_url = spider.base_url
        self.portal_host = urlsplit(self.base_url).hostname
        self.db_path = settings.get("SADEC_DB_PATH")
        self.cdx_limit = settings.getint("SADEC_WAYBACK_CDX_LIMIT", 5000)
        self.period_digits = settings.getint("SADEC_WAYBACK_LISTING_PERIOD", 6)
        workers = settings.getint("SADEC_WAYBACK_WORKERS", 0)
        per_host = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1)
        self.workers = workers if workers > 0 else max(2, per_host + 1)
        self.start, self.end = _window(spider)
        self.slugs: dict[str, int] = {}
        self.captured: set[int] = set()
        self.reported: set[int] = set()
        self.related: dict[int, tuple[str, str]] = {}
        self.link_slugs: dict[str, int] = {}
        self.prefetched: dict[tuple[str, str], Response] = {}
        self.file_timestamps: dict[str, str] = {}
        self.stored = StoredState()
        self.listings = ListingIndex()

    # --- the run -----------------------------------------------------------------------------
    async def run(self) -> None:
        self.spider.allowed_domains = [self.archive_host]
        self._warn_if_impolite()
        self.stored = load_stored_state(self.db_path)
        self.slugs = dict(self.stored.slugs)
        try:
            await self._run()
        except RunStopped:
            logger.info("wayback: stopped early; the next run goes on from what is stored")

    async def _run(self) -> None:
        try:
            discovery = await self._discovery()
        except WaybackError as error:
            logger.error("wayback: %s", error)
            await self.emit(CrawlError(self.archive_url + CDX_PATH, "wayback_cdx", str(error)))
            return
        self.listings = ListingIndex(discovery.listings)
        for slug, asset_id in self.listings.slugs().items():
            self.slugs.setdefault(slug, asset_id)
        if discovery.home_read:
            self.crawler.stats.inc_value("sadec/pages/home")
        plans = await self._plan(discovery.articles)
        await self._merge_listings_into_stored(plans)
        total = sum(len(plan.captures) for plan in plans)
        logger.info(
            "wayback: %d captures of %d articles to archive (%d workers)",
            total,
            len(plans),
            self.workers,
        )
        await self._archive_all(plans)
        await self._report_missing()

    def _warn_if_impolite(self) -> None:
        settings = self.crawler.settings
        if urlsplit(self.archive_url).hostname in LOCAL_HOSTS:
            return
        delay = settings.getfloat("DOWNLOAD_DELAY")
        per_host = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        if delay < 1 or per_host > 1:
            logger.warning(
                "wayback: DOWNLOAD_DELAY=%s and CONCURRENT_REQUESTS_PER_DOMAIN=%s are hard on "
                "the Internet Archive (docs/wayback.md asks for ≥ 1 s and 1)",
                delay,
                per_host,
            )

    def stopping(self) -> bool:
        """True once the engine closes the spider (CLOSESPIDER_* limits, a shutdown).

        Scrapy stops pulling from ``start()`` then, but this run drives its own requests: it
        must stop issuing them, or the engine waits for them forever. The engine has no public
        flag for "closing"; its slot's ``closing`` is read defensively.
        """
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)
        return not engine.running or slot is None or getattr(slot, "closing", None) is not None

    async def emit(self, item, response: Response | None = None) -> None:
        """Send one item through the pipelines and wait until they are done with it.

        Raises :class:`RunStopped` instead once the spider is closing: what is not stored now
        is done again by the next run.
        """
        if self.stopping():
            raise RunStopped
        scraper = self.crawler.engine.scraper
        await scraper.start_itemproc_async(item, response=response)
        if self.stopping():
            # Scrapy re-checks a closing scraper only after a callback's output: an item sent
            # from start() that finishes while the spider closes must nudge it, or the close
            # waits forever.
            check = getattr(scraper, "_check_if_closing", None)
            if check is not None and scraper.slot is not None:
                check()

    async def fetch(self, url: str) -> Response:
        """A GET through the whole downloader (delays, retries, robots.txt, WARC); raises
        :class:`RunStopped` once the spider is closing."""
        if self.stopping():
            raise RunStopped
        request = Request(url, meta={"sadec_backoff": True}, dont_filter=True)
        return await self.crawler.engine.download_async(request)

    # --- discovery ---------------------------------------------------------------------------
    def _discovery_key(self) -> str:
        return json.dumps(
            [self.archive_url, self.base_url, self.start, self.end, self.period_digits]
        )

    async def _discovery(self) -> Discovery:
        """From the spider's JOBDIR state when a stopped job resumes, else from the archive."""
        state = getattr(self.spider, "state", None)
        key = self._discovery_key()
        if isinstance(state, dict):
            cached = state.get(DISCOVERY_STATE_KEY)
            if isinstance(cached, Discovery) and cached.key == key:
                logger.info("wayback: discovery from the JOBDIR state (no index queries)")
                return cached
        discovery = await self._discover(key)
        if isinstance(state, dict):
            state[DISCOVERY_STATE_KEY] = discovery
        return discovery

    async def _discover(self, key: str) -> Discovery:
        host = self.portal_host
        pages = await self.cdx_all(
            CdxQuery(
                f"{host}/",
                filters=("statuscode:200", "mimetype:text/html", f"!original:{NOT_A_PAGE}"),
            )
        )
        articles: list[CdxCapture] = []
        for prefix in ARTICLE_PREFIXES:
            articles += await self.cdx_all(CdxQuery(f"{host}{prefix}"))
        home = [c for c in pages if urlsplit(c.original).path in ("", "/")]
        home = [c for c in home if not urlsplit(c.original).query]
        menu_paths: set[str] = set()
        sightings: list[Sighting] = []
        home_read = False
        if home:
            newest = max(home, key=lambda c: c.timestamp)
            response = await self._fetch_page(newest)
            if response is not None:
                home_read = True
                page_url = self.portal_url(newest.original)
                for url in discovery_links(response.text, page_url, self.base_url):
                    menu_paths.add(urlsplit(url).path.rstrip("/") or "/")
                sightings += await self._sightings(response, newest, count=False)
        else:
            logger.warning("wayback: no capture of the home page; listings found by their URLs")
        for capture in select_listing_captures(pages, menu_paths, self.period_digits):
            response = await self._fetch_page(capture)
            if response is not None:
                sightings += await self._sightings(response, capture)
        return Discovery(key, articles, sightings, home_read)

    async def cdx_all(self, query: CdxQuery) -> list[CdxCapture]:
        """Every row of a query (within the run's ``from``/``to`` window), page after page."""
        query = dataclasses.replace(query, start=self.start, end=self.end, limit=self.cdx_limit)
        rows: list[CdxCapture] = []
        resume_key = None
        while True:
            url = query.request_url(self.archive_url, resume_key)
            try:
                response = await self.fetch(url)
            except RunStopped:
                raise
            except Exception as error:  # noqa: BLE001 - any failure means no index
                raise WaybackError(
                    f"index query failed ({exception_kind(error)}): {url}"
                ) from error
            self.crawler.stats.inc_value("sadec/wayback/cdx_requests")
            if response.status != 200:
                raise WaybackError(f"index query answered HTTP {response.status}: {url}")
            try:
                page, resume_key = parse_cdx_json(response.body)
            except (ValueError, KeyError, IndexError) as error:
                raise WaybackError(f"index answer not understood ({error}): {url}") from error
            rows += page
            if not resume_key or not page:
                return rows

    async def _fetch_page(self, capture: CdxCapture) -> TextResponse | None:
        """A home or listing capture; a failure is recorded and the page skipped."""
        url = playback_url(self.archive_url, capture.timestamp, capture.original)
        try:
            response = await self.fetch(url)
        except RunStopped:
            raise
        except Exception as error:  # noqa: BLE001 - one listing never stops the run
            await self.emit(CrawlError(url, f"wayback_{exception_kind(error)}", str(error)[:300]))
            return None
        if response.status != 200 or not isinstance(response, TextResponse):
            message = f"capture of {capture.original} answered HTTP {response.status}"
            await self.emit(CrawlError(url, f"wayback_http_{response.status}", message))
            return None
        return response

    async def _sightings(self, response: TextResponse, capture: CdxCapture, count=True) -> list:
        """Listing entries of a home or listing capture; a capture the parser cannot read, or
        an entry of it, is one error of the run."""
        try:
            page = extract_listing(response.text, self.portal_url(capture.original), self.base_url)
        except Exception as error:  # noqa: BLE001 - one capture never ends the run
            message = f"listing capture not read: {type(error).__name__}: {error}"[:300]
            logger.error("wayback: %s (%s)", message, response.url)
            await self.emit(CrawlError(response.url, "parse_error", message))
            return []
        for url, message in page.errors:
            await self.emit(CrawlError(url, "parse_error", f"entry on {response.url}: {message}"))
        if count and page.is_listing:
            self.crawler.stats.inc_value("sadec/pages/listing")
        return [Sighting(capture.timestamp, entry) for entry in page.entries]

    # --- planning ----------------------------------------------------------------------------
    async def _plan(self, rows: list[CdxCapture]) -> list[ArticlePlan]:
        """Group the article captures by article; keep those not archived yet."""
        by_id: dict[int, list[CdxCapture]] = {}
        instances: dict[int, str] = {}
        by_title: dict[str, list[CdxCapture]] = {}
        for capture in rows:
            link = parse_article_link(capture.original)
            if link is None or article_page_number(capture.original) > 1:
                continue  # a later page of an article is read with its first page
            if link.asset_id:
                by_id.setdefault(link.asset_id, []).append(capture)
                instances.setdefault(link.asset_id, link.instance)
            elif link.url_title:
                by_title.setdefault(link.url_title, []).append(capture)
        for url_title, captures in sorted(by_title.items()):
            asset_id = self.slugs.get(url_title) or await self._open_url_title(captures)
            if asset_id is None and not any(c.usable for c in captures):
                await self._report_unresolved(captures)
            if asset_id:
                by_id.setdefault(asset_id, []).extend(captures)
                link = parse_article_link(captures[0].original)
                instances.setdefault(asset_id, link.instance)
        plans = []
        for asset_id, captures in sorted(by_id.items()):
            url = canonical_article_url(self.base_url, instances[asset_id], asset_id)
            plan = await self._plan_article(asset_id, url, captures)
            if plan.captures:
                plans.append(plan)
        return plans

    async def _plan_article(self, asset_id: int, url: str, rows: list[CdxCapture]):
        by_moment: dict[str, CdxCapture] = {}
        for capture in sorted(rows, key=lambda c: (c.timestamp, not c.usable)):
            by_moment.setdefault(capture.timestamp, capture)
        captures = list(by_moment.values())
        usable = [c for c in captures if c.usable]
        watermark = self.stored.watermarks.get(url, "")
        if usable:
            self.captured.add(asset_id)
        await self._report_status_captures(asset_id, url, captures, usable, watermark)
        pending = [c for c in usable if c.timestamp > watermark]
        self.crawler.stats.inc_value(
            "sadec/wayback/captures_already_archived", len(usable) - len(pending)
        )
        return ArticlePlan(asset_id, url, pending)

    async def _report_status_captures(self, asset_id, url, captures, usable, watermark) -> None:
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
        self.reported.add(asset_id)
        await self.emit(CrawlError(url, f"http_{newest.status}", message))

    async def _report_unresolved(self, captures: list[CdxCapture]) -> None:
        """A url-title the archive holds only as errors or redirects: it names no article
        that can be identified, so the URL itself is reported."""
        newest = max((c for c in captures if c.status), key=lambda c: c.timestamp, default=None)
        if newest is None:
            return
        message = (
            f"no usable capture: the archive holds HTTP {newest.status} for {newest.original} "
            f"at {newest.timestamp}"
        )
        await self.emit(
            CrawlError(self.portal_url(newest.original), f"http_{newest.status}", message)
        )

    async def _open_url_title(self, captures: list[CdxCapture]) -> int | None:
        """The asset id behind a url-title, read from its newest capture (kept for reuse)."""
        usable = [c for c in captures if c.usable]
        if not usable:
            return None
        newest = max(usable, key=lambda c: c.timestamp)
        response = await self._fetch_page(newest)
        if response is None:
            return None
        asset_id = asset_id_of(parse_html(response.text, read_only=True))
        if asset_id is None:
            message = f"capture {newest.timestamp} of {newest.original} has no asset id"
            await self.emit(CrawlError(self.portal_url(newest.original), "not_an_article", message))
            return None
        self.prefetched[(newest.timestamp, newest.original)] = response
        self.crawler.stats.inc_value("sadec/wayback/url_titles_opened")
        return asset_id

    async def _merge_listings_into_stored(self, plans: list[ArticlePlan]) -> None:
        """Listing dates and summaries for archived articles this run does not fetch again."""
        planned = {plan.asset_id for plan in plans}
        for asset_id, sightings in sorted(self.listings.by_id.items()):
            url = sightings[0].entry.url
            if asset_id in planned or url not in self.stored.watermarks:
                continue
            entry = self.listings.entry_for(asset_id, url, None, "9" * 14)
            if entry.date_raw or entry.summary:
                await self.emit(entry)

    # --- archiving ---------------------------------------------------------------------------
    async def _archive_all(self, plans: list[ArticlePlan]) -> None:
        queue = list(plans)

        async def worker() -> None:
            while queue:
                await self.archive_article(queue.pop(0))

        count = min(self.workers, len(queue)) or 1
        # Every worker ends by itself (each stops at its next step once the spider closes).
        outcomes = await asyncio.gather(*(worker() for _ in range(count)), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures:
            if not isinstance(failure, RunStopped):
                raise failure
        if failures:
            raise RunStopped

    async def archive_article(self, plan: ArticlePlan) -> None:
        """Every pending capture of one article, oldest first, each stored before the next.

        A capture the archive fails to serve (network, 5xx) ends the article's turn: later
        captures wait for the next run, so that no version is skipped for good.
        """
        for capture in plan.captures:
            response = self.prefetched.pop((capture.timestamp, capture.original), None)
            url = playback_url(self.archive_url, capture.timestamp, capture.original)
            if response is None:
                try:
                    response = await self.fetch(url)
                except RunStopped:
                    raise
                except Exception as error:  # noqa: BLE001 - recorded, retried next run
                    kind = f"wayback_{exception_kind(error)}"
                    await self.emit(CrawlError(url, kind, str(error)[:300]))
                    return
            if response.status >= 500 or response.status == 429:
                message = f"capture of {capture.original} answered HTTP {response.status}"
                await self.emit(CrawlError(url, f"wayback_http_{response.status}", message))
                return
            try:
                item = self.page_from(plan, capture, response)
            except Exception as error:  # noqa: BLE001 - one capture never ends the run
                message = f"capture not read: {type(error).__name__}: {error}"[:300]
                logger.error("wayback: %s (%s)", message, response.url)
                item = CrawlError(response.url, "parse_error", message)
            if isinstance(item, ArticlePage) and not await self._read_later_pages(item, capture):
                return
            await self.emit(item, response)

    async def _read_later_pages(self, page: ArticlePage, capture: CdxCapture) -> bool:
        """Pages 2…N of a multi-page article, asked for at the first page's moment (the
        archive serves the nearest capture of each); False, with the error recorded, when
        one cannot be read: the capture waits for the next run, never stored incomplete."""
        later = continuation_links(parse_html(page.html, read_only=True), page.page_url)
        for portal_url in later:
            url = playback_url(self.archive_url, capture.timestamp, portal_url)
            try:
                response = await self.fetch(url)
            except RunStopped:
                raise
            except Exception as error:  # noqa: BLE001 - recorded, retried next run
                await self.emit(CrawlError(url, f"wayback_{exception_kind(error)}", str(error)))
                return False
            if response.status != 200 or not isinstance(response, TextResponse):
                message = f"page {portal_url} of a capture answered HTTP {response.status}"
                await self.emit(CrawlError(url, f"wayback_http_{response.status}", message))
                return False
            page.continuation_html.append(response.text)
        return True

    def page_from(self, plan: ArticlePlan, capture: CdxCapture, response: Response):
        """The :class:`ArticlePage` of one capture, or the error that stands for it."""
        stats = self.crawler.stats
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
            self.slugs.setdefault(slug, plan.asset_id)
        self._remember_links(response, page_url)
        self._remember_files(extract.body_html, page_url, timestamp)
        stats.inc_value("sadec/pages/article")
        stats.inc_value("sadec/wayback/captures_read")
        try:
            warc_capture = response.meta.get("sadec_capture")
        except AttributeError:  # a response without its request
            warc_capture = None
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
            capture=warc_capture,
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
        return f"{self.base_url}{parts.path or '/'}{query}"

    # --- requests for anything else ----------------------------------------------------------
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

    # --- report ------------------------------------------------------------------------------
    async def _report_missing(self) -> None:
        """Articles listings or related blocks name that no capture holds."""
        for asset_id, sightings in sorted(self.listings.by_id.items()):
            entry = self._category_sighting(sightings)
            await self._missing(asset_id, entry.url, f"listed on {entry.listing_url}")
        for url_title, sightings in sorted(self.listings.by_title.items()):
            entry = self._category_sighting(sightings)
            asset_id = self.slugs.get(url_title) or self.link_slugs.get(url_title)
            if asset_id is None:
                message = f"listed on {entry.listing_url} but never captured"
                await self.emit(CrawlError(entry.url, "no_capture", message))
                self.crawler.stats.inc_value("sadec/wayback/no_capture")
            else:
                link = parse_article_link(entry.url)
                url = canonical_article_url(self.base_url, link.instance, asset_id)
                await self._missing(asset_id, url, f"listed on {entry.listing_url}")
        for asset_id, (url, page_url) in sorted(self.related.items()):
            await self._missing(asset_id, url, f"linked from {page_url}")

    def _category_sighting(self, sightings: list[Sighting]) -> ListingEntry:
        """An entry to name in a report: from a category listing rather than the home page."""
        home = self.base_url.rstrip("/")
        return min(sightings, key=lambda s: s.entry.listing_url.rstrip("/") == home).entry

    async def _missing(self, asset_id: int, url: str, where: str) -> None:
        if asset_id in self.captured or asset_id in self.reported:
            return
        if url in self.stored.watermarks:
            return
        self.reported.add(asset_id)
        self.crawler.stats.inc_value("sadec/wayback/no_capture")
        window = " in the queried window" if self.start or self.end else ""
        await self.emit(CrawlError(url, "no_capture", f"{where} but never captured{window}"))


def select_listing_captures(
    pages: list[CdxCapture], menu_paths: set[str], period_digits: int
) -> list[CdxCapture]:
    """The listing captures worth reading: pages the menus name or that carry a pagination
    parameter, the newest capture of each listing page per period (so every article that went
    through a listing in that period is seen with its date and summary)."""
    chosen: dict[tuple, CdxCapture] = {}
    for capture in pages:
        key = listing_key(capture.original)
        if key[0] not in menu_paths and pagination_param(capture.original) is None:
            continue
        if key[0] == "/":
            continue  # the home page is read once, for its menus
        slot = (key, capture.timestamp[:period_digits])
        if slot not in chosen or capture.timestamp > chosen[slot].timestamp:
            chosen[slot] = capture
    return sorted(chosen.values(), key=lambda c: (c.timestamp, c.original))


def _window(spider) -> tuple[str | None, str | None]:
    """``-a since=… -a until=…`` as CDX ``from``/``to``: captures made in those days."""
    since, until = getattr(spider, "since", None), getattr(spider, "until", None)
    start = re.sub(r"\D", "", str(since))[:8] if since else None
    end = re.sub(r"\D", "", str(until))[:8] + "235959" if until else None
    return start, end


async def archive(spider) -> None:
    """Archive the portal from the web archive: the whole run of ``-a source=wayback``."""
    wayback = WaybackArchive(spider)
    spider.crawler.sadec_wayback = wayback
    await wayback.run()


class WaybackMiddleware:
    """Downloader middleware (before robots.txt and the off-site filter): with
    ``-a source=wayback``, a request for any host but the archive — the files pipeline fetching
    an article's images from the portal — is turned into a request for the archive's copy, so
    the live portal is never contacted. Does nothing for the live source."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request):
        wayback = getattr(self.crawler, "sadec_wayback", None)
        if wayback is None:
            return None
        return wayback.archived_request(request)

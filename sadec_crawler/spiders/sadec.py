"""``scrapy crawl sadec``: every news article of the Sa Đéc portal.

Discovery walks the site as a reader would (site-spec §2: listing URLs are not known in
advance): the home page's menus lead to category listings, every page of their pagination
(Liferay 7 and 6.2 styles) leads to articles, and each article's related block leads to more.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, TextResponse

from sadec_crawler import handoffs, incremental, page_worker
from sadec_crawler.compact import DigestSet, IntSet
from sadec_crawler.dates import parse_date
from sadec_crawler.failures import describe as describe_failure
from sadec_crawler.identity import UrlTitles
from sadec_crawler.items import (
    ArticleGone,
    ArticlePage,
    ArticleUnchanged,
    CrawlError,
    HandoffTaken,
    ListingEntry,
    SitePage,
)
from sadec_crawler.pages import (
    ArticlePageFacts,
    FoundArticleLink,
    ListingPage,
    discovery_links,
    extract_listing,
    parse_html,
    read_article_page,
)
from sadec_crawler.portals import registry_for
from sadec_crawler.selectors import (
    SOFT_404_MARKERS,
)
from sadec_crawler.steps import step_request
from sadec_crawler.textnorm import slugify
from sadec_crawler.urls import canonical_article_url, listing_key, parse_article_link
from sadec_crawler.wayback.run import WaybackRun

# Listings before the articles they lead to, so an article arrives with its listing entry;
# related links last. An article listed on a category page is fetched right after that page
# (PRIORITY_LISTED, above further listing pages): queued behind every listing page, the
# articles of a 20,000-article site were all waiting in memory at once.
PRIORITY_HOME, PRIORITY_LISTING, PRIORITY_ENTRY, PRIORITY_RELATED = 100, 50, 10, 0
PRIORITY_LISTED = 60


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _utf8_body(response) -> str | bytes:
    """What :func:`parse_html` reads fastest: the body as received when it is UTF-8 (the
    portal's only encoding), else the decoded text."""
    if response.encoding.replace("-", "").lower() == "utf8":
        return response.body
    return response.text


def _window_date(name: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"-a {name}={value!r}: expected a date as YYYY-MM-DD") from None


class SadecSpider(scrapy.Spider):
    """Arguments: ``-a mode=incremental|full`` (default incremental), ``-a source=live``,
    ``-a since=YYYY-MM-DD -a until=YYYY-MM-DD`` (only articles published in that window)."""

    name = "sadec"
    MODES = ("incremental", "full")
    SOURCES = ("live", "wayback")

    def __init__(
        self,
        mode: str = "incremental",
        source: str = "live",
        since: str | None = None,
        until: str | None = None,
        **kwargs,
    ):
        unknown = sorted(name for name in kwargs if name != "name" and not name.startswith("_"))
        if unknown:
            # A mistyped argument (-a mod=full) would otherwise be ignored without a word.
            raise ValueError(
                f"unknown spider argument -a {unknown[0]}=…: expected mode, source, since or until"
            )
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"-a mode={mode!r}: expected one of {', '.join(self.MODES)}")
        if source not in self.SOURCES:
            raise ValueError(f"-a source={source!r}: expected one of {', '.join(self.SOURCES)}")
        self.requested_mode = self.mode = mode
        self.source = source
        self.since, self.until = _window_date("since", since), _window_date("until", until)
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"-a since={since} is after -a until={until}")
        self.listing_entries: dict[int, ListingEntry] = {}
        # What the crawl remembers of every article and listing page till it ends, packed
        # (sadec_crawler.compact): as plain sets and dicts these were ~11 MB of the 20,064-article
        # crawl's peak (sets of 20,000 ints are 2 MB hash tables each), ~1 MB at 2,000 articles.
        self.requested_assets = IntSet()
        self.emitted_assets = IntSet()
        self.requested_listing_pages = DigestSet()  # repr() of listing_key tuples
        self.listing_signatures: dict[tuple[str, str], set[int]] = {}
        self.deferred_related: dict[int, FoundArticleLink] = {}
        self.archive = incremental.ArchiveState()
        self.recheck_ids: set[int] = set()
        self.listing_overlap: dict[tuple[str, str], int] = {}
        self.swept_known = False
        self.listed_new = IntSet()  # asset ids, and the URLs of entries not identified
        self.portal_key: str | None = None
        """The registered portal this crawl archives, when it is one (hand-offs need it)."""
        self.portal_links: handoffs.PortalLinks | None = None
        self.handed_off: set[tuple[str, str]] = set()  # (url, to_portal) yielded this run
        self.taken_handoffs: set[str] = set()  # URLs handed to this portal, requested this run
        # Scrapy reads each callback's source (inspect + ast) to warn about generators that
        # return a value, and caches the answer under a weak reference to the callback: a
        # bound method made afresh for each request dies with it, so the cache never hit and
        # the check cost 8% of a crawl's CPU (cProfile of a 364-article crawl). One bound
        # method per callback, kept for the spider's life, keeps the answer cached.
        self.parse_home = self.parse_home
        self.parse_listing = self.parse_listing
        self.parse_article = self.parse_article

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        base_url = crawler.settings.get("SADEC_BASE_URL", "").rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"SADEC_BASE_URL={base_url!r} is not an http(s) URL")
        if parts.username or parts.password:
            # Never used by the portal, but stored in crawl_runs, errors and every WARC file.
            shown = base_url.replace(parts.netloc, parts.netloc.rpartition("@")[2])
            raise ValueError(
                f"SADEC_BASE_URL={shown!r} with a user name or password: the portal needs "
                "none, and the archive would keep it; give the URL without them"
            )
        spider.base_url = base_url
        spider.url_titles = UrlTitles(base_url)
        spider.allowed_domains = [parts.hostname]
        spider._plan(crawler.settings)
        spider._plan_handoffs(crawler)
        # Started now, so that its interpreter starts while the crawl does.
        page_worker.for_crawler(crawler)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    def _plan(self, settings) -> None:
        """Read the archive and decide what this run re-checks (incremental.plan_run)."""
        plan = incremental.plan_run(settings, self.mode)
        self.archive, self.now, self.mode = plan.archive, plan.now, plan.mode
        self.conditional, self.recheck_ids = plan.conditional, plan.recheck_ids
        self.overlap_pages = settings.getint("SADEC_LISTING_OVERLAP", 1)
        self.max_listing_pages = settings.getint("SADEC_MAX_LISTING_PAGES", 1000)
        self.max_links_per_page = settings.getint("SADEC_MAX_LINKS_PER_PAGE", 2000)
        self.bounded_listings: set[tuple[str, str]] = set()
        self.stated_last_pages: dict[tuple[str, str], int] = {}
        for known in self.archive.articles.values():
            for slug in filter(None, (known.url_title, known.title and slugify(known.title))):
                self.url_titles.learn(slug, known.asset_id)
        for line in plan.notes:
            self.logger.info(line)

    def _plan_handoffs(self, crawler) -> None:
        """Links to other registered portals are handed to them (sadec_crawler.handoffs), and
        links handed to this one are taken, when this crawl is of a registered portal's live
        site. With ``-a portals=`` the crawlers of the process wait for each other at the end,
        so that a link found late by one is still taken by another in the same run."""
        if self.source != "live":
            return  # a capture's links are found through the web archive's index
        settings = crawler.settings
        registry = registry_for(settings)
        key = settings.get("SADEC_PORTAL")
        own = registry.get(key) if key else registry.for_url(self.base_url + "/")
        if own is None:
            return
        self.portal_key = own.key
        self.portal_links = handoffs.PortalLinks(registry, own)
        if key:
            # Counted from the spider's opening, not its making: a crawler that failed to open
            # never closes, and the others would wait for it for ever.
            crawler.signals.connect(self._crawl_started, signal=signals.spider_opened)
            crawler.signals.connect(self._crawl_finished, signal=signals.spider_closed)

    def _crawl_started(self, spider=None) -> None:
        handoffs.crawler_started(self.portal_key)

    def _crawl_finished(self, spider=None, reason: str = "") -> None:
        handoffs.crawler_finished(self.portal_key)

    async def start(self):
        if self.source == "wayback":
            # The web archive's captures, not the portal (sadec_crawler.wayback.run).
            self.wayback = WaybackRun(self)
            self.crawler.sadec_wayback = self.wayback
            for output in self.wayback.start_requests():
                yield output
            return
        yield Request(
            f"{self.base_url}/",
            callback=self.parse_home,
            errback=self.on_error,
            priority=PRIORITY_HOME,
        )
        for asset_id in sorted(self.recheck_ids):
            known = self.archive.articles[asset_id]
            self.requested_assets.add(asset_id)
            yield self._known_article_request(known, PRIORITY_ENTRY)
        step = self._handoffs_step()
        if step is not None:
            yield step

    def _known_article_request(self, known: incremental.KnownArticle, priority: int) -> Request:
        """A conditional request for an archived article: 304 when it has not changed."""
        headers = {}
        if self.conditional and known.etag:
            headers["If-None-Match"] = known.etag
        if self.conditional and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        return Request(
            known.url,
            headers=headers,
            callback=self.parse_article,
            errback=self.on_error,
            priority=priority,
            cb_kwargs={"asset_id": known.asset_id},
            meta={"handle_httpstatus_list": [304, 404, 410]},
        )

    # --- Discovery -----------------------------------------------------------------------
    async def parse_home(self, response):
        if not isinstance(response, TextResponse):
            yield CrawlError(response.url, "not_html", "home page is not HTML")
            return
        page = await self._read_listing(response)
        if self._error_page(response, page):
            for item in self._after_soft_404(response):
                yield item
            return
        self.crawler.stats.inc_value("sadec/pages/home")
        for url in discovery_links(response.text, response.url, self.base_url):
            if repr(listing_key(url)) in self.requested_listing_pages:
                continue
            if self.portal_links is not None and self.portal_links.is_nested_elsewhere(url):
                continue  # a site under /web/<site> of this host: handed to it, not walked
            if self.mode == "incremental" and url in self.archive.other_pages:
                continue  # held no listing last time; full runs look again
            self.requested_listing_pages.add(repr(listing_key(url)))
            yield Request(
                url, callback=self.parse_listing, errback=self.on_error, priority=PRIORITY_LISTING
            )
        async for item in self._parse_listing(response, page, from_home=True):
            yield item

    async def _read_listing(self, response) -> ListingPage:
        """:func:`pages.extract_listing` of the page, by the page worker when there is one."""
        worker = page_worker.for_crawler(self.crawler)
        if worker is not None and worker.gone is None:
            try:
                return await worker.listing(response.text, response.url, self.base_url)
            except page_worker.PageWorkerGone:
                pass  # logged once by the worker; this page and the next are read here
        return extract_listing(response.text, response.url, self.base_url)

    async def parse_listing(self, response):
        if not isinstance(response, TextResponse):
            return
        page = await self._read_listing(response)
        if self._error_page(response, page):
            for item in self._after_soft_404(response):
                yield item
            return
        async for item in self._parse_listing(response, page):
            yield item

    async def _parse_listing(self, response, page: ListingPage, from_home: bool = False):
        stats = self.crawler.stats
        for url, message in page.errors:
            self.logger.error("listing entry not read on %s: %s", response.url, message)
            yield CrawlError(url, "parse_error", f"listing entry on {response.url}: {message}")
        if not from_home:
            stats.inc_value("sadec/pages/listing" if page.is_listing else "sadec/pages/other")
        for item in self._hand_off(response.text, response.url):
            yield item
        if not from_home and listing_key(response.url)[2] == 1:
            yield SitePage(response.request.url, "listing" if page.is_listing else "other")
        follow_pages = self._new_listing_content(response.url, page.entries)
        unknown_entries = 0
        for entry in page.entries:
            identified = self.url_titles.identify(entry)
            if identified is None or identified.asset_id not in self.archive.articles:
                unknown_entries += 1
                self.listed_new.add(identified.asset_id if identified else entry.url)
            if identified is None:
                continue
            entry = identified
            known = self.listing_entries.get(entry.asset_id)
            if known is None:
                self.listing_entries[entry.asset_id] = entry
            else:
                known.date_raw = known.date_raw or entry.date_raw
                known.summary = known.summary or entry.summary
                if not from_home and self._is_home(known.listing_url):
                    known.listing_url = entry.listing_url  # the category page, not "latest news"
            if entry.asset_id in self.emitted_assets and (entry.date_raw or entry.summary):
                # The article went through the pipelines before its listing entry was seen.
                yield entry
        stats.set_value("sadec/listing/entries_new", len(self.listed_new))
        if follow_pages:
            to_follow = self._pages_to_follow(response.url, page, unknown_entries)
            to_follow, bound_error = self._within_listing_bounds(response.url, page, to_follow)
            if bound_error:
                yield bound_error
            for url in to_follow:
                key = repr(listing_key(url))
                if key not in self.requested_listing_pages:
                    self.requested_listing_pages.add(key)
                    yield Request(
                        url,
                        callback=self.parse_listing,
                        errback=self.on_error,
                        priority=PRIORITY_LISTING,
                    )
        entries = {entry.asset_id: entry for entry in page.entries}
        article_links, bound_error = self._within_link_bound(response.url, page.article_links)
        if bound_error:
            yield bound_error
        for link in article_links:
            entry = entries.get(link.asset_id)
            if entry is None:
                if self.since or self.until:
                    continue  # a dated window follows listings only
                for request in self._article_request(link, PRIORITY_RELATED):
                    yield request
            elif self._in_window(entry):
                moved = not from_home and self._moved_listing(entry, response.url)
                # Home page entries wait for the category listings, which say more (dates).
                priority = PRIORITY_ENTRY if from_home else PRIORITY_LISTED
                for request in self._article_request(link, priority, recheck=moved):
                    yield request

    def _moved_listing(self, entry: ListingEntry, listing_url: str) -> bool:
        """An archived article now listed under another category page: re-check it, its
        category has probably changed."""
        known = self.archive.articles.get(entry.asset_id)
        if known is None or self._is_home(known.listing_url) or self.mode != "incremental":
            return False
        return listing_key(known.listing_url)[0] != listing_key(listing_url)[0]

    def _is_home(self, url: str | None) -> bool:
        return not url or listing_key(url)[0] == "/"

    def _in_window(self, entry: ListingEntry) -> bool:
        if not (self.since or self.until):
            return True
        parsed = parse_date(entry.date_raw)
        return incremental.within_window(
            parsed.date.isoformat() if parsed else None, self.since, self.until
        )

    def _pages_to_follow(self, url: str, page, unknown_entries: int) -> list[str]:
        """Which pages of this listing to fetch next.

        A full run follows every page link (the lexicon dropdown lists them all at once). An
        incremental run steps to the next page only while pages still show articles not yet
        archived, plus ``SADEC_LISTING_OVERLAP`` pages of already-archived ones. A dated window
        stops at the first page whose entries are all older than ``since``.
        """
        path, namespace, number = listing_key(url)
        if self.since:
            dates = [parse_date(e.date_raw) for e in page.entries]
            dated = [d.date for d in dates if d]
            if dated and max(dated) < self.since:
                return []
        if self.mode == "full":
            return page.page_links
        listing = (path, namespace or self._namespace_of(page.page_links))
        if unknown_entries:
            self.listing_overlap[listing] = self.overlap_pages
        else:
            remaining = self.listing_overlap.get(listing, self.overlap_pages)
            if remaining <= 0:
                return []
            self.listing_overlap[listing] = remaining - 1
        return [link for link in page.page_links if listing_key(link)[2] == number + 1]

    def _within_listing_bounds(self, url: str, page, links: list[str]):
        """``links`` (pages of this listing) cut to the listing's bound: the last page its pager
        states, else ``SADEC_MAX_LISTING_PAGES``. A listing whose pagination goes past it gets
        one ``run_bound`` error (red-team finding 7: a pager that never ended invented 16,695
        articles in 3 minutes)."""
        path, namespace, _ = listing_key(url)
        listing = (path, namespace or self._namespace_of(page.page_links))
        if page.last_page:
            stated = max(page.last_page, self.stated_last_pages.get(listing, 0))
            self.stated_last_pages[listing] = stated
        stated = self.stated_last_pages.get(listing)
        bound = min(stated or self.max_listing_pages, self.max_listing_pages)
        kept = [link for link in links if listing_key(link)[2] <= bound]
        if len(kept) == len(links) or listing in self.bounded_listings:
            return kept, None
        self.bounded_listings.add(listing)
        beyond = min(listing_key(link)[2] for link in links if listing_key(link)[2] > bound)
        why = (
            f"its pager states {stated} pages"
            if stated and stated <= self.max_listing_pages
            else f"SADEC_MAX_LISTING_PAGES={self.max_listing_pages}"
        )
        message = f"listing {path} links to page {beyond}, past its last page ({why}): not followed"
        self.logger.error("%s (on %s)", message, url)
        self.crawler.stats.inc_value("sadec/bounds/listings")
        return kept, CrawlError(url, "run_bound", message)

    def _within_link_bound(self, url: str, links: list):
        """The first ``SADEC_MAX_LINKS_PER_PAGE`` article links of a page; past that, one
        ``run_bound`` error (a news page has dozens; one of 100,000 links made 26,311 requests
        in 4 minutes)."""
        distinct = list({(link.canonical or link.url): link for link in links}.values())
        if len(distinct) <= self.max_links_per_page:
            return links, None
        message = (
            f"{len(distinct)} article links on one page, past SADEC_MAX_LINKS_PER_PAGE="
            f"{self.max_links_per_page}: only the first {self.max_links_per_page} followed"
        )
        self.logger.error("%s (%s)", message, url)
        self.crawler.stats.inc_value("sadec/bounds/pages")
        return distinct[: self.max_links_per_page], CrawlError(url, "run_bound", message)

    @staticmethod
    def _namespace_of(page_links: list[str]) -> str:
        return next((listing_key(link)[1] for link in page_links if listing_key(link)[1]), "")

    def _new_listing_content(self, url: str, entries: list[ListingEntry]) -> bool:
        """False when this page repeats a page already seen of the same listing: Liferay
        answers a ``_cur`` past the end with the last page again (site-spec §3)."""
        path, namespace, _ = listing_key(url)
        # A hash stands for the page's list of entries: the set lives as long as the crawl.
        signature = hash(tuple(entry.url for entry in entries)) if entries else None
        seen = self.listing_signatures.setdefault((path, namespace), set())
        if signature is not None and signature in seen:
            self.logger.debug("listing page %s repeats an earlier page: end of listing", url)
            return False
        seen.add(signature)
        return True

    def _article_request(
        self, link: FoundArticleLink, priority: int, recheck: bool = False, defer: bool = True
    ):
        if link.asset_id is None:
            # url-title links cannot be told apart from id links before fetching: keep them
            # for the end of the crawl and fetch only those that name no article seen by then.
            if link.url_title:
                self.url_titles.link_seen(link.url_title, link.url)
            return
        if link.asset_id in self.requested_assets:
            return
        if self.portal_links is not None and self.portal_links.is_nested_elsewhere(link.url):
            return  # an article of a site under /web/<site> of this host: handed to it
        known = self.archive.articles.get(link.asset_id)
        if known is not None and self.mode == "incremental" and not known.gone_at and not recheck:
            return  # archived, and neither recent nor due for re-validation
        if defer and priority == PRIORITY_RELATED:
            # From a related block or a sidebar: such articles mostly turn up on a listing page
            # soon after (fetched then, with their entry); the rest are fetched once the crawl
            # has nothing else to do. Requested at once, they waited in memory till then.
            self.deferred_related.setdefault(link.asset_id, link)
            return
        self.requested_assets.add(link.asset_id)
        self.deferred_related.pop(link.asset_id, None)
        if known is not None:
            yield self._known_article_request(known, priority)
            return
        yield Request(
            link.canonical,
            callback=self.parse_article,
            errback=self.on_error,
            priority=priority,
            cb_kwargs={"asset_id": link.asset_id},
        )

    def on_idle(self):
        if self.source == "wayback":
            self.wayback.on_idle()  # never a request to the live portal
            return
        # One stage per idle: the deferred related articles first, as they teach titles that
        # url-title links are matched against, and requested_assets the sweep relies on.
        stages = (
            self._schedule_related,
            self._schedule_url_titles,
            self._schedule_handoffs,
            self._sweep_known_articles,
        )
        for stage in stages:
            if stage():
                if self.portal_key:
                    handoffs.set_busy(self.portal_key, True)
                raise DontCloseSpider
        if self.portal_key:
            handoffs.set_busy(self.portal_key, False)
            if handoffs.others_busy(self.portal_key):
                # Another portal's crawler may yet hand this one a link: Scrapy asks again
                # at its next heartbeat (5 s), when the hand-offs are looked for once more.
                raise DontCloseSpider

    def _schedule_related(self) -> int:
        """Fetch the articles only related blocks and sidebars led to (see _article_request)."""
        links, self.deferred_related = self.deferred_related, {}
        scheduled = 0
        for _, link in sorted(links.items()):
            for request in self._article_request(link, PRIORITY_RELATED, defer=False):
                self.crawler.engine.crawl(request)
                scheduled += 1
        return scheduled

    def _schedule_handoffs(self) -> int:
        """Take the links other portals have handed to this one since it last looked."""
        step = self._handoffs_step()
        if step is None:
            return 0
        self.crawler.engine.crawl(step)
        return 1

    def _handoffs_step(self) -> Request | None:
        """A request that fetches nothing (``data:``), whose callback takes the links handed
        to this portal and not yet taken (read from the archive, read-only): the spider writes
        nothing itself, and only a callback's items reach the pipelines."""
        if self.portal_key is None:
            return None
        pending = [
            handoff
            for handoff in handoffs.pending_handoffs(
                self.settings["SADEC_DB_PATH"], self.portal_key
            )
            if handoff.url not in self.taken_handoffs
        ]
        if not pending:
            return None
        self.taken_handoffs.update(handoff.url for handoff in pending)
        return step_request(self.take_handoffs, {"pending": pending})

    def take_handoffs(self, response, pending: list[handoffs.Handoff]):
        """Request each handed link as this portal's own: an article by its canonical URL and
        asset id (or its url-title), any other page as a page that may hold a listing; each
        hand-off is then marked handled (an article already archived needs no request)."""
        self.logger.info(
            "taking %d links other portals handed to %s", len(pending), self.portal_key
        )
        self.crawler.stats.inc_value("sadec/handoffs/taken", len(pending))
        for handoff in pending:
            yield HandoffTaken(handoff.url, self.portal_key)
            if handoff.kind == handoffs.ARTICLE:
                link = parse_article_link(handoff.url)
                found = FoundArticleLink(
                    handoff.url,
                    handoff.url if handoff.asset_id else None,
                    handoff.asset_id,
                    link.url_title if link else None,
                )
                yield from self._article_request(found, PRIORITY_RELATED, defer=False)
                continue
            key = repr(listing_key(handoff.url))
            if key not in self.requested_listing_pages:
                self.requested_listing_pages.add(key)
                yield Request(
                    handoff.url,
                    callback=self.parse_listing,
                    errback=self.on_error,
                    priority=PRIORITY_LISTING,
                )

    def _hand_off(self, text: str, page_url: str):
        """A hand-off for each link of the page to another registered portal, once a run."""
        if self.portal_links is None:
            return
        for handoff in self.portal_links.handoffs(text, page_url):
            key = (handoff.url, handoff.to_portal)
            if key not in self.handed_off:
                self.handed_off.add(key)
                self.crawler.stats.inc_value("sadec/handoffs/found")
                yield handoff

    def _sweep_known_articles(self) -> int:
        """A full run ends by checking the archived articles it was not led to: the site no
        longer links them, and a 404 or an error page then tells that they are gone."""
        if self.mode != "full" or self.swept_known or self.since or self.until:
            return 0
        self.swept_known = True
        missed = [
            known
            for asset_id, known in sorted(self.archive.articles.items())
            if asset_id not in self.requested_assets and not known.gone_at
        ]
        for known in missed:
            self.requested_assets.add(known.asset_id)
            self.crawler.engine.crawl(self._known_article_request(known, PRIORITY_RELATED))
        if missed:
            self.logger.info("checking %d archived articles no page links to", len(missed))
        return len(missed)

    def _schedule_url_titles(self) -> int:
        unknown = self.url_titles.unresolved()
        for url in unknown:
            self.crawler.engine.crawl(
                Request(
                    url,
                    callback=self.parse_article,
                    errback=self.on_error,
                    cb_kwargs={"asset_id": None},
                )
            )
        return len(unknown)

    # --- Articles ------------------------------------------------------------------------
    async def parse_article(self, response, asset_id: int | None):
        known = self.archive.articles.get(asset_id) if asset_id else None
        if response.status == 304 and known:
            self.crawler.stats.inc_value("sadec/pages/not_modified")
            yield ArticleUnchanged(known.url)
            return
        if response.status in (404, 410):
            if known:
                yield ArticleGone(known.url, f"http_{response.status}")
            else:
                yield CrawlError(response.url, f"http_{response.status}", f"HTTP {response.status}")
            return
        if not isinstance(response, TextResponse):
            yield CrawlError(
                response.url, "not_html", f"article is {response.headers.get('Content-Type')!r}"
            )
            return
        self.crawler.stats.inc_value("sadec/pages/article")
        page, facts = await self._read_article_page(response)
        if facts.error_page:
            for item in self._after_soft_404(response, known):
                yield item
            return
        for item in self._hand_off(response.text, response.url):
            yield item
        link = parse_article_link(response.url)
        if asset_id is None:
            asset_id = facts.asset_id
            if asset_id is None:
                yield CrawlError(response.url, "not_an_article", "no asset id on the page")
                return
            if asset_id in self.requested_assets:
                return
            self.requested_assets.add(asset_id)
        instance = link.instance if link else "1mOzUrGkrdAE"
        title = facts.title
        listing = self.listing_entries.get(asset_id)
        # Listing entries linked by url-title wait under that url-title (Liferay's own, which
        # may be percent-encoded) or under the slug of the title they show.
        url_title = link.url_title if link else None
        for slug in filter(None, (url_title, slugify(title) if title else None)):
            self.url_titles.learn(slug, asset_id)
            by_slug = self.url_titles.waiting_entry(slug)
            if listing is None and by_slug is not None:
                by_slug.asset_id = asset_id
                by_slug.url = canonical_article_url(self.base_url, instance, asset_id)
                listing = self.listing_entries[asset_id] = by_slug
        self.emitted_assets.add(asset_id)
        # The page carries its entry from here; one seen later is merged by storage.
        self.listing_entries.pop(asset_id, None)
        article = ArticlePage(
            url=canonical_article_url(self.base_url, instance, asset_id),
            asset_id=asset_id,
            fetched_url=response.url,
            http_status=response.status,
            fetched_at=utc_now(),
            html=response.text,
            listing=listing,
            source=self.source,
            capture=response.meta.get("sadec_capture"),
            etag=_header(response, "ETag"),
            last_modified=_header(response, "Last-Modified"),
            url_title=url_title,
            parsed=page,
        )
        later_pages = facts.later_pages
        yield self._continuation(article, later_pages) if later_pages else article
        related, bound_error = self._within_link_bound(response.url, facts.article_links)
        if bound_error:
            yield bound_error
        for found in related:
            for request in self._article_request(found, PRIORITY_RELATED):
                yield request

    async def _read_article_page(self, response) -> tuple[Selector | None, ArticlePageFacts]:
        """The facts of an article page, read by the page worker when there is one (the page
        then stays there for cleaning; None here), else here: parsed once, and handed to the
        cleaning pipeline with the page (read-only, as nothing is dropped from an article
        page's tree: see parse_html)."""
        worker = page_worker.for_crawler(self.crawler)
        if worker is not None and worker.gone is None:
            try:
                facts = await worker.facts(_utf8_body(response), response.url, self.base_url)
                return None, facts
            except page_worker.PageWorkerGone:
                pass  # logged once by the worker; this page and the next are read here
        page = parse_html(_utf8_body(response), read_only=True)
        return page, read_article_page(page, response.url, self.base_url)

    def _continuation(self, article: ArticlePage, later_pages: list[str]) -> Request:
        """The request for the next page of a multi-page article; the article goes on to the
        pipelines once its last page is read."""
        return Request(
            later_pages[0],
            callback=self.parse_continuation,
            errback=self.on_continuation_error,
            cb_kwargs={"article": article, "later_pages": later_pages[1:]},
            priority=PRIORITY_LISTED,
            dont_filter=True,  # the same asset as page 1, by another URL of its own
        )

    def parse_continuation(self, response, article: ArticlePage, later_pages: list[str]):
        if not isinstance(response, TextResponse):
            content_type = response.headers.get("Content-Type")
            yield CrawlError(response.url, "not_html", f"article page is {content_type!r}")
            return
        article.continuation_html.append(response.text)
        yield self._continuation(article, later_pages) if later_pages else article

    def on_continuation_error(self, failure):
        """A later page that could not be read: the article is not stored incomplete; the
        failure is an error of the run, and the next run fetches the article again."""
        yield from self.on_error(failure)

    @staticmethod
    def _error_page(response, page) -> bool:
        """A home, listing or menu page answered with an error page and status 200. Headings
        only, and never a page that lists articles: a static page's text may well say "404"."""
        if page.is_listing:
            return False
        headings = response.css("title::text, h1::text, h2::text, h3::text").getall()
        text = " ".join(headings).lower()
        return any(marker in text for marker in SOFT_404_MARKERS)

    def _after_soft_404(self, response, known: incremental.KnownArticle | None = None):
        """An error page served with 200 is retried like a 5xx (a loaded portal answers so for
        a moment too). Once retries are used up, an archived article is gone, and any other page
        is an error of the run: never an empty article, never a silently empty listing."""
        retry = get_retry_request(response.request, spider=self, reason="soft_404")
        if retry is not None:
            yield retry
        elif known is not None:
            yield ArticleGone(known.url, "soft_404")
        else:
            self.logger.warning("could not fetch %s: an error page (soft 404)", response.url)
            yield CrawlError(response.url, "soft_404", "an error page answered with status 200")

    # --- Failures ------------------------------------------------------------------------
    def on_error(self, failure):
        fetch = describe_failure(failure, self.settings.getint("REDIRECT_MAX_TIMES"))
        if fetch is None:
            # robots.txt and off-site rules: the crawl chose not to fetch, nothing failed.
            self.logger.debug("not fetched: %s (%s)", failure.request.url, failure.value)
            return
        self.logger.warning("could not fetch %s: %s", fetch.url, fetch.message)
        yield CrawlError(fetch.url, fetch.kind, fetch.message)

"""``scrapy crawl sadec``: every news article of the Sa Đéc portal.

Discovery walks the site as a reader would (site-spec §2: listing URLs are not known in
advance): the home page's menus lead to category listings, every page of their pagination
(Liferay 7 and 6.2 styles) leads to articles, and each article's related block leads to more.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Request, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from sadec_crawler.items import ArticlePage, CrawlError, ListingEntry
from sadec_crawler.pages import (
    FoundArticleLink,
    discovery_links,
    extract_listing,
    find_article_links,
)
from sadec_crawler.textnorm import clean_inline, slugify
from sadec_crawler.urls import canonical_article_url, listing_key, parse_article_link

# Listings first so articles usually arrive after their listing entry; related links last.
PRIORITY_HOME, PRIORITY_LISTING, PRIORITY_ENTRY, PRIORITY_RELATED = 100, 50, 10, 0


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SadecSpider(scrapy.Spider):
    name = "sadec"
    MODES = ("full",)
    SOURCES = ("live",)

    def __init__(self, mode: str = "full", source: str = "live", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"-a mode={mode!r}: expected one of {', '.join(self.MODES)}")
        if source not in self.SOURCES:
            raise ValueError(f"-a source={source!r}: expected one of {', '.join(self.SOURCES)}")
        self.mode, self.source = mode, source
        self.listing_entries: dict[int, ListingEntry] = {}
        self.requested_assets: set[int] = set()
        self.emitted_assets: set[int] = set()
        self.requested_listing_pages: set[tuple[str, str, int]] = set()
        self.listing_signatures: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        self.pending_url_titles: dict[str, str] = {}
        self.slug_to_asset: dict[str, int] = {}
        self.entries_by_slug: dict[str, ListingEntry] = {}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        base_url = crawler.settings.get("SADEC_BASE_URL", "").rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"SADEC_BASE_URL={base_url!r} is not an http(s) URL")
        spider.base_url = base_url
        spider.allowed_domains = [parts.hostname]
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    async def start(self):
        yield Request(
            f"{self.base_url}/",
            callback=self.parse_home,
            errback=self.on_error,
            priority=PRIORITY_HOME,
        )

    # --- Discovery -----------------------------------------------------------------------
    def parse_home(self, response):
        if not isinstance(response, TextResponse):
            yield CrawlError(response.url, "not_html", "home page is not HTML")
            return
        self.crawler.stats.inc_value("sadec/pages/home")
        for url in discovery_links(response.text, response.url, self.base_url):
            if listing_key(url) in self.requested_listing_pages:
                continue
            self.requested_listing_pages.add(listing_key(url))
            yield Request(
                url, callback=self.parse_listing, errback=self.on_error, priority=PRIORITY_LISTING
            )
        yield from self.parse_listing(response, from_home=True)

    def parse_listing(self, response, from_home: bool = False):
        if not isinstance(response, TextResponse):
            return
        page = extract_listing(response.text, response.url, self.base_url)
        stats = self.crawler.stats
        if page.is_listing:
            stats.inc_value("sadec/pages/listing")
        elif not from_home:
            stats.inc_value("sadec/pages/other")
        follow_pages = self._new_listing_content(response.url, page.entries)
        for entry in page.entries:
            entry = self._identify(entry)
            if entry is None:
                continue
            known = self.listing_entries.get(entry.asset_id)
            if known is None:
                self.listing_entries[entry.asset_id] = entry
            else:
                known.date_raw = known.date_raw or entry.date_raw
                known.summary = known.summary or entry.summary
            if entry.asset_id in self.emitted_assets and (entry.date_raw or entry.summary):
                # The article went through the pipelines before its listing entry was seen.
                yield entry
        if follow_pages:
            for url in page.page_links:
                key = listing_key(url)
                if key not in self.requested_listing_pages:
                    self.requested_listing_pages.add(key)
                    yield Request(
                        url,
                        callback=self.parse_listing,
                        errback=self.on_error,
                        priority=PRIORITY_LISTING,
                    )
        entry_ids = {entry.asset_id for entry in page.entries}
        for link in page.article_links:
            priority = PRIORITY_ENTRY if link.asset_id in entry_ids else PRIORITY_RELATED
            yield from self._article_request(link, priority)

    def _identify(self, entry: ListingEntry) -> ListingEntry | None:
        """Give an entry its asset id. Entries linked by url-title carry none: they are matched
        by title slug to an article seen so far, or kept aside until one is."""
        if entry.title:
            slug = slugify(entry.title)
            if entry.asset_id:
                self.slug_to_asset.setdefault(slug, entry.asset_id)
        if entry.asset_id:
            return entry
        link = parse_article_link(entry.url)
        url_title = link.url_title if link else None
        asset_id = self.slug_to_asset.get(url_title) if url_title else None
        if asset_id is None:
            if url_title:
                self.entries_by_slug[url_title] = entry
            return None
        entry.asset_id = asset_id
        entry.url = canonical_article_url(self.base_url, link.instance, asset_id)
        return entry

    def _new_listing_content(self, url: str, entries: list[ListingEntry]) -> bool:
        """False when this page repeats a page already seen of the same listing: Liferay
        answers a ``_cur`` past the end with the last page again (site-spec §3)."""
        path, namespace, _ = listing_key(url)
        signature = tuple(entry.url for entry in entries)
        seen = self.listing_signatures.setdefault((path, namespace), set())
        if signature and signature in seen:
            self.logger.debug("listing page %s repeats an earlier page: end of listing", url)
            return False
        seen.add(signature)
        return True

    def _article_request(self, link: FoundArticleLink, priority: int):
        if link.asset_id is None:
            # url-title links cannot be told apart from id links before fetching: keep them
            # for the end of the crawl and fetch only those that name no article seen by then.
            if link.url_title:
                self.pending_url_titles.setdefault(link.url_title, link.url)
            return
        if link.asset_id in self.requested_assets:
            return
        self.requested_assets.add(link.asset_id)
        yield Request(
            link.canonical,
            callback=self.parse_article,
            errback=self.on_error,
            priority=priority,
            cb_kwargs={"asset_id": link.asset_id},
        )

    def on_idle(self):
        unknown = {
            title: url
            for title, url in self.pending_url_titles.items()
            if title not in self.slug_to_asset
        }
        self.pending_url_titles.clear()
        if not unknown:
            return
        for url in unknown.values():
            self.crawler.engine.crawl(
                Request(
                    url,
                    callback=self.parse_article,
                    errback=self.on_error,
                    cb_kwargs={"asset_id": None},
                )
            )
        raise DontCloseSpider

    # --- Articles ------------------------------------------------------------------------
    def parse_article(self, response, asset_id: int | None):
        if not isinstance(response, TextResponse):
            yield CrawlError(
                response.url, "not_html", f"article is {response.headers.get('Content-Type')!r}"
            )
            return
        self.crawler.stats.inc_value("sadec/pages/article")
        page = response.selector
        link = parse_article_link(response.url)
        if asset_id is None:
            anchor = page.css("span.asset-anchor::attr(id)").get()
            if not (anchor and anchor.isdigit()):
                yield CrawlError(response.url, "not_an_article", "no asset id on the page")
                return
            asset_id = int(anchor)
            if asset_id in self.requested_assets:
                return
            self.requested_assets.add(asset_id)
        instance = link.instance if link else "1mOzUrGkrdAE"
        title = clean_inline(
            page.css(".journal-content-article::attr(data-analytics-asset-title)").get()
            or page.css(".asset-title::text").get()
        )
        listing = self.listing_entries.get(asset_id)
        if title:
            slug = slugify(title)
            self.slug_to_asset.setdefault(slug, asset_id)
            by_slug = self.entries_by_slug.pop(slug, None)
            if listing is None and by_slug is not None:
                by_slug.asset_id = asset_id
                by_slug.url = canonical_article_url(self.base_url, instance, asset_id)
                listing = self.listing_entries[asset_id] = by_slug
        self.emitted_assets.add(asset_id)
        yield ArticlePage(
            url=canonical_article_url(self.base_url, instance, asset_id),
            asset_id=asset_id,
            fetched_url=response.url,
            http_status=response.status,
            fetched_at=utc_now(),
            html=response.text,
            listing=listing,
            source=self.source,
            capture=response.meta.get("sadec_capture"),
        )
        for found in find_article_links(page, response.url, self.base_url):
            yield from self._article_request(found, PRIORITY_RELATED)

    # --- Failures ------------------------------------------------------------------------
    def on_error(self, failure):
        request = failure.request
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            # robots.txt and off-site rules: the crawl chose not to fetch, nothing failed.
            self.logger.debug("not fetched: %s (%s)", request.url, failure.value)
            return
        if failure.check(HttpError):
            status = failure.value.response.status
            kind, message = f"http_{status}", f"HTTP {status}"
        elif failure.check(TimeoutError, TCPTimedOutError):
            kind, message = "timeout", "timed out after retries"
        elif failure.check(DNSLookupError):
            kind, message = "dns", "host name not found"
        else:
            kind, message = failure.type.__name__, str(failure.value)[:300]
        self.logger.warning("could not fetch %s: %s", request.url, message)
        yield CrawlError(request.url, kind, message)

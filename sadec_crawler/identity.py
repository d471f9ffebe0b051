"""Which article a url-title names.

Liferay links an article by its asset id (``…/content/id/<n>``) or by its url-title
(``…/content/<url-title>``), and only the article page tells which id a url-title stands for.
The crawl learns url-titles (and the slugs of titles, which url-titles follow) from every
article it reads, matches url-title listing entries and links against them, and fetches at
the end only the url-titles that name no article seen by then.
"""

from __future__ import annotations

from .compact import StrIntMap
from .items import ListingEntry
from .textnorm import slugify
from .urls import canonical_article_url, parse_article_link


class UrlTitles:
    """The url-titles and title slugs learnt so far, and what waits on them."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.asset_of = StrIntMap()
        """url-title or title slug → asset id."""
        self.waiting_entries: dict[str, ListingEntry] = {}
        """Listing entries linked by a url-title not matched yet."""
        self.pending_links: dict[str, str] = {}
        """url-title → a URL to fetch it by, should no article seen name it."""

    def learn(self, slug: str, asset_id: int) -> None:
        self.asset_of.setdefault(slug, asset_id)
        # A url-title named by an article seen is never fetched at the end: not kept till
        # then either (7,700 of them, 2.8 MB, at the end of 20,064 articles).
        self.pending_links.pop(slug, None)

    def knows(self, url_title: str) -> bool:
        return url_title in self.asset_of

    def identify(self, entry: ListingEntry) -> ListingEntry | None:
        """Give an entry its asset id. Entries linked by url-title carry none: they are matched
        by title slug to an article seen so far, or kept aside until one is."""
        if entry.title and entry.asset_id:
            self.learn(slugify(entry.title), entry.asset_id)
        if entry.asset_id:
            return entry
        link = parse_article_link(entry.url)
        url_title = link.url_title if link else None
        asset_id = self.asset_of.get(url_title) if url_title else None
        if asset_id is None:
            if url_title:
                self.waiting_entries[url_title] = entry
            return None
        entry.asset_id = asset_id
        entry.url = canonical_article_url(self.base_url, link.instance, asset_id)
        return entry

    def waiting_entry(self, slug: str) -> ListingEntry | None:
        """The listing entry that waited on ``slug``, taken."""
        return self.waiting_entries.pop(slug, None)

    def link_seen(self, url_title: str, url: str) -> None:
        """A link by url-title: fetched at the end unless an article seen names it."""
        if not self.knows(url_title):
            self.pending_links.setdefault(url_title, url)

    def unresolved(self) -> list[str]:
        """URLs of the url-titles no article seen names (each once; forgotten after)."""
        urls = [url for title, url in self.pending_links.items() if not self.knows(title)]
        self.pending_links.clear()
        return urls

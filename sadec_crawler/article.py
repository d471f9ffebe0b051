"""From a fetched article page to a clean :class:`~sadec_crawler.items.Article` (pure)."""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager

from .body import clean_body, join_bodies
from .dates import choose_published
from .items import Article, ArticlePage
from .pages import extract_article
from .textnorm import clean_inline
from .units import default_authority

_UNIT_PREFIX = re.compile(r"^[A-Za-z]{1,5}_\s*")


class NotAnArticle(ValueError):
    """The page has none of the article structure the selectors know (drift or soft 404)."""


def category_display(raw: str | None, known_names: dict[str, str] | None = None) -> str | None:
    """``SD_Cải cách hành chính`` → ``Cải cách hành chính``.

    Labels already uppercase in the HTML (``SD_CẢI CÁCH HÀNH CHÍNH``) take the mixed-case
    spelling seen elsewhere in the crawl when there is one (``known_names``, keyed by the
    casefolded name), else sentence case, which is how the portal names its categories.
    """
    if not raw:
        return None
    name = _UNIT_PREFIX.sub("", clean_inline(raw))
    if not name:
        return None
    if known_names and name.casefold() in known_names:
        return known_names[name.casefold()]
    if name.isupper():
        return name[0] + name[1:].lower()
    return name


@contextmanager
def _collector_paused():
    """The cyclic garbage collector held off while one article is parsed: a page's lxml tree
    and its body's BeautifulSoup tree are thousands of young objects the collector walks
    again and again while they are alive, then refcounting frees them (the soup's cycles
    are broken by ``clean_body`` itself). 3.55 → 3.12 ms an article, the two timed by turns
    on batches of 24 of ``python -m bench parse``'s pages. Anything cyclic left behind is
    collected at the collector's next run; a caller that turned it off keeps it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def build_article(
    page: ArticlePage, base_url: str, known_categories: dict[str, str] | None = None
) -> Article:
    """Parse and clean one article page. Raises :class:`NotAnArticle` when it has no body."""
    with _collector_paused():
        return _build_article(page, base_url, known_categories)


def _build_article(
    page: ArticlePage, base_url: str, known_categories: dict[str, str] | None
) -> Article:
    # Links resolve against the portal URL, never a web archive's playback URL.
    page_url = page.page_url or page.fetched_url or page.url
    extract = extract_article(page.html, page_url, base_url, page=page.parsed)
    if extract.body_html is None:
        raise NotAnArticle(f"no article body ({page.fetched_url}): selectors matched nothing")
    body = clean_body(extract.body_html, page_url, extract.title, extract.body_node)
    for later in page.continuation_html:
        # Each page of a multi-page article is its own page of the site's template: cleaned
        # alone, then joined (the byline closes the last page).
        continued = extract_article(later, page_url, base_url)
        if continued.body_html is None:
            raise NotAnArticle(f"a later page has no article body ({page.fetched_url})")
        cleaned = clean_body(continued.body_html, page_url, extract.title, continued.body_node)
        body = join_bodies(body, cleaned)
    if not body.text:
        raise NotAnArticle(f"empty article body ({page.fetched_url})")
    listing = page.listing
    published = choose_published(
        listing.date_raw if listing else None, extract.date_line_raw, body.text
    )
    problems = []
    title = extract.title or (listing.title if listing else None)
    if extract.title_source not in ("asset-title", "header", "data-attribute", "heading"):
        problems.append(f"title from {extract.title_source or 'listing'}")
    if not title:
        raise NotAnArticle(f"no title ({page.fetched_url})")
    if published is None:
        problems.append("no date")
    if extract.category_raw is None:
        problems.append("no category")
    return Article(
        url=page.url,
        asset_id=page.asset_id,
        title=title,
        published_at=published.iso if published else None,
        published_at_raw=published.raw if published else None,
        published_at_source=published.source if published else None,
        category=category_display(extract.category_raw, known_categories),
        category_raw=extract.category_raw,
        author=body.byline.author if body.byline else None,
        unit=default_authority().canonical(body.byline.unit if body.byline else None),
        unit_raw=body.byline.unit if body.byline else None,
        byline=body.byline_text,
        summary=listing.summary if listing else None,
        body_text=body.text,
        body_html=body.html,
        images=body.images,
        attachments=body.attachments,
        fetched_url=page.fetched_url,
        http_status=page.http_status,
        fetched_at=page.fetched_at,
        source=page.source,
        capture_timestamp=page.capture_timestamp,
        capture_url=page.capture_url,
        capture=page.capture,
        # Page 1's validators do not vouch for the later pages of a multi-page article.
        etag=None if page.continuation_html else page.etag,
        last_modified=None if page.continuation_html else page.last_modified,
        listing_url=listing.listing_url if listing else None,
        url_title=page.url_title,
        problems=problems,
    )

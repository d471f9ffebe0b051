"""Pure extraction from the portal's pages: HTML in, plain data out, no network.

The spider calls these on responses; ``sadec rebuild`` calls them on WARC captures; the tests
call them on saved pages. Selectors come from :mod:`sadec_crawler.selectors`.
"""

from __future__ import annotations

import copy
import re
import threading
import weakref
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import cssselect
import lxml.html
from lxml import etree
from parsel import Selector
from parsel.csstranslator import HTMLTranslator

from . import selectors as css
from .dates import parse_date
from .items import ListingEntry
from .simple_selectors import class_index, select
from .textnorm import clean_inline, nfc
from .urls import (
    absolute,
    canonical_article_url,
    listing_key,
    looks_static,
    pagination_param,
    parse_article_link,
    parse_asset_link,
    same_site,
)

_PARSERS = threading.local()


def parse_html(html: str | bytes, read_only: bool = False) -> Selector:
    """A parsel ``Selector`` over ``html`` (text, or UTF-8 bytes as a response body holds
    them), as ``Selector(text=html)`` builds it but with one lxml parser per thread, reused.

    libxml2 reads UTF-8 bytes faster than the text itself: a ``str`` reaches it as wide
    characters and is converted on the way (1.67 → 1.42 ms a replica article page, encoding
    included, measured on the pages of ``python -m bench parse``).

    ``read_only``: plain lxml elements, for callers that only query the tree (each element
    lxml.html hands to Python costs a Python lookup of its class; only its elements can be
    dropped from the tree, as listing entries are)."""
    kind = "plain" if read_only else "html"
    parser = getattr(_PARSERS, kind, None)
    if parser is None:
        parser_class = etree.HTMLParser if read_only else lxml.html.HTMLParser
        # collect_ids=False: libxml2 skips its table of id attributes, which nothing here
        # uses (CSS ``#x`` becomes ``@id = 'x'``): 15% less parsing time on portal pages
        # (1.29 → 1.10 ms for a 176 KB replica article page). The encoding is fixed: a page's
        # own meta charset must not override what the text already is.
        parser = parser_class(recover=True, huge_tree=True, collect_ids=False, encoding="utf-8")
        setattr(_PARSERS, kind, parser)
    # A lone surrogate (text decoded with surrogateescape) has no UTF-8 form: replaced.
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    # NUL bytes are dropped as parsel drops them; the data is copied only when it has some.
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    root = etree.fromstring(data, parser=parser) if data.strip() else None
    if root is None:
        root = etree.fromstring(b"<html/>", parser=parser)
    return Selector(root=root, type="html")


@dataclass
class FoundArticleLink:
    """An article link found on a page, resolved to its canonical form where possible."""

    url: str
    """The absolute link as found (session id removed)."""
    canonical: str | None
    """Canonical URL when the link carries the asset id; None for url-title links."""
    asset_id: int | None
    url_title: str | None


@dataclass
class ListingPage:
    """What a listing page offers the crawl."""

    entries: list[ListingEntry] = field(default_factory=list)
    """Entries in page order, one per article (desktop/mobile copies merged)."""
    page_links: list[str] = field(default_factory=list)
    """Other pages of the same listing (both Liferay pagination styles, dropdown included)."""
    article_links: list[FoundArticleLink] = field(default_factory=list)
    """Every article link on the page, entries and sidebars alike."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """Entries that could not be read: (article URL, what went wrong), one crawl error each."""
    last_page: int | None = None
    """The listing's last page number as its pager states it (``Trang 3 của 12`` gives 12;
    ``Hiển thị 1 - 10 của 115 kết quả`` on page 1 gives 12), or None when it says nothing."""

    @property
    def is_listing(self) -> bool:
        return bool(self.entries or self.page_links)


@dataclass
class ArticleExtract:
    """The raw parts of an article page, before cleaning."""

    title: str | None
    title_source: str | None
    """Which selector gave the title: ``asset-title``, ``header`` (6.2/7.0), ``data-attribute``,
    ``heading``, ``null-header``, ``html-title``."""
    category_raw: str | None
    date_line_raw: str | None
    body_html: str | None
    """Outer HTML of the body node, untouched."""
    page: Selector | None = field(default=None, repr=False, compare=False)
    """The parsed page."""
    portlet: Selector | None = field(default=None, repr=False, compare=False)
    """The Asset Publisher portlet holding the body (the page when none is found)."""
    body_node: etree._Element | None = field(default=None, repr=False, compare=False)
    """The body's element in ``page`` (``body_html`` is its serialisation)."""
    page_url: str = field(default="", repr=False, compare=False)
    base_url: str = field(default="", repr=False, compare=False)

    @cached_property
    def asset_anchor(self) -> int | None:
        """The asset entry id the page prints (``span.asset-anchor#<id>``, or the 6.2/7.0
        ``div.asset-content`` id): see :func:`asset_id_of`. Read on first use: only a web
        archive's captures need it, to check that a capture shows the article asked for."""
        if self.page is None:
            return None
        portlet = self.portlet if self.portlet is not None else self.page
        return asset_id_of(portlet) or asset_id_of(self.page)

    @cached_property
    def article_links(self) -> list[FoundArticleLink]:
        """Article links elsewhere on the page (related block, latest news); found on first
        use, as cleaning an article does not need them."""
        if self.page is None:
            return []
        return find_article_links(self.page, self.page_url, self.base_url)


_TEXT_NODES = etree.XPath("descendant-or-self::text()", smart_strings=False)


def _texts(node: Selector) -> list[str]:
    """``node.css("::text").getall()`` without a parsel Selector per text node."""
    return _TEXT_NODES(node.root)


@lru_cache(maxsize=64)
def _any_of(queries: tuple[str, ...]) -> str:
    """One selector matching what any of ``queries`` matches."""
    return ", ".join(queries)


def _subject_classes(query: str) -> list[str]:
    """The class names an element must carry to be what a CSS ``query`` selects
    (``.a .b.c`` → b, c)."""
    node = cssselect.parse(query)[0].parsed_tree
    while isinstance(node, cssselect.parser.CombinedSelector):
        node = node.subselector
    classes = []
    while node is not None and not isinstance(node, cssselect.parser.Element):
        if isinstance(node, cssselect.parser.Class):
            classes.append(node.class_name)
        node = getattr(node, "selector", None)
    return classes


@lru_cache(maxsize=64)
def _needed_classes(queries: tuple[str, ...]) -> frozenset[str] | None:
    """One class name per query that any element it selects carries; None when a query
    selects elements without a class."""
    needed = set()
    for query in queries:
        classes = _subject_classes(query)
        if not classes:
            return None
        needed.add(classes[0])
    return frozenset(needed)


@lru_cache(maxsize=256)
def _query_classes(query: str) -> frozenset[str]:
    """Every class name ``query`` requires of some element (``.a .b.c, .a.d`` → a): a page
    that lacks one cannot match. Names under ``:not()`` require nothing."""
    required = None
    for selector in cssselect.parse(query):
        names: set[str] = set()
        stack = [selector.parsed_tree]
        while stack:
            node = stack.pop()
            if isinstance(node, cssselect.parser.Class):
                names.add(node.class_name)
            if isinstance(node, cssselect.parser.CombinedSelector):
                stack += [node.selector, node.subselector]
            elif not isinstance(node, cssselect.parser.Element):
                stack.append(getattr(node, "selector", None))
            stack = [n for n in stack if n is not None]
        required = names if required is None else required & names
    return frozenset(required or ())


_CLASS_VALUES = etree.XPath("//@class", smart_strings=False)


def _page_classes(page: Selector) -> frozenset[str]:
    """Every class name on ``page``'s document, in one XPath query (0.2 ms for a 176 KB
    portal page, about what one class selector costs over the whole page)."""
    return frozenset(" ".join(_CLASS_VALUES(page.root)).split())


def _may_match(scope: Selector, queries: tuple[str, ...]) -> bool:
    """False only when no query of ``queries`` can match under ``scope``: one walk of the
    scope's class attributes in Python, where libxml2 evaluates each query's class test
    with a string copy per element (a portlet of 62 elements: 0.2 ms for the eight
    date-line queries as one union, 0.03 ms for this, on ``python -m bench parse``'s
    pages)."""
    needed = _needed_classes(queries)
    if needed is None:
        return True
    for element in scope.root.iter(etree.Element):
        classes = element.get("class")
        if classes and not needed.isdisjoint(classes.split()):
            return True
    return False


def _first_text(scope: Selector, queries: tuple[str, ...]) -> tuple[str | None, str | None]:
    if not _may_match(scope, queries):
        return None, None  # no query run when none of their classes is there
    for query in queries:
        for node in scope.css(query):
            text = clean_inline(" ".join(_texts(node)))
            if text:
                return text, query
    return None, None


def _resolve_article(href: str | None, page_url: str, base_url: str) -> FoundArticleLink | None:
    if href and "content" not in href and href.lstrip()[:1] == "/":
        # Every article route has ``/content/`` in its path, and an absolute-path link takes
        # nothing of its path from the page: not an article (menus, footers, banners), and
        # no URL resolution (this runs for every link of every page).
        return None
    url = absolute(page_url, href)
    if not url or not same_site(url, base_url):
        return None
    link = parse_article_link(url)
    if link is None:
        return None
    canonical = (
        canonical_article_url(base_url, link.instance, link.asset_id) if link.asset_id else None
    )
    return FoundArticleLink(url, canonical, link.asset_id, link.url_title)


class _PageLinks:
    """The links of one page, each ``href`` resolved once: a listing page repeats its menus
    and links each entry two or three times (image, title, read-more), and reading its
    entries asks again which article the links around each one lead to."""

    def __init__(self, page_url: str, base_url: str):
        self.page_url = page_url
        self.base_url = base_url
        self._articles: dict[str | None, FoundArticleLink | None] = {}

    def article(self, href: str | None) -> FoundArticleLink | None:
        try:
            return self._articles[href]
        except KeyError:
            link = self._articles[href] = _resolve_article(href, self.page_url, self.base_url)
            return link

    def key(self, href: str | None) -> str | None:
        """The article ``href`` leads to (canonical URL, else the link), None for others."""
        link = self.article(href)
        return (link.canonical or link.url) if link else None


_HREFS = etree.XPath("descendant-or-self::a/@href", smart_strings=False)
"""``a::attr(href)`` as parsel translates it, without a parsel Selector per link."""


def find_article_links(
    scope: Selector, page_url: str, base_url: str, links: _PageLinks | None = None
) -> list[FoundArticleLink]:
    """Article links in ``scope``, first occurrence of each target kept."""
    links = links or _PageLinks(page_url, base_url)
    seen: set[str] = set()
    found = []
    for href in _HREFS(scope.root):
        link = links.article(href)
        if link is None:
            continue
        key = link.canonical or link.url
        if key not in seen:
            seen.add(key)
            found.append(link)
    return found


def discovery_links(html: str, page_url: str, base_url: str) -> list[str]:
    """Same-site pages linked from ``html`` that may hold listings: menus, sub-menus and
    "more" links. Articles, documents and static files are left out; so is the page itself."""
    page = parse_html(html)
    links, seen = [], {page_url.rstrip("/")}
    for href in page.css("a::attr(href)").getall():
        url = absolute(page_url, href)
        if not url or not same_site(url, base_url) or looks_static(url):
            continue
        if parse_article_link(url) or parse_asset_link(url) or pagination_param(url):
            continue
        url = url.split("#", 1)[0]
        if url.rstrip("/") in seen:
            continue
        seen.add(url.rstrip("/"))
        links.append(url)
    return links


def _portlet_scopes(page: Selector) -> list[Selector]:
    for query in css.PORTLET:
        scopes = [s for s in page.css(query) if s.css("a::attr(href)")]
        if scopes:
            return scopes
    return [page]


def _entry_node(link_node, key: str, links: _PageLinks, stop_nodes: set):
    """Climb from an entry's link to the largest ancestor that links to this article only."""
    node = link_node
    while True:
        parent = node.getparent()
        if parent is None or parent in stop_nodes:
            return node
        classes = set((node.get("class") or "").split())
        if node.tag in css.LISTING_ENTRY_TAGS or classes & css.LISTING_ENTRY_CLASSES:
            return node
        hrefs = [a.get("href") for a in parent.iterdescendants("a") if a.get("href") is not None]
        targets = {links.key(href) for href in hrefs} - {None}
        if targets != {key} or any("_cur=" in href for href in hrefs):
            return node
        node = parent


def _entry_from_node(node, link: FoundArticleLink, listing_url: str) -> ListingEntry:
    entry = Selector(root=node)
    noise = {n.root for n in entry.css(_any_of(css.LISTING_ENTRY_NOISE))}
    title = None
    for anchor in entry.css("a"):
        if noise.intersection(anchor.root.iterancestors()) or anchor.root in noise:
            continue  # a read-more link ("Chi tiết về TITLE »") is not the title
        resolved = absolute(listing_url, anchor.attrib.get("href"))
        if resolved and resolved.split(";")[0] == link.url.split(";")[0]:
            text = clean_inline(" ".join(_texts(anchor)))
            if text and (title is None or len(text) > len(title)):
                title = text
    date_raw, _ = _first_text(entry, css.LISTING_ENTRY_DATE)
    if date_raw and parse_date(date_raw) is None:
        date_raw = None
    if noise:
        # Chrome is left out of a copy: the page's own tree is shared by every entry and by
        # the link finder, and an entry may itself be a noise element (a lone read-more link).
        node = copy.deepcopy(node)
        entry = Selector(root=node)
        for drop in entry.css(_any_of(css.LISTING_ENTRY_NOISE)):
            if drop.root.getparent() is not None:
                drop.drop()
    summary, _ = _first_text(entry, css.LISTING_ENTRY_SUMMARY)
    if summary is None:
        # Custom card templates: the longest text block that is neither title nor date.
        blocks = []
        for block in entry.css("p, div, span"):
            if block.xpath(".//p | .//div"):
                continue
            text = clean_inline(" ".join(_texts(block)))
            if text and text != title and not (date_raw and date_raw in text):
                blocks.append(text)
        summary = max(blocks, key=len) if blocks else None
    if date_raw is None:
        # A date line is short ("Đã xuất bản 19/03/2021"); a summary that mentions a date is not.
        for text in _texts(entry):
            cleaned = clean_inline(text)
            if cleaned and cleaned != title and len(cleaned) <= 60 and parse_date(cleaned):
                date_raw = cleaned
                break
    if summary and (summary == title or len(summary) < 20):
        summary = None
    return ListingEntry(
        url=link.canonical or link.url,
        asset_id=link.asset_id or 0,
        listing_url=listing_url,
        title=title,
        date_raw=date_raw,
        summary=summary,
    )


def _merge(kept: ListingEntry, other: ListingEntry) -> None:
    kept.title = kept.title or other.title
    kept.date_raw = kept.date_raw or other.date_raw
    kept.summary = kept.summary or other.summary


def extract_listing(html: str, page_url: str, base_url: str) -> ListingPage:
    """Entries and pagination of a listing page (any of the documented templates)."""
    page = parse_html(html)
    links = _PageLinks(page_url, base_url)
    result = ListingPage(article_links=find_article_links(page, page_url, base_url, links))
    current_key = listing_key(page_url)
    seen_pages = {current_key}
    for href in dict.fromkeys(_HREFS(page.root)):
        if not href or "cur" not in href:
            continue  # not a pagination link: none without a ``_<ns>_cur`` parameter
        url = absolute(page_url, href)
        if not url or not same_site(url, base_url) or pagination_param(url) is None:
            continue
        key = listing_key(url)
        if key[0] == current_key[0] and key not in seen_pages:
            seen_pages.add(key)
            result.page_links.append(url)

    by_key: dict[str, ListingEntry] = {}
    entry_nodes: set = set()
    for scope in _portlet_scopes(page):
        stop_nodes = {scope.root}
        for container in css.PAGINATION_CONTAINERS:
            stop_nodes.update(s.root for s in scope.css(container))
        for anchor in scope.css("a[href]"):
            link = links.article(anchor.attrib.get("href"))
            if link is None or any(
                ancestor in stop_nodes
                for ancestor in anchor.root.iterancestors()
                if ancestor is not scope.root
            ):
                continue
            key = link.canonical or link.url
            if any(ancestor in entry_nodes for ancestor in anchor.root.iterancestors()):
                continue  # a second link of an entry already read (image, read-more)
            node = _entry_node(anchor.root, key, links, stop_nodes)
            entry_nodes.add(node)
            try:
                entry = _entry_from_node(node, link, page_url)
            except Exception as error:  # noqa: BLE001 - one entry never costs the page
                result.errors.append((key, f"{type(error).__name__}: {error}"[:300]))
                continue
            if key in by_key:
                _merge(by_key[key], entry)
            else:
                by_key[key] = entry
    result.entries = list(by_key.values())
    result.last_page = pager_last_page(page, current_key[2])
    return result


_PAGE_OF = re.compile(css.PAGER_PAGE_OF, re.IGNORECASE)
_RESULTS = re.compile(css.PAGER_RESULTS, re.IGNORECASE)


def _count(text: str) -> int:
    return int(re.sub(r"[.,]", "", text))


def pager_last_page(page: Selector, current: int) -> int | None:
    """The last page number the pager of ``page`` (page ``current`` of its listing) states,
    from its page selector or, failing that, from its results line; None when neither says."""
    present = _page_classes(page)
    for selector in css.PAGER_PAGE_OF_TEXT:
        if not _query_classes(selector) <= present:
            continue
        for text in page.css(selector + " ::text").getall():
            match = _PAGE_OF.search(clean_inline(text))
            if match and _count(match[1]) <= _count(match[2]):
                return _count(match[2])
    for selector in css.PAGER_RESULTS_TEXT:
        if not _query_classes(selector) <= present:
            continue
        text = clean_inline(" ".join(page.css(selector + " ::text").getall()))
        match = _RESULTS.search(text)
        if not match:
            continue
        first, last, total = (_count(group) for group in match.groups())
        if not (1 <= first <= last <= total):
            continue
        # The page size is what one page holds: this page's span, unless it is the last and
        # shorter, when the pages before it tell.
        size = (first - 1) // (current - 1) if current > 1 and first > 1 else last - first + 1
        if size > 0:
            return -(-total // size)
    return None


_NULL_HEADER = re.compile(r"^null\s+(?P<title>.+)$", re.IGNORECASE)


def _is_chrome(text: str) -> bool:
    return text == css.PORTLET_TITLE_TEXT or text.startswith(css.ARTICLE_HEADER_NOISE_PREFIXES)


def _node_text(node: Selector) -> str:
    return clean_inline(" ".join(_texts(node)))


def _strip_site_name(html_title: str) -> str:
    """``<title>`` is the article title, maybe followed by `` - <site name>`` (7.2+ themes),
    `` - <page> - <site>`` (6.2) or `` - <page> - <site> - <company>`` (7.0, site-spec §8)."""
    title = html_title
    for _ in range(3):
        head, separator, tail = title.rpartition(" - ")
        tail = tail.strip()
        if not (separator and head.strip()):
            break
        if not (
            re.search(css.SITE_NAME_PATTERN, tail, re.IGNORECASE)
            or tail.casefold() in css.PAGE_NAMES
        ):
            break
        title = head.strip()
    return title


def _header_title(scope: Selector) -> str | None:
    """The title of a 6.2 or 7.0/7.1 header: its text without the back link's."""
    for query in css.ARTICLE_HEADER:
        for header in select(scope, query):
            back = select(header, css.ARTICLE_HEADER_BACK_LINK)
            if not back:
                continue  # a plain ``div.h2`` of some template, not Liferay's header
            text = clean_inline(" ".join(_texts_outside(header.root, {n.root for n in back})))
            match = _NULL_HEADER.match(text)
            text = match["title"] if match else text
            if text and not _is_chrome(text):
                return text
    return None


def _texts_outside(root: etree._Element, skip: set) -> list[str]:
    """The text nodes under ``root`` in document order (``.//text()``) but those inside an
    element of ``skip`` (their tails stay: they are the parent's text)."""
    texts: list[str] = []
    # A walk, not a nested function calling itself: such a closure is a reference cycle,
    # which kept each page's whole lxml tree alive until the cyclic collector ran.
    walk = etree.iterwalk(root, events=("start", "end"))
    for event, element in walk:
        if event == "start":
            if element in skip:
                walk.skip_subtree()  # its end still comes, with its tail
                continue
            if element.text and isinstance(element.tag, str):
                texts.append(element.text)
        elif element is not root and element.tail:
            texts.append(element.tail)
    return texts


def _title(page: Selector, scope: Selector) -> tuple[str | None, str | None]:
    """The article's own title, from the most specific source the page offers; ``scope`` is
    the article's portlet (searched before the rest of the page)."""
    # The portlet's own title or header before anything elsewhere on the page: another
    # portlet's full content is another article's (and the page-wide search is skipped on
    # 6.2/7.0 pages, whose portlet has the header).
    for where in _scopes(page, scope):
        for query in css.ARTICLE_TITLE:
            for node in select(where, query):
                text = _node_text(node)
                if text and not _is_chrome(text):
                    return text, "asset-title"
        header = _header_title(where)
        if header:
            return header, "header"
    attribute = clean_inline(scope.css(css.ARTICLE_TITLE_ATTRIBUTE).get()) or clean_inline(
        page.css(css.ARTICLE_TITLE_ATTRIBUTE).get()
    )
    if attribute:
        return attribute, "data-attribute"
    for text in page.css("body *:not(script):not(style)::text").getall():
        match = _NULL_HEADER.match(clean_inline(text))
        if match:
            return match["title"], "null-header"
    for where in _scopes(page, scope):
        for query in css.ARTICLE_TITLE_HEADINGS:
            for node in select(where, query):
                if "portlet-title-text" in (node.attrib.get("class") or ""):
                    continue
                text = _node_text(node)
                if text and not _is_chrome(text):
                    return text, "heading"
    html_title = clean_inline(page.css("title::text").get())
    if html_title:
        return _strip_site_name(html_title), "html-title"
    return None, None


# ``ancestor::`` forms of the portlet selectors (each one element, no combinator): one query
# over a body's ancestors, where a ``self::`` test of each ancestor in turn cost 0.1 ms.
_PORTLET_ANCESTORS = [
    etree.XPath(HTMLTranslator().css_to_xpath(query, prefix="ancestor::")) for query in css.PORTLET
]


def _portlet_of(body: Selector | None, page: Selector) -> Selector:
    """The Asset Publisher portlet holding the body (or the whole page): the outermost
    ancestor matching the first portlet selector that matches one."""
    if body is not None:
        for ancestors in _PORTLET_ANCESTORS:
            found = ancestors(body.root)  # in document order: the outermost first
            if found:
                return Selector(root=found[0], type="html")
    return page


def _scopes(page: Selector, scope: Selector) -> list[Selector]:
    """The article's portlet, then the whole page (once when they are the same)."""
    return [page] if scope.root is page.root else [scope, page]


def _texts_before_body(portlet: Selector, body: Selector | None) -> list[str]:
    """Short texts of the portlet that come before the body: where templates print the date
    line and the category label when they use markup the selectors do not know."""
    texts = []
    for text in portlet.root.xpath(".//text()[normalize-space()]"):
        container = text.getparent()
        if text.is_tail:
            container = container.getparent()
        if container is None:
            continue
        if body is not None and (container is body.root or body.root in container.iterancestors()):
            break
        if container.tag in ("script", "style"):
            continue
        cleaned = clean_inline(str(text))
        if cleaned and len(cleaned) <= 80:
            texts.append(cleaned)
    return texts


def _date_line(
    scope: Selector, body: Selector | None, title: str | None, header: list[str]
) -> str | None:
    """The article's date line, in its portlet: a date elsewhere on the page (a sidebar of
    latest news) belongs to another article. ``header``: the template header's texts."""
    body_node = body.root if body is not None else None
    # Their class names looked up first: most pages match none (no date line at all).
    needed = _needed_classes(css.ARTICLE_DATE_LINE)
    may_match = needed is None or class_index(scope).has_any(needed)
    for query in css.ARTICLE_DATE_LINE if may_match else ():
        for node in select(scope, query):
            if body_node is not None and body_node in node.root.iterancestors():
                continue
            text = _node_text(node)
            if text and parse_date(text):
                return _with_template_time(text, header, title)
    candidates = (
        text
        for text in _texts_before_body(scope, body)
        if not (title and title in text) and not _is_chrome(text)
    )
    found = next((text for text in candidates if parse_date(text)), None)
    if found is not None:
        return _with_template_time(found, header, title)
    return next(iter(_template_dates(header, title)), None)


def _template_dates(header: list[str], title: str | None) -> list[str]:
    """Date lines a web-content template prints at the top of the body wrapper."""
    return [
        text
        for text in header
        if text != title and not _is_chrome(text) and len(text) <= 60 and parse_date(text)
    ]


def _with_template_time(text: str, header: list[str], title: str | None) -> str:
    """``text`` (a day without a time, as 6.2/7.0 stock metadata prints it) or, when the
    template's own date line names the same day with its time, that line."""
    parsed = parse_date(text)
    if parsed is None or parsed.time is not None:
        return text
    for other in _template_dates(header, title):
        found = parse_date(other)
        if found.date == parsed.date and found.time is not None:
            return other
    return text


def _category_label(text: str) -> str:
    """A label as printed, without a vocabulary prefix ("Chuyên mục: ") and, for a nested
    category printed as its path ("Cha » Con"), only the leaf."""
    label = text.rsplit(css.CATEGORY_PATH_SEPARATOR, 1)[-1].strip()
    prefixed = css.UNIT_PREFIX.search(label)
    if prefixed and ":" in label[: prefixed.start()]:
        label = label[prefixed.start() :]
    return label


def _category(
    page: Selector, scope: Selector, body: Selector | None, header: list[str]
) -> str | None:
    """The category label, in the article's portlet (a menu elsewhere has labels too);
    ``header``: the template header's texts."""
    body_node = body.root if body is not None else None
    for query in css.ARTICLE_CATEGORY:
        labels = [
            _category_label(_node_text(n))
            for n in select(scope, query)
            if body_node is None or body_node not in n.root.iterancestors()
        ]
        labels = [label for label in labels if label]
        if labels:
            prefixed = [label for label in labels if css.UNIT_PREFIX.match(label)]
            return (prefixed or labels)[0]
    for text in _texts_before_body(scope, body) + header:
        # "Chi tiết bài viết SD_CẢI CÁCH HÀNH CHÍNH" in markup of its own, before the body or
        # printed by the site's web-content template at the top of the body wrapper.
        match = css.UNIT_PREFIX.search(text)
        if match:
            return _category_label(text[match.start() :])
    keywords = page.css(css.ARTICLE_KEYWORDS).get() or ""
    labels = [k.strip() for k in keywords.split(",") if css.UNIT_PREFIX.match(k.strip())]
    return labels[0] if labels else None


def _template_header(body: Selector | None, body_html: str, title: str | None) -> list[str]:
    """:func:`_template_texts`, only when they are a template's header (they hold the
    "Chi tiết bài viết" line or the title): never the first words of an ordinary body."""
    if not may_hold_template(body_html, title):
        return []  # most bodies: the walk is skipped on a look at the HTML text
    texts = _template_texts(body, title)
    if any(_is_chrome(text) or (title and text == title) for text in texts):
        return texts
    return []


def may_hold_template(body_html: str, title: str | None) -> bool:
    """Whether a body's HTML may hold a web-content template's header or related list: a
    cheap test on the text, so that bodies without one are not walked for it."""
    # The wrapper's own tag is left out: 7.2+ repeats the title in an attribute there.
    body_html = nfc(body_html[body_html.find(">") + 1 :])  # decomposed pages exist (§4)
    markers = (*css.ARTICLE_HEADER_NOISE_PREFIXES, *css.RELATED_BLOCK_TITLES)
    if any(marker in body_html for marker in markers):
        return True
    # The title opening an element's text, as a template heading prints it: its start, up
    # to a character HTML may escape.
    probe = re.split("[\"'&<>]", title or "", maxsplit=1)[0][:40]
    return len(probe) < 10 or _opens_an_element(body_html, probe)


def _opens_an_element(html: str, text: str) -> bool:
    """Whether ``text`` occurs in ``html`` right after a tag's ``>`` (whitespace between
    allowed). Plain string search: a pattern made of each title compiled a regular
    expression per article, 0.1 ms each."""
    start = html.find(text)
    while start != -1:
        before = start - 1
        while before >= 0 and html[before].isspace():
            before -= 1
        if before >= 0 and html[before] == ">":
            return True
        start = html.find(text, start + 1)
    return False


def _template_texts(body: Selector | None, title: str | None = None) -> list[str]:
    """Short texts at the top of the body wrapper, before its first long paragraph: where a
    7.0 web-content template prints its heading, category label, title and date line
    (site-spec §8). The title, however long, is one of them."""
    if body is None:
        return []
    texts = []
    for text in body.root.itertext():
        cleaned = clean_inline(text)
        if not cleaned:
            continue
        if len(cleaned) > 80 and cleaned != title:
            break
        texts.append(cleaned)
        if len(texts) > 8:
            break
    return texts


def article_page_number(url: str) -> int:
    """Which page of a multi-page article ``url`` asks for (1 when it names none)."""
    match = css.ARTICLE_PAGE_PARAMETER.search(url.split("?", 1)[-1] if "?" in url else "")
    return int(match["number"]) if match else 1


def continuation_links(page: Selector, page_url: str) -> list[str]:
    """The later pages of a multi-page article, in order, when ``page_url`` is its first
    page; empty for a single-page article or a later page."""
    if article_page_number(page_url) != 1:
        return []
    links: dict[int, str] = {}
    for href in page.css(css.ARTICLE_PAGE_LINKS).getall():
        url = absolute(page_url, href)
        number = article_page_number(url) if url else 1
        if url and number > 1:
            links.setdefault(number, url)
    return [links[number] for number in sorted(links)]


def quick_title(page: Selector) -> str | None:
    """The article title from the cheap places that print it (7.2+ attributes, the 6.2/7.0
    header), for matching url-title links before full parsing; None when none does."""
    found = (page.css(query).get() for query in css.ARTICLE_QUICK_TITLE)
    return clean_inline(next((value for value in found if value), None)) or _header_title(page)


def asset_id_of(page: Selector) -> int | None:
    """The asset entry id the page prints: ``span.asset-anchor#<id>`` (7.2+), else the
    ``div.asset-content`` id after the portlet namespace (6.2, 7.0/7.1)."""
    anchor = page.css(css.ARTICLE_ASSET_ANCHOR).get()
    if anchor and anchor.strip().isdigit():
        return int(anchor)
    for value in page.css(css.ARTICLE_ASSET_CONTENT_ID).getall():
        match = css.ASSET_CONTENT_ID.search(value.strip())
        if match:
            return int(match["asset_id"])
    return None


_BODIES: weakref.WeakKeyDictionary[Selector, Selector | None] = weakref.WeakKeyDictionary()
"""The article body found on each page still alive: the spider asks first, to tell an article
from an error page, and the cleaning pipeline asks again about the same parsed page (two walks
of a whole portal page, 0.2 ms each, where one does). Weak, so a page's tree goes when the page
does: held any longer, the next page was parsed while it was alive, 3 % slower."""


def article_body(page: Selector) -> Selector | None:
    """The article's body element: the first of :data:`selectors.ARTICLE_BODY` that matches,
    found once for each parsed page (an article page's tree is read, never changed)."""
    try:
        return _BODIES[page]
    except KeyError:
        pass
    body = None
    for query in css.ARTICLE_BODY:
        matches = select(page, query)
        if matches:
            body = matches[0]
            break
    _BODIES[page] = body
    return body


@dataclass
class ArticlePageFacts:
    """What the spider reads on an article page to go on crawling (cleaning comes later)."""

    error_page: bool
    """An error page answered with status 200: no article body, and "not found" wording
    (:data:`selectors.SOFT_404_MARKERS`) in its title or headings. The fields below are then
    empty."""
    asset_id: int | None = None
    """The asset entry id the page prints (:func:`asset_id_of`), or None."""
    title: str | None = None
    """The title from the cheap places (:func:`quick_title`), for url-title links."""
    later_pages: list[str] = field(default_factory=list)
    """The later pages of a multi-page article (:func:`continuation_links`)."""
    article_links: list[FoundArticleLink] = field(default_factory=list)
    """Other articles the page links to (:func:`find_article_links`)."""


def is_error_page(page: Selector) -> bool:
    """An article URL answered with an error page and status 200 (a "soft 404")."""
    if article_body(page) is not None:
        return False
    text = " ".join(page.css("title::text, h1::text, h2::text, p::text").getall()).lower()
    return any(marker in text for marker in css.SOFT_404_MARKERS)


def read_article_page(page: Selector, page_url: str, base_url: str) -> ArticlePageFacts:
    """The facts the spider needs from an article page, read from its parsed tree."""
    if is_error_page(page):
        return ArticlePageFacts(error_page=True)
    return ArticlePageFacts(
        error_page=False,
        asset_id=asset_id_of(page),
        title=quick_title(page),
        later_pages=continuation_links(page, page_url),
        article_links=find_article_links(page, page_url, base_url),
    )


def extract_article(
    html: str, page_url: str, base_url: str, page: Selector | None = None
) -> ArticleExtract:
    """The raw parts of an article page; ``page`` is the page already parsed, if it is."""
    if page is None:
        page = parse_html(html, read_only=True)
    body = article_body(page)
    # Everything else is searched in the body's portlet first: a fraction of a 180 KB page,
    # so each selector costs far less than a walk of the whole tree.
    scope = _portlet_of(body, page)
    title, title_source = _title(page, scope)
    body_html = body.get() if body is not None else None
    header = _template_header(body, body_html or "", title)
    return ArticleExtract(
        title=title,
        title_source=title_source,
        category_raw=_category(page, scope, body, header),
        date_line_raw=_date_line(scope, body, title, header),
        body_html=body_html,
        body_node=body.root if body is not None else None,
        page=page,
        portlet=scope,
        page_url=page_url,
        base_url=base_url,
    )

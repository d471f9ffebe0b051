"""Items: what the spider extracts (raw) and what the pipelines store (clean).

Every field states its format. Raw values sit beside the normalised ones wherever parsing can
lose information (dates, category labels, bylines).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StoredFile:
    """An image or attachment downloaded into the files folder, named by its content hash."""

    sha256: str | None = None
    """Hex SHA-256 of the file's bytes; None when the download failed."""
    size: int | None = None
    """Size in bytes."""
    content_type: str | None = None
    """``Content-Type`` the server sent."""
    stored_path: str | None = None
    """Path relative to the files folder, e.g. ``sha256/ab/abcdef….jpg``."""
    error: str | None = None
    """Why the file is missing (``http_404``, ``too_large`` …), else None."""


@dataclass
class Capture:
    """Where the raw HTTP exchange of a page is kept (WARC, ISO 28500)."""

    warc_file: str
    """WARC file name, relative to the captures folder."""
    record_id: str
    """``WARC-Record-ID`` of the response record, e.g. ``<urn:uuid:…>``."""
    offset: int
    """Byte offset of the response record in the (compressed) WARC file."""
    payload_digest: str
    """``WARC-Payload-Digest`` of the response record, e.g. ``sha1:…`` (base32)."""
    captured_at: str
    """``WARC-Date`` of the record, ISO 8601 UTC."""


@dataclass
class ImageRef:
    """An image of an article body."""

    url: str
    """Absolute URL of the image, as linked (``…/documents/481527/…?t=<ms>``)."""
    caption: str | None = None
    """The caption paragraph under the image (NFC, one line), photo credit included; or None."""
    alt: str | None = None
    """The ``alt`` attribute, NFC; None if absent or empty."""
    file: StoredFile | None = None
    """The downloaded file, once the files pipeline has fetched it."""


@dataclass
class AttachmentRef:
    """A file linked from an article body (PDF, Word, spreadsheet…)."""

    url: str
    """Absolute URL of the file."""
    filename: str
    """File name as the reader sees it: the link text when it names a file, else the URL's
    last path segment, percent- and plus-decoded."""
    link_text: str | None = None
    """The link's own text, NFC."""
    file: StoredFile | None = None
    """The downloaded file, once the files pipeline has fetched it."""


@dataclass
class ListingEntry:
    """One entry of a category listing, carried to its article (site-spec §4: the listing's
    date is the most reliable date source)."""

    url: str
    """Canonical article URL."""
    asset_id: int
    """Asset entry id, the number in the canonical URL."""
    listing_url: str
    """URL of the listing page the entry was seen on."""
    title: str | None = None
    """Title as the listing shows it, NFC."""
    date_raw: str | None = None
    """Date text of the entry as shown (NFC, spaces folded); None if the template shows none."""
    summary: str | None = None
    """Summary text of the entry, NFC, one line; None if the template shows none."""


@dataclass
class ArticlePage:
    """An article page as fetched: the fields the spider's selectors found, still raw."""

    url: str
    """Canonical article URL (see :func:`sadec_crawler.urls.canonical_article_url`)."""
    asset_id: int
    """Asset entry id (7–8 digits on this portal)."""
    fetched_url: str
    """The URL actually fetched (after redirects)."""
    http_status: int
    """HTTP status of the final response."""
    fetched_at: str
    """UTC time of the fetch, ISO 8601 with ``Z``."""
    html: str = field(repr=False, default="")
    """The page's HTML (decoded), kept only until the cleaning pipeline has run."""
    listing: ListingEntry | None = None
    """The listing entry that led here, if one was seen before the article was fetched."""
    source: str = "live"
    """``live`` (the portal) or ``wayback`` (a web-archive capture)."""
    capture_timestamp: str | None = None
    """For web-archive captures: the 14-digit capture timestamp."""
    capture_url: str | None = None
    """For web-archive captures: the playback URL the page was read from."""
    page_url: str | None = None
    """The URL the page had on the portal, against which its links resolve; differs from
    fetched_url for web-archive captures."""
    capture: Capture | None = None
    """The WARC record of this fetch, when WARC writing is on."""
    etag: str | None = None
    """The response's ``ETag`` header, for conditional requests on later runs."""
    last_modified: str | None = None
    """The response's ``Last-Modified`` header, for conditional requests on later runs."""
    url_title: str | None = None
    """Liferay's url-title of the article when it was fetched by that route, as in the URL."""
    parsed: object | None = field(default=None, repr=False, compare=False)
    """The page as the spider already parsed it (a parsel ``Selector``), so cleaning does not
    parse 180 KB again; never stored."""
    continuation_html: list[str] = field(default_factory=list, repr=False)
    """HTML of pages 2…N of a multi-page article, in order (its text belongs to the article);
    empty for a single-page one."""


@dataclass
class Article:
    """A clean article, as stored in the ``articles`` table."""

    url: str
    """Canonical article URL:
    ``<base>/chi-tiet-bai-viet/-/asset_publisher/<instance>/content/id/<n>``."""
    asset_id: int
    """Asset entry id, the number at the end of ``url``."""
    title: str
    """The article's own title (never the portlet title or the ``null …`` header), NFC."""
    published_at: str | None
    """``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM:SS+07:00`` when the page gives a time
    (Asia/Ho_Chi_Minh)."""
    published_at_raw: str | None
    """The text ``published_at`` was read from, as on the page."""
    published_at_source: str | None
    """Where the date came from: ``listing``, ``date_line`` or ``body``."""
    category: str | None
    """Category display name without the unit prefix, e.g. ``Cải cách hành chính``."""
    category_raw: str | None
    """Category label as in the page's HTML, e.g. ``SD_CẢI CÁCH HÀNH CHÍNH``."""
    author: str | None
    """Author from the byline, NFC; None when the byline names none."""
    unit: str | None
    """Office that wrote the article: the canonical name of the unit the byline names
    (``sadec_crawler/units.yml``), NFC; None when absent."""
    byline: str | None
    """The byline paragraph as written, NFC, one line."""
    summary: str | None
    """Summary from the listing entry, NFC, one line."""
    body_text: str
    """Readable body text: paragraphs separated by one blank line, NFC, no ``&nbsp;`` or
    zero-width characters."""
    body_html: str
    """Sanitised body HTML (safe subset: no script, style, event handler or ``javascript:``
    URL; absolute links and image sources)."""
    images: list[ImageRef] = field(default_factory=list)
    """Body images in reading order."""
    attachments: list[AttachmentRef] = field(default_factory=list)
    """Attached files in reading order."""
    fetched_url: str | None = None
    """The URL actually fetched."""
    http_status: int | None = None
    """HTTP status of the fetch."""
    fetched_at: str | None = None
    """UTC time of the fetch, ISO 8601 with ``Z``."""
    source: str = "live"
    """``live`` or ``wayback``."""
    capture_timestamp: str | None = None
    """Web-archive capture timestamp (14 digits) when ``source`` is ``wayback``."""
    capture_url: str | None = None
    """Web-archive playback URL when ``source`` is ``wayback``."""
    capture: Capture | None = None
    """The WARC record of the fetch this row was parsed from."""
    etag: str | None = None
    """``ETag`` of the fetch (stored as ``http_etag``)."""
    last_modified: str | None = None
    """``Last-Modified`` of the fetch (stored as ``http_last_modified``)."""
    listing_url: str | None = None
    """The listing page the article was last seen in, if any."""
    url_title: str | None = None
    """Liferay's url-title, when a link by that route led to the article."""
    unit_raw: str | None = None
    """The unit as the byline names it (``Phòng VH-TT``, ``phòng Nội vụ thành phố Sa Đéc``), NFC;
    None when absent. ``unit`` is its canonical name."""
    problems: list[str] = field(default_factory=list)
    """Parser findings worth a look (``no date``, ``title from <title>`` …); not stored as data."""


@dataclass
class CrawlError:
    """Something that could not be archived, recorded in ``crawl_errors`` instead of an
    empty article."""

    url: str
    """The URL that failed."""
    kind: str
    """Short machine-readable kind: ``http_404``, ``http_500``, ``timeout``, ``dns``,
    ``not_an_article``, ``not_html`` …"""
    message: str
    """One human-readable line."""


@dataclass
class ArticleUnchanged:
    """A re-check answered ``304 Not Modified``: the stored article is still current."""

    url: str
    """Canonical article URL."""


@dataclass
class ArticleGone:
    """An archived article that the site no longer serves. Marked ``gone_at``, never deleted."""

    url: str
    """Canonical article URL."""
    reason: str
    """``http_404``, ``http_410`` or ``soft_404`` (an error page answered with 200)."""


@dataclass
class SitePage:
    """A page discovery visited, and whether it holds a listing."""

    url: str
    """The page's URL, as requested."""
    kind: str
    """``listing`` (an Asset Publisher list of articles) or ``other``."""


@dataclass
class IndexPage:
    """One page of a web-archive index answer (``-a source=wayback``), kept in
    ``wayback_index_pages`` so that a backfill restarted after a kill or a block does not ask
    the index again for what it read."""

    discovery_key: str
    """The run settings the discovery is for (JSON: archive, portal, window, period)."""
    kind: str
    """``pages`` (the portal's HTML pages) or ``articles`` (the article routes)."""
    query: str
    """The query's URL without its resume key: one query, one window."""
    resume_key: str
    """The key this page was asked with, as the server gave it; ``""`` for the first page."""
    next_key: str
    """The key the page ended with; ``""`` when the query was read to its end."""
    rows: str
    """The page's captures, a JSON list of objects with the CDX fields."""


@dataclass
class WaybackDiscovery:
    """A finished discovery (index read, listings read), kept in ``wayback_discoveries`` so
    that a restarted backfill goes straight to archiving."""

    discovery_key: str
    """As :attr:`IndexPage.discovery_key`."""
    articles: str
    """JSON list of the article captures (CDX fields)."""
    listings: str
    """JSON list of ``{"timestamp", "entry"}``: listing entries as each listing capture showed
    them (the fields of :class:`ListingEntry`)."""
    home_read: bool
    """Whether a home-page capture was read."""


@dataclass
class PortalHandoff:
    """A link found on one registered portal's page that belongs to another registered portal
    (``sadec_crawler/portals.yml``), kept in ``portal_handoffs`` until that portal's crawl
    requests it as its own."""

    url: str
    """The link: for an article with its asset id, the owning portal's canonical article URL
    (:func:`sadec_crawler.urls.canonical_article_url` on that portal's base); else as found,
    without its fragment."""
    to_portal: str
    """Key of the portal the link belongs to (host and ``/web/<site>`` path)."""
    from_portal: str
    """Key of the portal whose page showed the link."""
    kind: str
    """``article`` (an Asset Publisher article route) or ``page`` (any other page of it)."""
    asset_id: int | None
    """The article's asset entry id when the link carries it; None for url-title links and
    pages."""
    found_on: str
    """URL of the page the link was found on."""


@dataclass
class HandoffTaken:
    """A hand-off the portal it was given to has requested as its own (or already held):
    ``portal_handoffs.handled_at`` is set."""

    url: str
    """As :attr:`PortalHandoff.url`."""
    to_portal: str
    """As :attr:`PortalHandoff.to_portal`: the portal whose crawl took it."""

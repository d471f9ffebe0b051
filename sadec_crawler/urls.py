"""URL forms of the portal (site-spec §2): article routes, listing pagination, documents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urljoin, urlsplit

# Liferay appends the session id inside the path when cookies are off.
_JSESSIONID = re.compile(r";jsessionid=[^/?#]*", re.IGNORECASE)
# Asset Publisher routes (Liferay's AssetPublisherFriendlyURLMapper, 6.2 and 7.x): the
# instance may carry a user id (``<userId>_<instanceId>`` for per-user portlet instances);
# ``/<type>/id/<n>`` names any asset type (``content`` is web content: the news), and a
# url-title may be followed by the group id of the site that owns the article (one site
# showing another's) or by a window state.
_INSTANCE = r"(?:\d+_)?(?P<instance>[A-Za-z0-9]+)"
_ARTICLE_BY_ID = re.compile(
    rf"/-/asset_publisher/{_INSTANCE}/(?P<asset_type>[a-z_]+)/id/(?P<asset_id>\d{{4,10}})(?:/|$)"
)
_ARTICLE_BY_TITLE = re.compile(
    rf"/-/asset_publisher/{_INSTANCE}/content/(?P<url_title>(?!id/)[^/?#;]+)"
    r"(?:/(?P<group_id>\d+))?(?:/(?:maximized|normal|exclusive|pop_up))?/?$"
)
ARTICLE_PAGE = "/chi-tiet-bai-viet"
"""The display page of articles; VERIFIED on dongthap.gov.vn and sibling portals."""

DOCUMENT_PREFIX = "/documents/"
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "#")
# The functions below are pure and called for every link of every page, the same few hundred
# links over and over (menus, footers, each listing entry's ancestors): memoised.
_memoised = lru_cache(maxsize=2048)
_STATIC_SUFFIXES = (
    ".css",
    ".js",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".ico",
    ".webp",
    ".woff",
    ".woff2",
    ".ttf",
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".ppt",
    ".pptx",
    ".zip",
    ".rar",
    ".mp4",
)


@dataclass(frozen=True)
class ArticleLink:
    """An article link in any of its route forms."""

    instance: str
    asset_id: int | None
    url_title: str | None
    group_id: int | None = None
    """The owning site's group id, when a url-title link names it (``…/<url-title>/<n>``)."""


def strip_session(url: str) -> str:
    """Remove ``;jsessionid=…`` wherever Liferay put it."""
    return _JSESSIONID.sub("", url)


@_memoised
def absolute(base_url: str, href: str | None) -> str | None:
    """Resolve ``href`` against the page URL; None for script, mail and fragment links."""
    if not href:
        return None
    href = href.strip()
    if not href or href.lower().startswith(_SKIP_SCHEMES):
        return None
    return strip_session(urljoin(base_url, href))


@_memoised
def same_site(url: str, base_url: str) -> bool:
    """True when ``url`` is on the portal's own host (either scheme, with or without www) and,
    for a site served under a path of a shared host (``https://host/web/<site>``), under that
    path: the host's other sites are not this portal's."""

    def host(u: str) -> str:
        netloc = urlsplit(u).netloc.lower()
        return netloc[4:] if netloc.startswith("www.") else netloc

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or host(url) != host(base_url):
        return False
    prefix = urlsplit(base_url).path.rstrip("/")
    return not prefix or parts.path == prefix or parts.path.startswith(prefix + "/")


@_memoised
def parse_asset_link(url: str) -> tuple[str, int] | None:
    """``(asset type, asset entry id)`` of an Asset Publisher ``/<type>/id/<n>`` link of any
    type (``content``, ``document``, ``blogs`` …); None for anything else."""
    by_id = _ARTICLE_BY_ID.search(strip_session(urlsplit(url).path))
    return (by_id["asset_type"], int(by_id["asset_id"])) if by_id else None


@_memoised
def parse_article_link(url: str) -> ArticleLink | None:
    """Recognise every route form of a web-content article; None for anything else (other
    asset types such as ``document/id/<n>`` included: they are files, not news)."""
    path = strip_session(urlsplit(url).path)
    by_id = _ARTICLE_BY_ID.search(path)
    if by_id:
        if by_id["asset_type"] != "content":
            return None
        return ArticleLink(by_id["instance"], int(by_id["asset_id"]), None)
    by_title = _ARTICLE_BY_TITLE.search(path)
    if by_title and by_title["url_title"] not in ("rss", "maximized"):
        group = int(by_title["group_id"]) if by_title["group_id"] else None
        return ArticleLink(by_title["instance"], None, by_title["url_title"], group)
    return None


def canonical_article_url(base_url: str, instance: str, asset_id: int) -> str:
    """``<base>/chi-tiet-bai-viet/-/asset_publisher/<instance>/content/id/<n>``: one URL per
    article whatever route, redirect parameter, session id or window state led to it."""
    return (
        f"{base_url.rstrip('/')}{ARTICLE_PAGE}/-/asset_publisher/{instance}/content/id/{asset_id}"
    )


def is_document(url: str) -> bool:
    """Documents & Media files (images, attachments)."""
    return urlsplit(url).path.startswith(DOCUMENT_PREFIX)


def looks_static(url: str) -> bool:
    """Files that are never pages worth crawling for discovery."""
    return urlsplit(url).path.lower().endswith(_STATIC_SUFFIXES) or is_document(url)


@_memoised
def pagination_param(url: str) -> tuple[str, int] | None:
    """The ``_<ns>_cur`` parameter of a listing URL and its page number, if any."""
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.endswith("_cur"):
            try:
                return name, int(value)
            except ValueError:
                return name, 1
    return None


@_memoised
def listing_key(url: str) -> tuple[str, str, int]:
    """Identity of one page of one listing: (path, portlet namespace, page number), so the long
    and the short pagination URL of the same page are fetched once."""
    parts = urlsplit(strip_session(url))
    param = pagination_param(url)
    if param is None:
        return parts.path.rstrip("/") or "/", "", 1
    name, page = param
    if page <= 1:
        # Page 1 of any portlet is the bare page: fetch it once, whichever link led to it.
        return parts.path.rstrip("/") or "/", "", 1
    return parts.path.rstrip("/") or "/", name.removesuffix("_cur"), page

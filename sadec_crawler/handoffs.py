"""Links from one registered portal to another, handed to the portal they belong to.

A ward's page linking to the city's article, the province's page linking to a site under its
``/web/<site>`` path: the link is not this portal's to crawl (its article would be stored under
the wrong portal), and dropping it loses what the other portal's own walk may never reach (an
article no listing of its own shows). The finding portal's spider yields a
:class:`~sadec_crawler.items.PortalHandoff` for each such link, the storage pipeline keeps it in
``portal_handoffs``, and the crawl of the portal it belongs to, in the same run or its next one,
requests it as its own (:func:`pending_handoffs`) and marks it handled.
"""

from __future__ import annotations

import html
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sadec_crawler.items import PortalHandoff
from sadec_crawler.portals import Portal, PortalRegistry
from sadec_crawler.urls import (
    absolute,
    canonical_article_url,
    looks_static,
    parse_article_link,
    parse_asset_link,
)

_HREF = re.compile(r"""href\s*=\s*["']([^"'<>\s]+)["']""", re.IGNORECASE)
"""Every link target of a page, read from its text: a second parse of a 180 KB page to find a
handful of links to other portals would cost more than the page's own parsing saves."""

_LONGEST_HREF = 2000
"""Characters looked back from a mention for the ``href`` it belongs to."""

_SERVLETS = ("/c/", "/o/", "/combo", "/image/", "/documents/", "/api/")
"""Liferay's servlet and resource paths: never a page of a portal's news."""

ARTICLE, PAGE = "article", "page"


@dataclass(frozen=True)
class Handoff:
    """A link handed to this portal, still to be requested (a row of ``portal_handoffs``)."""

    url: str
    kind: str
    asset_id: int | None
    from_portal: str | None


class PortalLinks:
    """Which links of this portal's pages belong to another registered portal."""

    def __init__(self, registry: PortalRegistry, own: Portal):
        self.registry = registry
        self.own = own
        others = [p for p in registry.portals if p.key != own.key]
        # Sites under /web/<site> of this portal's own host: the parsers take their links for
        # this portal's (same host, no path of its own), so they are told apart here.
        self.nested_prefixes = tuple(
            p.path_prefix
            for p in others
            if p.host == own.host and len(p.path_prefix) > len(own.path_prefix)
        )
        markers = {"//" + p.host for p in others} | {
            f"{prefix}/" for prefix in self.nested_prefixes
        }
        self._mentions = re.compile("|".join(re.escape(m) for m in sorted(markers)) or "(?!)")
        self._owner_cache: dict[str, Portal | None] = {}

    def owner_elsewhere(self, url: str) -> Portal | None:
        """The other registered portal ``url`` belongs to; None when it is this portal's or no
        registered portal's."""
        parts = urlsplit(url)
        # A portal is told by host and first two path segments (/web/<site>): cached by those.
        key = f"{parts.hostname}|{'/'.join(parts.path.split('/')[:3])}"
        if key not in self._owner_cache:
            found = self.registry.for_url(url)
            self._owner_cache[key] = found if found is not None and found != self.own else None
        return self._owner_cache[key]

    def is_nested_elsewhere(self, url: str) -> bool:
        """Whether a link the parsers took for this portal's is a site under ``/web/<site>`` of
        its host (the province's pages linking to a ward's site): not this portal's to crawl."""
        if not self.nested_prefixes:
            return False
        return self.owner_elsewhere(url) is not None

    def handoffs(self, text: str, page_url: str) -> list[PortalHandoff]:
        """The links of a page (its HTML ``text``) that belong to another registered portal,
        each once, as hand-offs: article links in that portal's canonical form, other pages as
        linked. A portal's home page is left out: its own crawl always starts there."""
        found: dict[tuple[str, str], PortalHandoff] = {}
        for href in self._hrefs_mentioning_others(text):
            url = absolute(page_url, html.unescape(href))
            if not url or urlsplit(url).scheme not in ("http", "https"):
                continue
            url = url.split("#", 1)[0]
            owner = self.owner_elsewhere(url)
            if owner is None:
                continue
            handoff = self._handoff(url, owner, page_url)
            if handoff is not None:
                found.setdefault((handoff.url, handoff.to_portal), handoff)
        return list(found.values())

    def _hrefs_mentioning_others(self, text: str) -> list[str]:
        """Link targets naming another portal's host or ``/web/<site>`` path: each mention
        found in the text, then the ``href`` around it (a page has a few such mentions among
        hundreds of links; reading every link cost 2 ms of a city page, this 0.2 ms)."""
        hrefs, starts = [], set()
        for mention in self._mentions.finditer(text):
            start = text.rfind("href", max(0, mention.start() - _LONGEST_HREF), mention.start())
            if start < 0 or start in starts:
                continue
            match = _HREF.match(text, start)
            if match is not None and match.end() >= mention.end():
                starts.add(start)
                hrefs.append(match[1])
        return hrefs

    def _handoff(self, url: str, owner: Portal, page_url: str) -> PortalHandoff | None:
        link = parse_article_link(url)
        if link is not None:
            if link.asset_id is not None:
                url = canonical_article_url(owner.base_url, link.instance, link.asset_id)
            return PortalHandoff(url, owner.key, self.own.key, ARTICLE, link.asset_id, page_url)
        path = urlsplit(url).path[len(owner.path_prefix) :]
        if path in ("", "/") or path.startswith(_SERVLETS) or looks_static(url):
            return None
        if parse_asset_link(url):
            return None  # a file or another asset type shown by the Asset Publisher
        return PortalHandoff(url, owner.key, self.own.key, PAGE, None, page_url)


def pending_handoffs(db_path: str | Path, portal: str, limit: int = 5000) -> list[Handoff]:
    """Links other portals handed to ``portal`` and not yet handled, oldest first, read from
    the archive read-only (as :mod:`sadec_crawler.incremental` reads it)."""
    path = Path(db_path)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        if "portal_handoffs" not in tables:
            return []
        rows = conn.execute(
            "select url, kind, asset_id, from_portal from portal_handoffs "
            "where to_portal = ? and handled_at is null order by found_at, url limit ?",
            [portal, limit],
        ).fetchall()
    finally:
        conn.close()
    return [Handoff(*row) for row in rows]


_BUSY: dict[str, bool] = {}
"""Portal key → whether its crawler still has work, for the crawlers of one process
(``-a portals=``): a crawler with nothing left waits while another may still hand it links."""


def crawler_started(portal: str) -> None:
    _BUSY[portal] = True


def crawler_finished(portal: str) -> None:
    _BUSY.pop(portal, None)


def set_busy(portal: str, busy: bool) -> None:
    if portal in _BUSY:
        _BUSY[portal] = busy


def others_busy(portal: str) -> bool:
    """Whether another portal's crawler of this process still has work (and so may yet hand
    this one a link)."""
    return any(busy for key, busy in _BUSY.items() if key != portal)

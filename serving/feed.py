"""Atom (RFC 4287) feeds of the latest articles and of a search.

Built with ElementTree so every text is escaped by the serializer, never by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sadec_crawler.textnorm import CONTROL_CHARACTERS

from .security import safe_link

ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM)

PUBLISHER = "UBND thành phố Sa Đéc (Cổng thông tin điện tử thành phố Sa Đéc)"


def rfc3339(value: str | None, fallback: str = "1970-01-01T00:00:00Z") -> str:
    """An archive date as an Atom date: a bare ``YYYY-MM-DD`` is midnight in Vietnam."""
    if not value:
        return fallback
    if len(value) == 10:
        return value + "T00:00:00+07:00"
    return value


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry at all (C0/C1 controls: a query
    or an old row may hold them), which no serializer escapes."""
    return CONTROL_CHARACTERS.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    attrs = {name: xml_text(value) for name, value in attrs.items()}
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = xml_text(text)
    return element


def build_feed(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    home_url: str,
    rows: list[dict],
    reader_url,
) -> bytes:
    """The feed document. ``rows`` are articles (newest first); ``reader_url(row)`` gives the
    archive's reading page of one, used as the entry's ``alternate`` link."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    updated = max(
        (rfc3339(r.get("last_changed_at") or r.get("published_at")) for r in rows),
        default="1970-01-01T00:00:00Z",
    )
    _sub(feed, "updated", updated)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=home_url)
    author = _sub(feed, "author")
    _sub(author, "name", PUBLISHER)
    _sub(feed, "generator", "sadec-archive reading room")
    _sub(feed, "rights", "Texts © UBND thành phố Sa Đéc; archived copy for research.")
    for row in rows:
        entry = _sub(feed, "entry")
        _sub(entry, "id", row["url"])
        _sub(entry, "title", row["title"])
        published = rfc3339(row.get("published_at"))
        _sub(entry, "updated", rfc3339(row.get("last_changed_at"), fallback=published))
        if row.get("published_at"):
            _sub(entry, "published", published)
        _sub(entry, "link", rel="alternate", type="text/html", href=reader_url(row))
        if safe_link(row["url"]):
            _sub(entry, "link", rel="via", type="text/html", href=row["url"])
        if row.get("author") or row.get("unit"):
            entry_author = _sub(entry, "author")
            _sub(entry_author, "name", row.get("author") or row.get("unit"))
        if row.get("category"):
            _sub(entry, "category", term=row["category"])
        summary = row.get("summary") or (row.get("body_text") or "")[:400]
        _sub(entry, "summary", summary, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)

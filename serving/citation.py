"""How to cite an archived article: APA-like text, BibTeX, CSL-JSON and the ``citation_*``
meta tags reference managers (Zotero, Google Scholar) read from a page.

Pure functions of an ``articles`` row and the archive's permalink of it. The author is the
article's author when the byline names a person, else the unit (office) that wrote it, else the
city's People's Committee, publisher of the portal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PUBLISHER = "UBND thành phố Sa Đéc"
"""The People's Committee of Sa Đéc city, publisher of the portal."""
SITE_NAME = "Cổng thông tin điện tử thành phố Sa Đéc"
ARCHIVE_NAME = "Sa Đéc news archive"
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass
class Citation:
    """Every form of the citation of one article."""

    text: str
    """APA-like reference, plain text."""
    bibtex: str
    csl_json: str
    meta: list[tuple[str, str]]
    """``(name, content)`` of the ``<meta>`` tags, in order."""
    fields: list[tuple[str, str]]
    """``(label, value)`` of what the reference rests on, for the page to show."""


def _date_parts(published_at: str | None) -> tuple[int, int, int] | None:
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", published_at or "")
    return tuple(int(part) for part in match.groups()) if match else None


def cited_author(article: dict) -> str:
    """Who the reference names first: the author, else the unit, else the publisher."""
    return article.get("author") or article.get("unit") or PUBLISHER


def _capture_date(article: dict) -> str | None:
    if article.get("capture_timestamp"):
        stamp = article["capture_timestamp"]
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}"
    fetched = article.get("fetched_at") or article.get("last_crawled_at") or ""
    return fetched[:10] or None


def _bibtex_escape(text: str) -> str:
    return re.sub(r"([{}%&$#_\\])", r"\\\1", text)


def cite(article: dict, permalink: str) -> Citation:
    """The citation of ``article`` (a row of ``articles``), archived at ``permalink``."""
    author = cited_author(article)
    title = article.get("title") or "(untitled)"
    url = article["url"]
    date = _date_parts(article.get("published_at"))
    captured = _capture_date(article)
    when = f"{date[0]}, {MONTHS[date[1] - 1]} {date[2]}" if date else "n.d."
    text = f"{author}. ({when}). {title}. {SITE_NAME}. {url}" + (
        f" (archived {captured}: {permalink})" if captured else f" (archived: {permalink})"
    )
    key = f"sadec{article['asset_id']}"
    bib_fields = [
        ("author", "{" + _bibtex_escape(author) + "}"),
        ("title", "{" + _bibtex_escape(title) + "}"),
        ("howpublished", "{" + _bibtex_escape(SITE_NAME) + "}"),
        ("publisher", "{" + _bibtex_escape(PUBLISHER) + "}"),
        ("url", "{" + url + "}"),
        ("language", "{vietnamese}"),
    ]
    if date:
        bib_fields += [("year", str(date[0])), ("month", str(date[1])), ("day", str(date[2]))]
    note = f"Archived copy: {permalink}"
    if article.get("warc_record_id"):
        note += f"; WARC record {article['warc_record_id']}"
    if article.get("warc_payload_digest"):
        note += f", payload digest {article['warc_payload_digest']}"
    bib_fields.append(("note", "{" + _bibtex_escape(note) + "}"))
    if captured:
        bib_fields.append(("urldate", "{" + captured + "}"))
    bibtex = (
        f"@misc{{{key},\n" + ",\n".join(f"  {name} = {value}" for name, value in bib_fields) + "\n}"
    )
    csl = {
        "id": key,
        "type": "webpage",
        "title": title,
        "author": [{"literal": author}],
        "container-title": SITE_NAME,
        "publisher": PUBLISHER,
        "URL": url,
        "language": "vi",
        "archive": ARCHIVE_NAME,
        "archive_location": permalink,
    }
    if date:
        csl["issued"] = {"date-parts": [list(date)]}
    if captured:
        csl["accessed"] = {"date-parts": [[int(part) for part in captured.split("-")]]}
    meta = [("citation_title", title), ("citation_author", author)]
    if date:
        meta.append(("citation_publication_date", f"{date[0]}/{date[1]:02d}/{date[2]:02d}"))
    meta += [
        ("citation_publisher", PUBLISHER),
        ("citation_language", "vi"),
        ("citation_public_url", url),
        ("citation_fulltext_html_url", permalink),
    ]
    fields = [
        ("Author / unit", author),
        ("Title", title),
        ("Date", f"{date[2]:02d}/{date[1]:02d}/{date[0]}" if date else "unknown"),
        ("Portal URL", url),
        ("Archive permalink", permalink),
        ("Captured", captured or "unknown"),
        ("WARC record", article.get("warc_record_id") or "none (no capture kept)"),
        ("Payload digest", article.get("warc_payload_digest") or "none"),
    ]
    return Citation(
        text=text,
        bibtex=bibtex,
        csl_json=json.dumps(csl, ensure_ascii=False, indent=2),
        meta=meta,
        fields=fields,
    )

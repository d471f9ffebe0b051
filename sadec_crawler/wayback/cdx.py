"""The Wayback Machine's CDX index and raw playback: queries, answers, URLs.

After the public ``wayback-cdx-server`` README: ``/cdx/search/cdx`` with ``url``, ``matchType``,
``output=json`` (a header row first), ``fl``, ``filter``, ``collapse``, ``from``, ``to``,
``limit`` and ``showResumeKey``/``resumeKey``; raw playback at ``/web/<timestamp>id_/<URL>``.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

CDX_PATH = "/cdx/search/cdx"
CDX_FIELDS = ("timestamp", "original", "mimetype", "statuscode", "digest")
ARTICLE_PREFIXES = ("/chi-tiet-bai-viet", "/-/asset_publisher/")
"""Path prefixes of the article routes (site-spec §2): the display page, with every variant
(``/content/id/N``, ``/maximized``, url-title, ``;jsessionid=``, ``?redirect=``), and the
root ``/-/asset_publisher/…/content/<url-title>`` form."""
NOT_A_PAGE = ".*(/-/asset_publisher/|/documents/|/o/).*"
"""Captures the pages query leaves out: articles (queried apart), files and theme assets."""
PLAYBACK_PATH = re.compile(r"/web/(?P<timestamp>\d{14})(?:[a-z]{2}_)?/(?P<original>.+)$", re.S)
DISCOVERY_STATE_KEY = "sadec_wayback_discovery"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CdxCapture:
    """One row of the CDX index."""

    timestamp: str
    """14 digits, UTC."""
    original: str
    """The URL as captured (scheme, host and port as the archive saw them)."""
    mimetype: str
    status: int | None
    """HTTP status of the capture; None for revisit records (``-``)."""
    digest: str

    @property
    def usable(self) -> bool:
        """A capture of a page, not of an error or a redirect."""
        return self.status == 200 or (self.status is None and self.mimetype == "warc/revisit")


@dataclass(frozen=True)
class CdxQuery:
    """A CDX search, paged with ``showResumeKey``/``resumeKey`` (CDX server README)."""

    url: str
    match_type: str = "prefix"
    filters: tuple[str, ...] = ()
    collapse: str | None = "digest"
    """``digest`` skips identical re-captures (adjacent rows only, as the server does)."""
    start: str | None = None
    """``from``: 1–14 digit timestamp, inclusive."""
    end: str | None = None
    """``to``: 1–14 digit timestamp, inclusive."""
    limit: int = 5000

    def request_url(self, archive_url: str, resume_key: str | None = None) -> str:
        params = [
            ("url", self.url),
            ("matchType", self.match_type),
            ("output", "json"),
            ("fl", ",".join(CDX_FIELDS)),
        ]
        params += [("filter", spec) for spec in self.filters]
        if self.collapse:
            params.append(("collapse", self.collapse))
        if self.start:
            params.append(("from", self.start))
        if self.end:
            params.append(("to", self.end))
        params += [("limit", str(self.limit)), ("showResumeKey", "true")]
        url = f"{archive_url}{CDX_PATH}?{urlencode(params)}"
        # The server hands the key out already URL-encoded: it goes back verbatim.
        return f"{url}&resumeKey={resume_key}" if resume_key else url


def parse_cdx_json(body: bytes) -> tuple[list[CdxCapture], str | None]:
    """Rows of an ``output=json`` answer (header row first) and its resume key, if any."""
    if body[:2] == b"\x1f\x8b":
        # The CDX server gzips its answers unless asked not to (``gzip=false``); HTTP-level
        # compression is undone by Scrapy, a gzip payload without that header is not.
        body = gzip.decompress(body)
    data = json.loads(body or b"[]")
    if not data:
        return [], None
    header, rows, resume_key = data[0], data[1:], None
    if len(rows) >= 2 and rows[-2] == [] and len(rows[-1]) == 1:
        resume_key, rows = rows[-1][0], rows[:-2]
    rows = [row for row in rows if row]
    column = {name: index for index, name in enumerate(header)}
    captures = []
    for row in rows:
        status = row[column["statuscode"]]
        captures.append(
            CdxCapture(
                timestamp=row[column["timestamp"]],
                original=row[column["original"]],
                mimetype=row[column["mimetype"]],
                status=int(status) if status.isdigit() else None,
                digest=row[column["digest"]],
            )
        )
    return captures, resume_key


def playback_url(archive_url: str, timestamp: str, original: str) -> str:
    """The raw (``id_``) playback URL of a capture."""
    return f"{archive_url}/web/{timestamp}id_/{original}"


def capture_of(url: str) -> tuple[str, str] | None:
    """(timestamp, original URL) of a playback URL; None for anything else."""
    parts = urlsplit(url)
    match = PLAYBACK_PATH.search(parts.path)
    if match is None:
        return None
    original = match["original"] + (f"?{parts.query}" if parts.query else "")
    return match["timestamp"], original


def timestamp_digits(value: str | None) -> str | None:
    """``2025-06-13T09:00:00Z`` → ``20250613090000``."""
    digits = re.sub(r"\D", "", value or "")[:14]
    return digits.ljust(14, "0") if digits else None


def host_of(url: str) -> str:
    """Host name, lower case, without ``www.`` (the archive does not tell them apart)."""
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")

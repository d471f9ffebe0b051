"""The Wayback Machine's CDX index and raw playback: queries, answers, URLs.

After the public ``wayback-cdx-server`` README: ``/cdx/search/cdx`` with ``url``, ``matchType``,
``output=json`` (a header row first), ``fl``, ``filter``, ``collapse``, ``from``, ``to``,
``limit`` and ``showResumeKey``/``resumeKey``; raw playback at ``/web/<timestamp>id_/<URL>``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

CDX_PATH = "/cdx/search/cdx"
CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest")
"""``urlkey`` first: without it in ``fl`` the real server's resume key is ``-+<timestamp>``,
which resumes at unrelated rows (internetarchive/wayback issue #121)."""
ARTICLE_PREFIXES = ("/chi-tiet-bai-viet", "/-/asset_publisher/")
"""Path prefixes of the article routes (site-spec §2): the display page, with every variant
(``/content/id/N``, ``/maximized``, url-title, ``;jsessionid=``, ``?redirect=``), and the
root ``/-/asset_publisher/…/content/<url-title>`` form."""
NOT_A_PAGE = ".*(/-/asset_publisher/|/documents/|/o/).*"
"""Captures the pages query leaves out: articles (queried apart), files and theme assets."""
PLAYBACK_PATH = re.compile(r"/web/(?P<timestamp>\d{14})(?:[a-z]{2}_)?/(?P<original>.+)$", re.S)
DISCOVERY_STATE_KEY = "sadec_wayback_discovery"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TIMESTAMP = "%Y%m%d%H%M%S"
FIRST_CAPTURES = "1996"
"""The Wayback Machine's first year: the start of a query with no ``from``."""


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
    urlkey: str = ""
    """The archive's SURT key: captures of one URL (http/https/www alike) share it."""

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
    collapse: str | None = None
    """Off: the server compares adjacent rows across URLs (after filters), so identical 404s
    or empty redirects of neighbouring URLs hide each other; the run drops identical
    re-captures per URL itself (:func:`drop_identical_recaptures`)."""
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
    if not isinstance(data, list):
        raise ValueError("not a list of rows")
    resume_key = None
    if len(data) >= 2 and data[-2] == [] and len(data[-1]) == 1:
        # The key closes the answer after an empty row, even when no row came before it (a
        # page the server emptied by its filters: no header either).
        resume_key, data = data[-1][0], data[:-2]
    if not data:
        return [], resume_key
    header, rows = data[0], [row for row in data[1:] if row]
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
                urlkey=row[column["urlkey"]] if "urlkey" in column else "",
            )
        )
    return captures, resume_key


def drop_identical_recaptures(captures: list[CdxCapture]) -> list[CdxCapture]:
    """``captures`` less each one whose digest equals the previous capture of the same URL
    (its urlkey): what ``collapse=digest`` meant to do, without one URL's rows hiding
    another's. Revisit records carry their original's digest and go too."""
    previous: dict[str, str] = {}
    kept = []
    for capture in sorted(captures, key=lambda c: (c.urlkey or c.original, c.timestamp)):
        key = capture.urlkey or capture.original
        if capture.usable and previous.get(key) == capture.digest:
            continue
        if capture.usable:
            previous[key] = capture.digest
        kept.append(capture)
    return kept


def split_window(query: CdxQuery, now: str) -> tuple[CdxQuery, CdxQuery] | None:
    """The query over each half of its ``from``/``to`` window (all of the archive's years
    when it has none); None below a day. A prefix query the server cannot finish in time
    (504 under load, internetarchive/wayback #285) is asked again as two smaller ones."""
    start = _first_moment(query.start or FIRST_CAPTURES)
    end = _last_moment(query.end or now)
    if end - start < dt.timedelta(days=1):
        return None
    middle = start + (end - start) / 2
    return (
        dataclasses.replace(query, start=_digits(start), end=_digits(middle)),
        dataclasses.replace(
            query, start=_digits(middle + dt.timedelta(seconds=1)), end=_digits(end)
        ),
    )


def _first_moment(digits: str) -> dt.datetime:
    """The first moment a 1-14 digit ``from`` value includes."""
    return dt.datetime.strptime((digits + "00000101000000"[len(digits) :])[:14], TIMESTAMP)


def _last_moment(digits: str) -> dt.datetime:
    """The last moment a 1-14 digit ``to`` value includes (the server pads it the same way)."""
    digits = digits[:14]
    start = _first_moment(digits)
    if len(digits) >= 14:
        return start
    if len(digits) >= 12:
        return start + dt.timedelta(seconds=59)
    if len(digits) >= 10:
        return start + dt.timedelta(minutes=59, seconds=59)
    if len(digits) >= 8:
        return start + dt.timedelta(hours=23, minutes=59, seconds=59)
    if len(digits) >= 6:
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(seconds=1)
    return start.replace(year=start.year + 1) - dt.timedelta(seconds=1)


def _digits(moment: dt.datetime) -> str:
    return moment.strftime(TIMESTAMP)


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

"""WARC captures as a source of responses: ``sadec rebuild`` replays a crawl on Scrapy's engine.

:func:`index_captures` reads the headers of every record of a folder of WARC files (bodies stay
on disk). :class:`WarcReplayMiddleware`, a downloader middleware at the network's edge (where
the WARC writer sits in a crawl), answers every request of a replayed crawl run with what the
network answered then: the next captured response of that URL, or the failure recorded for it
(retries consume the next capture, as they did). Everything else — robots.txt, redirects,
decompression, the spider, the item pipelines, the files pipeline's downloads — runs as in the
crawl. Nothing reaches the network.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes
from twisted.internet import error as twisted_error
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .digests import digests_match, warc_digest
from .items import Capture
from .layout import WARC_PATTERNS
from .urls import listing_key, pagination_param, parse_article_link


# --- Reading the captures ------------------------------------------------------------------------
@dataclass
class CrawlInfo:
    """What the ``warcinfo`` records (and the closing record) say about a crawl."""

    crawl_id: str
    base_url: str | None = None
    started_at: str | None = None
    """``WARC-Date`` of its first ``warcinfo`` record."""
    spider_args: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    finish_reason: str | None = None
    """Scrapy's finish reason; None when the crawl was killed before closing its files."""


@dataclass
class ResponseRef:
    """Where a response record is, and what its headers say."""

    warc_path: Path
    offset: int
    record_id: str
    payload_digest: str
    date: str
    url: str
    status: int
    location: str | None
    purpose: str | None
    crawl: CrawlInfo

    @property
    def capture(self) -> Capture:
        return Capture(
            self.warc_path.name, self.record_id, self.offset, self.payload_digest, self.date
        )


@dataclass
class FailureRef:
    """A fetch that got no response (``metadata`` record with ``fetch-error``)."""

    url: str
    date: str
    kind: str
    crawl: CrawlInfo | None = None
    """The crawl that wrote it (a URL refused by robots.txt is refused again by every run)."""
    message: str = ""
    """The failure as the crawl saw it (``fetch-error-message``)."""


@dataclass
class CaptureIndex:
    """Every response and failure of a folder of WARC files, bodies left on disk."""

    warc_files: list[Path] = field(default_factory=list)
    responses: list[ResponseRef] = field(default_factory=list)
    by_url: dict[str, list[ResponseRef | FailureRef]] = field(default_factory=dict)
    crawls: dict[str, CrawlInfo] = field(default_factory=dict)
    records: int = 0
    problems: list[str] = field(default_factory=list)
    skipped_bytes: int = 0
    """Bytes of damaged stretches passed over (see :func:`index_captures`)."""


def date_key(warc_date: str) -> dt.datetime:
    """``WARC-Date`` as a datetime, whatever its precision, for ordering."""
    return dt.datetime.fromisoformat(warc_date.replace("Z", "+00:00"))


def _warc_fields(record) -> dict[str, str]:
    text = record.content_stream().read().decode("utf-8", "replace")
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _crawl_info(index: CaptureIndex, fields: dict[str, str], fallback_id: str, date: str):
    """The crawl a ``warcinfo`` record belongs to (one object for all files of a crawl)."""
    crawl_id = fields.get("sadec-crawl-id") or fallback_id
    if crawl_id not in index.crawls:
        args = json.loads(fields.get("sadec-spider-args") or "{}")
        index.crawls[crawl_id] = CrawlInfo(
            crawl_id=crawl_id,
            base_url=fields.get("sadec-base-url") or None,
            started_at=date,
            spider_args={name: str(value) for name, value in args.items() if value},
            settings=json.loads(fields.get("sadec-settings") or "{}"),
        )
    return index.crawls[crawl_id]


def warc_files_in(folder: Path) -> list[Path]:
    """WARC files of a folder, in name order (crawl start, then rotation serial)."""
    return sorted({path for pattern in WARC_PATTERNS for path in folder.glob(pattern)})


GZIP_MEMBER = b"\x1f\x8b\x08"
"""How each record of the project's WARC files begins: every record is its own gzip member."""


def index_captures(files: list[Path]) -> CaptureIndex:
    """Read the headers of every record; bodies are read again only when needed. A damaged
    stretch of a file (torn by a kill, overwritten, garbage inserted) is noted in
    ``problems`` and skipped: reading goes on at the next gzip member after it."""
    index = CaptureIndex(warc_files=files)
    for path in files:
        _index_file(index, path)
    index.responses.sort(key=lambda ref: (date_key(ref.date), ref.warc_path.name, ref.offset))
    return index


def _index_file(index: CaptureIndex, path: Path) -> None:
    crawl = index.crawls.setdefault(path.name, CrawlInfo(crawl_id=path.name))
    size = path.stat().st_size
    start = 0
    with path.open("rb") as handle:
        while start < size:
            handle.seek(start)
            records = ArchiveIterator(handle)
            end = start  # where the last record read whole ends
            try:
                for record in records:
                    # Before get_record_offset(), which reads the record to its end.
                    fields = (
                        _warc_fields(record) if record.rec_type in ("warcinfo", "metadata") else {}
                    )
                    if record.rec_type == "warcinfo":
                        date = record.rec_headers.get_header("WARC-Date")
                        crawl = _crawl_info(index, fields, path.name, date)
                    elif "finish-reason" in fields:
                        crawl.finish_reason = fields["finish-reason"]
                    offset = records.get_record_offset()  # from the file's start, seek or not
                    _index_record(index, record, offset, path, crawl, fields)
                    index.records += 1
                    end = offset + records.get_record_length()
                return
            except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as error:
                resume = _next_member(handle, end + 1, size)
                skipped = (resume if resume is not None else size) - end
                index.skipped_bytes += skipped
                index.problems.append(
                    f"{path.name}: damaged at byte {end} ({printable(error)}); "
                    f"{skipped} bytes skipped"
                    + (f", reading again at byte {resume}" if resume is not None else "")
                )
                if resume is None:
                    return
                start = resume


def printable(value, limit: int = 160) -> str:
    """``value`` as one short line a terminal shows as it is: the messages of a damaged record
    quote its bytes, which may be control characters or garbage (red-team finding 14)."""
    text = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(value)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _next_member(handle, position: int, size: int) -> int | None:
    """Offset of the next gzip member at or after ``position``, if any."""
    chunk = 1 << 20
    while position < size:
        handle.seek(position)
        data = handle.read(chunk + len(GZIP_MEMBER))
        found = data.find(GZIP_MEMBER)
        if found >= 0:
            return position + found
        position += chunk
    return None


def _index_record(
    index: CaptureIndex, record, offset: int, path: Path, crawl: CrawlInfo, fields: dict
) -> None:
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI")
    if record.rec_type == "response" and record.http_headers is not None:
        http_headers = record.http_headers
        ref = ResponseRef(
            warc_path=path,
            offset=offset,
            record_id=headers.get_header("WARC-Record-ID"),
            payload_digest=headers.get_header("WARC-Payload-Digest"),
            date=headers.get_header("WARC-Date"),
            url=url,
            status=int(http_headers.get_statuscode() or 0),
            location=http_headers.get_header("Location"),
            purpose=headers.get_header("Sadec-Purpose"),
            crawl=crawl,
        )
        index.responses.append(ref)
        index.by_url.setdefault(url, []).append(ref)
    elif record.rec_type == "metadata" and "fetch-error" in fields:
        failure = FailureRef(
            url,
            headers.get_header("WARC-Date"),
            fields["fetch-error"],
            crawl,
            fields.get("fetch-error-message", ""),
        )
        index.by_url.setdefault(url, []).append(failure)


class DamagedRecord(ValueError):
    """A record whose payload no longer matches its ``WARC-Payload-Digest``."""


# --- Replaying --------------------------------------------------------------------------------
UNREADABLE = (ArchiveLoadFailed, zlib.error, EOFError, OSError, StopIteration, ValueError)
"""What reading a torn (killed crawl) or damaged record raises."""
FAILURES = {
    "timeout": twisted_error.TimeoutError,
    "dns": twisted_error.DNSLookupError,
    "connection_refused": twisted_error.ConnectionRefusedError,
    "too_large": DownloadCancelledError,
}
"""Recorded ``fetch-error`` kinds and the exceptions that stand for them again: the same
retries, the same errback, the same recorded kind."""


def failure_for(kind: str, message: str) -> BaseException:
    """The exception a recorded fetch failure is replayed as."""
    cls = FAILURES.get(kind) or getattr(twisted_error, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = type(kind, (ConnectionError,), {})  # keeps the recorded kind as its name
    return cls(message)


def raw_response(ref: ResponseRef, request: Request | None = None) -> Response:
    """The response of a record as it came off the network (still content-encoded: the
    crawl's middlewares undo that again). Raises :class:`DamagedRecord` for a torn or damaged
    payload: it must not be parsed as if it were whole."""
    with ref.warc_path.open("rb") as handle:
        handle.seek(ref.offset)
        record = next(iter(ArchiveIterator(handle)))
        body = record.raw_stream.read()
        header_list = record.http_headers.headers
    if ref.payload_digest:
        actual = warc_digest(ref.payload_digest.partition(":")[0], [body])
        if not digests_match(ref.payload_digest, actual):
            raise DamagedRecord(f"payload digest {actual}, expected {ref.payload_digest}")
    headers = Headers()
    for name, value in header_list:
        headers.appendlist(name, value)
    cls = responsetypes.from_args(headers=headers, url=ref.url, body=body)
    return cls(url=ref.url, status=ref.status, headers=headers, body=body, request=request)


def page_identity(url: str) -> tuple | None:
    """What a URL names, whatever its form: an article (by asset id or url-title) or a page of
    a listing; None for anything else (files, robots.txt: their URLs are their identity)."""
    link = parse_article_link(url)
    if link is not None:
        host = urlsplit(url).netloc
        return ("article", host, link.asset_id or link.url_title)
    if pagination_param(url) is not None:
        return ("listing", urlsplit(url).netloc, *listing_key(url))
    return None


class WarcReplayMiddleware:
    """Answers every request from the captures of one crawl run: ``SADEC_REPLAY_WARC_DIR``
    (the folder) and ``SADEC_REPLAY_CRAWL_ID`` (the run's ``sadec-crawl-id``). Off (the
    network answers) when no folder is set. A request the crawl never sent is refused
    (``IgnoreRequest``), so nothing ever reaches the network."""

    def __init__(self, crawler, index: CaptureIndex, crawl_id: str):
        self.crawler = crawler
        self.index = index
        self.events: dict[str, deque] = {}
        for url, events in index.by_url.items():
            mine = [
                event
                for event in events
                if event.crawl is not None
                and event.crawl.crawl_id == crawl_id
                and not (isinstance(event, FailureRef) and event.kind == "ignored")
            ]
            if mine:
                self.events[url] = deque(sorted(mine, key=lambda e: date_key(e.date)))
        self.aliases: dict[tuple, str] = {}
        for url in sorted(self.events):
            identity = page_identity(url)
            if identity is not None:
                self.aliases.setdefault(identity, url)

    @classmethod
    def from_crawler(cls, crawler):
        folder = crawler.settings.get("SADEC_REPLAY_WARC_DIR")
        if not folder:
            # The usual case (a crawl of the network): said with no message, Scrapy stays
            # quiet instead of warning in every crawl's log.
            raise NotConfigured
        crawl_id = crawler.settings.get("SADEC_REPLAY_CRAWL_ID") or ""
        index = index_captures(warc_files_in(Path(folder)))
        if crawl_id not in index.crawls:
            raise ValueError(f"SADEC_REPLAY_CRAWL_ID={crawl_id!r}: no such crawl in {folder}")
        return cls(crawler, index, crawl_id)

    def process_request(self, request: Request):
        events = self.events.get(request.url)
        if not events:
            # The same article or listing page by another of its URL forms: a replay may meet
            # the links in another order than the crawl did, and follow another form first.
            identity = page_identity(request.url)
            alias = self.aliases.get(identity) if identity is not None else None
            events = self.events.get(alias) if alias else None
        if not events:
            self.crawler.stats.inc_value("sadec/replay/not_captured")
            raise IgnoreRequest(f"not captured by the replayed crawl: {request.url}")
        event = events.popleft()
        self.crawler.stats.inc_value("sadec/replay/answered")
        if isinstance(event, FailureRef):
            raise failure_for(event.kind, event.message)
        try:
            response = raw_response(event, request)
        except (
            ArchiveLoadFailed,
            zlib.error,
            EOFError,
            OSError,
            StopIteration,
            ValueError,
        ) as error:
            message = (
                f"{event.warc_path.name} @ {event.offset}: unreadable record ({error or 'torn'})"
            )
            self.crawler.stats.inc_value("sadec/replay/unreadable")
            raise IgnoreRequest(message) from error
        request.meta["sadec_capture"] = event.capture
        return response

"""``sadec rebuild WARC_DIR NEW_DB``: the database again, from the WARC captures alone.

The captures are replayed in the order they were received (``WARC-Date``), through the same
functions as the crawl: listing pages give :class:`ListingEntry` objects
(:func:`~sadec_crawler.pages.extract_listing`, merged by :func:`remember_listing_entries`),
article pages become :class:`ArticlePage` → :func:`~sadec_crawler.article.build_article` →
:func:`~pipelines.store.upsert_article`, and images and attachments are read back from their own
response records (:func:`~pipelines.files.stored_file_from_body`). Each crawl run found in the
captures is replayed with fresh crawl state, as the spider had, so a capture taken again by a
later run becomes the current row and what it replaced a version.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from scrapy.http import Headers, Response, TextResponse
from scrapy.responsetypes import responsetypes
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipelines.files import DEFAULT_MAXSIZE, store_body, stored_file_from_body
from pipelines.store import (
    apply_listing_entry,
    fix_uppercase_categories,
    open_database,
    remember_category_name,
    upsert_article,
)

from .article import NotAnArticle, build_article
from .fixity import CAPTURES, FILES, WARC_PATTERNS, digests_match, record_folder, warc_digest
from .items import ArticlePage, Capture, ListingEntry, StoredFile
from .pages import extract_article, extract_listing
from .urls import canonical_article_url, is_document, parse_article_link

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
DEFAULT_INSTANCE = "1mOzUrGkrdAE"
"""Asset Publisher instance of the article display page (as the spider assumes)."""


# --- Reading the captures ------------------------------------------------------------------------
@dataclass
class CrawlInfo:
    """What a file's ``warcinfo`` record says about the crawl that wrote it."""

    crawl_id: str
    base_url: str | None = None
    mode: str | None = None
    source: str = "live"
    file_maxsize: int = DEFAULT_MAXSIZE


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
        return Capture(self.warc_path.name, self.record_id, self.offset, self.payload_digest,
                       self.date)


@dataclass
class FailureRef:
    """A fetch that got no response (``metadata`` record with ``fetch-error``)."""

    url: str
    date: str
    kind: str


@dataclass
class CaptureIndex:
    """Every response and failure of a folder of WARC files, bodies left on disk."""

    warc_files: list[Path] = field(default_factory=list)
    responses: list[ResponseRef] = field(default_factory=list)
    by_url: dict[str, list[ResponseRef | FailureRef]] = field(default_factory=dict)
    records: int = 0
    problems: list[str] = field(default_factory=list)


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


def _crawl_info(fields: dict[str, str], fallback_id: str) -> CrawlInfo:
    args = json.loads(fields.get("sadec-spider-args") or "{}")
    settings = json.loads(fields.get("sadec-settings") or "{}")
    return CrawlInfo(
        crawl_id=fields.get("sadec-crawl-id") or fallback_id,
        base_url=fields.get("sadec-base-url") or None,
        mode=args.get("mode"),
        source=args.get("source") or "live",
        file_maxsize=int(settings.get("SADEC_FILE_MAXSIZE") or DEFAULT_MAXSIZE),
    )


def warc_files_in(folder: Path) -> list[Path]:
    """WARC files of a folder, in name order (crawl start, then rotation serial)."""
    return sorted({path for pattern in WARC_PATTERNS for path in folder.glob(pattern)})


def index_captures(files: list[Path]) -> CaptureIndex:
    """Read the headers of every record; bodies are read again only when needed."""
    index = CaptureIndex(warc_files=files)
    for path in files:
        crawl = CrawlInfo(crawl_id=path.name)
        try:
            with path.open("rb") as handle:
                records = ArchiveIterator(handle)
                for record in records:
                    index.records += 1
                    _index_record(index, record, records.get_record_offset(), path, crawl)
                    if record.rec_type == "warcinfo":
                        crawl = _crawl_info(_warc_fields(record), path.name)
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError) as error:
            # A crawl killed mid-record leaves a torn last record: keep everything before it.
            index.problems.append(f"{path.name}: unreadable after {index.records} records: {error}")
    index.responses.sort(key=lambda ref: (date_key(ref.date), ref.warc_path.name, ref.offset))
    return index


def _index_record(index: CaptureIndex, record, offset: int, path: Path, crawl: CrawlInfo):
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI")
    if record.rec_type == "response" and record.http_headers is not None:
        http_headers = record.http_headers
        ref = ResponseRef(
            warc_path=path, offset=offset, record_id=headers.get_header("WARC-Record-ID"),
            payload_digest=headers.get_header("WARC-Payload-Digest"),
            date=headers.get_header("WARC-Date"), url=url,
            status=int(http_headers.get_statuscode() or 0),
            location=http_headers.get_header("Location"),
            purpose=headers.get_header("Sadec-Purpose"), crawl=crawl,
        )
        index.responses.append(ref)
        index.by_url.setdefault(url, []).append(ref)
    elif record.rec_type == "metadata":
        fields = _warc_fields(record)
        if "fetch-error" in fields:
            failure = FailureRef(url, headers.get_header("WARC-Date"), fields["fetch-error"])
            index.by_url.setdefault(url, []).append(failure)


def decode_content(body: bytes, encodings: list[str]) -> tuple[bytes, list[str]]:
    """Undo ``Content-Encoding`` as Scrapy's HttpCompressionMiddleware does; returns the body
    and the encodings that could not be undone."""
    remaining = [e.strip().lower() for e in encodings if e.strip()]
    while remaining:
        encoding = remaining[-1]
        try:
            if encoding in ("gzip", "x-gzip"):
                body = gzip.decompress(body)
            elif encoding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            elif encoding == "br":
                import brotli

                body = brotli.decompress(body)
            elif encoding == "zstd":
                from backports import zstd

                body = zstd.decompress(body)
            elif encoding != "identity":
                break
        except (ImportError, OSError, zlib.error, EOFError):
            break
        remaining.pop()
    return body, remaining


class DamagedRecord(ValueError):
    """A record whose payload no longer matches its ``WARC-Payload-Digest``."""


def read_response(ref: ResponseRef) -> Response:
    """The response of a record as the spider received it: decompressed, of the class Scrapy
    would pick (HTML, XML, text or binary)."""
    with ref.warc_path.open("rb") as handle:
        handle.seek(ref.offset)
        record = next(iter(ArchiveIterator(handle)))
        body = record.raw_stream.read()
        header_list = record.http_headers.headers
    if ref.payload_digest:
        # A torn (killed crawl) or damaged record must not be parsed as if it were whole.
        actual = warc_digest(ref.payload_digest.partition(":")[0], [body])
        if not digests_match(ref.payload_digest, actual):
            raise DamagedRecord(f"payload digest {actual}, expected {ref.payload_digest}")
    headers = Headers()
    for name, value in header_list:
        headers.appendlist(name, value)
    encodings = [
        part for value in headers.getlist("Content-Encoding") for part in value.decode().split(",")
    ]
    if encodings:
        body, remaining = decode_content(body, encodings)
        if remaining:
            headers["Content-Encoding"] = ", ".join(remaining)
        else:
            del headers["Content-Encoding"]
    cls = responsetypes.from_args(headers=headers, url=ref.url, body=body)
    return cls(url=ref.url, status=ref.status, headers=headers, body=body)


# --- The crawl's logic, replayed -----------------------------------------------------------------
def remember_listing_entries(
    known: dict[int, ListingEntry], entries: list[ListingEntry], emitted: set[int]
) -> list[ListingEntry]:
    """Merge a listing page's entries into those known so far (first seen wins, later ones fill
    its date and summary); return the entries that arrive after their article was emitted and
    carry something to merge into the stored row."""
    late = []
    for entry in entries:
        if not entry.asset_id:
            continue
        kept = known.get(entry.asset_id)
        if kept is None:
            known[entry.asset_id] = entry
        else:
            kept.date_raw = kept.date_raw or entry.date_raw
            kept.summary = kept.summary or entry.summary
        if entry.asset_id in emitted and (entry.date_raw or entry.summary):
            late.append(entry)
    return late


@dataclass
class RunState:
    """What the spider and pipelines of one crawl run remember while it runs."""

    crawl: CrawlInfo
    run_id: int
    listing_entries: dict[int, ListingEntry] = field(default_factory=dict)
    emitted: set[int] = field(default_factory=set)
    known_categories: dict[str, str] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)
    pages: Counter = field(default_factory=Counter)
    first_date: str | None = None
    last_date: str | None = None


def _seconds(warc_date: str) -> str:
    return date_key(warc_date).strftime("%Y-%m-%dT%H:%M:%SZ")


class Replay:
    """Feeds the captures, oldest first, through the crawl's parsing and storage functions."""

    def __init__(self, db, index: CaptureIndex, files_dir: Path, fallback_base: str | None):
        self.db = db
        self.index = index
        self.files_dir = files_dir
        self.fallback_base = fallback_base
        self.state: RunState | None = None
        self.stored_files: dict[str, StoredFile] = {}
        self.errors: Counter = Counter()
        self.totals: Counter = Counter()

    def run(self) -> None:
        for ref in self.index.responses:
            if self.state is None or self.state.crawl.crawl_id != ref.crawl.crawl_id:
                self._finish_run()
                self._start_run(ref.crawl, ref.date)
            self.state.last_date = ref.date
            self.page(ref)
        self._finish_run()

    def _base_url(self, ref: ResponseRef) -> str:
        if ref.crawl.base_url:
            return ref.crawl.base_url
        parts = urlsplit(self.fallback_base or ref.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _start_run(self, crawl: CrawlInfo, date: str) -> None:
        with self.db.conn:
            run_id = self.db["crawl_runs"].insert(
                {"started_at": _seconds(date), "mode": crawl.mode, "source": crawl.source,
                 "base_url": crawl.base_url, "message": f"rebuilt from WARC ({crawl.crawl_id})"}
            ).last_pk
        self.state = RunState(crawl=crawl, run_id=run_id, first_date=date)

    def _finish_run(self) -> None:
        state = self.state
        if state is None:
            return
        fix_uppercase_categories(self.db)
        with self.db.conn:
            self.db["crawl_runs"].update(state.run_id, {
                "finished_at": _seconds(state.last_date or state.first_date),
                "pages": sum(state.pages.values()),
                "articles_seen": sum(state.outcomes.values()),
                "articles_new": state.outcomes["new"],
                "articles_changed": state.outcomes["changed"],
                "articles_unchanged": state.outcomes["unchanged"],
                "finish_reason": "rebuilt",
            })
        self.totals.update(state.outcomes)
        self.totals["pages"] += sum(state.pages.values())
        self.state = None

    def page(self, ref: ResponseRef) -> None:
        """One capture, handled as the spider handled it (only 2xx pages reach callbacks)."""
        if not 200 <= ref.status < 300 or ref.purpose == "file":
            return
        path = urlsplit(ref.url).path
        if path == "/robots.txt" or is_document(ref.url):
            return
        response = self._read(ref)
        if response is None:
            return
        link = parse_article_link(ref.url)
        if link is not None:
            self.article(ref, response, link)
        elif isinstance(response, TextResponse):
            self.listing(ref, response)

    def listing(self, ref: ResponseRef, response: TextResponse) -> None:
        page = extract_listing(response.text, response.url, self._base_url(ref))
        self.state.pages["listing" if page.is_listing else "other"] += 1
        late = remember_listing_entries(self.state.listing_entries, page.entries,
                                        self.state.emitted)
        for entry in late:
            apply_listing_entry(self.db, entry)

    def article(self, ref: ResponseRef, response: Response, link) -> None:
        state = self.state
        if not isinstance(response, TextResponse):
            self._error(ref.url, "not_html", "article is not HTML")
            return
        base_url = self._base_url(ref)
        asset_id = link.asset_id
        if asset_id is None:
            asset_id = extract_article(response.text, response.url, base_url).asset_anchor
            if asset_id is None:
                self._error(ref.url, "not_an_article", "no asset id on the page")
                return
            if asset_id in state.emitted:
                return  # the spider fetched this article by id already
        state.pages["article"] += 1
        state.emitted.add(asset_id)
        page = ArticlePage(
            url=canonical_article_url(base_url, link.instance or DEFAULT_INSTANCE, asset_id),
            asset_id=asset_id,
            fetched_url=response.url,
            http_status=response.status,
            fetched_at=_seconds(ref.date),
            html=response.text,
            listing=state.listing_entries.get(asset_id),
            source=ref.crawl.source,
            capture=ref.capture,
        )
        try:
            article = build_article(page, base_url, state.known_categories)
        except NotAnArticle as error:
            self._error(ref.url, "not_an_article", str(error))
            return
        if article.category and not article.category.isupper():
            state.known_categories.setdefault(article.category.casefold(), article.category)
        for ref_ in [*article.images, *article.attachments]:
            ref_.file = self.stored_file(ref_.url, ref.crawl.file_maxsize)
        outcome = upsert_article(self.db, article, now=_seconds(ref.date))
        state.outcomes[outcome] += 1
        if article.category:
            remember_category_name(self.db, article.category)

    def stored_file(self, url: str, maxsize: int) -> StoredFile:
        """The file as the crawl's files pipeline recorded it, from its captured response."""
        if url not in self.stored_files:
            self.stored_files[url] = self._resolve_file(url, url, maxsize, 0)
            if self.stored_files[url].error:
                self.totals["files_failed"] += 1
            else:
                self.totals["files"] += 1
        return StoredFile(**vars(self.stored_files[url]))

    def _resolve_file(self, original: str, url: str, maxsize: int, hops: int) -> StoredFile:
        events = self.index.by_url.get(url)
        if urlsplit(original).scheme not in ("http", "https"):
            return StoredFile(error="not_http")
        if not events:
            return StoredFile(error="not_captured")
        latest = max(events, key=lambda event: date_key(event.date))
        if isinstance(latest, FailureRef):
            return StoredFile(error=latest.kind)
        if latest.status in REDIRECT_STATUSES and latest.location and hops < MAX_REDIRECTS:
            return self._resolve_file(original, urljoin(url, latest.location), maxsize, hops + 1)
        response = self._read(latest)
        if response is None:
            return StoredFile(error="unreadable_capture")
        content_type = response.headers.get("Content-Type")
        stored = stored_file_from_body(
            original, response.status, content_type.decode() if content_type else None,
            response.body, maxsize,
        )
        if stored.sha256:
            store_body(self.files_dir, stored.stored_path, response.body)
        return stored

    def _read(self, ref: ResponseRef) -> Response | None:
        """The record's response, or None (noted) when its file is torn or damaged."""
        try:
            return read_response(ref)
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, StopIteration,
                ValueError) as error:
            self.index.problems.append(
                f"{ref.warc_path.name} @ {ref.offset}: unreadable record ({error or 'torn'})"
            )
            return None

    def _error(self, url: str, kind: str, message: str) -> None:
        self.errors[kind] += 1
        with self.db.conn:
            self.db["crawl_errors"].insert({
                "run_id": self.state.run_id if self.state else None, "url": url, "kind": kind,
                "message": message, "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            })


def rebuild(warc_dir: Path, new_db: Path) -> int:
    """``sadec rebuild``: 0 when the new database was written, 2 on a usage error."""
    if new_db.exists():
        print(f"sadec rebuild: {new_db} already exists; rebuild writes a new database only")
        return 2
    if not warc_dir.is_dir():
        print(f"sadec rebuild: {warc_dir} is not a folder of WARC files")
        return 2
    files = warc_files_in(warc_dir)
    if not files:
        print(f"sadec rebuild: no .warc.gz or .warc file in {warc_dir}")
        return 2
    started = time.monotonic()
    index = index_captures(files)
    db = open_database(new_db)
    files_dir = new_db.parent / FILES
    try:
        replay = Replay(db, index, files_dir, fallback_base=None)
        replay.run()
    finally:
        db.close()
    record_folder(new_db, CAPTURES, warc_dir)
    record_folder(new_db, FILES, files_dir)
    for problem in index.problems:
        print(f"warning: {problem}")
    totals = replay.totals
    print(
        f"rebuilt {new_db} from {len(files)} WARC file(s), {index.records} records: "
        f"{totals['new']} articles ({totals['changed']} changes, {totals['unchanged']} "
        f"unchanged re-captures), {totals['pages']} pages replayed, {totals['files']} files "
        f"({totals['files_failed']} not stored), "
        f"{sum(replay.errors.values())} errors{f' {dict(replay.errors)}' if replay.errors else ''}"
        f", in {time.monotonic() - started:.1f} s"
    )
    return 0

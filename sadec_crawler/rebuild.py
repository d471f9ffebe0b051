"""``sadec rebuild WARC_DIR NEW_DB``: the database again, from the WARC captures alone.

Each crawl run found in the captures is replayed with the project's own code: a fresh
``sadec`` spider gets the captured responses, in the order they arrived (``WARC-Date``), for
the requests it makes (redirects followed as the crawl followed them); its output goes through
the cleaning pipeline and the storage functions (:mod:`pipelines.store`); images and
attachments are read back from their own response records
(:func:`~pipelines.files.stored_file_from_body`). Nothing here parses a page: whatever the
spider and its parsers do, the rebuild does. A page captured again by a later run becomes the
current row and what it replaced a version, as in the crawl.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gzip
import inspect
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes
from scrapy.settings import Settings
from scrapy.signalmanager import SignalManager
from scrapy.spiderloader import SpiderLoader
from scrapy.statscollectors import MemoryStatsCollector
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipelines.clean import ArticleCleaningPipeline
from pipelines.files import DEFAULT_MAXSIZE, store_body, stored_file_from_body
from pipelines.store import (
    apply_listing_entry,
    fix_uppercase_categories,
    open_database,
    remember_category_name,
    upsert_article,
)

from .fixity import CAPTURES, FILES, WARC_PATTERNS, digests_match, record_folder, warc_digest
from .items import Article, ArticlePage, Capture, CrawlError, ListingEntry, StoredFile

SPIDER_NAME = "sadec"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


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
                    # Before get_record_offset(), which reads the record to its end.
                    fields = (
                        _warc_fields(record) if record.rec_type in ("warcinfo", "metadata")
                        else {}
                    )
                    if record.rec_type == "warcinfo":
                        crawl = _crawl_info(fields, path.name)
                    offset = records.get_record_offset()
                    _index_record(index, record, offset, path, crawl, fields)
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError) as error:
            # A crawl killed mid-record leaves a torn last record: keep everything before it.
            index.problems.append(f"{path.name}: unreadable after {index.records} records: {error}")
    index.responses.sort(key=lambda ref: (date_key(ref.date), ref.warc_path.name, ref.offset))
    return index


def _index_record(
    index: CaptureIndex, record, offset: int, path: Path, crawl: CrawlInfo, fields: dict
) -> None:
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
    elif record.rec_type == "metadata" and "fetch-error" in fields:
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


def read_response(ref: ResponseRef, request: Request | None = None) -> Response:
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
    return cls(url=ref.url, status=ref.status, headers=headers, body=body, request=request)


# --- The crawl, replayed --------------------------------------------------------------------------
class _Engine:
    """Stands in for Scrapy's engine: requests the spider schedules itself (at idle) are kept."""

    def __init__(self):
        self.scheduled: list[Request] = []

    def crawl(self, request: Request) -> None:
        self.scheduled.append(request)


class _ReplayCrawler:
    """Just enough of a Scrapy crawler for the spider and the cleaning pipeline to run on
    captured responses, without a network or a reactor."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.signals = SignalManager(self)
        self.stats = MemoryStatsCollector(self)
        self.engine = _Engine()
        self.spider = None


def project_settings(base_url: str) -> Settings:
    """The project's settings, pointed at the crawled site."""
    settings = Settings()
    settings.setmodule("sadec_crawler.settings", priority="project")
    settings.set("SADEC_BASE_URL", base_url, priority="cmdline")
    return settings


async def _collect(outputs) -> list:
    return [output async for output in outputs]


def callback_outputs(result) -> list:
    """Whatever a spider callback produced, as a list (generator, async generator or value)."""
    if result is None:
        return []
    if inspect.isasyncgen(result):
        return asyncio.run(_collect(result))
    if inspect.iscoroutine(result):
        return callback_outputs(asyncio.run(result))
    if isinstance(result, (Request, ArticlePage, Article, ListingEntry, CrawlError, dict)):
        return [result]
    return list(result)


def _seconds(warc_date: str) -> str:
    return date_key(warc_date).strftime("%Y-%m-%dT%H:%M:%SZ")


class FileResolver:
    """Images and attachments as the files pipeline recorded them, from their own captured
    responses; the bytes are written to the new archive's files folder."""

    def __init__(self, index: CaptureIndex, files_dir: Path):
        self.index = index
        self.files_dir = files_dir
        self.cache: dict[str, StoredFile] = {}
        self.counts: Counter = Counter()

    def read(self, ref: ResponseRef, request: Request | None = None) -> Response | None:
        """The record's response, or None (noted) when its file is torn or damaged."""
        try:
            return read_response(ref, request)
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, StopIteration,
                ValueError) as error:
            self.index.problems.append(
                f"{ref.warc_path.name} @ {ref.offset}: unreadable record ({error or 'torn'})"
            )
            return None

    def stored_file(self, url: str, maxsize: int) -> StoredFile:
        if url not in self.cache:
            self.cache[url] = self._resolve(url, url, maxsize, 0)
            self.counts["failed" if self.cache[url].error else "stored"] += 1
        return dataclasses.replace(self.cache[url])

    def _resolve(self, original: str, url: str, maxsize: int, hops: int) -> StoredFile:
        if urlsplit(original).scheme not in ("http", "https"):
            return StoredFile(error="not_http")
        events = self.index.by_url.get(url)
        if not events:
            return StoredFile(error="not_captured")
        # The last attempt is what the crawl kept (retries come after the failures).
        latest = max(events, key=lambda event: date_key(event.date))
        if isinstance(latest, FailureRef):
            return StoredFile(error=latest.kind)
        if latest.status in REDIRECT_STATUSES and latest.location and hops < MAX_REDIRECTS:
            target = Request(urljoin(url, latest.location)).url
            return self._resolve(original, target, maxsize, hops + 1)
        response = self.read(latest)
        if response is None:
            return StoredFile(error="unreadable_capture")
        content_type = response.headers.get("Content-Type")
        stored = stored_file_from_body(
            original, response.status, content_type.decode("latin-1") if content_type else None,
            response.body, maxsize,
        )
        if stored.sha256:
            store_body(self.files_dir, stored.stored_path, response.body)
        return stored


class RunReplay:
    """One crawl run replayed: the project's own spider callbacks and cleaning pipeline, fed
    the captured responses in the order they arrived, their output stored as the storage
    pipeline stores it."""

    def __init__(self, crawl: CrawlInfo, base_url: str, db, files: FileResolver, first: str):
        self.crawl, self.db, self.files = crawl, db, files
        settings = project_settings(base_url)
        self.crawler = _ReplayCrawler(settings)
        spider_args = {name: value for name, value in
                       (("mode", crawl.mode), ("source", crawl.source)) if value}
        spidercls = SpiderLoader.from_settings(settings).load(SPIDER_NAME)
        self.spider = spidercls.from_crawler(self.crawler, **spider_args)
        self.crawler.spider = self.spider
        self.cleaner = ArticleCleaningPipeline.from_crawler(self.crawler)
        self.pending: dict[str, Request] = {}
        self.seen: set[str] = set()
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.pages = 0
        self.last_date = first
        with db.conn:
            self.run_id = db["crawl_runs"].insert({
                "started_at": _seconds(first), "mode": crawl.mode, "source": crawl.source,
                "base_url": base_url, "message": f"rebuilt from WARC (crawl {crawl.crawl_id})",
            }).last_pk
        for request in asyncio.run(_collect(self.spider.start())):
            self.schedule(request)

    def schedule(self, request: Request) -> None:
        """As the scheduler does: each URL once, unless the request says otherwise."""
        if request.url in self.seen and not request.dont_filter:
            return
        self.seen.add(request.url)
        self.pending.setdefault(request.url, request)

    def _request_for(self, url: str) -> Request | None:
        if url not in self.pending:
            # The spider schedules some requests only when the crawl falls idle.
            self.crawler.signals.send_catch_log(
                signal=signals.spider_idle, spider=self.spider, dont_log=DontCloseSpider
            )
            for request in self.crawler.engine.scheduled:
                self.schedule(request)
            self.crawler.engine.scheduled.clear()
        return self.pending.get(url)

    def feed(self, ref: ResponseRef) -> None:
        """One captured response, handled as the downloader middlewares and the spider did."""
        self.last_date = ref.date
        request = self._request_for(ref.url)
        if request is None:
            return  # robots.txt, a file, or a page the spider never asked for
        if ref.status in REDIRECT_STATUSES and ref.location:
            del self.pending[ref.url]
            self.pending.setdefault(Request(urljoin(ref.url, ref.location)).url, request)
            return
        if not 200 <= ref.status < 300:
            return  # retried later, or an error the spider's errback logged
        del self.pending[ref.url]
        request.meta["sadec_capture"] = ref.capture
        response = self.files.read(ref, request)
        if response is None:
            return
        self.pages += 1
        callback = request.callback or self.spider.parse
        for output in callback_outputs(callback(response, **request.cb_kwargs)):
            self.handle(output, ref)

    def handle(self, output, ref: ResponseRef) -> None:
        if isinstance(output, Request):
            self.schedule(output)
        elif isinstance(output, ArticlePage):
            self.handle(self.cleaner.process_item(output), ref)
        elif isinstance(output, Article):
            for file_ref in [*output.images, *output.attachments]:
                file_ref.file = self.files.stored_file(file_ref.url, self.crawl.file_maxsize)
            self.outcomes[upsert_article(self.db, output, now=_seconds(ref.date))] += 1
            if output.category:
                remember_category_name(self.db, output.category)
        elif isinstance(output, ListingEntry):
            apply_listing_entry(self.db, output)
        elif isinstance(output, CrawlError):
            self.errors[output.kind] += 1
            with self.db.conn:
                self.db["crawl_errors"].insert({
                    "run_id": self.run_id, "url": output.url, "kind": output.kind,
                    "message": output.message, "at": _seconds(ref.date),
                })

    def finish(self) -> None:
        fix_uppercase_categories(self.db)
        with self.db.conn:
            self.db["crawl_runs"].update(self.run_id, {
                "finished_at": _seconds(self.last_date),
                "pages": self.pages,
                "articles_seen": sum(self.outcomes.values()),
                "articles_new": self.outcomes["new"],
                "articles_changed": self.outcomes["changed"],
                "articles_unchanged": self.outcomes["unchanged"],
                "errors": sum(self.errors.values()),
                "finish_reason": "rebuilt",
            })


def replay(index: CaptureIndex, db, files: FileResolver) -> list[RunReplay]:
    """Every crawl run of the captures, each with its own spider, oldest capture first."""
    runs: dict[str, RunReplay] = {}
    for ref in index.responses:
        if ref.purpose == "file":
            continue
        run = runs.get(ref.crawl.crawl_id)
        if run is None:
            parts = urlsplit(ref.url)
            base_url = ref.crawl.base_url or f"{parts.scheme}://{parts.netloc}"
            run = runs[ref.crawl.crawl_id] = RunReplay(ref.crawl, base_url, db, files, ref.date)
        run.feed(ref)
    for run in runs.values():
        run.finish()
    return list(runs.values())


def rebuild(warc_dir: Path, new_db: Path) -> int:
    """``sadec rebuild``: 0 when the new database was written, 2 on a usage error."""
    if new_db.exists():
        print(f"sadec rebuild: {new_db} already exists; rebuild writes a new database only")
        return 2
    if not warc_dir.is_dir():
        print(f"sadec rebuild: {warc_dir} is not a folder of WARC files")
        return 2
    warc_files = warc_files_in(warc_dir)
    if not warc_files:
        print(f"sadec rebuild: no .warc.gz or .warc file in {warc_dir}")
        return 2
    started = time.monotonic()
    index = index_captures(warc_files)
    db = open_database(new_db)
    files = FileResolver(index, new_db.parent / FILES)
    try:
        runs = replay(index, db, files)
    finally:
        db.close()
    record_folder(new_db, CAPTURES, warc_dir)
    record_folder(new_db, FILES, files.files_dir)
    for problem in index.problems:
        print(f"warning: {problem}")
    outcomes = sum((run.outcomes for run in runs), Counter())
    errors = sum((run.errors for run in runs), Counter())
    print(
        f"rebuilt {new_db} from {len(warc_files)} WARC file(s), {index.records} records, "
        f"{len(runs)} crawl run(s): {outcomes['new']} articles, {outcomes['changed']} changes, "
        f"{outcomes['unchanged']} unchanged re-captures; "
        f"{sum(run.pages for run in runs)} pages replayed; {files.counts['stored']} files "
        f"({files.counts['failed']} not stored); {sum(errors.values())} errors"
        f"{f' {dict(errors)}' if errors else ''}; {time.monotonic() - started:.1f} s"
    )
    return 0

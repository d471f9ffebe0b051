"""``sadec rebuild WARC_DIR NEW_DB``: the database again, from the WARC captures alone.

Each crawl run found in the captures is replayed with the project's own code: a fresh
``sadec`` spider gets the captured responses, in the order they arrived (``WARC-Date``), for
the requests it makes (redirects followed and HTTP errors filtered as the crawl's middlewares
did); its items go through the project's item pipelines (``ITEM_PIPELINES``), the files
pipeline replaced by the files' own captured responses
(:func:`~pipelines.files.stored_file_from_body`). Nothing here parses a page: whatever the
spider, its parsers and the pipelines do, the rebuild does. Runs are replayed oldest first
with the settings each recorded in its ``warcinfo``, so a page captured again by a later run
becomes the current row and what it replaced a version, as in the crawl.

Not replayed: requests a downloader middleware rewrites before they reach the network (the
web-archive source), and errbacks of fetches that got no response at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gzip
import inspect
import json
import logging
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, DropItem, NotConfigured
from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes
from scrapy.settings import Settings
from scrapy.signalmanager import SignalManager
from scrapy.spiderloader import SpiderLoader
from scrapy.spidermiddlewares.httperror import HttpError, HttpErrorMiddleware
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.python.failure import Failure
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipelines.database import open_database, record_folder
from pipelines.files import (
    DEFAULT_MAXSIZE,
    FilesPipeline,
    header_text,
    store_body,
    stored_file_from_body,
)
from sadec_crawler.digests import digests_match, warc_digest
from sadec_crawler.items import Article, Capture, StoredFile
from sadec_crawler.layout import CAPTURES, FILES, WARC_PATTERNS

SPIDER_NAME = "sadec"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
logger = logging.getLogger(__name__)


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

    @property
    def file_maxsize(self) -> int:
        return int(self.settings.get("SADEC_FILE_MAXSIZE") or DEFAULT_MAXSIZE)


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


@dataclass
class CaptureIndex:
    """Every response and failure of a folder of WARC files, bodies left on disk."""

    warc_files: list[Path] = field(default_factory=list)
    responses: list[ResponseRef] = field(default_factory=list)
    by_url: dict[str, list[ResponseRef | FailureRef]] = field(default_factory=dict)
    crawls: dict[str, CrawlInfo] = field(default_factory=dict)
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


def index_captures(files: list[Path]) -> CaptureIndex:
    """Read the headers of every record; bodies are read again only when needed."""
    index = CaptureIndex(warc_files=files)
    for path in files:
        crawl = index.crawls.setdefault(path.name, CrawlInfo(crawl_id=path.name))
        try:
            with path.open("rb") as handle:
                records = ArchiveIterator(handle)
                for record in records:
                    index.records += 1
                    # Before get_record_offset(), which reads the record to its end.
                    fields = (
                        _warc_fields(record) if record.rec_type in ("warcinfo", "metadata") else {}
                    )
                    if record.rec_type == "warcinfo":
                        date = record.rec_headers.get_header("WARC-Date")
                        crawl = _crawl_info(index, fields, path.name, date)
                    elif "finish-reason" in fields:
                        crawl.finish_reason = fields["finish-reason"]
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
        failure = FailureRef(url, headers.get_header("WARC-Date"), fields["fetch-error"], crawl)
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
PATH_SETTINGS = ("SADEC_DB_PATH", "SADEC_WARC_DIR", "SADEC_FILES_DIR")
"""Recorded settings that name this machine's folders: never replayed."""


class _Engine:
    """Stands in for Scrapy's engine: requests the spider schedules itself (at idle) are kept."""

    def __init__(self):
        self.scheduled: list[Request] = []

    def crawl(self, request: Request) -> None:
        self.scheduled.append(request)


class _ReplayCrawler:
    """Just enough of a Scrapy crawler for the spider and the item pipelines to run on captured
    responses, without a network or a reactor."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.signals = SignalManager(self)
        self.stats = MemoryStatsCollector(self)
        self.engine = _Engine()
        self.spider = None


def replay_settings(crawl: CrawlInfo, base_url: str, db_path: Path) -> Settings:
    """The project's settings as the crawl had them (its recorded ``SADEC_*`` values and its
    clock), storing into ``db_path``."""
    settings = Settings()
    settings.setmodule("sadec_crawler.settings", priority="project")
    for name, value in crawl.settings.items():
        if name.startswith("SADEC_") and name not in PATH_SETTINGS and value is not None:
            settings.set(name, value, priority="cmdline")
    settings.set("SADEC_BASE_URL", base_url, priority="cmdline")
    settings.set("SADEC_DB_PATH", str(db_path), priority="cmdline")
    if not settings.get("SADEC_NOW") and crawl.started_at:
        # Incremental runs plan from "now": the crawl's now, not the rebuild's.
        settings.set("SADEC_NOW", date_key(crawl.started_at).isoformat(), priority="cmdline")
    return settings


async def _collect(outputs) -> list:
    return [output async for output in outputs]


def _resolve(result):
    """The value of a callback or pipeline method, awaited if it is a coroutine."""
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def callback_outputs(result) -> list:
    """Whatever a spider callback produced, as a list (generator, async generator or value)."""
    result = _resolve(result)
    if result is None:
        return []
    if inspect.isasyncgen(result):
        return asyncio.run(_collect(result))
    if isinstance(result, (Request, dict)) or dataclasses.is_dataclass(result):
        return [result]
    return list(result)


def _call(method, spider, *args):
    """Call a component method with ``spider`` only if it requires one."""
    parameter = inspect.signature(method).parameters.get("spider")
    if parameter is not None and parameter.default is inspect.Parameter.empty:
        return _resolve(method(*args, spider=spider))
    return _resolve(method(*args))


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
        except (
            ArchiveLoadFailed,
            zlib.error,
            EOFError,
            OSError,
            StopIteration,
            ValueError,
        ) as error:
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
        stored = stored_file_from_body(
            original,
            response.status,
            header_text(response.headers.get("Content-Type")),
            response.body,
            maxsize,
        )
        if stored.sha256:
            store_body(self.files_dir, stored.stored_path, response.body)
        return stored


class WarcFilesStep:
    """Takes the files pipeline's place in a replay: the files' captured responses instead of
    downloads."""

    def __init__(self, files: FileResolver, maxsize: int):
        self.files = files
        self.maxsize = maxsize

    def process_item(self, item):
        if isinstance(item, Article):
            for ref in [*item.images, *item.attachments]:
                ref.file = self.files.stored_file(ref.url, self.maxsize)
        return item


def replay_pipelines(crawler: _ReplayCrawler, files_step: WarcFilesStep | None) -> list:
    """The project's item pipelines, in order, the files pipeline swapped for ``files_step``."""
    paths = build_component_list(crawler.settings.getwithbase("ITEM_PIPELINES"))
    pipelines = []
    for path in paths:
        cls = load_object(path)
        if isinstance(cls, type) and issubclass(cls, FilesPipeline):
            if files_step is not None:
                pipelines.append(files_step)
            continue
        try:
            pipelines.append(build_from_crawler(cls, crawler))
        except NotConfigured:
            continue
    return pipelines


class RunReplay:
    """One crawl run replayed: the project's spider gets the captured responses, in the order
    they arrived, for the requests it makes; its items go through the project's pipelines."""

    def __init__(
        self,
        crawl: CrawlInfo,
        base_url: str,
        db_path: Path,
        index: CaptureIndex,
        files: FileResolver,
    ):
        self.crawl, self.index, self.files = crawl, index, files
        self.crawler = _ReplayCrawler(replay_settings(crawl, base_url, db_path))
        spidercls = SpiderLoader.from_settings(self.crawler.settings).load(SPIDER_NAME)
        self.spider = spidercls.from_crawler(self.crawler, **crawl.spider_args)
        self.crawler.spider = self.spider
        self.http_errors = HttpErrorMiddleware.from_crawler(self.crawler)
        files_off = str(crawl.settings.get("SADEC_FILES_DIR") or "").strip().lower() == "off"
        self.pipelines = replay_pipelines(
            self.crawler, None if files_off else WarcFilesStep(files, crawl.file_maxsize)
        )
        self.pending: dict[str, Request] = {}
        self.seen: set[str] = set()
        self.pages = 0
        self.stats = self.crawler.stats
        self.stats.set_value("start_time", dt.datetime.now(dt.UTC))
        for pipeline in self.pipelines:
            if hasattr(pipeline, "open_spider"):
                _call(pipeline.open_spider, self.spider)
        for request in asyncio.run(_collect(self.spider.start())):
            self.handle(request)

    # --- Scheduling --------------------------------------------------------------------------
    def schedule(self, request: Request) -> None:
        """As the scheduler does: each URL once, unless the request says otherwise."""
        if request.url in self.seen and not request.dont_filter:
            return
        self.seen.add(request.url)
        self.pending.setdefault(request.url, request)

    def _later_capture(self, url: str, date: str) -> bool:
        """Whether this run fetched ``url`` again after ``date`` (a retry or a later visit)."""
        moment = date_key(date)
        return any(
            date_key(event.date) > moment
            # Only this run's: a later run's refusal of a URL this run never fetched (robots.txt)
            # must not keep this run from going idle, when the spider schedules more.
            and (event.crawl is None or event.crawl.crawl_id == self.crawl.crawl_id)
            for event in self.index.by_url.get(url, ())
        )

    def _request_for(self, ref: ResponseRef) -> Request | None:
        if ref.url not in self.pending and not any(
            self._later_capture(url, ref.date) for url in self.pending
        ):
            # Nothing outstanding is still to come: the crawl was idle here, and the spider
            # schedules some requests only then.
            self.crawler.signals.send_catch_log(
                signal=signals.spider_idle, spider=self.spider, dont_log=DontCloseSpider
            )
            for request in self.crawler.engine.scheduled:
                self.schedule(request)
            self.crawler.engine.scheduled.clear()
        return self.pending.get(ref.url)

    # --- Responses ---------------------------------------------------------------------------
    def _redirects(self, request: Request, ref: ResponseRef) -> bool:
        """Whether Scrapy's redirect middleware followed this response."""
        meta = request.meta
        return (
            ref.status in REDIRECT_STATUSES
            and bool(ref.location)
            and not meta.get("dont_redirect")
            and not meta.get("handle_httpstatus_all")
            and ref.status not in meta.get("handle_httpstatus_list", ())
            and ref.status not in getattr(self.spider, "handle_httpstatus_list", ())
        )

    def feed(self, ref: ResponseRef) -> None:
        """One captured response, through what the downloader and spider middlewares did."""
        request = self._request_for(ref)
        if request is None:
            return  # robots.txt, or a page the spider did not ask for in this replay
        self.stats.inc_value("downloader/request_count")
        self.stats.inc_value("downloader/response_count")
        self.stats.inc_value(f"downloader/response_status_count/{ref.status}")
        if self._redirects(request, ref):
            del self.pending[ref.url]
            self.pending.setdefault(Request(urljoin(ref.url, ref.location)).url, request)
            return
        request.meta["sadec_capture"] = ref.capture
        response = self.files.read(ref, request)
        if response is None:
            return
        try:
            _call(self.http_errors.process_spider_input, self.spider, response)
        except HttpError as error:
            if self._later_capture(ref.url, ref.date):
                return  # retried: the spider saw only the last answer
            del self.pending[ref.url]
            if request.errback is not None:
                failure = Failure(error)
                failure.request = request
                self.handle_all(request.errback(failure))
            return
        del self.pending[ref.url]
        self.pages += 1
        callback = request.callback or self.spider.parse
        self.handle_all(callback(response, **request.cb_kwargs), response)

    def handle_all(self, result, response: Response | None = None) -> None:
        """A callback's outputs; one that raises costs its page, as in a crawl (Scrapy sends
        ``spider_error``, which the storage pipeline records), never the rebuild."""
        try:
            for output in callback_outputs(result):
                self.handle(output)
        except Exception as error:  # noqa: BLE001 - any parser failure is one page's
            logger.error("callback failed on %s: %r", getattr(response, "url", "?"), error)
            self.crawler.signals.send_catch_log(
                signals.spider_error, failure=Failure(error), response=response, spider=self.spider
            )

    def handle(self, output) -> None:
        """A request goes to the schedule, anything else through the item pipelines."""
        if isinstance(output, Request):
            self.schedule(output)
            return
        item = output
        for pipeline in self.pipelines:
            if not hasattr(pipeline, "process_item"):
                continue
            try:
                item = _call(pipeline.process_item, self.spider, item)
            except DropItem:
                return
            except Exception as error:  # noqa: BLE001 - one item never ends the rebuild
                logger.error("item failed in %s: %r", type(pipeline).__name__, error)
                self.crawler.signals.send_catch_log(
                    signals.item_error,
                    item=item,
                    response=None,
                    spider=self.spider,
                    failure=Failure(error),
                )
                return

    def finish(self) -> None:
        self.stats.set_value("finish_reason", self.crawl.finish_reason or "killed")
        for pipeline in reversed(self.pipelines):
            if hasattr(pipeline, "close_spider"):
                _call(pipeline.close_spider, self.spider)


def replay(index: CaptureIndex, db_path: Path, files: FileResolver) -> list[RunReplay]:
    """Every crawl run of the captures, one after the other, each with its own spider."""
    runs: dict[str, list[ResponseRef]] = {}
    for ref in index.responses:
        if ref.purpose != "file" and urlsplit(ref.url).path != "/robots.txt":
            runs.setdefault(ref.crawl.crawl_id, []).append(ref)
    replays = []
    for refs in runs.values():
        crawl = refs[0].crawl
        parts = urlsplit(refs[0].url)
        base_url = crawl.base_url or f"{parts.scheme}://{parts.netloc}"
        run = RunReplay(crawl, base_url, db_path, index, files)
        for ref in refs:
            run.feed(ref)
        run.finish()
        replays.append(run)
    return replays


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
    open_database(new_db).close()
    files = FileResolver(index, new_db.parent / FILES)
    # The crawl's own warnings (stale archive, coverage…) were given when it ran.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        runs = replay(index, new_db, files)
    finally:
        logging.disable(previous)
    db = open_database(new_db)
    try:
        record_folder(db, new_db, CAPTURES, warc_dir)
        record_folder(db, new_db, FILES, files.files_dir)
    finally:
        db.close()
    for problem in index.problems:
        print(f"warning: {problem}")
    stats = Counter()
    for run in runs:
        for key, value in run.stats.get_stats().items():
            if key.startswith("sadec/articles/") or key == "sadec/errors":
                stats[key.rsplit("/", 1)[-1]] += value
    print(
        f"rebuilt {new_db} from {len(warc_files)} WARC file(s), {index.records} records, "
        f"{len(runs)} crawl run(s): {sum(run.pages for run in runs)} pages replayed; "
        f"articles {stats['new']} new, {stats['changed']} changed, {stats['unchanged']} "
        f"unchanged, {stats['gone']} gone; {files.counts['stored']} files "
        f"({files.counts['failed']} not stored); {stats['errors']} errors; "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0

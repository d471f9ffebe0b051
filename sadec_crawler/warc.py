"""Raw captures: every HTTP exchange of a crawl into WARC files (ISO 28500, WARC/1.1).

:class:`WarcWriterMiddleware` sits next to the download handler, below the redirect, retry and
decompression middlewares, so it sees each response as transferred: 3xx and 5xx answers, and
bodies still content-encoded. Each exchange becomes a ``request`` and a ``response`` record
that point at each other (``WARC-Concurrent-To``); a fetch that fails without any response
becomes a ``request`` and a ``metadata`` record naming the failure. Every file starts with a
``warcinfo`` record, and every record is its own gzip member, flushed at once: a killed crawl
leaves all earlier records readable.
"""

from __future__ import annotations

import datetime as dt
import http
import importlib.metadata
import io
import json
import logging
import multiprocessing
import resource
import socket
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import error as twisted_error
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .items import Capture
from .layout import evidence_folder

logger = logging.getLogger(__name__)

WARC_SUFFIX = ".warc.gz"
DEFAULT_MAX_BYTES = 100_000_000
DEFAULT_GZIP_LEVEL = 3
"""zlib level of each record's gzip member. On portal pages level 3 gives files 9 % larger
than level 9 (warcio's fixed choice) in a third of the time; level 6 is no smaller than 9."""

SETTINGS_RECORDED = (
    "USER_AGENT",
    "ROBOTSTXT_OBEY",
    "DOWNLOAD_DELAY",
    "RANDOMIZE_DOWNLOAD_DELAY",
    "AUTOTHROTTLE_ENABLED",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_TIMEOUT",
    "RETRY_TIMES",
    "RETRY_HTTP_CODES",
    "DOWNLOAD_MAXSIZE",
    "REDIRECT_MAX_TIMES",
    "COOKIES_ENABLED",
)
"""Scrapy settings that shape what a crawl fetched; written into every ``warcinfo`` record
with all ``SADEC_*`` settings (``sadec rebuild`` replays a crawl with them)."""
SPIDER_ARGS_RECORDED = ("mode", "source", "since", "until")
"""Spider arguments (``-a``) written into ``warcinfo``; ``mode`` as asked for, before the
spider may have changed it."""

SENT_AT_META = "sadec_warc_sent_at"
"""Request meta key: when the request passed this middleware on its way out."""


def warc_date(moment: dt.datetime | None = None) -> str:
    """``WARC-Date`` in UTC with microseconds (WARC/1.1 allows them; they order a crawl's
    records exactly, which ``sadec rebuild`` relies on)."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reason_phrase(status: int) -> str:
    """The standard reason phrase of a status code ("" for codes without one)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _header_text(value: bytes) -> str:
    # warcio writes headers as text and %-encodes non-ASCII as UTF-8: decoding UTF-8 first
    # gives back the original bytes for UTF-8 values; anything else stays latin-1 octets.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _header_list(headers) -> list[tuple[str, str]]:
    return [
        (_header_text(name), _header_text(value))
        for name, values in headers.items()
        for value in values
    ]


def response_http_headers(response: Response) -> StatusAndHeaders:
    """Status line and headers of a response, rebuilt from what Scrapy keeps.

    Not recoverable exactly: the server's own reason phrase (Twisted drops it; the standard
    one is written), the spelling of header names (Scrapy title-cases them, ``ETag`` becomes
    ``Etag``), the order of headers that repeat apart from each other, and the chunked
    framing (the body arrives de-chunked, so ``Transfer-Encoding`` is renamed to keep WARC
    readers from de-chunking it again).
    """
    headers = []
    for name, value in _header_list(response.headers):
        if name.lower() == "transfer-encoding":
            name = "X-Sadec-Original-Transfer-Encoding"
        headers.append((name, value))
    status = response.status
    statusline = f"{status} {reason_phrase(status)}".rstrip()
    return StatusAndHeaders(statusline, headers, protocol=response.protocol or "HTTP/1.1")


def request_http_headers(request: Request) -> StatusAndHeaders:
    """Request line and headers as Scrapy hands them to the download handler.

    ``Host`` is added as Twisted will send it; ``Connection`` and ``Content-Length``, which
    Twisted adds on the wire, are not known here and are left out.
    """
    parts = urlsplit(request.url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    headers = _header_list(request.headers)
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    return StatusAndHeaders(f"{target} HTTP/1.1", headers, protocol=request.method)


def exception_kind(exception: BaseException) -> str:
    """Short machine-readable name of a fetch failure (``too_large``, ``timeout`` …)."""
    if isinstance(exception, DownloadCancelledError):
        return "too_large"
    if isinstance(exception, (twisted_error.TimeoutError, twisted_error.TCPTimedOutError)):
        return "timeout"
    if isinstance(exception, twisted_error.DNSLookupError):
        return "dns"
    if isinstance(exception, twisted_error.ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exception, IgnoreRequest):
        return "ignored"
    name = type(exception).__name__
    if "Timeout" in name:
        return "timeout"
    if "Resolve" in name or "DNS" in name:
        return "dns"
    return name


def warc_fields(fields: dict[str, str]) -> bytes:
    """``application/warc-fields`` content: one ``name: value`` line each, on one line."""
    return "".join(
        f"{name}: {' '.join(str(value).split())}\r\n" for name, value in fields.items()
    ).encode("utf-8")


def failure_fields(exception: BaseException) -> dict[str, str]:
    """What a ``metadata`` record says about a fetch that got no response."""
    return {
        "fetch-error": exception_kind(exception),
        "fetch-error-message": f"{type(exception).__name__}: {exception}"[:500],
    }


def new_record_id() -> str:
    """A fresh ``WARC-Record-ID``."""
    return f"<urn:uuid:{uuid.uuid4()}>"


class LevelledWARCWriter(WARCWriter):
    """warcio's writer, each record its own gzip member at a chosen compression level."""

    def __init__(self, filebuf, gzip_level: int = DEFAULT_GZIP_LEVEL, **kwargs):
        super().__init__(filebuf, gzip=False, **kwargs)
        self.gzip_level = gzip_level

    def write_record(self, record, params=None):
        buffer = io.BytesIO()
        self._write_warc_record(buffer, record)
        compressor = zlib.compressobj(self.gzip_level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self.out.write(compressor.compress(buffer.getbuffer()) + compressor.flush())
        self.out.flush()


@dataclass
class ExchangeParts:
    """What the records of one exchange are made of, taken from Scrapy's objects (picklable,
    so that another process can write them)."""

    request_url: str
    request_body: bytes
    request_headers: StatusAndHeaders
    response_url: str
    response_body: bytes
    response_headers: StatusAndHeaders
    ip_address: str | None
    is_file: bool
    sent_at: str | None
    received_at: str


def exchange_parts(request: Request, response: Response, sent_at: str | None) -> ExchangeParts:
    return ExchangeParts(
        request_url=request.url,
        request_body=request.body,
        request_headers=request_http_headers(request),
        response_url=response.url,
        response_body=response.body,
        response_headers=response_http_headers(response),
        ip_address=str(response.ip_address) if response.ip_address is not None else None,
        is_file=bool(request.meta.get("sadec_file")),
        sent_at=sent_at,
        received_at=warc_date(),
    )


@dataclass
class FailureParts:
    """What the records of a fetch without a response are made of (picklable)."""

    request_url: str
    request_body: bytes
    request_headers: StatusAndHeaders
    fields: dict[str, str]
    sent_at: str | None
    failed_at: str


def failure_parts(request: Request, exception: BaseException, sent_at: str | None):
    return FailureParts(
        request_url=request.url,
        request_body=request.body,
        request_headers=request_http_headers(request),
        fields=failure_fields(exception),
        sent_at=sent_at,
        failed_at=warc_date(),
    )


def warc_file_name(started: dt.datetime, serial: int) -> str:
    """``sadec-20250101T120000Z-00001.warc.gz``: sorts by crawl start, then by rotation."""
    return f"sadec-{started.strftime('%Y%m%dT%H%M%SZ')}-{serial:05d}{WARC_SUFFIX}"


@dataclass
class RotatingWarcWriter:
    """Writes records into ``folder``, starting a new file past ``max_bytes``; each file opens
    with a ``warcinfo`` record made of ``info``."""

    folder: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    info: dict[str, str] = field(default_factory=dict)
    gzip_level: int = DEFAULT_GZIP_LEVEL
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    serial: int = 0
    files_written: list[str] = field(default_factory=list)
    _file: io.BufferedWriter | None = field(default=None, repr=False)
    _writer: WARCWriter | None = field(default=None, repr=False)

    @property
    def current_name(self) -> str | None:
        return self.files_written[-1] if self._file else None

    def _open_next(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            self.serial += 1
            name = warc_file_name(self.started, self.serial)
            try:
                # "x": two crawls started in the same second never share a file.
                self._file = open(self.folder / name, "xb")  # noqa: SIM115 - kept open
                break
            except FileExistsError:
                continue
        self._writer = LevelledWARCWriter(self._file, self.gzip_level, warc_version="1.1")
        self.files_written.append(name)
        self._write(self._writer.create_warcinfo_record(name, self.info))
        logger.info("writing captures to %s", self.folder / name)

    def _ensure_room(self) -> None:
        if self._file is None or self._file.tell() >= self.max_bytes:
            self._open_next()

    def _write(self, record) -> int:
        """Write one record as its own gzip member; return its offset. Flushed at once so
        that a crash loses at most the record being written."""
        offset = self._file.tell()
        self._writer.write_record(record)
        self._file.flush()
        return offset

    def write_exchange(
        self, request: Request, response: Response, sent_at: str | None = None
    ) -> Capture:
        """Write a request/response pair; return where the response record is."""
        return self.write_exchange_parts(exchange_parts(request, response, sent_at))

    def write_exchange_parts(self, parts: ExchangeParts) -> Capture:
        """Write the records of an exchange taken apart (see :func:`exchange_parts`)."""
        self._ensure_room()
        response_id = new_record_id()
        request_id = new_record_id()
        request_record = self._writer.create_warc_record(
            parts.request_url,
            "request",
            payload=io.BytesIO(parts.request_body),
            length=len(parts.request_body),
            http_headers=parts.request_headers,
            warc_headers_dict={
                "WARC-Record-ID": request_id,
                "WARC-Date": parts.sent_at or parts.received_at,
                "WARC-Concurrent-To": response_id,
            },
        )
        response_headers = {
            "WARC-Record-ID": response_id,
            "WARC-Date": parts.received_at,
            "WARC-Concurrent-To": request_id,
        }
        if parts.is_file:
            # Tells `sadec rebuild` this was an image or attachment, not a page to parse.
            response_headers["Sadec-Purpose"] = "file"
        if parts.ip_address is not None:
            response_headers["WARC-IP-Address"] = parts.ip_address
        response_record = self._writer.create_warc_record(
            parts.response_url,
            "response",
            payload=io.BytesIO(parts.response_body),
            length=len(parts.response_body),
            http_headers=parts.response_headers,
            warc_headers_dict=response_headers,
        )
        self._write(request_record)
        offset = self._write(response_record)
        return Capture(
            warc_file=self.current_name,
            record_id=response_id,
            offset=offset,
            payload_digest=response_record.rec_headers.get_header("WARC-Payload-Digest"),
            captured_at=parts.received_at,
        )

    def write_fields(self, uri: str, fields: dict[str, str]) -> None:
        """Write a ``metadata`` record of ``name: value`` lines about ``uri``."""
        self._ensure_room()
        payload = warc_fields(fields)
        record = self._writer.create_warc_record(
            uri,
            "metadata",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": warc_date()},
        )
        self._write(record)

    def write_failure(
        self, request: Request, exception: BaseException, sent_at: str | None = None
    ) -> None:
        """Write the request and a ``metadata`` record saying why no response came."""
        self.write_failure_parts(failure_parts(request, exception, sent_at))

    def write_failure_parts(self, parts: FailureParts) -> None:
        self._ensure_room()
        request_id = new_record_id()
        request_record = self._writer.create_warc_record(
            parts.request_url,
            "request",
            payload=io.BytesIO(parts.request_body),
            length=len(parts.request_body),
            http_headers=parts.request_headers,
            warc_headers_dict={
                "WARC-Record-ID": request_id,
                "WARC-Date": parts.sent_at or parts.failed_at,
            },
        )
        payload = warc_fields(parts.fields)
        metadata = self._writer.create_warc_record(
            parts.request_url,
            "metadata",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": parts.failed_at, "WARC-Concurrent-To": request_id},
        )
        self._write(request_record)
        self._write(metadata)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def _serve_writer(connection, folder: Path, max_bytes: int, info: dict, gzip_level: int):
    """The writer process: records come in over ``connection``, one at a time, in order; each
    answer says where the record went (or what went wrong). Ends when the crawl closes the
    connection, or dies (killed: the connection reads EOF)."""
    writer = RotatingWarcWriter(folder, max_bytes, info, gzip_level=gzip_level)
    operations = {
        "exchange": writer.write_exchange_parts,
        "failure": writer.write_failure_parts,
        "fields": writer.write_fields,
    }
    try:
        while True:
            try:
                operation, args = connection.recv()
            except (EOFError, OSError):
                return
            if operation == "close":
                writer.close()
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu_s = usage.ru_utime + usage.ru_stime
                connection.send(("ok", (list(writer.files_written), cpu_s)))
                return
            try:
                connection.send(("ok", operations[operation](*args)))
            except Exception as error:  # noqa: BLE001 - told to the crawl, which decides
                connection.send(("error", (isinstance(error, OSError), str(error))))
    finally:
        writer.close()


class ProcessWarcWriter:
    """A :class:`RotatingWarcWriter` in a process of its own (``SADEC_WARC_WRITER=process``,
    the default): record building, gzip and digests run on another core than the crawl's.
    Same methods; each call waits for its record to be written, so a response still goes on
    only once its capture exists."""

    def __init__(self, folder: Path, max_bytes: int, info: dict, gzip_level: int):
        context = multiprocessing.get_context("spawn")  # never fork a running reactor
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve_writer,
            args=(child, folder, max_bytes, info, gzip_level),
            name="warc-writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.files_written: list[str] = []
        self.cpu_s = 0.0
        """CPU seconds the writer process spent (known once closed)."""

    def _call(self, operation: str, *args):
        try:
            self._connection.send((operation, args))
            status, value = self._connection.recv()
        except (EOFError, OSError, BrokenPipeError) as error:
            raise OSError(f"the WARC writer process is gone: {error}") from error
        if status == "error":
            is_os_error, message = value
            raise (OSError if is_os_error else RuntimeError)(message)
        return value

    def write_exchange(self, request, response, sent_at=None) -> Capture:
        return self._call("exchange", exchange_parts(request, response, sent_at))

    def write_failure(self, request, exception, sent_at=None) -> None:
        self._call("failure", failure_parts(request, exception, sent_at))

    def write_fields(self, uri: str, fields: dict[str, str]) -> None:
        self._call("fields", uri, fields)

    def close(self) -> None:
        if self._process is None:
            return
        try:
            self.files_written, self.cpu_s = self._call("close")
        except OSError as error:
            logger.error("WARC writer: %s", error)
        finally:
            self._connection.close()
            self._process.join(timeout=30)
            self._process = None


def crawl_info(settings, spider=None, crawl_id: str | None = None) -> dict[str, str]:
    """Fields of the ``warcinfo`` record: what made these captures, how and from where.
    ``sadec-crawl-id`` is the same in every file of one crawl."""
    names = {*SETTINGS_RECORDED, *(name for name in settings if name.startswith("SADEC_"))}
    recorded = {name: settings.get(name) for name in sorted(names)}
    spider_args = {name: getattr(spider, name, None) for name in SPIDER_ARGS_RECORDED}
    spider_args["mode"] = getattr(spider, "requested_mode", None) or spider_args["mode"]
    base_url = (settings.get("SADEC_BASE_URL") or "").rstrip("/")
    return {
        "software": (
            f"sadec-archive/{package_version('sadec-archive')} Scrapy/{scrapy.__version__} "
            f"warcio/{package_version('warcio')}"
        ),
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "isPartOf": "sadec-archive",
        "description": "Crawl of the Sa Dec city news portal (scrapy crawl sadec)",
        "hostname": socket.gethostname(),
        "operator": settings.get("SADEC_CONTACT_URL") or "",
        "http-header-user-agent": settings.get("USER_AGENT") or "",
        "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        "sadec-crawl-id": crawl_id or str(uuid.uuid4()),
        "sadec-base-url": base_url,
        "sadec-seeds": f"{base_url}/",
        "sadec-spider-args": json.dumps(spider_args, sort_keys=True, default=str),
        "sadec-settings": json.dumps(recorded, sort_keys=True, default=str),
    }


def package_version(name: str) -> str:
    """Installed version of a distribution ("unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class WarcWriterMiddleware:
    """Downloader middleware writing every request and response to WARC files.

    ``SADEC_WARC_DIR`` names the folder ("" = ``captures/`` beside ``SADEC_DB_PATH``, ``off``
    = no captures), ``SADEC_WARC_MAX_BYTES`` the size past which a new file starts,
    ``SADEC_WARC_GZIP_LEVEL`` the compression level. Each response's
    :class:`~sadec_crawler.items.Capture` goes into ``request.meta["sadec_capture"]``.

    Records are written in the order the exchanges arrive by a process of their own
    (``SADEC_WARC_WRITER=process``, the default), which one thread of the crawl talks to:
    building records, gzip and digests (5–7 ms of CPU for a 176 KB page) then take nothing
    of the crawl's core. ``thread`` writes in that thread instead. A response goes on only
    once its record is written.
    """

    def __init__(self, crawler, folder: Path, max_bytes: int, gzip_level: int = DEFAULT_GZIP_LEVEL):
        self.crawler = crawler
        self.folder = folder
        self.max_bytes = max_bytes
        self.gzip_level = gzip_level
        self.writer: RotatingWarcWriter | ProcessWarcWriter | None = None
        self.in_process = False
        """Whether records are written by a process of their own (``SADEC_WARC_WRITER``)."""
        self.crawl_id = str(uuid.uuid4())
        self._pool: ThreadPool | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        folder = evidence_folder(
            settings.get("SADEC_WARC_DIR", ""), settings.get("SADEC_DB_PATH"), "captures"
        )
        if folder is None:
            raise NotConfigured("SADEC_WARC_DIR=off: no WARC captures")
        max_bytes = settings.getint("SADEC_WARC_MAX_BYTES", DEFAULT_MAX_BYTES)
        gzip_level = settings.getint("SADEC_WARC_GZIP_LEVEL", DEFAULT_GZIP_LEVEL)
        where = (settings.get("SADEC_WARC_WRITER") or "process").strip().lower()
        if where not in ("process", "thread"):
            raise ValueError(f"SADEC_WARC_WRITER={where!r}: expected process or thread")
        middleware = cls(crawler, folder, max_bytes, gzip_level)
        middleware.in_process = where == "process"
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _finish(self, reason) -> None:
        if self.writer is not None:
            # How the crawl ended, for `sadec rebuild` (a killed crawl leaves no such record).
            self.writer.write_fields(f"urn:sadec:crawl:{self.crawl_id}", {"finish-reason": reason})
            self.writer.close()
            logger.info(
                "captures: %d WARC file(s) in %s", len(self.writer.files_written), self.folder
            )
            if isinstance(self.writer, ProcessWarcWriter):
                stats = self.crawler.stats
                stats.set_value("sadec/warc/writer_cpu_ms", round(self.writer.cpu_s * 1000))

    async def spider_closed(self, spider, reason):
        if self._pool is None:
            self._finish(reason)
            return
        from twisted.internet import reactor  # the one Scrapy installed, imported late

        pool, self._pool = self._pool, None
        try:
            await maybe_deferred_to_future(deferToThreadPool(reactor, pool, self._finish, reason))
        finally:
            pool.stop()

    def _writer(self) -> RotatingWarcWriter | ProcessWarcWriter:
        # Opened on first use: the spider (and its arguments) exists by then.
        if self.writer is None:
            info = crawl_info(self.crawler.settings, self.crawler.spider, self.crawl_id)
            if self.in_process:
                self.writer = ProcessWarcWriter(self.folder, self.max_bytes, info, self.gzip_level)
            else:
                self.writer = RotatingWarcWriter(
                    self.folder, self.max_bytes, info, gzip_level=self.gzip_level
                )
        return self.writer

    async def _in_writer_thread(self, function, *args):
        """Run a write in the writer thread (one thread: records keep their order)."""
        from twisted.internet import reactor  # the one Scrapy installed, imported late

        if self._pool is None:
            self._pool = ThreadPool(minthreads=1, maxthreads=1, name="warc-writer")
            self._pool.start()
        return await maybe_deferred_to_future(
            deferToThreadPool(reactor, self._pool, function, *args)
        )

    def process_request(self, request: Request):
        if urlsplit(request.url).scheme in ("http", "https"):  # a data: step is no exchange
            request.meta[SENT_AT_META] = warc_date()
        return None

    async def process_response(self, request: Request, response: Response):
        sent_at = request.meta.pop(SENT_AT_META, None)
        if sent_at is None:
            # Not fetched over the network (a middleware answered it): nothing to capture.
            request.meta.pop("sadec_capture", None)
            return response
        writer = self._writer()
        try:
            capture = await self._in_writer_thread(
                writer.write_exchange, request, response, sent_at
            )
        except OSError as error:
            # The page then fails like a network error: better than stored without evidence.
            logger.error("cannot write WARC record for %s: %s", response.url, error)
            raise
        request.meta["sadec_capture"] = capture
        self.crawler.stats.inc_value("sadec/warc/records", 2)
        return response

    async def process_exception(self, request: Request, exception: BaseException):
        sent_at = request.meta.pop(SENT_AT_META, None)
        writer = self._writer()
        if sent_at is None:
            # Refused before reaching the network (robots.txt, off-site): no request record,
            # as nothing was sent, but a note of why the URL was not fetched.
            await self._in_writer_thread(
                writer.write_fields, request.url, failure_fields(exception)
            )
            return None
        await self._in_writer_thread(writer.write_failure, request, exception, sent_at)
        self.crawler.stats.inc_value("sadec/warc/failures")
        return None

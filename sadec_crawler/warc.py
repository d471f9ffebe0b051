"""Raw captures: every HTTP exchange of a crawl into WARC files (ISO 28500, WARC/1.1).

:class:`WarcWriterMiddleware` sits next to the download handler, below the redirect, retry and
decompression middlewares, so it sees each response as transferred: 3xx and 5xx answers, and
bodies still content-encoded. Each exchange becomes a ``request`` and a ``response`` record
that point at each other (``WARC-Concurrent-To``); a fetch that fails without any response
becomes a ``request`` and a ``metadata`` record naming the failure. The files themselves
(rotation, gzip members, the writer process) live in :mod:`sadec_crawler.warc_files`.
"""

from __future__ import annotations

import http
import importlib.metadata
import json
import logging
import socket
import uuid
import weakref
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

from .layout import evidence_folder
from .warc_files import (
    DEFAULT_GZIP_LEVEL,
    DEFAULT_MAX_BYTES,
    ExchangeParts,
    FailureParts,
    ProcessWarcWriter,
    RotatingWarcWriter,
    warc_date,
)

logger = logging.getLogger(__name__)

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


def failure_fields(exception: BaseException) -> dict[str, str]:
    """What a ``metadata`` record says about a fetch that got no response."""
    return {
        "fetch-error": exception_kind(exception),
        "fetch-error-message": f"{type(exception).__name__}: {exception}"[:500],
    }


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


def failure_parts(request: Request, exception: BaseException, sent_at: str | None):
    return FailureParts(
        request_url=request.url,
        request_body=request.body,
        request_headers=request_http_headers(request),
        fields=failure_fields(exception),
        sent_at=sent_at,
        failed_at=warc_date(),
    )


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
    (``SADEC_WARC_WRITER=process``, the default), which the crawl's reactor talks to
    (:mod:`.helper_link`): building records, gzip and digests then take nothing of the crawl's
    core. That process starts with the middleware, so that its start-up overlaps the crawl's.
    ``thread`` writes in a thread of the crawl instead. A response goes on only once its
    record is written.
    """

    def __init__(self, crawler, folder: Path, max_bytes: int, gzip_level: int = DEFAULT_GZIP_LEVEL):
        self.crawler = crawler
        self.folder = folder
        self.max_bytes = max_bytes
        self.gzip_level = gzip_level
        self.writer: RotatingWarcWriter | ProcessWarcWriter | None = None
        self.writer_process: ProcessWarcWriter | None = None
        """The writer process, started with the middleware (told the ``warcinfo`` fields at
        the first record); None when records are written by a thread of the crawl
        (``SADEC_WARC_WRITER=thread``)."""
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
        if where == "process":
            middleware.writer_process = ProcessWarcWriter(folder, max_bytes, gzip_level)
            # A crawl whose engine never opens the spider sends no spider_closed.
            weakref.finalize(middleware, middleware.writer_process.close)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _finish(self, reason) -> None:
        try:
            if self.writer is not None:
                # How the crawl ended, for `sadec rebuild` (a killed crawl leaves no such record).
                finish = {"finish-reason": reason}
                self.writer.write_fields(f"urn:sadec:crawl:{self.crawl_id}", finish)
        finally:
            if self.writer is not None:
                self.writer.close()
                logger.info(
                    "captures: %d WARC file(s) in %s", len(self.writer.files_written), self.folder
                )
            if self.writer_process is not None:
                self.writer_process.close()  # a second close does nothing
                if self.writer_process.cpu_s:
                    cpu_ms = round(self.writer_process.cpu_s * 1000)
                    self.crawler.stats.set_value("sadec/warc/writer_cpu_ms", cpu_ms)

    async def spider_closed(self, spider, reason):
        if self.writer_process is not None and self.writer is not None:
            await self._finish_process(reason)
            return
        if self._pool is None:
            self._finish(reason)
            return
        from twisted.internet import reactor  # the one Scrapy installed, imported late

        pool, self._pool = self._pool, None
        try:
            await maybe_deferred_to_future(deferToThreadPool(reactor, pool, self._finish, reason))
        finally:
            pool.stop()

    async def _finish_process(self, reason) -> None:
        process = self.writer_process
        try:
            # How the crawl ended, for `sadec rebuild` (a killed crawl leaves no such record).
            uri = f"urn:sadec:crawl:{self.crawl_id}"
            await process.ask("fields", uri, {"finish-reason": reason})
        except (OSError, RuntimeError) as error:
            logger.error("cannot write the crawl's finish record: %s", error)
        finally:
            await process.finish()
            logger.info("captures: %d WARC file(s) in %s", len(process.files_written), self.folder)
            if process.cpu_s:
                cpu_ms = round(process.cpu_s * 1000)
                self.crawler.stats.set_value("sadec/warc/writer_cpu_ms", cpu_ms)

    def _writer(self) -> RotatingWarcWriter | ProcessWarcWriter:
        # Opened on first use: the spider (and its arguments) exists by then.
        if self.writer is None:
            info = crawl_info(self.crawler.settings, self.crawler.spider, self.crawl_id)
            if self.writer_process is not None:
                self.writer_process.open(info)
                self.writer = self.writer_process
            else:
                self.writer = RotatingWarcWriter(
                    self.folder, self.max_bytes, info, gzip_level=self.gzip_level
                )
        return self.writer

    async def _write(self, operation: str, *args):
        """One write: sent to the writer process through the reactor, or done in the writer
        thread (``SADEC_WARC_WRITER=thread``); either way records keep their order."""
        writer = self._writer()
        if writer is self.writer_process:
            return await writer.ask(operation, *args)
        function = {
            "exchange": writer.write_exchange_parts,
            "failure": writer.write_failure_parts,
            "fields": writer.write_fields,
        }[operation]
        return await self._in_writer_thread(function, *args)

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
        try:
            capture = await self._write("exchange", exchange_parts(request, response, sent_at))
        except OSError as error:
            # The page then fails like a network error: better than stored without evidence.
            logger.error("cannot write WARC record for %s: %s", response.url, error)
            raise
        request.meta["sadec_capture"] = capture
        self.crawler.stats.inc_value("sadec/warc/records", 2)
        return response

    async def process_exception(self, request: Request, exception: BaseException):
        sent_at = request.meta.pop(SENT_AT_META, None)
        if sent_at is None:
            # Refused before reaching the network (robots.txt, off-site): no request record,
            # as nothing was sent, but a note of why the URL was not fetched.
            await self._write("fields", request.url, failure_fields(exception))
            return None
        await self._write("failure", failure_parts(request, exception, sent_at))
        self.crawler.stats.inc_value("sadec/warc/failures")
        return None

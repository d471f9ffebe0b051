"""WARC files: records written as gzip members into files that rotate past a size, by this
process or by a writer process of its own.

Every file starts with a ``warcinfo`` record, and every record is its own gzip member, flushed
at once: a killed crawl leaves all earlier records readable. Nothing here imports Scrapy or
Twisted: the writer process imports only this module, warcio and ISA-L (0.14 s, where importing
``sadec_crawler.warc`` and with it Scrapy took 0.62 s; ``/usr/bin/time python -c "import …"``).
:mod:`sadec_crawler.warc` takes Scrapy's requests and responses apart into the picklable
:class:`ExchangeParts` and :class:`FailureParts` these writers take.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import resource
import signal
import subprocess
import uuid
import zlib
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from isal import isal_zlib
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .helper_link import HelperProcess
from .items import Capture

logger = logging.getLogger(__name__)

WARC_SUFFIX = ".warc.gz"
DEFAULT_MAX_BYTES = 100_000_000
DEFAULT_GZIP_LEVEL = 3
"""Compression level of each record's gzip member: 1 to 3 by ISA-L's igzip (python-isal), 4 to 9
by zlib. On the replica's 1,026 answers of a 564-article crawl, level 3 by ISA-L took 0.75 ms a
body against zlib's 2.17 ms at the same level, for files 7.6 % larger (16.6 % larger than
zlib's level 9, warcio's fixed choice, which took 9.55 ms)."""

FASTEST_ZLIB_LEVEL = 4
"""Levels below this are ISA-L's, which has no levels above 3."""


def warc_date(moment: dt.datetime | None = None) -> str:
    """``WARC-Date`` in UTC with microseconds (WARC/1.1 allows them; they order a crawl's
    records exactly, which ``sadec rebuild`` relies on)."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def warc_fields(fields: dict[str, str]) -> bytes:
    """``application/warc-fields`` content: one ``name: value`` line each, on one line."""
    return "".join(
        f"{name}: {' '.join(str(value).split())}\r\n" for name, value in fields.items()
    ).encode("utf-8")


def new_record_id() -> str:
    """A fresh ``WARC-Record-ID``."""
    return f"<urn:uuid:{uuid.uuid4()}>"


def gzip_member(data, level: int = DEFAULT_GZIP_LEVEL) -> bytes:
    """``data`` as one whole gzip member: ISA-L below :data:`FASTEST_ZLIB_LEVEL`, zlib from it
    on. Either is plain deflate that any gzip reader inflates."""
    library = isal_zlib if level < FASTEST_ZLIB_LEVEL else zlib
    compressor = library.compressobj(level, library.DEFLATED, library.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


class LevelledWARCWriter(WARCWriter):
    """warcio's writer, each record its own gzip member at a chosen compression level."""

    def __init__(self, filebuf, gzip_level: int = DEFAULT_GZIP_LEVEL, **kwargs):
        super().__init__(filebuf, gzip=False, **kwargs)
        self.gzip_level = gzip_level

    def write_record(self, record, params=None):
        buffer = io.BytesIO()
        self._write_warc_record(buffer, record)
        self.out.write(gzip_member(buffer.getbuffer(), self.gzip_level))
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


@dataclass
class FailureParts:
    """What the records of a fetch without a response are made of (picklable)."""

    request_url: str
    request_body: bytes
    request_headers: StatusAndHeaders
    fields: dict[str, str]
    sent_at: str | None
    failed_at: str


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

    def _http_record(self, kind: str, url: str, body: bytes, http_headers, warc_headers: dict):
        """A ``request`` or ``response`` record: an HTTP message and its body."""
        return self._writer.create_warc_record(
            url,
            kind,
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http_headers,
            warc_headers_dict=warc_headers,
        )

    def _request_record(self, parts: ExchangeParts | FailureParts, warc_headers: dict):
        return self._http_record(
            "request", parts.request_url, parts.request_body, parts.request_headers, warc_headers
        )

    def _metadata_record(self, uri: str, fields: dict[str, str], warc_headers: dict):
        payload = warc_fields(fields)
        return self._writer.create_warc_record(
            uri,
            "metadata",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict=warc_headers,
        )

    def write_exchange_parts(self, parts: ExchangeParts) -> Capture:
        """Write the records of an exchange taken apart (see :func:`exchange_parts`)."""
        self._ensure_room()
        response_id = new_record_id()
        request_id = new_record_id()
        request_record = self._request_record(
            parts,
            {
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
        response_record = self._http_record(
            "response",
            parts.response_url,
            parts.response_body,
            parts.response_headers,
            response_headers,
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
        self._write(self._metadata_record(uri, fields, {"WARC-Date": warc_date()}))

    def write_failure_parts(self, parts: FailureParts) -> None:
        self._ensure_room()
        request_id = new_record_id()
        request_record = self._request_record(
            parts, {"WARC-Record-ID": request_id, "WARC-Date": parts.sent_at or parts.failed_at}
        )
        metadata = self._metadata_record(
            parts.request_url,
            parts.fields,
            {"WARC-Date": parts.failed_at, "WARC-Concurrent-To": request_id},
        )
        self._write(request_record)
        self._write(metadata)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def _serve_writer(connection, folder: Path, max_bytes: int, gzip_level: int):
    """The writer process's loop: an ``open`` with the ``warcinfo`` fields first, then records
    over ``connection``, one at a time, in order; each answer says where the record went (or
    what went wrong). Ends when the crawl closes the connection, or dies (killed: the
    connection reads EOF)."""
    writer: RotatingWarcWriter | None = None
    # Why ``open`` failed: the answer to every record after it, as ``open`` gets none.
    refused: Exception | None = None
    try:
        while True:
            try:
                operation, args = connection.recv()
            except (EOFError, OSError):
                return
            if operation == "open":  # unanswered: the crawl does not wait for it
                try:
                    if writer is not None:
                        writer.close()
                    (info,) = args
                    writer = RotatingWarcWriter(folder, max_bytes, info, gzip_level=gzip_level)
                    refused = None
                except Exception as error:  # noqa: BLE001 - told with the next answer
                    writer, refused = None, error
                continue
            if operation == "close":
                if writer is not None:
                    writer.close()
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu_s = usage.ru_utime + usage.ru_stime
                files = list(writer.files_written) if writer is not None else []
                connection.send(("ok", (files, cpu_s)))
                return
            try:
                if writer is None:
                    raise refused or RuntimeError("no warcinfo fields: the writer was not opened")
                if operation == "exchange":
                    answer = writer.write_exchange_parts(*args)
                elif operation == "failure":
                    answer = writer.write_failure_parts(*args)
                else:
                    answer = writer.write_fields(*args)
                connection.send(("ok", answer))
            except Exception as error:  # noqa: BLE001 - told to the crawl, which decides
                connection.send(("error", (isinstance(error, OSError), str(error))))
    finally:
        if writer is not None:
            writer.close()


def serve_writer_process(fd: str, folder: str, max_bytes: str, gzip_level: str) -> None:
    """Entry point of the writer process (``python -c``, arguments as text). Interrupts are
    the crawl's to handle: Ctrl-C and a service manager's SIGTERM reach the whole process
    group, and a writer that died of them would cost the crawl's graceful stop its last
    records. The process ends when the crawl closes the connection or dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _serve_writer(Connection(int(fd)), Path(folder), int(max_bytes), int(gzip_level))


_WRITER_PROCESS_CODE = (
    "import sys; from sadec_crawler.warc_files import serve_writer_process; "
    "serve_writer_process(*sys.argv[1:])"
)


ANSWER_TIMEOUT = 300.0
"""Seconds the crawl waits for the writer's answer about one record (the largest body Scrapy
accepts, 16 MB, is written in well under one); past them the writer is taken for hung and
ended, and each page still waiting fails like a network error."""


class ProcessWarcWriter:
    """A :class:`RotatingWarcWriter` in a process of its own (``SADEC_WARC_WRITER=process``,
    the default): record building, gzip and digests run on another core than the crawl's.

    The process starts at once, so that its interpreter starts while the crawl does, and it
    imports this module alone: a ``python -c`` over a socket pair, not ``multiprocessing``,
    whose "spawn" runs the crawl's main script again in the child (the ``scrapy`` console
    script: Scrapy imported, 0.5 s). :meth:`open` gives it the ``warcinfo`` fields before the
    first record; then the same methods as :class:`RotatingWarcWriter`, each waiting for its
    record to be written, so a response still goes on only once its capture exists."""

    def __init__(self, folder: Path, max_bytes: int, gzip_level: int):
        self._helper = HelperProcess(
            _WRITER_PROCESS_CODE,
            [str(folder), str(max_bytes), str(gzip_level)],
            "WARC writer",
            lambda: ANSWER_TIMEOUT,
        )
        self._process: subprocess.Popen | None = self._helper.process
        self._link = self._helper.link
        self.files_written: list[str] = []
        self.cpu_s = 0.0
        """CPU seconds the writer process spent (known once closed)."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _call(self, operation: str, *args, timeout: float | None = None):
        """A request and its answer, waited for (before the crawl's reactor has the link)."""
        return _value(self._link.exchange((operation, args), timeout or ANSWER_TIMEOUT))

    async def ask(self, operation: str, *args):
        """A request and its answer through the crawl's reactor (no thread between): records
        are sent as responses come and answered in order."""
        from scrapy.utils.defer import maybe_deferred_to_future

        return _value(await maybe_deferred_to_future(self._link.ask((operation, args))))

    def open(self, info: dict[str, str]) -> None:
        """Give the writer the ``warcinfo`` fields that head each of its files (without
        waiting for the process to be ready; a failure is the next record's answer)."""
        self._link.tell(("open", (info,)))

    def write_exchange_parts(self, parts: ExchangeParts) -> Capture:
        return self._call("exchange", parts)

    def write_failure_parts(self, parts: FailureParts) -> None:
        self._call("failure", parts)

    def write_fields(self, uri: str, fields: dict[str, str]) -> None:
        self._call("fields", uri, fields)

    async def finish(self) -> None:
        """Let the writer finish its files and end, through the reactor once it has the link."""
        await self._helper.finish()
        self._closed()

    def close(self) -> None:
        """Let the writer finish its files and end; a second call does nothing."""
        self._helper.finish_now(timeout=60)
        self._closed()

    def _closed(self) -> None:
        self._process = None
        if self._helper.close_error is not None:
            logger.error("WARC writer: %s", self._helper.close_error)
        if self._helper.close_answer is not None:
            self.files_written, self.cpu_s = _value(self._helper.close_answer)


def _value(answer):
    status, value = answer
    if status == "error":
        is_os_error, message = value
        raise (OSError if is_os_error else RuntimeError)(message)
    return value

"""Files pipeline: each article's images and attachments, downloaded once, stored by hash.

Files go to ``SADEC_FILES_DIR`` ("" = ``files/`` beside the database, ``off`` = no downloads)
as ``sha256/ab/<sha256><ext>``: the site's file names never become paths. Downloads use the
crawl's own downloader (same delays, robots.txt, retries, WARC captures) and are bounded by
``SADEC_FILE_MAXSIZE``. A failure is recorded on the item (``fetch_error``), never raised.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import sqlite3
import struct
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from sadec_crawler.compact import PackedTable, digest
from sadec_crawler.items import Article, ListingEntry, StoredFile
from sadec_crawler.layout import content_path, evidence_folder, inside, safe_extension
from sadec_crawler.warc import exception_kind

logger = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 50 * 1024 * 1024


def header_text(value: bytes | str | None) -> str | None:
    """A header value as text (UTF-8 if it is, else latin-1 octets), None if absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def stored_file_from_body(
    url: str, status: int, content_type: str | None, body: bytes, maxsize: int
) -> StoredFile:
    """What to record of a fetched file: its hash, size, type and stored path, or the error.

    Shared by the crawl and ``sadec rebuild`` (which reads the bodies back from the WARC).
    """
    if not 200 <= status < 300:
        return StoredFile(error=f"http_{status}")
    if maxsize and len(body) > maxsize:
        return StoredFile(error="too_large")
    sha256 = hashlib.sha256(body).hexdigest()
    return StoredFile(
        sha256=sha256,
        size=len(body),
        content_type=content_type,
        stored_path=content_path(sha256, safe_extension(url, content_type)),
    )


def store_body(folder: Path, stored_path: str, body: bytes) -> Path:
    """Write a file under the files folder unless the same content is there already.

    Written to a temporary name and renamed, so a killed crawl never leaves half a file under
    a hash name.
    """
    target = inside(folder, stored_path)
    if target.is_file() and target.stat().st_size == len(body):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class StoredFiles:
    """URL → :class:`StoredFile`, for every file a run has met: about 70 bytes a file.

    Held as a dict of dataclasses, these were the largest thing a crawl keeps till its end:
    7.8 MB for the 11,376 files of a full crawl of 20,064 replica articles (700 bytes a file,
    census at the last ``spider_idle``). Here a file is one packed record under its URL's
    128-bit digest (:mod:`sadec_crawler.compact`): the SHA-256 as 32 bytes, the size, and the
    content type, extension and error as numbers into a table of the few distinct strings.
    A file that does not fit that mould (a stored path of another form) is kept as it is.
    """

    _RECORD = struct.Struct(">B32sQIII")  # flags, sha256, size, content type, extension, error
    _HAS_SHA256, _HAS_SIZE = 1, 2

    def __init__(self):
        self._table = PackedTable(rest_size=8, value_size=self._RECORD.size)
        self._strings: list[str | None] = [None]
        self._numbers: dict[str | None, int] = {None: 0}
        self._other: dict[str, StoredFile] = {}

    @staticmethod
    def _key(url: str) -> tuple[int, bytes]:
        hashed = digest(url)
        return int.from_bytes(hashed[:8], "big"), hashed[8:]

    def _number(self, text: str | None) -> int:
        number = self._numbers.get(text)
        if number is None:
            number = self._numbers[text] = len(self._strings)
            self._strings.append(text)
        return number

    def _pack(self, stored: StoredFile) -> bytes | None:
        sha256, size, path = stored.sha256, stored.size, stored.stored_path
        flags, extension = 0, None
        if sha256 is not None:
            if not (isinstance(sha256, str) and _SHA256_HEX.fullmatch(sha256)):
                return None
            prefix = f"sha256/{sha256[:2]}/{sha256}"
            if not (isinstance(path, str) and path.startswith(prefix)):
                return None
            flags, extension = self._HAS_SHA256, path[len(prefix) :]
        elif path is not None:
            return None
        if size is not None:
            if not (type(size) is int and 0 <= size < 1 << 64):
                return None
            flags |= self._HAS_SIZE
        texts = (stored.content_type, extension, stored.error)
        if not all(text is None or isinstance(text, str) for text in texts):
            return None
        return self._RECORD.pack(
            flags,
            bytes.fromhex(sha256) if sha256 else b"",
            size or 0,
            *(self._number(text) for text in texts),
        )

    def _unpack(self, record: bytes) -> StoredFile:
        flags, sha256, size, content_type, extension, error = self._RECORD.unpack(record)
        strings = self._strings
        hexdigest = sha256.hex() if flags & self._HAS_SHA256 else None
        return StoredFile(
            sha256=hexdigest,
            size=size if flags & self._HAS_SIZE else None,
            content_type=strings[content_type],
            stored_path=f"sha256/{hexdigest[:2]}/{hexdigest}{strings[extension]}"
            if hexdigest
            else None,
            error=strings[error],
        )

    def get(self, url: str) -> StoredFile | None:
        """The :class:`StoredFile` of ``url`` (rebuilt from its record), or None."""
        if url in self._other:
            return self._other[url]
        record = self._table.get(*self._key(url))
        return None if record is None else self._unpack(record)

    def __contains__(self, url: str) -> bool:
        return url in self._other or self._table.get(*self._key(url)) is not None

    def __getitem__(self, url: str) -> StoredFile:
        stored = self.get(url)
        if stored is None:
            raise KeyError(url)
        return stored

    def __setitem__(self, url: str, stored: StoredFile) -> None:
        record = self._pack(stored)
        if record is None:
            self._other[url] = stored  # found before the packed record, if there is one
        else:
            self._other.pop(url, None)
            self._table.put(*self._key(url), record)

    def __len__(self) -> int:
        return len(self._table) + sum(
            1 for url in self._other if self._table.get(*self._key(url)) is None
        )


def known_files(db_path: str | Path | None, folder: Path) -> StoredFiles:
    """Files stored by earlier runs (URL → file) that are still in the files folder."""
    known = StoredFiles()
    if not db_path or not Path(db_path).is_file():
        return known
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            rows = conn.execute(
                "select url, sha256, size, content_type, stored_path from images"
                " where sha256 is not null union all"
                " select url, sha256, size, content_type, stored_path from attachments"
                " where sha256 is not null"
            )
        except sqlite3.OperationalError:
            return known  # a database from before the evidence migration
        # Row by row, not fetchall(): only the packed records of a large archive stay.
        for url, sha256, size, content_type, stored_path in rows:
            try:
                present = inside(folder, stored_path or "").is_file()
            except ValueError:
                present = False
            if present:
                known[url] = StoredFile(sha256, size, content_type, stored_path)
    finally:
        conn.close()
    return known


class _Waiters:
    """Deferreds waiting on a key, fired together."""

    def __init__(self):
        self._waiting: dict[str, list[Deferred]] = {}

    def wait(self, key: str) -> Deferred:
        waiter: Deferred = Deferred()
        self._waiting.setdefault(key, []).append(waiter)
        return waiter

    def release(self, key: str, value=None) -> None:
        for waiter in self._waiting.pop(key, []):
            waiter.callback(value)


class FilesPipeline:
    """Downloads the images and attachments of each :class:`Article` into the files folder
    and fills ``ref.file`` (:class:`~sadec_crawler.items.StoredFile`).

    Each URL is fetched at most once a run, and not at all when an earlier run stored it.
    A :class:`ListingEntry` for an article still waiting on its files is held until that
    article is stored: otherwise the storage pipeline would not find the article to merge
    the entry into.
    """

    def __init__(self, crawler, folder: Path, maxsize: int):
        self.crawler = crawler
        self.folder = folder
        self.maxsize = maxsize
        self.db_path = crawler.settings.get("SADEC_DB_PATH")
        self.stored = StoredFiles()
        self.downloading = _Waiters()
        self.in_progress: set[str] = set()
        self.articles_in_flight: Counter = Counter()
        self.entries_waiting = _Waiters()

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        folder = evidence_folder(
            settings.get("SADEC_FILES_DIR", ""), settings.get("SADEC_DB_PATH"), "files"
        )
        if folder is None:
            raise NotConfigured("SADEC_FILES_DIR=off: images and attachments not downloaded")
        pipeline = cls(crawler, folder, settings.getint("SADEC_FILE_MAXSIZE", DEFAULT_MAXSIZE))
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(pipeline.item_done, signal=signal)
        return pipeline

    def open_spider(self, spider=None):
        self.stored = known_files(self.db_path, self.folder)
        logger.info("files into %s (%d already stored)", self.folder, len(self.stored))

    def item_done(self, item, **kwargs):
        """An article left the pipelines: release the listing entries held for it."""
        if not isinstance(item, Article) or item.url not in self.articles_in_flight:
            return
        self.articles_in_flight[item.url] -= 1
        if self.articles_in_flight[item.url] <= 0:
            del self.articles_in_flight[item.url]
            self.entries_waiting.release(item.url)

    async def process_item(self, item):
        if isinstance(item, ListingEntry) and item.url in self.articles_in_flight:
            await maybe_deferred_to_future(self.entries_waiting.wait(item.url))
            return item
        if not isinstance(item, Article):
            return item
        self.articles_in_flight[item.url] += 1
        for ref in [*item.images, *item.attachments]:
            ref.file = dataclasses.replace(await self.fetch(ref.url))
        return item

    async def fetch(self, url: str) -> StoredFile:
        """The stored file for ``url``: from this run or an earlier one, else downloaded."""
        stored = self.stored.get(url)
        if stored is not None:
            self.crawler.stats.inc_value("sadec/files/reused")
            return stored
        if url in self.in_progress:
            return await maybe_deferred_to_future(self.downloading.wait(url))
        self.in_progress.add(url)
        try:
            stored = await self._download(url)
        except Exception:  # noqa: BLE001 - waiters must be released whatever happened
            logger.exception("file fetch failed: %s", url)
            stored = StoredFile(error="internal_error")
        finally:
            self.in_progress.discard(url)
        self.stored[url] = stored
        self.downloading.release(url, stored)
        return stored

    async def _download(self, url: str) -> StoredFile:
        stats = self.crawler.stats
        if urlsplit(url).scheme not in ("http", "https"):
            return StoredFile(error="not_http")
        request = Request(
            url,
            meta={
                "download_maxsize": self.maxsize,
                "download_warnsize": self.maxsize,
                # An article's images may sit on another host: they are part of its evidence.
                "allow_offsite": True,
                "sadec_file": True,
            },
        )
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as error:  # noqa: BLE001 - a file never stops the crawl
            stats.inc_value("sadec/files/failed")
            logger.warning("file not downloaded: %s (%s)", url, error)
            return StoredFile(error=exception_kind(error))
        stored = stored_file_from_body(
            url,
            response.status,
            header_text(response.headers.get("Content-Type")),
            response.body,
            self.maxsize,
        )
        if stored.error:
            stats.inc_value("sadec/files/failed")
            logger.warning("file not stored: %s (%s)", url, stored.error)
            return stored
        try:
            store_body(self.folder, stored.stored_path, response.body)
        except OSError as error:
            logger.error("cannot write file %s: %s", stored.stored_path, error)
            return StoredFile(error="write_failed")
        stats.inc_value("sadec/files/downloaded")
        stats.inc_value("sadec/files/bytes", stored.size)
        return stored

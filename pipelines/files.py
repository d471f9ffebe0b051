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
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from sadec_crawler.fixity import (
    content_path,
    evidence_folder,
    inside,
    record_folder,
    safe_extension,
)
from sadec_crawler.items import Article, ListingEntry, StoredFile
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


def known_files(db_path: str | Path | None, folder: Path) -> dict[str, StoredFile]:
    """Files stored by earlier runs (URL → file) that are still in the files folder."""
    if not db_path or not Path(db_path).is_file():
        return {}
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "select url, sha256, size, content_type, stored_path from images"
            " where sha256 is not null union all"
            " select url, sha256, size, content_type, stored_path from attachments"
            " where sha256 is not null"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}  # a database from before the evidence migration
    finally:
        conn.close()
    known = {}
    for url, sha256, size, content_type, stored_path in rows:
        try:
            present = inside(folder, stored_path or "").is_file()
        except ValueError:
            present = False
        if present:
            known[url] = StoredFile(sha256, size, content_type, stored_path)
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
        self.stored: dict[str, StoredFile] = {}
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
        if self.db_path:
            record_folder(self.db_path, "files", self.folder)
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
        if url in self.stored:
            self.crawler.stats.inc_value("sadec/files/reused")
            return self.stored[url]
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

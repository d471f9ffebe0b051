"""Storage of articles in SQLite through sqlite-utils: idempotent, history-keeping.

Small functions over a :class:`sqlite_utils.Database`, used by the storage pipeline, by
``sadec rebuild`` and by the tests (with in-memory databases).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils

from sadec_crawler.dates import SOURCE_RANK, parse_date
from sadec_crawler.items import Article, ListingEntry

from .document_refs import record_document_refs
from .hashing import CONTENT_FIELDS, content_hash, stored_content_hash
from .migrations import migrate
from .search_index import index_article

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


def utc_now() -> str:
    """Current UTC time, ISO 8601 with ``Z``, to the second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_database(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (or create) an archive database, in WAL mode, with every migration applied.

    ``None`` opens an in-memory database (tests).
    """
    if path is None:
        db = sqlite_utils.Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(path)
        # WAL lets Datasette read while a crawl writes; busy_timeout rides out checkpoints.
        db.enable_wal()
        db.execute("pragma busy_timeout = 10000")
        # In WAL mode NORMAL never corrupts the database; a power cut may drop the last
        # commits (articles the next run fetches again), and no commit waits on an fsync: at
        # full speed FULL spent more time in fsync than in storing the article.
        db.execute("pragma synchronous = normal")
    db.execute("pragma foreign_keys = on")
    db.conn = NestedTransactions(db.conn)
    migrate(db)
    return db


class NestedTransactions:
    """A sqlite3 connection whose ``with`` blocks nest: only the outermost commits or rolls back.

    sqlite-utils wraps each of its writes in ``with conn:``, and sqlite3 commits whenever such a
    block ends: inside ``upsert_article``'s own block that committed the article row before its
    images and index entries, so a crawl killed in between left the article half stored for
    good (the next run finds its content unchanged and writes nothing).
    """

    def __init__(self, conn: sqlite3.Connection):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_depth", 0)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._conn, name, value)  # e.g. sqlite-utils switching isolation_level

    def __enter__(self) -> NestedTransactions:
        object.__setattr__(self, "_depth", self._depth + 1)
        return self

    def __exit__(self, *exc_info) -> bool:
        object.__setattr__(self, "_depth", self._depth - 1)
        return self._conn.__exit__(*exc_info) if self._depth == 0 else False

    @property
    def held(self) -> bool:
        """Whether :meth:`hold` keeps a transaction open."""
        return self._depth > 0

    def hold(self) -> None:
        """Keep one transaction open across many writes, committed by :meth:`commit_held`
        (group commit: the crawl's storage spent a third of its time committing each article,
        py-spy of a 564-article crawl of the replica)."""
        self.__enter__()
        if not self._conn.in_transaction:
            # Begun now, so that an item's savepoint nests in it instead of starting (and,
            # released, committing) a transaction of its own.
            self._conn.execute("begin")

    def commit_held(self) -> None:
        """Commit what the held transaction gathered, and hold a new one."""
        self.release()
        self.hold()

    def release(self) -> None:
        """Commit the held transaction and stop holding one."""
        self.__exit__(None, None, None)

    @contextlib.contextmanager
    def item(self):
        """One item's writes, all or none: a savepoint in a held transaction (a failing item
        undoes only its own writes), a transaction of its own otherwise."""
        if not self.held:
            with self:
                yield
            return
        if not self._conn.in_transaction:
            self._conn.execute("begin")
        self._conn.execute("savepoint item")
        try:
            with self:
                yield
        except BaseException:
            self._conn.execute("rollback to item")
            self._conn.execute("release item")
            raise
        self._conn.execute("release item")


def _article_row(article: Article, digest: str) -> dict:
    row = {
        name: getattr(article, name)
        for name in (
            "url",
            "asset_id",
            "title",
            "published_at",
            "published_at_raw",
            "published_at_source",
            "category",
            "category_raw",
            "author",
            "unit",
            "unit_raw",
            "byline",
            "summary",
            "body_text",
            "body_html",
            "fetched_url",
            "http_status",
            "source",
            "capture_timestamp",
            "capture_url",
        )
    }
    row["newest_capture_timestamp"] = article.capture_timestamp
    row["image_count"] = len(article.images)
    row["attachment_count"] = len(article.attachments)
    row["content_hash"] = digest
    row["http_etag"] = article.etag
    row["http_last_modified"] = article.last_modified
    row["listing_url"] = article.listing_url
    row["url_title"] = article.url_title
    capture = article.capture
    row.update(
        warc_file=capture.warc_file if capture else None,
        warc_record_id=capture.record_id if capture else None,
        warc_offset=capture.offset if capture else None,
        warc_payload_digest=capture.payload_digest if capture else None,
        captured_at=capture.captured_at if capture else None,
    )
    return row


def _file_columns(ref) -> dict:
    stored = ref.file
    return {
        "sha256": stored.sha256 if stored else None,
        "size": stored.size if stored else None,
        "content_type": stored.content_type if stored else None,
        "stored_path": stored.stored_path if stored else None,
        "fetch_error": stored.error if stored else None,
    }


def _replace_children(db: sqlite_utils.Database, article: Article) -> None:
    db.execute("delete from images where article_url = ?", [article.url])
    db.execute("delete from attachments where article_url = ?", [article.url])
    db["images"].insert_all(
        {
            "article_url": article.url,
            "position": i,
            "url": image.url,
            "caption": image.caption,
            "alt": image.alt,
            **_file_columns(image),
        }
        for i, image in enumerate(article.images, 1)
    )
    db["attachments"].insert_all(
        {
            "article_url": article.url,
            "position": i,
            "url": att.url,
            "filename": att.filename,
            "link_text": att.link_text,
            **_file_columns(att),
        }
        for i, att in enumerate(article.attachments, 1)
    )
    record_document_refs(
        db,
        article.url,
        article.body_text,
        [
            {"position": i, "filename": att.filename, "link_text": att.link_text}
            for i, att in enumerate(article.attachments, 1)
        ],
    )


def _keep_better_date(existing: dict, article: Article) -> None:
    """A date read from a listing on an earlier run outranks what the article page alone gives
    now (incremental runs often fetch an article without passing its listing entry)."""
    old_source, new_source = existing.get("published_at_source"), article.published_at_source
    if old_source not in SOURCE_RANK:
        return
    if new_source in SOURCE_RANK and SOURCE_RANK.index(new_source) <= SOURCE_RANK.index(old_source):
        return
    article.published_at = existing["published_at"]
    article.published_at_raw = existing["published_at_raw"]
    article.published_at_source = old_source
    if existing.get("summary") and not article.summary:
        article.summary = existing["summary"]


def upsert_article(db: sqlite_utils.Database, article: Article, now: str | None = None) -> str:
    """Store one article; return ``new``, ``changed`` or ``unchanged``.

    Never deletes: a changed article's previous content goes to ``article_versions`` first.
    An unchanged article only gets its ``last_crawled_at`` (and ``gone_at`` cleared).
    """
    now = now or utc_now()
    table = db["articles"]
    with db.conn:
        existing = next(table.rows_where("url = ?", [article.url]), None)
        if existing:
            _keep_better_date(existing, article)
        digest = content_hash(article)
        row = _article_row(article, digest)
        if existing is None:
            row.update(first_seen_at=now, last_crawled_at=now, last_changed_at=now)
            table.insert(row)
            outcome = NEW
        elif existing["content_hash"] == digest:
            # The page says what it said; what the listing adds (a date, a summary) may be
            # better now than when it was stored (the better one kept: _keep_better_date).
            listing_fields = {
                "published_at": article.published_at,
                "published_at_raw": article.published_at_raw,
                "published_at_source": article.published_at_source,
                "summary": article.summary or existing.get("summary"),
            }
            table.update(
                article.url,
                {
                    "last_crawled_at": now,
                    "newest_capture_timestamp": max(
                        filter(
                            None,
                            (
                                article.capture_timestamp,
                                existing.get("newest_capture_timestamp"),
                                existing.get("capture_timestamp"),
                            ),
                        ),
                        default=None,
                    ),
                    "gone_at": None,
                    "http_status": article.http_status,
                    "http_etag": article.etag,
                    "http_last_modified": article.last_modified,
                    "listing_url": _better_listing(article.listing_url, existing),
                    "url_title": article.url_title or existing.get("url_title"),
                    **listing_fields,
                },
            )
            if listing_fields["summary"] != existing.get("summary"):
                index_article(db, {**existing, **listing_fields})
            return UNCHANGED
        else:
            changed = [name for name in CONTENT_FIELDS if existing.get(name) != row.get(name)]
            db["article_versions"].insert(
                {
                    "article_url": article.url,
                    "content_hash": existing["content_hash"],
                    "fetched_at": existing["last_crawled_at"],
                    "superseded_at": now,
                    "changed_fields": json.dumps(changed or ["images/attachments"]),
                    **{name: existing.get(name) for name in CONTENT_FIELDS},
                    "source": existing.get("source"),
                    "capture_timestamp": existing.get("capture_timestamp"),
                }
            )
            row.update(last_crawled_at=now, last_changed_at=now, gone_at=None)
            row["listing_url"] = _better_listing(article.listing_url, existing)
            row["url_title"] = article.url_title or existing.get("url_title")
            table.update(article.url, row)
            outcome = CHANGED
        _replace_children(db, article)
        index_article(db, row)
    return outcome


def mark_unchanged(db: sqlite_utils.Database, url: str, now: str | None = None) -> bool:
    """A conditional re-check said the article is as stored: only ``last_crawled_at`` moves."""
    with db.conn:
        cursor = db.execute(
            "update articles set last_crawled_at = ?, gone_at = null where url = ?",
            [now or utc_now(), url],
        )
    return cursor.rowcount > 0


def mark_gone(db: sqlite_utils.Database, url: str, now: str | None = None) -> bool:
    """Record that the site stopped serving an article; the row and its history stay.
    Returns True when the article was not already marked gone."""
    now = now or utc_now()
    with db.conn:
        cursor = db.execute(
            "update articles set gone_at = ?, last_crawled_at = ? "
            "where url = ? and gone_at is null",
            [now, now, url],
        )
    return cursor.rowcount > 0


def record_site_page(db: sqlite_utils.Database, url: str, kind: str) -> None:
    """Remember what a discovered page is (see ``m007_site_pages``)."""
    now = utc_now()
    with db.conn:
        db.execute(
            "insert into site_pages (url, kind, first_seen_at, last_seen_at) values (?, ?, ?, ?) "
            "on conflict(url) do update set kind = excluded.kind, "
            "last_seen_at = excluded.last_seen_at",
            [url, kind, now, now],
        )


def apply_listing_entry(db: sqlite_utils.Database, entry: ListingEntry) -> bool | None:
    """Give an already-stored article the date and summary of a listing entry seen after it.

    Returns True when the row changed, False when it did not, None when the article is not
    stored (yet). The listing is the most reliable date source (site-spec §4); a time of day
    the article page gave on the same day is kept.
    """
    existing = next(db["articles"].rows_where("url = ?", [entry.url]), None)
    if existing is None:
        return None
    updates: dict = {}
    listing_date = parse_date(entry.date_raw)
    if listing_date and existing.get("published_at_source") != "listing":
        iso = listing_date.iso
        old = existing.get("published_at") or ""
        if listing_date.time is None and old.startswith(listing_date.date.isoformat()):
            iso = old
        updates.update(
            published_at=iso, published_at_raw=entry.date_raw, published_at_source="listing"
        )
    if entry.summary and not existing.get("summary"):
        updates["summary"] = entry.summary
    if entry.listing_url and _is_home_page(existing.get("listing_url")):
        updates["listing_url"] = entry.listing_url
    if not updates:
        return False
    with db.conn:
        merged = {**existing, **updates}
        # The row now says more than the fetch it was hashed from: rehash, or the next fetch
        # of the same page would look like an edit.
        updates["content_hash"] = stored_content_hash(db, merged)
        db["articles"].update(entry.url, updates)
        index_article(db, merged)
    return True


def _better_listing(new: str | None, existing: dict) -> str | None:
    """A category listing says more about an article than the home page's latest news."""
    old = existing.get("listing_url")
    return old if _is_home_page(new) and not _is_home_page(old) else new or old


def _is_home_page(url: str | None) -> bool:
    return not url or urlsplit(url).path in ("", "/")


def remember_category_name(db: sqlite_utils.Database, name: str) -> None:
    """Record a mixed-case category name so labels printed in upper case can be mapped to it."""
    if name and not name.isupper():
        db["category_names"].upsert({"key": name.casefold(), "name": name}, pk="key")


def known_category_names(db: sqlite_utils.Database) -> dict[str, str]:
    """Mixed-case category names seen so far, keyed by their casefolded form."""
    return {row["key"]: row["name"] for row in db["category_names"].rows}


def known_spelling(category: str | None, names: dict[str, str]) -> str | None:
    """``category`` as the archive spells it (``Xây dựng đảng`` → ``Xây dựng Đảng`` once a
    label in mixed case has shown that spelling)."""
    return names.get(category.casefold(), category) if category else category


def fix_uppercase_categories(db: sqlite_utils.Database) -> int:
    """Respell ``category`` of articles whose label was upper case, now that more mixed-case
    names may be known. Returns the number of rows changed."""
    names = known_category_names(db)
    changed = 0
    with db.conn:
        for row in db.query("select url, category from articles where category is not null"):
            better = known_spelling(row["category"], names)
            if better and better != row["category"]:
                db["articles"].update(row["url"], {"category": better})
                changed += 1
    return changed


def _stored_form(folder: Path, db_path: Path) -> str:
    """``folder`` relative to the database's folder when inside it, else absolute."""
    folder, home = folder.resolve(), db_path.resolve().parent
    try:
        return folder.relative_to(home).as_posix() or "."
    except ValueError:
        return str(folder)


def record_folder(db: sqlite_utils.Database, db_path: str | Path, kind: str, folder: Path) -> None:
    """Remember that this database's ``kind`` (captures or files) went to ``folder``, so that
    ``sadec verify`` finds them wherever they are."""
    path = _stored_form(folder, Path(db_path))
    now = utc_now()
    with db.conn:
        existing = db.execute(
            "select 1 from archive_folders where kind = ? and path = ?", [kind, path]
        ).fetchone()
        if existing:
            db["archive_folders"].update((kind, path), {"last_used_at": now})
        else:
            db["archive_folders"].insert(
                {"kind": kind, "path": path, "first_used_at": now, "last_used_at": now}
            )

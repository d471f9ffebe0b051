"""The archive's schema as named migrations, applied in order and recorded in ``_migrations``.

A migration never changes once it has shipped: later schema changes are new migrations at the
end of :data:`MIGRATIONS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlite_utils

from sadec_crawler.portals import default_registry
from sadec_crawler.units import default_authority

from .document_refs import backfill as backfill_document_refs
from .hashing import stored_content_hash
from .portal_registry import ensure_portals_table, sync_portals
from .search_index import reindex_all
from .unit_names import create_unit_articles_view, sync_units

Migration = Callable[[sqlite_utils.Database], None]


def m001_articles(db: sqlite_utils.Database) -> None:
    """Articles, their images and attachments, versions, runs and errors."""
    db["articles"].create(
        {
            "url": str,
            "asset_id": int,
            "title": str,
            "published_at": str,
            "published_at_raw": str,
            "published_at_source": str,
            "category": str,
            "category_raw": str,
            "author": str,
            "unit": str,
            "byline": str,
            "summary": str,
            "body_text": str,
            "body_html": str,
            "image_count": int,
            "attachment_count": int,
            "content_hash": str,
            "fetched_url": str,
            "http_status": int,
            "source": str,
            "capture_timestamp": str,
            "capture_url": str,
            "first_seen_at": str,
            "last_crawled_at": str,
            "last_changed_at": str,
            "gone_at": str,
        },
        pk="url",
        not_null={"asset_id", "title", "body_text", "body_html"},
    )
    db["articles"].create_index(["asset_id"], unique=True)
    for column in ("published_at", "category", "unit", "author", "last_crawled_at"):
        db["articles"].create_index([column])
    db["images"].create(
        {
            "article_url": str,
            "position": int,
            "url": str,
            "caption": str,
            "alt": str,
        },
        pk=("article_url", "position"),
        foreign_keys=[("article_url", "articles", "url")],
    )
    db["attachments"].create(
        {
            "article_url": str,
            "position": int,
            "url": str,
            "filename": str,
            "link_text": str,
        },
        pk=("article_url", "position"),
        foreign_keys=[("article_url", "articles", "url")],
    )
    for table in ("images", "attachments"):
        db[table].create_index(["url"])
    db["article_versions"].create(
        {
            "id": int,
            "article_url": str,
            "content_hash": str,
            "fetched_at": str,
            "superseded_at": str,
            "changed_fields": str,
            "title": str,
            "published_at": str,
            "category": str,
            "author": str,
            "unit": str,
            "summary": str,
            "body_text": str,
            "body_html": str,
            "source": str,
            "capture_timestamp": str,
        },
        pk="id",
        foreign_keys=[("article_url", "articles", "url")],
    )
    db["article_versions"].create_index(["article_url"])
    db["crawl_runs"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "mode": str,
            "source": str,
            "base_url": str,
            "requests": int,
            "responses_by_status": str,
            "pages": int,
            "articles_seen": int,
            "articles_new": int,
            "articles_changed": int,
            "articles_unchanged": int,
            "articles_gone": int,
            "errors": int,
            "field_coverage": str,
            "finish_reason": str,
            "exit_status": int,
            "message": str,
        },
        pk="id",
    )
    db["crawl_errors"].create(
        {"id": int, "run_id": int, "url": str, "kind": str, "message": str, "at": str},
        pk="id",
        foreign_keys=[("run_id", "crawl_runs", "id")],
    )
    db["category_names"].create({"key": str, "name": str}, pk="key")


def m002_search(db: sqlite_utils.Database) -> None:
    """Full-text search: a diacritic-folded index (the default) and an exact-tone index.

    Both use the article's ``asset_id`` as rowid, a stable integer (the ``articles`` rowid is
    not, as its key is the URL). The storage layer keeps them in step on every write: folding
    needs Python, and triggers calling a Python function would break any other writer.
    """
    db.execute(
        "create virtual table articles_fts using fts5("
        "title, summary, body_text, tokenize = 'unicode61 remove_diacritics 2')"
    )
    db.execute(
        "create virtual table articles_fts_exact using fts5("
        "title, summary, body_text, tokenize = 'unicode61 remove_diacritics 0')"
    )
    reindex_all(db)


def m003_evidence(db: sqlite_utils.Database) -> None:
    """Pointers from articles to their WARC captures; content hashes of downloaded files."""
    for column, kind in (
        ("warc_file", str),
        ("warc_record_id", str),
        ("warc_offset", int),
        ("warc_payload_digest", str),
        ("captured_at", str),
    ):
        db["articles"].add_column(column, kind)
    for table in ("images", "attachments"):
        for column, kind in (
            ("sha256", str),
            ("size", int),
            ("content_type", str),
            ("stored_path", str),
            ("fetch_error", str),
        ):
            db[table].add_column(column, kind)
        db[table].create_index(["sha256"])


def m004_archive_folders(db: sqlite_utils.Database) -> None:
    """Folders the captures and files of this database were written to, so ``sadec verify``
    and ``sadec export`` find them. Paths are relative to the database's folder when inside
    it (a moved or exported archive keeps working), else absolute."""
    db["archive_folders"].create(
        {"kind": str, "path": str, "first_used_at": str, "last_used_at": str},
        pk=("kind", "path"),
    )


def m005_reading_room_index(db: sqlite_utils.Database) -> None:
    """Covering index for the reading room's search: Datasette filters a search with
    ``asset_id in (select rowid from articles_fts …)``, then counts and facets the matches by
    category, unit, author and date. With these columns in one index keyed by ``asset_id``
    that work never reads the large article rows (about twice as fast at 100,000 articles)."""
    db.execute(
        "create index if not exists idx_articles_search_cover "
        "on articles (asset_id, published_at, category, unit, author)"
    )


def m006_incremental(db: sqlite_utils.Database) -> None:
    """Validators for conditional requests (``ETag``, ``Last-Modified``) and the listing an
    article was last seen in, for incremental runs."""
    db["articles"].add_column("http_etag", str)
    db["articles"].add_column("http_last_modified", str)
    db["articles"].add_column("listing_url", str)
    db["crawl_runs"].add_column("requested_mode", str)
    db["crawl_runs"].add_column("articles_listed_new", int)
    db["articles"].create_index(["gone_at"])


def m007_site_pages(db: sqlite_utils.Database) -> None:
    """Pages discovery visited and what they turned out to be (``listing`` or ``other``), so
    incremental runs skip pages that hold no listing (introduction, contact …)."""
    db["site_pages"].create(
        {"url": str, "kind": str, "first_seen_at": str, "last_seen_at": str}, pk="url"
    )


def m008_url_titles(db: sqlite_utils.Database) -> None:
    """Liferay's url-title of articles reached by that route, so later runs know which
    url-title links name an article already archived."""
    db["articles"].add_column("url_title", str)


def m009_newest_matches_index(db: sqlite_utils.Database) -> None:
    """The reading room's table search lists matches newest first: with ``(published_at,
    asset_id)`` in one index it walks the index from the newest end and stops at the page's
    last row, reading only those rows, even when the search matches half the archive."""
    db.execute(
        "create index if not exists idx_articles_published_asset "
        "on articles (published_at, asset_id)"
    )


def m010_page_content_hash(db: sqlite_utils.Database) -> None:
    """Content hashes cover the article's own page only (not the listing's summary and date)
    and not the letter case of the category label: reaching an article by another route, or a
    redesign that prints the label otherwise, is not an edit. Every stored hash is computed
    again by that rule, so the next crawl does not take each article for changed."""
    if "articles" not in db.table_names():
        return
    for row in list(db.query("select * from articles")):
        digest = stored_content_hash(db, row)
        if digest != row["content_hash"]:
            db.execute("update articles set content_hash = ? where url = ?", [digest, row["url"]])


def m011_unit_authority(db: sqlite_utils.Database) -> None:
    """Units as an authority: ``articles.unit_raw`` keeps what the byline said (the old
    ``unit``), ``articles.unit`` becomes its canonical name, ``units`` lists the offices
    (``sadec_crawler/units.yml``)."""
    if "articles" not in db.table_names():
        return
    if "unit_raw" not in db["articles"].columns_dict:
        db.execute("alter table articles add column unit_raw text")
    db.execute("update articles set unit_raw = unit where unit_raw is null and unit is not null")
    sync_units(db, default_authority())


def m012_document_refs(db: sqlite_utils.Database) -> None:
    """Documents cited by each article (``document_refs``), for every article already stored."""
    backfill_document_refs(db)


def m013_newest_capture(db: sqlite_utils.Database) -> None:
    """``articles.newest_capture_timestamp``: the newest web-archive capture processed for the
    article, equal in content or not, so that a backfill resumes after captures that changed
    nothing (a view counter) instead of fetching them again on every run."""
    if "articles" not in db.table_names():
        return
    if "newest_capture_timestamp" not in db["articles"].columns_dict:
        db.execute("alter table articles add column newest_capture_timestamp text")
    db.execute(
        "update articles set newest_capture_timestamp = capture_timestamp "
        "where newest_capture_timestamp is null and capture_timestamp is not null"
    )


def m014_wayback_resume(db: sqlite_utils.Database) -> None:
    """What a web-archive backfill read, kept for its restart (``wayback_index_pages``,
    ``wayback_discoveries``), and the progress of a running crawl in ``crawl_runs``
    (captures planned, done and left, when the next request may go, when it should end)."""
    db["wayback_index_pages"].create(
        {
            "id": int,
            "run_id": int,
            "discovery_key": str,
            "kind": str,
            "query": str,
            "resume_key": str,
            "next_key": str,
            "rows": str,
            "read_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["wayback_index_pages"].create_index(
        ["discovery_key", "query", "resume_key"], if_not_exists=True
    )
    db["wayback_discoveries"].create(
        {
            "discovery_key": str,
            "run_id": int,
            "made_at": str,
            "articles": str,
            "listings": str,
            "home_read": int,
        },
        pk="discovery_key",
        if_not_exists=True,
    )
    if "crawl_runs" in db.table_names():
        columns = db["crawl_runs"].columns_dict
        for name, kind in (
            ("captures_planned", int),
            ("captures_done", int),
            ("captures_left", int),
            ("next_request_at", str),
            ("finish_expected_at", str),
            ("progress_at", str),
        ):
            if name not in columns:
                db["crawl_runs"].add_column(name, kind)


def m015_portals(db: sqlite_utils.Database) -> None:
    """``articles.portal`` and ``crawl_runs.portal``: the registered portal (``portals.yml``)
    an article was archived from and a run crawled, filled from the URLs already stored."""
    for table in ("articles", "crawl_runs"):
        if table in db.table_names() and "portal" not in db[table].columns_dict:
            db[table].add_column("portal", str)
    if "articles" not in db.table_names():
        return
    db["articles"].create_index(["portal"], if_not_exists=True)
    registry = default_registry()
    for portal in registry.portals:
        prefix = portal.base_url + "/"
        for table, column in (("articles", "url"), ("crawl_runs", "base_url")):
            db.execute(
                f"update {table} set portal = ? where portal is null "
                f"and (substr({column}, 1, ?) = ? or rtrim({column}, '/') = ?)",
                [portal.key, len(prefix), prefix, portal.base_url],
            )


def m016_article_portals(db: sqlite_utils.Database) -> None:
    """``article_portals``: every portal that showed an article (the province re-posts its
    units' news), the article itself stored once, under its owning portal's URL."""
    db["article_portals"].create(
        {
            "article_url": str,
            "portal": str,
            "shown_url": str,
            "first_seen_at": str,
            "last_seen_at": str,
        },
        pk=("article_url", "portal"),
        foreign_keys=[("article_url", "articles", "url")],
        if_not_exists=True,
    )
    if "articles" in db.table_names():
        db.execute(
            "insert or ignore into article_portals "
            "select url, portal, url, first_seen_at, last_crawled_at from articles "
            "where portal is not null"
        )


def m017_portals_table(db: sqlite_utils.Database) -> None:
    """``portals``: the registry's portals (unit, level, parent, group id, successors, and
    whether each entry was verified), beside ``articles.portal``."""
    sync_portals(db, default_registry())


def m018_portal_handoffs(db: sqlite_utils.Database) -> None:
    """``portal_handoffs``: links one registered portal's pages gave to another registered
    portal's pages, kept until the crawl of the portal they belong to requests them as its own
    (``handled_at``, ``handled_run_id``): in the same run when it is part of it, else in its
    next one (sadec_crawler/handoffs.py)."""
    db["portal_handoffs"].create(
        {
            "url": str,
            "to_portal": str,
            "from_portal": str,
            "kind": str,
            "asset_id": int,
            "found_on": str,
            "found_at": str,
            "found_run_id": int,
            "handled_at": str,
            "handled_run_id": int,
        },
        pk=("url", "to_portal"),
        if_not_exists=True,
    )
    db["portal_handoffs"].create_index(["to_portal", "handled_at"], if_not_exists=True)


def m019_learnt_group_ids(db: sqlite_utils.Database) -> None:
    """``portals.learnt_group_id`` (with how many of the articles a portal showed agreed, and
    when): the Liferay group learnt from a portal's own pages when the registry names none
    (pipelines/ownership.py); ``portals.canonical_unit``: its unit in units.yml."""
    ensure_portals_table(db)
    sync_portals(db, default_registry())


def m020_unit_successors(db: sqlite_utils.Database) -> None:
    """``units`` says which units took over from those that ended with the July 2025 merger
    (``successors``, ``successors_verified``, ``successors_via``) and whether each entry was
    verified; the ``unit_articles`` view files every article under its byline's unit and its
    portal's unit."""
    sync_units(db, default_authority())
    create_unit_articles_view(db)


MIGRATIONS: list[Migration] = [
    m001_articles,
    m002_search,
    m003_evidence,
    m004_archive_folders,
    m005_reading_room_index,
    m006_incremental,
    m007_site_pages,
    m008_url_titles,
    m009_newest_matches_index,
    m010_page_content_hash,
    m011_unit_authority,
    m012_document_refs,
    m013_newest_capture,
    m014_wayback_resume,
    m015_portals,
    m016_article_portals,
    m017_portals_table,
    m018_portal_handoffs,
    m019_learnt_group_ids,
    m020_unit_successors,
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied now."""
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for migration in MIGRATIONS:
        if migration.__name__ in done:
            continue
        # One transaction per migration, so that a crawl killed in the middle of one leaves
        # it unapplied rather than half applied (its tables made, its record not): sqlite3
        # opens transactions by itself only before DML, and this one must hold the DDL too.
        # (Atomic only on a connection whose nested ``with`` blocks do not commit, as
        # :func:`pipelines.database.open_database` gives; sqlite-utils commits in each of its own.)
        with db.conn:
            if not db.conn.in_transaction:
                db.execute("begin")
            migration(db)
            db["_migrations"].insert(
                {
                    "name": migration.__name__,
                    "applied_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        applied.append(migration.__name__)
    return applied

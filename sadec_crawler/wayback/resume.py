"""What an archive already holds, read so that a stopped or killed backfill goes on where it
stopped (read-only: the storage pipeline owns the database and its migrations)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..textnorm import slugify
from .cdx import capture_of, timestamp_digits

UNPLAYABLE = "wayback_unplayable"
"""The ``crawl_errors`` kind of a capture the index lists and the archive cannot play back."""


def same_page(a: str, b: str) -> bool:
    """Whether two captured URLs are one page (scheme, ``www.`` and host case aside)."""
    return _page(a) == _page(b)


def _page(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').removeprefix('www.')}{parts.path}?{parts.query}"


def capture_key(timestamp: str, original: str) -> str:
    """One capture, whatever archive address served it: its moment and its page."""
    return f"{timestamp} {_page(original)}"


@dataclass
class StoredState:
    """What the database already holds, as far as resuming needs it."""

    watermarks: dict[str, str] = field(default_factory=dict)
    """Canonical URL → newest moment (14 digits) whose content is stored: a capture at or
    before it was processed by an earlier run, or is older than a live fetch of the page."""
    slugs: dict[str, int] = field(default_factory=dict)
    """Title slug → asset id, so url-title captures need not be opened again."""
    ambiguous: set[str] = field(default_factory=set)
    """Title slugs of two archived articles (same title): they name neither for sure."""
    url_titles: dict[str, int] = field(default_factory=dict)
    """Liferay url-title → asset id, as archived articles were reached by it (exact)."""
    unplayable: set[str] = field(default_factory=set)
    """:func:`capture_key` of the captures an earlier run found listed but not playable."""


@contextmanager
def _read_only(db_path: str | Path | None):
    """(connection, table names) of the archive opened read-only (the storage pipeline owns
    writes and migrations); an absent database reads as an empty one."""
    path = Path(db_path) if db_path else None
    if path is None or not path.exists():
        yield None, set()
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        yield conn, tables
    finally:
        conn.close()


def load_stored_state(db_path: str | Path | None) -> StoredState:
    """Read the archive's articles and versions; an absent database is an empty archive."""
    state = StoredState()
    with _read_only(db_path) as (conn, tables):
        if "articles" not in tables:
            return state
        columns = {r[1] for r in conn.execute("pragma table_info(articles)")}
        newest = "newest_capture_timestamp" if "newest_capture_timestamp" in columns else "null"
        url_title = "url_title" if "url_title" in columns else "null"
        rows = conn.execute(
            "select url, asset_id, title, source, capture_timestamp, last_crawled_at, "
            f"{newest} as newest_capture, {url_title} as url_title from articles"
        )
        for row in rows:
            moment = (
                row["capture_timestamp"]
                if row["source"] == "wayback"
                else timestamp_digits(row["last_crawled_at"])
            )
            _raise_watermark(state, row["url"], moment)
            # Captures processed since that changed nothing (a view counter) are not read again.
            _raise_watermark(state, row["url"], row["newest_capture"])
            if row["title"]:
                slug = slugify(row["title"])
                if state.slugs.setdefault(slug, row["asset_id"]) != row["asset_id"]:
                    state.ambiguous.add(slug)
            if row["url_title"]:
                state.url_titles[row["url_title"]] = row["asset_id"]
        if "article_versions" in tables:
            for row in conn.execute("select article_url, capture_timestamp from article_versions"):
                _raise_watermark(state, row["article_url"], row["capture_timestamp"])
        if "crawl_errors" in tables:
            for row in conn.execute("select url from crawl_errors where kind = ?", [UNPLAYABLE]):
                capture = capture_of(row["url"])
                if capture:
                    state.unplayable.add(capture_key(*capture))
    return state


def _raise_watermark(state: StoredState, url: str, moment: str | None) -> None:
    if moment and moment > state.watermarks.get(url, ""):
        state.watermarks[url] = moment


@dataclass
class IndexState:
    """What an interrupted backfill read of the index and the listings (no run since has
    finished), so that its restart does not ask again."""

    pages: dict[tuple[str, str], tuple[str, list[dict]]] = field(default_factory=dict)
    """(query URL, resume key or "") → (the key the page ended with or "", its rows)."""
    discovery: dict | None = None
    """The finished discovery: ``articles``, ``listings`` (decoded JSON) and ``home_read``."""


def load_index_state(db_path: str | Path | None, discovery_key: str) -> IndexState:
    """Index pages and the discovery an interrupted run (killed, stopped by a block, or
    stopped early) kept for ``discovery_key``; nothing once a Wayback run has finished since,
    as a later run must see captures made in between."""
    state = IndexState()
    with _read_only(db_path) as (conn, tables):
        if not {"crawl_runs", "wayback_index_pages", "wayback_discoveries"} <= tables:
            return state
        finished = conn.execute(
            "select coalesce(max(id), 0) from crawl_runs "
            "where source = 'wayback' and finish_reason = 'finished'"
        ).fetchone()[0]
        for row in conn.execute(
            "select query, resume_key, next_key, rows from wayback_index_pages "
            "where discovery_key = ? and run_id > ? order by id",
            [discovery_key, finished],
        ):
            rows = _json_list(row["rows"])
            if rows is not None:
                state.pages[(row["query"], row["resume_key"] or "")] = (row["next_key"] or "", rows)
        found = conn.execute(
            "select articles, listings, home_read from wayback_discoveries "
            "where discovery_key = ? and run_id > ?",
            [discovery_key, finished],
        ).fetchone()
        if found is not None:
            articles, listings = _json_list(found["articles"]), _json_list(found["listings"])
            if articles is not None and listings is not None:
                state.discovery = {
                    "articles": articles,
                    "listings": listings,
                    "home_read": bool(found["home_read"]),
                }
    return state


def _json_list(text: str | None) -> list | None:
    """A JSON list of objects, or None for anything else (a damaged or hand-edited row)."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None

"""The two full-text indexes of the archive, kept in step with ``articles`` by Python.

``articles_fts`` holds diacritic-folded text (đ → d, tone marks off: :func:`fold`), so that
"sa dec" finds *Sa Đéc*; ``articles_fts_exact`` the text as written. Both use the article's
``asset_id`` as rowid. Used by the storage layer on every write and by the migration that
creates the indexes.
"""

from __future__ import annotations

import sqlite_utils

from sadec_crawler.textnorm import fold


def index_article(db: sqlite_utils.Database, row: dict) -> None:
    """Put one article into both search indexes (replacing what was there)."""
    rowid = row["asset_id"]
    values = [row.get("title") or "", row.get("summary") or "", row.get("body_text") or ""]
    for table, transform in (("articles_fts", fold), ("articles_fts_exact", lambda v: v)):
        db.execute(f"delete from {table} where rowid = ?", [rowid])
        db.execute(
            f"insert into {table} (rowid, title, summary, body_text) values (?, ?, ?, ?)",
            [rowid, *(transform(v) for v in values)],
        )


def reindex_all(db: sqlite_utils.Database) -> int:
    """Rebuild both search indexes from ``articles``; returns the number of articles."""
    db.execute("delete from articles_fts")
    db.execute("delete from articles_fts_exact")
    count = 0
    for row in db.query("select asset_id, title, summary, body_text from articles"):
        index_article(db, row)
        count += 1
    return count

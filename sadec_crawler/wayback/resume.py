"""What an archive already holds, read so that a stopped or killed backfill goes on where it
stopped (read-only: the storage pipeline owns the database and its migrations)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..textnorm import slugify
from .cdx import timestamp_digits


@dataclass
class StoredState:
    """What the database already holds, as far as resuming needs it."""

    watermarks: dict[str, str] = field(default_factory=dict)
    """Canonical URL → newest moment (14 digits) whose content is stored: a capture at or
    before it was processed by an earlier run, or is older than a live fetch of the page."""
    slugs: dict[str, int] = field(default_factory=dict)
    """Title slug → asset id, so url-title captures need not be opened again."""


def load_stored_state(db_path: str | Path | None) -> StoredState:
    """Read the archive's articles and versions; an absent database is an empty archive."""
    state = StoredState()
    path = Path(db_path) if db_path else None
    if path is None or not path.exists():
        return state
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        if "articles" not in tables:
            return state
        rows = conn.execute(
            "select url, asset_id, title, source, capture_timestamp, last_crawled_at from articles"
        )
        for row in rows:
            moment = (
                row["capture_timestamp"]
                if row["source"] == "wayback"
                else timestamp_digits(row["last_crawled_at"])
            )
            _raise_watermark(state, row["url"], moment)
            if row["title"]:
                state.slugs.setdefault(slugify(row["title"]), row["asset_id"])
        if "article_versions" in tables:
            for row in conn.execute("select article_url, capture_timestamp from article_versions"):
                _raise_watermark(state, row["article_url"], row["capture_timestamp"])
    finally:
        conn.close()
    return state


def _raise_watermark(state: StoredState, url: str, moment: str | None) -> None:
    if moment and moment > state.watermarks.get(url, ""):
        state.watermarks[url] = moment

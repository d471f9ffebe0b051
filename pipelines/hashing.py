"""Content hashes of articles: what makes a new version, and what does not.

Used by the store (is a fetched article new, changed or unchanged?) and by the migration that
rehashes stored rows when the rule changes.
"""

from __future__ import annotations

import hashlib
import json

import sqlite_utils

from sadec_crawler.items import Article

CONTENT_FIELDS = (
    "title",
    "published_at",
    "category",
    "author",
    "unit",
    "summary",
    "body_text",
    "body_html",
)
"""Fields whose change makes a new version of an article."""

_HASHED_FIELDS = ("title", "author", "unit", "body_text", "body_html", "category_raw")
"""What the article's own page says. Not the summary nor the publication date: they come from
the listing where one led to the article, so reaching it by another route (a related link, a
re-check) would look like an edit; storage keeps the better of them in place instead. Not the
display name of the category either (derived, its spelling may improve as the crawl learns
names): the label as printed stands for it, without its letter case (CSS may upper-case it,
and a redesign prints it otherwise: 6.2/7.0 stock summaries the stored name, the 7.4 pages of
some articles capitals)."""


def _hash(fields: dict, images: list[list], attachments: list[list]) -> str:
    # What the page says about its files, not whether this run managed to download them.
    payload = {name: fields.get(name) for name in _HASHED_FIELDS}
    # The unit as the page names it: a better canonical name for it is no edit of the page.
    payload["unit"] = fields.get("unit_raw") or fields.get("unit")
    if payload["category_raw"]:
        payload["category_raw"] = payload["category_raw"].casefold()
    payload["images"] = images
    payload["attachments"] = attachments
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def content_hash(article: Article) -> str:
    """SHA-256 over the content fields, images and attachments (not over fetch metadata)."""
    return _hash(
        {name: getattr(article, name) for name in (*_HASHED_FIELDS, "unit_raw")},
        [[image.url, image.caption, image.alt] for image in article.images],
        [[a.url, a.filename, a.link_text] for a in article.attachments],
    )


def stored_content_hash(db: sqlite_utils.Database, row: dict) -> str:
    """:func:`content_hash` of a stored row, with its stored images and attachments."""
    images = db.execute(
        "select url, caption, alt from images where article_url = ? order by position",
        [row["url"]],
    ).fetchall()
    attachments = db.execute(
        "select url, filename, link_text from attachments where article_url = ? order by position",
        [row["url"]],
    ).fetchall()
    return _hash(row, [list(r) for r in images], [list(r) for r in attachments])

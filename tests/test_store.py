"""The storage layer on in-memory databases: what makes a version, and what does not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipelines.database import CHANGED, NEW, UNCHANGED, open_database, upsert_article
from sadec_crawler.article import build_article
from sadec_crawler.items import ArticlePage, ListingEntry
from tests.reliability import record

PAGES = Path(__file__).parent / "pages"
BASE = "https://sadec.dongthap.gov.vn"
URL = BASE + "/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/9312400"


def fetched(listing: ListingEntry | None = None):
    html = (PAGES / "article_stock.html").read_text(encoding="utf-8")
    page = ArticlePage(URL, 9312400, URL, 200, "2026-01-01T00:00:00Z", html, listing=listing)
    return build_article(page, BASE)


LISTED = ListingEntry(
    URL,
    9312400,
    BASE + "/van-hoa-xa-hoi",
    date_raw="10/01/2023 08:15 SA",
    summary="Lễ hội hoa Sa Đéc 2023 khai mạc tại Làng hoa Sa Đéc.",
)


@pytest.fixture
def db():
    database = open_database(None)
    yield database
    database.close()


def versions(db) -> int:
    return db.execute("select count(*) from article_versions").fetchone()[0]


def test_reaching_an_article_by_another_route_is_no_edit(db):
    """Listing first (summary, listing date), then by a related link (neither): the same page
    once made a spurious version (19 on an unchanged 3,000-article replica)."""
    assert upsert_article(db, fetched(LISTED)) == NEW
    assert upsert_article(db, fetched()) == UNCHANGED
    assert versions(db) == 0
    row = db["articles"].get(URL)
    assert row["summary"] == LISTED.summary and row["published_at_source"] == "listing"
    record("red-team", case_13="the same page reached by another route: 0 versions")


def test_a_listing_seen_later_enriches_the_row_without_a_version(db):
    assert upsert_article(db, fetched()) == NEW
    assert db["articles"].get(URL)["summary"] is None
    assert upsert_article(db, fetched(LISTED)) == UNCHANGED
    row = db["articles"].get(URL)
    assert (row["summary"], row["published_at_source"]) == (LISTED.summary, "listing")
    assert versions(db) == 0
    found = db.execute(
        "select rowid from articles_fts where articles_fts match 'khai mac'"
    ).fetchall()
    assert found == [(9312400,)], "the summary is searchable once it is known"


def test_an_edit_of_the_page_is_a_version(db):
    assert upsert_article(db, fetched(LISTED)) == NEW
    edited = fetched(LISTED)
    edited = dataclasses.replace(edited, body_text=edited.body_text + "\n\nĐính chính.")
    assert upsert_article(db, edited) == CHANGED
    assert versions(db) == 1


def test_the_case_of_a_category_label_is_no_edit(db):
    article = fetched(LISTED)
    assert upsert_article(db, article) == NEW
    shouted = dataclasses.replace(article, category_raw=article.category_raw.upper())
    assert upsert_article(db, shouted) == UNCHANGED

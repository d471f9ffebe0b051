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


def test_a_unit_is_filed_under_its_office_and_a_new_alias_refiles_it(db, tmp_path):
    """The byline's text is kept (``unit_raw``); ``unit`` is the office's name from
    ``units.yml``; an alias added later refiles stored articles without a version."""
    from pipelines.hashing import stored_content_hash
    from pipelines.unit_names import sync_units
    from sadec_crawler.units import load_units

    article = dataclasses.replace(fetched(), unit_raw="Phòng VH-TT thành phố Sa Đéc", unit=None)
    article.unit = None  # what an older crawler stored: no canonical name yet
    upsert_article(db, article)
    row = db["articles"].get(URL)
    assert row["unit_raw"] == "Phòng VH-TT thành phố Sa Đéc"
    before = row["content_hash"]
    with db.conn:
        sync_units(db, load_units())
    row = db["articles"].get(URL)
    assert row["unit"] == "Phòng Văn hóa và Thông tin"
    assert stored_content_hash(db, row) == before, "a better name for the unit is no edit"
    assert versions(db) == 0
    units_file = tmp_path / "units.yml"
    units_file.write_text("units:\n  - name: Phòng Văn hóa\n    aliases: [Phòng VH-TT]\n")
    with db.conn:
        sync_units(db, load_units(units_file))
    assert db["articles"].get(URL)["unit"] == "Phòng Văn hóa"
    assert [r["name"] for r in db["units"].rows] == ["Phòng Văn hóa"]


def test_the_units_file_refuses_one_name_for_two_offices(tmp_path):
    from sadec_crawler.units import load_units

    units_file = tmp_path / "units.yml"
    units_file.write_text(
        "units:\n  - name: Phòng Kinh tế\n  - name: Phòng Kế hoạch\n"
        "    aliases: [Phòng Kinh tế thành phố]\n"
    )
    with pytest.raises(ValueError, match="matches 'Phòng Kinh tế' too"):
        load_units(units_file)
    assert load_units().canonical("phòng Nội vụ thành phố Sa Đéc") == "Phòng Nội vụ"


def test_documents_cited_are_stored_and_linked_to_their_attachment(db):
    from sadec_crawler.items import AttachmentRef

    article = dataclasses.replace(
        fetched(),
        body_text="Thực hiện Quyết định số 5/QĐ-UBND ngày 2/1/2021 và Kế hoạch số 12/KH-UBND.",
        attachments=[
            AttachmentRef(BASE + "/documents/1/15-QD-UBND.pdf", "15-QD-UBND.pdf", None),
            AttachmentRef(BASE + "/documents/1/a.pdf", "a.pdf", "Quyết định 5/QĐ-UBND"),
        ],
    )
    upsert_article(db, article)
    rows = list(db.query("select kind, symbol, year, attachment_position from document_refs"))
    assert rows == [
        {"kind": "Quyết định", "symbol": "5/QĐ-UBND", "year": 2021, "attachment_position": 2},
        {"kind": "Kế hoạch", "symbol": "12/KH-UBND", "year": None, "attachment_position": None},
    ], "5/QĐ-UBND is the second attachment, not 15-QD-UBND.pdf"


def test_held_items_commit_together_and_a_failing_one_undoes_only_itself(tmp_path):
    """Group commit (SADEC_COMMIT_INTERVAL): items stored under a held transaction reach other
    readers at its commit; an item that fails half-way leaves nothing of itself behind."""
    path = tmp_path / "archive.db"
    writer = open_database(path)
    reader = open_database(path)
    writer.conn.hold()
    with writer.conn.item():
        upsert_article(writer, fetched())
    with pytest.raises(RuntimeError), writer.conn.item():
        writer["crawl_errors"].insert({"url": "half-way", "kind": "test", "message": "-"})
        raise RuntimeError("the item fails after its first write")

    def stored() -> tuple[int, int]:
        return (
            reader.execute("select count(*) from articles").fetchone()[0],
            reader.execute("select count(*) from crawl_errors").fetchone()[0],
        )

    assert stored() == (0, 0)  # nothing committed yet
    writer.conn.commit_held()
    assert stored() == (1, 0)
    assert writer.conn.held
    writer.conn.release()
    assert not writer.conn.held and not writer.conn.in_transaction
    writer.close()
    reader.close()


def test_an_item_outside_a_held_transaction_is_committed_whole_or_not_at_all(db):
    with pytest.raises(RuntimeError), db.conn.item():
        upsert_article(db, fetched())
        raise RuntimeError("a failure after the article's own transaction")
    assert db.execute("select count(*) from articles").fetchone()[0] == 0
    with db.conn.item():
        upsert_article(db, fetched())
    assert not db.conn.in_transaction
    assert db.execute("select count(*) from articles").fetchone()[0] == 1

"""Every Liferay generation the portal and its captures have worn (docs/site-spec.md §8).

The real spider on the replica in 6.2 and 7.0/7.1 markup (7.4 is the replica's default, crawled
by tests/test_sadec.py), ``sadec rebuild`` of those crawls' captures, a Wayback run over
captures that change generation, and a page that makes a parser raise costing one recorded
error in each of the three drivers (live crawl, rebuild, Wayback).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from replica import ReplicaServer, Site
from replica.wayback import WaybackReplica
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env
from sadec.rebuild import rebuild
from tests.conftest import crawl_or_fail
from tests.reliability import stored_value
from tests.support.poisoned_crawl import MARKER_VARIABLE
from tests.test_wayback import FINDINGS_ALLOWED, PORTAL, articles, crawl_ok, version_counts

FIELDS = ("title", "published_at", "category", "category_raw", "author", "unit", "summary")
CRAWL_TIMESTAMPS = {"first_seen_at", "last_crawled_at", "last_changed_at"}
POISON = "PLANTED-PARSER-BUG-7f3a"
POISONED_ID = 99100001
POISONED_ARTICLE = {
    "asset_id": POISONED_ID,
    "title": "Thành phố Sa Đéc tổng kết công tác chuyển đổi số năm 2020",
    "date": "2020-12-28",
    "body": [
        "Chiều ngày 28/12/2020, Ủy ban nhân dân thành phố Sa Đéc tổ chức hội nghị tổng kết công "
        "tác chuyển đổi số năm 2020 và triển khai nhiệm vụ năm 2021.",
        f"Hội nghị thống nhất các chỉ tiêu chuyển đổi số của năm tới ({POISON}).",
    ],
    "byline": {"text": "Minh Tâm", "author": "Minh Tâm", "unit": None, "style": "em"},
    # Pinned: the Wayback schedule's edits and removals never touch it.
    "page": {"hostile": [POISON]},
}
SCRIPT = PROJECT_ROOT / "tests" / "support" / "poisoned_crawl.py"


def query(db: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def field_mismatches(truth: dict, rows: dict, base: str) -> list[str]:
    """Every way the stored rows differ from the ground truth (files resolved against
    ``base``, where the crawl found them)."""
    wrong = []
    for asset_id, expected in truth.items():
        row = rows[asset_id]
        wrong += [
            f"{asset_id} {name}: {stored_value(row, name)!r} != {getattr(expected, name)!r}"
            for name in FIELDS
            if stored_value(row, name) != getattr(expected, name)
        ]
        if expected.published_at_raw not in (row["published_at_raw"] or ""):
            wrong.append(f"{asset_id} raw: {row['published_at_raw']!r}")
        wrong += [
            f"{asset_id} lacks {s!r}" for s in expected.must_contain if s not in row["body_text"]
        ]
        wrong += [
            f"{asset_id} holds {s!r}"
            for s in expected.must_not_contain
            if s in row["body_text"] or s in row["body_html"]
        ]
        images = [(i["url"], i["caption"]) for i in row["images"]]
        if images != [(base + path, caption) for path, caption in expected.images]:
            wrong.append(f"{asset_id} images: {images}")
    return wrong


def stored_articles(db: Path) -> dict[int, dict]:
    found = {row["asset_id"]: row for row in query(db, "select * from articles")}
    for row in found.values():
        row["images"] = query(
            db, "select * from images where article_url = ? order by position", [row["url"]]
        )
    return found


# --- A crawl of each generation -------------------------------------------------------------------
@pytest.fixture(scope="module", params=["6.2", "7.0"])
def generation_crawl(request, tmp_path_factory):
    """A real crawl of the replica wearing one generation:
    (generation, truth, root, crawl output, the replica's base URL)."""
    site = Site(liferay=request.param)
    root = tmp_path_factory.mktemp(f"liferay-{request.param}")
    with ReplicaServer(site) as server:
        result = crawl_or_fail(server.url, root / "archive.db")
        base = server.url.rstrip("/")
    truth = {t.asset_id: t for t in site.truth()}
    return request.param, truth, root, result, base


def test_each_generation_archives_every_article_once_with_every_field_right(generation_crawl):
    generation, truth, root, result, base = generation_crawl
    rows = stored_articles(root / "archive.db")
    assert result.returncode == 0
    assert sorted(rows) == sorted(truth), generation
    assert field_mismatches(truth, rows, base) == [], generation
    assert query(root / "archive.db", "select url, kind from crawl_errors") == []
    assert "Traceback" not in result.stderr


def test_rebuild_of_each_generation_gives_the_same_rows(generation_crawl, tmp_path):
    root = generation_crawl[2]
    new_db = tmp_path / "rebuilt" / "archive.db"
    assert rebuild(root / "captures", new_db) == 0

    def without_clock(db):
        return {
            row["url"]: {k: v for k, v in row.items() if k not in CRAWL_TIMESTAMPS}
            for row in query(db, "select * from articles")
        }

    crawled, rebuilt = without_clock(root / "archive.db"), without_clock(new_db)
    assert len(crawled) == 64 and rebuilt == crawled


# --- One Wayback run across the redesigns ---------------------------------------------------------
@pytest.fixture(scope="module")
def redesigned(tmp_path_factory):
    """Captures of state A in 6.2 markup, B in 7.0, C in 7.4, archived in one Wayback run."""
    archive = WaybackReplica(Site(), redesigns=True)
    db_path = tmp_path_factory.mktemp("redesigns") / "archive.db"
    with archive:
        crawl_ok(archive, db_path)
    return archive, db_path


def test_wayback_captures_span_the_generations(redesigned):
    archive, _ = redesigned
    assert set(archive.capture_generations.values()) == {"6.2", "7.0", "7.4"}


def test_wayback_across_redesigns_archives_each_captured_article_once_right(redesigned):
    archive, db_path = redesigned
    stored = articles(db_path)
    expected = archive.expected_articles()
    assert sorted(stored) == sorted(archive.captured_ids())
    wrong = [
        f"{asset_id} {name}: {stored_value(stored[asset_id], name)!r} != {getattr(truth, name)!r}"
        for asset_id, truth in expected.items()
        for name in FIELDS
        if stored_value(stored[asset_id], name) != getattr(truth, name)
    ]
    assert wrong == []


def test_a_redesign_alone_is_not_an_edit(redesigned):
    archive, db_path = redesigned
    expected = archive.expected_versions()
    assert any(expected.values()) and version_counts(db_path) == expected


# --- A parser that raises costs one page, in each driver ------------------------------------------
def site_with_poisoned_article() -> Site:
    site = Site()
    site.add_article(POISONED_ARTICLE, "tin-tuc-su-kien")
    return site


def poisoned_run(base_url: str, db_path: Path, settings=None, spider_args=None):
    """The real crawl command, through the script that plants the parser bug."""
    argv = crawl_command(base_url, db_path, settings=settings, spider_args=spider_args)
    argv[1:3] = [str(SCRIPT)]  # python -m scrapy … → python poisoned_crawl.py …
    return subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env={**crawl_env(), MARKER_VARIABLE: POISON},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_live_crawl_a_page_the_parser_cannot_read_is_one_error(tmp_path):
    site = site_with_poisoned_article()
    db = tmp_path / "archive.db"
    with ReplicaServer(site) as server:
        result = poisoned_run(server.url, db, settings={"SADEC_MAX_ERRORS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    errors = query(db, "select url, kind, message from crawl_errors")
    assert len(errors) == 1 and errors[0]["url"].endswith(f"/{POISONED_ID}"), errors
    assert "PlantedParserBug" in errors[0]["message"]
    stored = {row["asset_id"] for row in query(db, "select asset_id from articles")}
    assert stored == {t.asset_id for t in site.truth()} - {POISONED_ID}


def test_rebuild_a_capture_the_parser_cannot_read_is_one_error(tmp_path, monkeypatch):
    site = site_with_poisoned_article()
    with ReplicaServer(site) as server:
        crawl_or_fail(server.url, tmp_path / "archive.db")
    monkeypatch.setenv(MARKER_VARIABLE, POISON)
    new_db = tmp_path / "rebuilt" / "archive.db"
    assert rebuild(tmp_path / "captures", new_db, scrapy=[sys.executable, str(SCRIPT)]) == 0
    errors = query(new_db, "select url, kind, message from crawl_errors")
    assert len(errors) == 1 and errors[0]["url"].endswith(f"/{POISONED_ID}"), errors
    assert "PlantedParserBug" in errors[0]["message"]
    stored = {row["asset_id"] for row in query(new_db, "select asset_id from articles")}
    assert stored == {t.asset_id for t in site.truth()} - {POISONED_ID}


def test_wayback_a_capture_the_parser_cannot_read_is_one_error(tmp_path):
    archive = WaybackReplica(site_with_poisoned_article())
    captures = len(archive.article_captures()[POISONED_ID])
    db = tmp_path / "archive.db"
    with archive:
        result = poisoned_run(
            PORTAL,
            db,
            settings={"SADEC_WAYBACK_URL": archive.url.rstrip("/"), **FINDINGS_ALLOWED},
            spider_args={"source": "wayback"},
        )
    assert result.returncode == 0, result.stderr[-4000:]
    planted = query(db, "select url, kind from crawl_errors where message like '%Planted%'")
    assert len(planted) == captures >= 1 and {e["kind"] for e in planted} == {"parse_error"}
    stored = {row["asset_id"] for row in query(db, "select asset_id from articles")}
    assert stored == archive.captured_ids() - {POISONED_ID}


# --- Multi-page web content -----------------------------------------------------------------------
MULTI_PAGE = {11724099: 2, 12428435: 3}
"""Corpus articles split by page breaks, and their page counts."""


def test_every_page_of_a_multi_page_article_is_archived(generation_crawl):
    generation, truth, root, _, _ = generation_crawl
    site = Site(liferay=generation)
    rows = stored_articles(root / "archive.db")
    for asset_id, pages in MULTI_PAGE.items():
        article = site.articles[asset_id]
        assert len(article.page["page_breaks"]) + 1 == pages
        row = rows[asset_id]
        last_paragraph = [b for b in article.body if isinstance(b, str)][-1]
        assert last_paragraph[:60] in row["body_text"], generation
        assert row["body_text"].endswith(article.byline["text"])
        assert len(row["images"]) == len(truth[asset_id].images)
        # Page 1's validators do not vouch for the rest: the next run asks unconditionally.
        assert (row["http_etag"], row["http_last_modified"]) == (None, None)


def test_multi_page_articles_are_read_page_by_page(crawl_result):
    truth, db_path, _, requests = crawl_result
    asked = [r.path_with_query for r in requests if "_page=" in r.path_with_query]
    for asset_id, pages in MULTI_PAGE.items():
        mine = [path for path in asked if f"/content/id/{asset_id}?" in path]
        assert sorted(path.rsplit("=", 1)[1] for path in mine) == [
            str(n) for n in range(2, pages + 1)
        ]
    rows = {row["asset_id"]: row for row in query(db_path, "select * from articles")}
    for asset_id in MULTI_PAGE:
        for snippet in next(t for t in truth if t.asset_id == asset_id).must_contain:
            assert snippet in rows[asset_id]["body_text"]

"""End-to-end: the real `scrapy crawl sadec` against the replica, checked against its corpus.

One test per field (so a failure names the field), then invariants over every stored row.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from urllib.parse import urlsplit

import pytest

from sadec_crawler.pages import article_page_number
from tests.conftest import crawl_or_fail
from tests.reliability import stored_value

ARTICLE_PATH = re.compile(r"^/chi-tiet-bai-viet/-/asset_publisher/[A-Za-z0-9]+/content/id/\d+$")


def _rows(db_path) -> dict[int, dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    rows = {row["asset_id"]: dict(row) for row in conn.execute("select * from articles")}
    for table in ("images", "attachments"):
        for row in rows.values():
            row[table] = [
                dict(r)
                for r in conn.execute(
                    f"select * from {table} where article_url = ? order by position", [row["url"]]
                )
            ]
    conn.close()
    return rows


@pytest.fixture(scope="module")
def archived(crawl_result):
    truth, db_path, _, _ = crawl_result
    return {t.asset_id: t for t in truth}, _rows(db_path)


def _mismatches(archived, field, expected_of):
    truth, rows = archived
    wrong = []
    for asset_id, article in truth.items():
        row = rows.get(asset_id)
        if row is None:
            continue
        expected = expected_of(article)
        if stored_value(row, field) != expected:
            wrong.append(f"{asset_id}: {field}={stored_value(row, field)!r}, expected {expected!r}")
    return wrong


def test_every_article_archived_exactly_once(archived):
    truth, rows = archived
    assert sorted(rows) == sorted(truth)


def test_crawl_exits_cleanly_and_reports(crawl_result):
    _, _, result, _ = crawl_result
    assert result.returncode == 0
    assert "summary:" in result.stderr
    assert "field coverage:" in result.stderr
    assert "[sadec_crawler.progress] INFO: progress:" in result.stderr
    assert "CRITICAL" not in result.stderr and "Traceback" not in result.stderr
    # No remote console listens during a crawl (Scrapy's telnet and remote control are off).
    assert "Telnet console listening" not in result.stderr
    assert "Remote control HTTP server listening" not in result.stderr


@pytest.mark.parametrize(
    "field", ["title", "published_at", "category", "category_raw", "author", "unit", "summary"]
)
def test_field_equals_ground_truth(archived, field):
    assert _mismatches(archived, field, lambda article: getattr(article, field)) == []


def test_published_at_raw_is_the_text_the_date_came_from(archived):
    truth, rows = archived
    wrong = [
        f"{asset_id}: {rows[asset_id]['published_at_raw']!r} vs {article.published_at_raw!r}"
        for asset_id, article in truth.items()
        if article.published_at_raw not in (rows[asset_id]["published_at_raw"] or "")
    ]
    assert wrong == []


def test_body_contains_what_it_must(archived):
    truth, rows = archived
    missing = [
        f"{asset_id}: {snippet!r}"
        for asset_id, article in truth.items()
        for snippet in article.must_contain
        if snippet not in rows[asset_id]["body_text"]
    ]
    assert missing == []


def test_body_leaves_out_what_it_must(archived):
    truth, rows = archived
    present = [
        f"{asset_id}: {snippet!r}"
        for asset_id, article in truth.items()
        for snippet in article.must_not_contain
        if snippet in rows[asset_id]["body_text"] or snippet in rows[asset_id]["body_html"]
    ]
    assert present == []


def test_images_with_captions(archived):
    truth, rows = archived
    wrong = []
    for asset_id, article in truth.items():
        got = [
            (urlsplit(i["url"]).path + "?" + urlsplit(i["url"]).query, i["caption"])
            for i in rows[asset_id]["images"]
        ]
        if got != [(path, caption) for path, caption in article.images]:
            wrong.append(f"{asset_id}: {got} != {article.images}")
    assert wrong == []


def test_attachments_with_file_names(archived):
    truth, rows = archived
    wrong = []
    for asset_id, article in truth.items():
        got = [
            (urlsplit(a["url"]).path + "?" + urlsplit(a["url"]).query, a["filename"])
            for a in rows[asset_id]["attachments"]
        ]
        if got != [(path, name) for path, name in article.attachments]:
            wrong.append(f"{asset_id}: {got} != {article.attachments}")
    assert wrong == []


# --- Invariants over every stored row -----------------------------------------------------------
def test_urls_are_canonical(archived):
    _, rows = archived
    for asset_id, row in rows.items():
        parts = urlsplit(row["url"])
        assert ARTICLE_PATH.match(parts.path) and not parts.query, row["url"]
        assert row["url"].endswith(f"/content/id/{asset_id}")
        assert "jsessionid" not in row["url"]


def test_text_is_clean_nfc(archived):
    _, rows = archived
    for row in rows.values():
        for field in ("title", "body_text", "author", "unit", "category", "summary"):
            value = row[field] or ""
            assert unicodedata.is_normalized("NFC", value), (row["asset_id"], field)
            assert not re.search("[\u00a0\u200b\u200c\u200d\ufeff]", value), (
                row["asset_id"],
                field,
            )
        assert "&nbsp;" not in row["body_text"]
        assert "\n\n\n" not in row["body_text"]


def test_titles_are_never_template_chrome(archived):
    _, rows = archived
    for row in rows.values():
        assert row["title"] != "Xuất bản thông tin"
        assert not row["title"].startswith("null ")


def test_body_html_is_safe(archived):
    _, rows = archived
    for row in rows.values():
        html = row["body_html"].lower()
        assert "<script" not in html and "javascript:" not in html
        assert not re.search(r"\son\w+\s*=", html)
        assert "<iframe" not in html and "<style" not in html and "expression(" not in html
        for src in re.findall(r'src="([^"]+)"', html):
            assert src.startswith(("http://", "https://")), src


def test_dates_are_iso_in_vietnam_time(archived):
    _, rows = archived
    pattern = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}\+07:00)?$")
    for row in rows.values():
        assert row["published_at"] and pattern.match(row["published_at"]), row["asset_id"]


def test_each_article_page_requested_once(crawl_result):
    _, _, _, requests = crawl_result
    fetched: dict[str, int] = {}
    for entry in requests:
        path = entry.path_with_query.split("?")[0]
        if ARTICLE_PATH.match(path):
            # Each page of a multi-page article once (``<ns>page=N``).
            page = f"{path} page {article_page_number(entry.path_with_query)}"
            fetched[page] = fetched.get(page, 0) + 1
    assert fetched and max(fetched.values()) == 1, {p: n for p, n in fetched.items() if n > 1}


def test_robots_txt_is_read_and_obeyed(crawl_result):
    _, _, _, requests = crawl_result
    paths = [entry.path_with_query for entry in requests]
    assert "/robots.txt" in paths
    assert not any(p.startswith(("/__replica__", "/c/", "/api/")) for p in paths)


def test_second_crawl_of_unchanged_site_changes_nothing_but_crawl_times(replica, tmp_path):
    db_path = tmp_path / "archive.db"
    # Both runs walk and re-parse everything (no 304 shortcuts): idempotence at its strictest.
    crawl_or_fail(replica.url, db_path, spider_args={"mode": "full"})
    first = _rows(db_path)
    crawl_or_fail(
        replica.url,
        db_path,
        spider_args={"mode": "full"},
        settings={"SADEC_CONDITIONAL_REQUESTS": "False"},
    )
    second = _rows(db_path)
    assert sorted(first) == sorted(second)
    for asset_id, row in first.items():
        again = dict(second[asset_id])
        assert again.pop("last_crawled_at") >= row.pop("last_crawled_at")
        assert again == row, asset_id
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from article_versions").fetchone()[0] == 0
    runs = conn.execute(
        "select articles_new, articles_unchanged from crawl_runs order by id"
    ).fetchall()
    assert runs == [(len(first), 0), (0, len(first))]


def test_the_crawl_runs_the_cyclic_collector_less_often(crawl_result):
    """The real crawl runs with ``SADEC_GC_THRESHOLD`` (``sadec_crawler/collector.py``):
    its stats say so, and the collector ran a few times a hundred pages, not several times
    a page as with Python's threshold of 700."""
    _, _, result, requests = crawl_result
    stats = dict(re.findall(r"'(sadec/gc/\w+)': (\d+)", result.stderr))
    assert stats["sadec/gc/threshold"] == "10000", stats
    assert int(stats["sadec/gc/collections"]) < len(requests), (stats, len(requests))

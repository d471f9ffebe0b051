"""The reading room over real HTTP: the server runs as a subprocess, as ``sadec serve`` would.

Expectations are checked against the database itself (SQL, or the folded text in Python), so
the same tests hold when the sample archive gives way to a real crawl.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from sadec_crawler.textnorm import fold
from serving import search
from serving.plugin import fold_search_args
from serving.server import build_datasette, serve
from tests.reliability import record
from tests.support.reading_room import build_sample_db, running_server

ATOM = "{http://www.w3.org/2005/Atom}"
SAMPLE_TITLE = "Thành phố Sa Đéc: Cam kết thực hiện công tác cải cách hành chính năm 2021"


@pytest.fixture(scope="module")
def archive_db(crawled_db) -> Path:
    """The database under test: a real crawl of the offline replica."""
    return crawled_db


@pytest.fixture(scope="module")
def raw_hostile_db(tmp_path_factory) -> Path:
    """A database whose article HTML was never sanitised (written by something other than
    the crawler), to prove the reader sanitises again at render time."""
    return build_sample_db(tmp_path_factory.mktemp("serving") / "archive.db")


@pytest.fixture(scope="module")
def base_url(archive_db):
    with running_server(archive_db) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def sql(archive_db):
    """Run a query against the database directly (read-only)."""
    conn = sqlite3.connect(f"file:{archive_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row

    def run(query: str, params=()):
        return [dict(row) for row in conn.execute(query, params)]

    yield run
    conn.close()


def article_id(sql, title: str) -> int:
    return sql("select asset_id from articles where title = ?", [title])[0]["asset_id"]


def folded_words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text).lower())


def expected_matches(sql, query: str) -> set[int]:
    """Articles whose folded title, summary or body holds every word of ``query``: the ground
    truth the folded index must reproduce."""
    wanted = folded_words(query)
    found = set()
    for row in sql("select asset_id, title, summary, body_text from articles"):
        text = " ".join(filter(None, (row["title"], row["summary"], row["body_text"])))
        words = set(folded_words(text))
        if all(word in words for word in wanted):
            found.add(row["asset_id"])
    return found


def table_search(client, query: str, **extra) -> set[int]:
    response = client.get(
        "/archive/articles.json",
        params={"_search": query, "_shape": "array", "_col": "asset_id", "_size": "max", **extra},
    )
    assert response.status_code == 200, response.text
    return {row["asset_id"] for row in response.json()}


def ranked(client, query: str, mode: str = "folded") -> dict:
    """Every page of a ranked search, joined (rows in rank order across pages)."""
    rows, page = [], 1
    while True:
        response = client.get("/-/search.json", params={"q": query, "mode": mode, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["rows"]
        if len(rows) >= body["total"] or not body["rows"]:
            body["rows"] = rows
            return body
        page += 1


# ---------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("plain", "accented"),
    [
        ("sa dec", "Sa Đéc"),
        ("sa dec", "SA ĐÉC"),
        ("dong thap", "Đồng Tháp"),
        ("hoi nghi", "Hội nghị"),
    ],
)
def test_search_with_or_without_diacritics(client, sql, plain, accented):
    sample = article_id(sql, SAMPLE_TITLE)
    expected = expected_matches(sql, accented)
    assert sample in expected
    assert table_search(client, plain) == table_search(client, accented) == expected
    for query in (plain, accented):
        assert {row["asset_id"] for row in ranked(client, query)["rows"]} == expected


def _articles_with_word(sql, word: str) -> set[int]:
    return {
        row["asset_id"]
        for row in sql("select asset_id, title, summary, body_text from articles")
        if word
        in re.findall(
            r"\w+", " ".join(filter(None, [row["title"], row["summary"], row["body_text"]])).lower()
        )
    }


def test_exact_tone_mode_keeps_hoa_and_hoa_apart(client, sql):
    hoa_grave = _articles_with_word(sql, "hòa")
    hoa_plain = _articles_with_word(sql, "hoa") - hoa_grave
    assert hoa_grave and hoa_plain, "the replica's corpus holds both 'hòa' and 'hoa'"
    exact = {row["asset_id"] for row in ranked(client, "hòa", "exact")["rows"]}
    assert hoa_grave <= exact
    assert not exact & hoa_plain
    folded = {row["asset_id"] for row in ranked(client, "hòa")["rows"]}
    assert hoa_grave | hoa_plain <= folded
    table_exact = table_search(client, "hòa", _fts_table="articles_fts_exact")
    assert table_exact == exact


def test_phrase_search(client, sql):
    sample = article_id(sql, SAMPLE_TITLE)
    phrase = {row["asset_id"] for row in ranked(client, '"cải cách hành chính"')["rows"]}
    assert sample in phrase
    # Same words in another order: every word is there, the phrase is not.
    assert sample in table_search(client, "cải hành cách chính")
    assert sample not in {r["asset_id"] for r in ranked(client, '"hành chính cải cách"')["rows"]}
    assert sample not in table_search(client, '"hanh chinh cai cach"')
    assert sample in table_search(client, '"cai cach hanh chinh"')


def test_column_search_uses_the_folded_index(client, sql):
    expected = {
        r["asset_id"]
        for r in sql("select asset_id, title from articles")
        if {"sa", "dec"} <= set(folded_words(r["title"]))
    }
    response = client.get(
        "/archive/articles.json",
        params={"_search_title": "Sa Đéc", "_shape": "array", "_col": "asset_id"},
    )
    assert {row["asset_id"] for row in response.json()} == expected


def test_ranked_search_orders_by_relevance_with_accented_snippets(client, sql):
    result = ranked(client, "sa dec")
    rows = result["rows"]
    assert result["total"] == len(expected_matches(sql, "sa dec"))
    ranks = [row["rank"] for row in rows]
    assert ranks == sorted(ranks)
    in_title = [{"sa", "dec"} <= set(folded_words(r["title"])) for r in rows]
    # Title matches (weighted 10×) come before articles that mention the words in the body only.
    assert in_title == sorted(in_title, reverse=True) and in_title[0] and not in_title[-1]
    sample = next(r for r in rows if r["title"] == SAMPLE_TITLE)
    assert "<mark>Sa</mark> <mark>Đéc</mark>" in sample["title_html"]
    assert "<mark>Đéc</mark>" in sample["snippet_html"]

    page = client.get("/-/search", params={"q": "hoi nghi"})
    assert page.status_code == 200
    assert '<input type="search" id="q" name="q"' in page.text
    assert "<mark>Hội</mark> <mark>nghị</mark>" in page.text


def test_ranked_pages_follow_one_ranking(client, sql):
    """The page is ranked in two halves of the rowids at once: page after page, the rows
    are those of one bm25 ranking of every match, none repeated or skipped."""
    total = len(expected_matches(sql, "sa dec"))
    assert total > 20, "the sample archive must need a second page"
    seen = []
    for number in (1, 2):
        payload = client.get("/-/search.json", params={"q": "sa dec", "page": number}).json()
        seen += [(row["rank"], row["asset_id"]) for row in payload["rows"]]
    assert len(seen) == min(total, 40) and len({asset for _, asset in seen}) == len(seen)
    assert seen == sorted(seen)
    # The same rows as one ranking of the whole index, run directly in SQLite.
    direct = sql(
        "select rowid as asset_id from articles_fts where articles_fts match ? "
        "order by bm25(articles_fts, 10.0, 4.0, 1.0), rowid limit 40",
        [search.to_fts("sa dec", search.FOLDED)],
    )
    assert [asset for _, asset in seen] == [row["asset_id"] for row in direct]


def test_search_page_without_query_and_bad_syntax(client):
    assert client.get("/-/search").status_code == 200
    for query in ['"', "NEAR(", "a OR", ":", "-", "*"]:
        response = client.get("/-/search.json", params={"q": query})
        assert response.status_code == 200, (query, response.text)


# ---------------------------------------------------------------- browsing


def facet_counts(payload: dict, name: str, kind: str = "column") -> dict:
    """Counts of the facet on column ``name`` of type ``kind`` in a table JSON payload."""
    facet = next(
        f for f in payload["facet_results"].values() if f["name"] == name and f["type"] == kind
    )
    assert not facet["truncated"]
    return {item["value"]: item["count"] for item in facet["results"]}


@pytest.mark.parametrize("search_query", [None, "sa dec"])
def test_facets_count_like_sql(client, sql, search_query):
    params = {"_size": "0", "_facet_size": "max"}
    where, args = "", []
    if search_query:
        params["_search"] = search_query
        ids = sorted(expected_matches(sql, search_query))
        where = f"where asset_id in ({','.join('?' * len(ids))})"
        args = ids
    payload = client.get("/archive/articles.json", params=params).json()
    if search_query:
        # The plugin counts a search from the full-text index in place of Datasette's count.
        assert payload["filtered_table_rows_count"] == len(ids)
    for column, key in (("category", "category"), ("unit", "unit"), ("author", "author")):
        expected = {
            r["v"]: r["n"]
            for r in sql(
                f"select {column} as v, count(*) as n from articles {where} "
                f"{'and' if where else 'where'} {column} is not null group by v",
                args,
            )
        }
        assert facet_counts(payload, key) == expected, column
    for width, kind in ((4, "year"), (7, "month")):
        expected = {
            r["v"]: r["n"]
            for r in sql(
                f"select substr(published_at, 1, {width}) as v, count(*) as n from articles "
                f"{where} {'and' if where else 'where'} length(published_at) >= {width} "
                "group by v",
                args,
            )
        }
        assert facet_counts(payload, "published_at", kind) == expected, kind


def test_search_counts_with_filters_over_json_and_html(client, sql):
    ids = expected_matches(sql, "sa dec")
    category = sql(
        f"select category, count(*) as n from articles where asset_id in "
        f"({','.join('?' * len(ids))}) group by category order by n desc limit 1",
        sorted(ids),
    )[0]
    params = {"_search": "sa dec", "category": category["category"]}
    payload = client.get("/archive/articles.json", params=params).json()
    assert payload["filtered_table_rows_count"] == category["n"]
    page = client.get("/archive/articles", params=params)
    assert page.status_code == 200
    assert f"{category['n']:,} row" in page.text


def test_year_facet_filter_and_newest_first(client, sql):
    payload = client.get(
        "/archive/articles.json",
        params={"published_at__startswith": "2021", "_size": "max", "_shape": "objects"},
    ).json()
    dates = [row["published_at"] for row in payload["rows"]]
    assert dates and all(d.startswith("2021") for d in dates)
    assert dates == sorted(dates, reverse=True)
    expected = sql("select count(*) as n from articles where published_at like '2021%'")[0]["n"]
    assert payload["filtered_table_rows_count"] == expected


def test_images_and_attachments_reachable_from_article(client, sql):
    sample = sql("select * from articles where title = ?", [SAMPLE_TITLE])[0]
    images = sql("select * from images where article_url = ? order by position", [sample["url"]])
    page = client.get(f"/-/article/{sample['asset_id']}")
    assert images
    for image in images:
        assert f'href="{image["url"].replace("&", "&amp;")}"' in page.text
        if image["caption"]:
            assert image["caption"] in page.text
    with_files = sql("select * from attachments")
    assert with_files, "the replica's corpus has attachments"
    for attachment in with_files:
        (owner,) = sql("select asset_id from articles where url = ?", [attachment["article_url"]])
        reader = client.get(f"/-/article/{owner['asset_id']}").text
        assert attachment["filename"] in reader
        assert f'href="{attachment["url"].replace("&", "&amp;")}"' in reader
    # Datasette's own foreign-key links work too.
    linked = client.get(
        "/archive/images.json", params={"article_url": sample["url"], "_shape": "array"}
    ).json()
    assert len(linked) == len(images)


# ---------------------------------------------------------------- reading


def test_article_page_renders_sanitised_html(client, sql):
    sample = sql("select * from articles where title = ?", [SAMPLE_TITLE])[0]
    response = client.get(f"/-/article/{sample['asset_id']}")
    assert response.status_code == 200
    body = response.text
    assert "<p>Sáng ngày 19/3/2021" in body
    assert "<img " in body and "Quang cảnh buổi làm việc" in body
    assert "&lt;p&gt;" not in body
    assert f'href="{sample["url"]}"' in body
    policy = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'self'" not in script_src and "unsafe" not in script_src
    assert "object-src 'none'" in policy
    assert client.get("/-/article/1").status_code == 404


HOSTILE_REPLICA_ARTICLE = 7224222
"""The replica's article whose body carries script, onerror, javascript: and iframe payloads."""


def test_crawled_hostile_article_is_disarmed(client, sql):
    body = client.get(f"/-/article/{HOSTILE_REPLICA_ARTICLE}").text
    assert "Tại buổi tiếp, có 7 lượt công dân" in body
    for needle in ("hostile-script-marker", "onerror", "javascript:", "<iframe", "expression("):
        assert needle not in body, needle


def test_reader_sanitises_again_what_the_database_holds(raw_hostile_db):
    with running_server(raw_hostile_db) as url, httpx.Client(base_url=url, timeout=10) as http:
        conn = sqlite3.connect(f"file:{raw_hostile_db}?mode=ro", uri=True)
        (asset_id,) = conn.execute(
            "select asset_id from articles where body_html like '%onerror%'"
        ).fetchone()
        conn.close()
        body = http.get(f"/-/article/{asset_id}").text
    for needle in ("onerror", "<script>window", "javascript:", "<iframe", "onclick", "<style>"):
        assert needle not in body, needle
    assert "Nhấn vào đây" in body


def test_table_and_row_pages_keep_markup_out_of_cells(client, sql):
    sample = sql("select * from articles where title = ?", [SAMPLE_TITLE])[0]
    response = client.get("/archive/articles", params={"_search": "sa dec"})
    assert response.status_code == 200
    assert f"/-/article/{sample['asset_id']}" in response.text
    assert "&lt;p&gt;Sáng ngày" not in response.text
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in re.search(r"script-src ([^;]*)", policy).group(1)


# ---------------------------------------------------------------- feeds and exports


def check_feed(response) -> ET.Element:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None, tag
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated", "link", "summary"):
            assert entry.find(f"{ATOM}{tag}") is not None, tag
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)",
            entry.find(f"{ATOM}updated").text,
        )
    return root


def test_atom_feeds(client, sql):
    latest = check_feed(client.get("/-/feed.atom"))
    entries = latest.findall(f"{ATOM}entry")
    total = sql("select count(*) as n from articles")[0]["n"]
    assert len(entries) == min(total, 50)
    newest = sql("select url from articles order by published_at desc limit 1")[0]["url"]
    assert entries[0].find(f"{ATOM}id").text == newest

    searched = check_feed(client.get("/-/feed.atom", params={"q": "hoi nghi"}))
    titles = {e.find(f"{ATOM}title").text for e in searched.findall(f"{ATOM}entry")}
    expected = expected_matches(sql, "hoi nghi")
    assert len(titles) == len(expected) and SAMPLE_TITLE in titles


def test_atom_feed_stays_well_formed_with_control_characters(client):
    """A query holding C0 controls (``q=%01``) once gave a feed no XML parser reads."""
    for query in ("\x01", "hoi\x0bnghi\x1f", "\x7f\x85"):
        root = check_feed(client.get("/-/feed.atom", params={"q": query}))
        assert "\x01" not in ET.tostring(root, encoding="unicode")
    record("red-team", case_9="Atom feed with C0 controls in q: well-formed (3 queries)")


def test_csv_and_json_keep_vietnamese_intact(client):
    response = client.get("/archive/articles.csv", params={"_search": "sa dec", "_size": "max"})
    assert response.status_code == 200
    assert "charset=utf-8" in response.headers["content-type"]
    text = response.content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert SAMPLE_TITLE in {row["title"] for row in rows}
    response = client.get("/archive/articles.json", params={"_search": "Sa Đéc", "_shape": "array"})
    assert "charset=utf-8" in response.headers["content-type"]
    assert SAMPLE_TITLE in {row["title"] for row in response.json()}
    assert SAMPLE_TITLE in {row["title"] for row in ranked(client, "sa dec")["rows"]}


def test_reader_serves_the_archives_own_copies_of_images(client, sql):
    sample = sql("select * from articles where title = ?", [SAMPLE_TITLE])[0]
    (image,) = sql("select * from images where article_url = ?", [sample["url"]])
    assert image["sha256"], "the crawl downloaded the sample's photo"
    body = client.get(f"/-/article/{sample['asset_id']}").text
    local = f"/archived-files/{image['stored_path']}"
    assert f'src="{local}"' in body
    copy = client.get(local)
    assert copy.status_code == 200
    assert hashlib.sha256(copy.content).hexdigest() == image["sha256"]


def test_tables_in_articles_render_as_tables(client, sql):
    with_table = sql("select asset_id from articles where body_html like '%<table%'")
    assert with_table, "the replica's corpus has articles with tables"
    for row in with_table:
        body = client.get(f"/-/article/{row['asset_id']}").text
        assert "<table>" in body and "<td>" in body and "&lt;td&gt;" not in body


# ---------------------------------------------------------------- safe serving


def test_robots_blocked_by_default(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert "Disallow: /" in response.text.splitlines()
    assert client.get("/").headers["x-robots-tag"] == "noindex, nofollow"


def test_robots_allowed_when_operator_says_so(archive_db):
    async def fetch():
        ds = build_datasette(archive_db, allow_robots=True)
        await ds.invoke_startup()
        return await ds.client.get("/robots.txt")

    response = asyncio.run(fetch())
    assert "Disallow: /" not in response.text.splitlines()


def test_writes_are_refused(client, sql):
    before = sql("select count(*) as n from articles")[0]["n"]
    for statement in (
        "delete from articles",
        "update articles set title = 'x'",
        "insert into crawl_runs (id) values (999)",
        "drop table articles",
    ):
        response = client.get("/archive.json", params={"sql": statement})
        assert response.status_code in (400, 403), statement
    for path in ("/archive/articles", "/archive/ranked_search", "/archive", "/-/search"):
        assert client.post(path, data={"title": "x"}).status_code == 405, path
    assert sql("select count(*) as n from articles")[0]["n"] == before


def test_settings_and_home_page(client):
    settings = client.get("/-/settings.json").json()
    assert settings["suggest_facets"] is False
    assert settings["sql_time_limit_ms"] <= 5000
    assert settings["max_returned_rows"] <= 1000
    home = client.get("/").text
    for link in ("/-/search", "/-/charts", "/-/feed.atom", "/archive/articles", "/-/about"):
        assert f'href="{link}"' in home, link
    assert 'name="q"' in home


def test_charts_and_about(client, sql):
    charts = client.get("/-/charts")
    assert charts.status_code == 200
    first, last = sql(
        "select min(substr(published_at, 1, 7)) as first, max(substr(published_at, 1, 7)) "
        "as last from articles where published_at is not null"
    )[0].values()
    span = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1
    month_svg = charts.text.split('id="per-month"')[1].split("</svg>")[0]
    assert month_svg.count('class="bar"') == span, "one bar a month, empty months included"
    about = client.get("/-/about")
    assert about.status_code == 200 and "Data dictionary" in about.text


def test_ranked_search_canned_query(client):
    response = client.get("/archive/ranked_search.json", params={"q": "Sa Đéc", "_shape": "array"})
    assert response.status_code == 200
    assert any("<mark>Đéc</mark>" in (row["snippet"] or "") for row in response.json())


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no database"):
        serve(tmp_path / "missing.db", port=1)
    result = subprocess.run(
        [sys.executable, "-m", "serving", str(tmp_path / "missing.db")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "no database" in result.stderr


# ---------------------------------------------------------------- units


def test_fts_expression_quotes_everything():
    assert search.to_fts("Sa Đéc") == '"Sa" "Dec"'
    assert search.to_fts('"cải cách" OR hoa*', "exact") == '"cải cách" OR "hoa"*'
    assert search.to_fts('NEAR( "a') == '"NEAR" "a"'
    assert search.to_fts(" - ") is None


def test_highlight_maps_folded_offsets_back_to_original():
    decomposed = "Thành phố Sa \u0110e\u0301c"  # NFD é: must still line up
    assert search.highlight(decomposed, "sa dec") == ("Thành phố <mark>Sa</mark> <mark>Đéc</mark>")
    assert search.highlight("<b>Hòa</b> hoa", "hòa", "exact") == (
        "&lt;b&gt;<mark>Hòa</mark>&lt;/b&gt; hoa"
    )
    snippet = search.highlight("x " * 300 + "Hội nghị" + " y" * 300, "hoi nghi", width=100)
    assert snippet.startswith("…") and snippet.endswith("…") and "<mark>Hội</mark>" in snippet
    assert len(snippet) < 200


def test_fold_search_args():
    folded = fold_search_args("_search=S%C3%A0+%C4%90%C3%A9c&_sort=title")
    assert folded == "_search=Sa+Dec&_sort=title"
    exact = "_search=h%C3%B2a&_fts_table=articles_fts_exact"
    assert fold_search_args(exact) == exact
    column = fold_search_args("_search_title=%C4%90%C3%A9c")
    assert "_searchmode=raw" in column and "title+%3A+%28%22Dec%22%29" in column


def test_data_dictionary_describes_every_column_of_the_schema():
    """The data dictionary keeps up with the migrations."""
    import yaml

    from pipelines.database import open_database
    from serving.server import DICTIONARY

    tables = yaml.safe_load(DICTIONARY.read_text(encoding="utf-8"))["tables"]
    db = open_database(None)
    undocumented = {
        f"{table}.{column}"
        for table in db.table_names()
        if not table.startswith(("articles_fts", "_"))
        for column in db[table].columns_dict
        if column not in (tables.get(table) or {}).get("columns", {})
    }
    assert undocumented == set()


def test_an_unknown_sort_column_is_a_bad_request_not_a_server_error(client):
    """``_sort=<unknown>`` once answered 500."""
    for params in ({"_sort": "nope"}, {"_sort_desc": "nope"}, {"_search": "hoa", "_sort": "x"}):
        page = client.get("/archive/articles", params=params)
        assert page.status_code == 400 and "No such column to sort by" in page.text
    data = client.get("/archive/articles.json", params={"_sort": "nope"})
    assert data.status_code == 400 and data.json()["status"] == 400
    hostile = client.get("/archive/articles", params={"_sort": "<script>alert(1)</script>"})
    assert hostile.status_code == 400 and "<script>alert(1)" not in hostile.text


def test_a_long_search_url_arriving_in_pieces_still_gets_its_reason(base_url):
    # A 36 KB request line read in several pieces (a loaded machine, a slow link) used to
    # overflow h11's 16 KB buffer for an incomplete request: uvicorn's bare "Invalid HTTP
    # request received." instead of the reader's own refusal (seen once in CI).
    many_terms = " OR ".join(f"word{n}" for n in range(3000))
    target = "/-/search?" + urllib.parse.urlencode({"q": many_terms})
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    address = urllib.parse.urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        for start in range(0, len(request), 4096):
            connection.sendall(request[start : start + 4096])
            time.sleep(0.01)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    assert b"too long" in rest


@pytest.mark.parametrize(
    "path",
    ["/-/search", "/-/search.json", "/-/feed.atom", "/archive/articles", "/archive/ranked_search"],
)
def test_a_search_past_its_bounds_is_refused_at_once_with_a_reason(client, path):
    """Red-team finding 1: 8,000 ``OR`` terms held a worker for 40 s of CPU, then a 500
    (3,000 here: httpx refuses URLs past 64 KB)."""
    many_terms = " OR ".join(f"word{n}" for n in range(3000))
    key = "_search" if path == "/archive/articles" else "q"
    started = time.monotonic()
    response = client.get(path, params={key: many_terms})
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert "too long" in response.text
    too_many = " ".join(f"w{n}" for n in range(search.MAX_QUERY_TERMS + 1))
    response = client.get(path, params={key: too_many})
    assert response.status_code == 400
    assert "too many words" in response.text
    at_the_bound = " ".join(f"w{n}" for n in range(search.MAX_QUERY_TERMS))
    started = time.monotonic()
    assert client.get(path, params={key: at_the_bound}).status_code == 200
    record(
        "red-team",
        **{
            f"case_1 {path}": f"3,000 terms: 400; {search.MAX_QUERY_TERMS} terms: 200 in "
            f"{time.monotonic() - started:.2f} s"
        },
    )


def test_arbitrary_sql_is_off_for_visitors_but_canned_queries_work(client):
    """Red-team finding 2: one ``?sql=`` query could not be interrupted (38 s, 769 MB)."""
    refused = client.get("/archive", params={"sql": "select printf('%.*c', 1000000000, 'x')"})
    assert refused.status_code == 403
    assert client.get("/archive.json", params={"sql": "select 1"}).status_code == 403
    canned = client.get("/archive/ranked_search.json", params={"q": "sa dec", "_shape": "array"})
    assert canned.status_code == 200
    assert canned.json()
    record("red-team", case_2="?sql= refused (403) by default; canned queries answer")


def test_with_sql_allowed_a_huge_value_is_refused_not_built(archive_db):
    """With ``--allow-sql`` (trusted readers), SQLite's length limit keeps one query from
    building a gigabyte (769 MB before); SQLite 3.40 still spends a few seconds of CPU padding
    ``printf``, which is why arbitrary SQL is off by default."""
    with (
        running_server(archive_db, allow_sql=True) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        huge = http.get(
            "/archive.json",
            params={"sql": "select printf('%.*c', 1000000000, 'x') as v", "_shape": "array"},
        )
        assert huge.status_code in (200, 400)
        assert len(huge.content) < 10_000
        big = http.get("/archive.json", params={"sql": "select length(zeroblob(30000000)) as v"})
        assert big.status_code == 400 and "too big" in big.json()["error"]
        snippet = http.get(
            "/archive.json",
            params={
                "sql": "select vn_snippet(body_text, 'sa', 'folded', 1000000) as s "
                "from articles order by length(body_text) desc limit 1",
                "_shape": "array",
            },
        )
        assert snippet.status_code == 200
        assert len(snippet.json()[0]["s"]) <= search.MAX_SNIPPET_WIDTH + 200


@pytest.fixture(scope="module")
def hand_edited_db(tmp_path_factory) -> Path:
    """The sample archive after someone edited it by hand (or restored it from elsewhere):
    script-bearing values in every column the reading room links or pastes."""
    import sqlite_utils

    from tests.support.reading_room import BASE, SAMPLE_ID

    folder = tmp_path_factory.mktemp("hand-edited")
    path = build_sample_db(folder / "archive.db")
    (folder / "files").mkdir()
    url = f"{BASE}/{SAMPLE_ID}"
    db = sqlite_utils.Database(path)
    db["articles"].update(
        url,
        {
            "capture_url": "javascript:alert('capture')",
            "source": "wayback",
            "capture_timestamp": "20210101000000",
        },
    )
    db["images"].insert_all(
        [
            {
                "article_url": url,
                "position": 10,
                "url": "javascript:alert('image')",
                "sha256": "ab" * 32,
                "size": 10,
                "stored_path": 'x" onerror="alert(1)',
            },
            {
                "article_url": url,
                "position": 11,
                "url": "https://sadec.dongthap.gov.vn/a.jpg",
                "sha256": "cd" * 32,
                "size": 10,
                "stored_path": 'sha256/cd/x"><img src=x onerror=alert(2)>',
            },
        ]
    )
    db["attachments"].insert(
        {
            "article_url": url,
            "position": 10,
            "url": " JavaScript:alert('file')",
            "filename": "a.pdf",
            "sha256": None,
            "size": 10,
            "stored_path": None,
        }
    )
    db["article_versions"].insert(
        {
            "article_url": url,
            "content_hash": "0" * 64,
            "fetched_at": "2024-01-01T00:00:00Z",
            "superseded_at": "2024-02-01T00:00:00Z",
            "changed_fields": "{not json",
            "title": "Cũ",
            "body_text": "Cũ",
            "body_html": "<p>Cũ</p>",
            "source": "live",
        }
    )
    db.conn.close()
    return path


def test_values_of_a_hand_edited_database_are_escaped_or_unlinked(hand_edited_db):
    """Red-team finding 10: ``images.stored_path`` was pasted unescaped, ``javascript:`` URLs
    became live links, a malformed ``changed_fields`` or a NULL ``sha256`` gave 500s."""
    from tests.support.reading_room import SAMPLE_ID

    with running_server(hand_edited_db) as url, httpx.Client(base_url=url, timeout=10) as http:
        pages = {
            path: http.get(path)
            for path in (
                f"/-/article/{SAMPLE_ID}",
                f"/-/article/{SAMPLE_ID}/history",
                "/-/feed.atom",
            )
        }
    for path, page in pages.items():
        assert page.status_code == 200, path
        links = re.findall(r'(?:href|src)="([^"]*)"', page.text)
        assert not [link for link in links if not link.startswith(("/", "http"))], path
        assert "onerror" not in page.text and "<img src=x" not in page.text, path
    article = pages[f"/-/article/{SAMPLE_ID}"].text
    assert "javascript:alert(&#39;capture&#39;)" in article  # shown as text, not linked
    assert "{not json" in pages[f"/-/article/{SAMPLE_ID}/history"].text
    record(
        "red-team",
        case_10="hand-edited database: 3 pages 200, 0 live javascript: links, "
        "0 pasted stored paths",
    )


def test_error_pages_show_no_paths_and_no_introspection(client, archive_db):
    """Red-team finding 15: overlong names under ``/archived-files/`` and ``/-/static/`` showed
    the server's absolute paths in a 500; ``/-/databases.json`` showed the database's."""
    long_name = "a" * 300
    for path in (f"/archived-files/{long_name}", f"/-/static/{long_name}.css"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "/" + long_name not in page.text
    for path in ("/-/databases.json", "/-/databases", "/-/threads.json", "/-/threads"):
        page = client.get(path)
        assert page.status_code == 404
    home = str(Path(archive_db).resolve().parent)
    for path in ("/", "/archive", "/-/about", "/-/metadata.json", "/-/settings.json"):
        assert home not in client.get(path).text, path
    record(
        "red-team",
        case_15="overlong names 404 without paths; /-/databases and "
        "/-/threads 404; no absolute path on 5 public pages",
    )


def test_server_errors_are_told_without_internal_details():
    from datasette.views.base import DatasetteError

    from serving.plugin import _public_error

    timed_out = DatasetteError(
        "<p>SQL query took too long.</p><textarea>select * from articles_fts</textarea>",
        status=500,
        message_is_html=True,
    )
    status, message = _public_error(timed_out)
    assert status == 400 and "took too long" in message and "select" not in message
    assert _public_error(OSError(36, "File name too long", "/srv/x"))[0] == 404
    status, message = _public_error(RuntimeError("cannot open /srv/archive/archive.db"))
    assert status == 500 and "/srv" not in message


@pytest.mark.parametrize("query", ["hòa", '"cải cách hành chính"'])
def test_every_link_of_an_exact_search_keeps_it_exact(client, query):
    """An exact-tone search once lost its mode on every link (CSV 13 rows instead of 5; a
    facet click 0 rows, the box rewritten without tone marks)."""
    import html as html_module

    exact = table_search(client, query, _fts_table="articles_fts_exact")
    folded = table_search(client, query)
    assert exact and exact <= folded
    if query == "hòa":
        assert exact < folded, "the word must tell the two modes apart"
    page = client.get(
        "/archive/articles", params={"_search": query, "_fts_table": "articles_fts_exact"}
    )
    assert page.status_code == 200
    links = {
        html_module.unescape(href)
        for href in re.findall(r'href="([^"]*)"', page.text)
        if "_search=" in html_module.unescape(href)
    }
    followed = 0
    for link in links:
        path, _, query_string = link.partition("?")
        args = dict(urllib.parse.parse_qsl(query_string))
        assert args.get("_search") == query, link
        if path.endswith(".csv"):
            rows = list(csv.DictReader(io.StringIO(client.get(link).text)))
            assert {int(row["asset_id"]) for row in rows} <= exact, link
            assert len(rows) == len(exact), link
            followed += 1
            continue
        json_path = path if path.endswith(".json") else (path or "/archive/articles") + ".json"
        args.pop("_nl", None)  # newline-delimited: the same rows, one document a line
        args.update(_shape="array", _size="max")
        response = client.get(json_path, params=args)
        assert response.status_code == 200, link
        found = {row["asset_id"] for row in response.json()}
        assert found and found <= exact, link
        if not any(key in args for key in ("category", "unit", "author", "_next")) and not any(
            key.startswith(("category", "unit", "author", "published_at")) for key in args
        ):
            assert found == exact, link
        followed += 1
    assert followed >= 3, links


def test_csv_of_a_search_has_every_row_and_an_excel_variant(client):
    """``/archive/articles.csv?_search=sa+dec`` once returned 50 of 64 rows, silently."""
    matches = table_search(client, "sa dec")
    assert len(matches) > 50, "more rows than one page"
    plain = client.get("/archive/articles.csv", params={"_search": "sa dec"})
    assert plain.status_code == 200 and not plain.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert {int(row["asset_id"]) for row in rows} == matches
    excel = client.get("/archive/articles.csv", params={"_search": "sa dec", "_bom": "1"})
    assert excel.content.startswith(b"\xef\xbb\xbf")
    assert excel.content[3:] == plain.content
    paged = client.get("/archive/articles.csv", params={"_search": "sa dec", "_size": "10"})
    assert len(list(csv.DictReader(io.StringIO(paged.text)))) == 10


def test_the_month_chart_has_every_month(client, sql):
    """Empty months were left out (2015-04, 2015-07 and 2015-10 side by side)."""
    chart = client.get("/-/charts").text.split('id="per-month"')[1].split("</svg>")[0]
    bars = re.findall(r"<title>(\d{4})-(\d{2}): (\d+)</title>", chart)
    months = [int(year) * 12 + int(month) - 1 for year, month, _ in bars]
    assert months == list(range(months[0], months[-1] + 1))
    assert 0 in {int(n) for *_, n in bars}, "the replica has months without articles"
    dated = sql("select count(*) as n from articles where published_at is not null")[0]["n"]
    assert sum(int(n) for *_, n in bars) == dated


def test_article_page_is_citable(client, sql):
    """A researcher needs what to cite: capture date, WARC record, payload digest, a reference
    in the usual forms, and the ``citation_*`` tags reference managers read."""
    import html as html_module

    row = sql(
        "select asset_id, url, title, published_at, unit, author, warc_record_id, "
        "warc_payload_digest from articles where title = ?",
        [SAMPLE_TITLE],
    )[0]
    page = client.get(f"/-/article/{row['asset_id']}")
    text = html_module.unescape(page.text)
    meta = dict(
        (html_module.unescape(name), html_module.unescape(content))
        for name, content in re.findall(
            r'<meta name="(citation_[a-z_]+)" content="([^"]*)"', page.text
        )
    )
    assert meta["citation_title"] == row["title"]
    assert meta["citation_author"] == (row["author"] or row["unit"] or "UBND thành phố Sa Đéc")
    y, m, d = row["published_at"][:10].split("-")
    assert meta["citation_publication_date"] == f"{y}/{m}/{d}"
    assert meta["citation_public_url"] == row["url"]
    assert meta["citation_fulltext_html_url"].endswith(f"/-/article/{row['asset_id']}")
    assert row["warc_record_id"] and row["warc_record_id"] in text
    assert row["warc_payload_digest"] in text
    cite_text = re.search(r'id="cite-text">([^<]*)<', page.text).group(1)
    assert row["title"] in html_module.unescape(cite_text) and row["url"] in cite_text
    bibtex = html_module.unescape(re.search(r'id="cite-bibtex">([^<]*)<', page.text).group(1))
    assert bibtex.startswith(f"@misc{{sadec{row['asset_id']},") and f"year = {y}" in bibtex
    csl = json.loads(html_module.unescape(re.search(r'id="cite-csl">([^<]*)<', page.text).group(1)))
    assert csl["URL"] == row["url"] and csl["issued"]["date-parts"][0][0] == int(y)


def test_pages_say_their_language_and_images_their_captions(client, sql):
    row = sql("select asset_id from articles where title = ?", [SAMPLE_TITLE])[0]
    for path in ("/", "/-/search?q=sa+dec", f"/-/article/{row['asset_id']}", "/archive/articles"):
        page = client.get(path)
        assert re.search(r'<html lang="vi"', page.text), path
        length = page.headers.get("content-length")
        assert length is None or int(length) == len(page.content), path
    article = client.get(f"/-/article/{row['asset_id']}").text
    assert "<main>" in article
    body = article.split('class="sadec-body"')[1].split("</div>")[0]
    images = re.findall(r"<img\b[^>]*>", body)
    assert images and all(re.search(r'alt="[^"]+"', tag) for tag in images), images
    assert 'alt="Quang cảnh buổi làm việc' in body


@pytest.mark.parametrize(
    ("query", "plain_words", "left_out"),
    [
        ("sa AND dec", ["sa", "dec"], []),
        ("hoa NOT dan", ["hoa"], ["dan"]),
        ("hoa -dan", ["hoa"], ["dan"]),
        ('hoa -"hoi nghi"', ["hoa"], ["hoi nghi"]),
        ("hoa OR phuong -xa", [], []),
    ],
)
def test_boolean_syntax_means_what_it_says(client, sql, query, plain_words, left_out):
    """``sa AND dec`` once found 0 (against 64 for ``sa dec``), ``hoa NOT sa`` 0, and
    ``hoa -sa`` ignored its minus."""

    def has(row, words: str) -> bool:
        text = fold(" ".join(filter(None, (row["title"], row["summary"], row["body_text"]))))
        return re.search(r"(?<!\w)" + r"\W+".join(words.split()) + r"(?!\w)", text.lower())

    rows = sql("select asset_id, title, summary, body_text from articles")
    expected = {
        row["asset_id"]
        for row in rows
        if all(has(row, w) for w in plain_words) and not any(has(row, w) for w in left_out)
    }
    if not plain_words:  # the OR case: (hoa OR phuong) without xa
        expected = {
            row["asset_id"]
            for row in rows
            if (has(row, "hoa") or has(row, "phuong")) and not has(row, "xa")
        }
    assert expected, "the replica has articles for each case"
    assert table_search(client, query) == expected
    assert {row["asset_id"] for row in ranked(client, query)["rows"]} == expected
    page = client.get("/-/search", params={"q": query})
    assert "searched for" in page.text


def test_a_search_of_only_left_out_words_is_refused_with_a_reason(client):
    for path, key in (("/-/search", "q"), ("/archive/articles", "_search")):
        response = client.get(path, params={key: "-sa NOT dec"})
        assert response.status_code == 400
        assert "at least one word to look for" in response.text


def test_the_unit_facet_has_one_entry_per_office(client, sql):
    """ "Phòng Kinh tế", "Phòng Kinh tế thành phố" and "Phòng Kinh tế thành phố Sa Đéc" once
    counted as three offices; "Phòng VH-TT" and "Phòng Văn hóa và Thông tin" as two."""
    from sadec_crawler.units import match_key

    facet = client.get("/archive/articles.json", params={"_facet": "unit", "_size": "0"}).json()[
        "facet_results"
    ]["unit"]["results"]
    names = [entry["value"] for entry in facet]
    keys = [match_key(name) for name in names]
    assert len(keys) == len(set(keys)), names
    assert "Phòng Kinh tế thành phố" not in names and "Phòng VH-TT" not in names
    raw_variants = sql("select count(*) as n from articles where unit_raw like 'Phòng Kinh tế%'")[
        0
    ]["n"]
    counts = {entry["value"]: entry["count"] for entry in facet}
    assert raw_variants >= 3 and counts["Phòng Kinh tế"] == raw_variants
    about = client.get("/-/about").text
    assert "Unknown unit names" in about


def test_the_data_dictionary_has_a_page_of_its_own(client):
    """33 lines of column descriptions once stood above the table's search box."""
    table = client.get("/archive/articles").text
    assert 'class="column-descriptions"' not in table
    assert "/-/dictionary" in table
    dictionary = client.get("/-/dictionary")
    assert dictionary.status_code == 200
    for name in ("articles", "units", "crawl_runs", "unit_raw", "warc_payload_digest"):
        assert name in dictionary.text


def test_the_table_page_shows_reading_columns_and_every_column_on_request(client):
    """36 columns with full bodies once made the page 8,380 px wide."""

    def headers(params):
        page = client.get("/archive/articles", params=params).text
        return set(re.findall(r'<th class="col-([a-z_]+)', page))

    shown = headers({"_search": "sa dec"})
    assert {"title", "published_at", "category", "unit", "author"} <= shown
    assert "body_text" not in shown and "body_html" not in shown
    every = headers({"_search": "sa dec", "_sadec_cols": "all"})
    assert {"body_text", "content_hash", "warc_record_id"} <= every
    rows = list(csv.DictReader(io.StringIO(client.get("/archive/articles.csv").text)))
    assert "body_text" in rows[0], "CSV keeps every column"


def test_ranked_search_orders_by_date_within_a_date_range(client, sql):
    """Ranked search had no sort by date and no date range."""
    expected = expected_matches(sql, "sa dec")
    dated = {
        row["asset_id"]: row["published_at"]
        for row in sql(
            "select asset_id, published_at from articles "
            "where published_at >= '2021-01-01' and published_at < '2022'"
        )
        if row["asset_id"] in expected
    }
    assert dated
    rows, page = [], 1
    while True:
        body = client.get(
            "/-/search.json",
            params={
                "q": "sa dec",
                "sort": "newest",
                "from": "2021-01-01",
                "to": "2021-12-31",
                "page": page,
            },
        ).json()
        rows += body["rows"]
        if page >= body["pages"]:
            break
        page += 1
    assert body["total"] == len(dated) == len(rows)
    assert {row["asset_id"] for row in rows} == set(dated)
    dates = [row["published_at"] for row in rows]
    assert dates == sorted(dates, reverse=True)
    oldest = client.get("/-/search.json", params={"q": "sa dec", "sort": "oldest"}).json()
    first = min(
        sql("select published_at from articles where published_at is not null"),
        key=lambda r: r["published_at"],
    )
    assert oldest["rows"][0]["published_at"] == first["published_at"]
    page = client.get("/-/search", params={"q": "sa dec", "sort": "newest", "from": "2021-01-01"})
    assert 'value="newest" selected' in page.text and 'value="2021-01-01"' in page.text


def test_documents_cited_are_listed_linked_and_findable(client, sql):
    """ "Every article that cites Quyết định 313/QĐ-UBND-HC": the real sample page does."""
    citing = sql(
        "select a.asset_id, r.kind, r.year from document_refs r join articles a "
        "on a.url = r.article_url where r.symbol = '313/QĐ-UBND-HC'"
    )
    assert citing and citing[0]["kind"] == "Quyết định"
    texts = sql("select asset_id from articles where body_text like '%313/QĐ-UBND-HC%'")
    assert {r["asset_id"] for r in citing} == {r["asset_id"] for r in texts}
    page = client.get(f"/-/article/{citing[0]['asset_id']}").text
    assert "Documents cited" in page and "313/QĐ-UBND-HC" in page
    listed = client.get(
        "/archive/document_refs.json", params={"symbol": "313/QĐ-UBND-HC", "_shape": "array"}
    ).json()
    assert len(listed) == len(citing)
    facets = client.get("/archive/document_refs.json", params={"_size": "0"}).json()
    assert "kind" in facets["facet_results"]

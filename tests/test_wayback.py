"""The wayback source: `scrapy crawl sadec -a source=wayback` against a replica of the Wayback
Machine (CDX index and ``id_`` playback) that holds captures of the replica portal in three
states (replica/wayback.py), checked against the replica's ground truth per capture.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from replica import Site
from replica.wayback import WaybackReplica, surt_key
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env, run_crawl
from sadec_crawler.items import ListingEntry
from sadec_crawler.middlewares import retry_after_seconds
from sadec_crawler.pages import article_page_number
from sadec_crawler.urls import parse_article_link
from sadec_crawler.wayback import (
    CdxCapture,
    CdxQuery,
    ListingIndex,
    Sighting,
    capture_of,
    parse_cdx_json,
    select_listing_captures,
)
from tests.reliability import stored_value

PORTAL = "https://sadec.dongthap.gov.vn"
FINDINGS_ALLOWED = {"SADEC_MAX_ERRORS": "1000"}
"""Articles without a usable capture are recorded as errors on purpose; they must not make the
run count as failed here."""
LEAN = {"SADEC_FILES_DIR": "off", "SADEC_WARC_DIR": "off"}
"""For the runs that test resuming and politeness: fewer requests, same article captures."""


def crawl_archive(archive: WaybackReplica, db_path, *, settings=None, spider_args=None):
    """The real `scrapy crawl sadec -a source=wayback` with the replica as the archive."""
    return run_crawl(
        PORTAL,
        db_path,
        settings={
            "SADEC_WAYBACK_URL": archive.url.rstrip("/"),
            **FINDINGS_ALLOWED,
            **(settings or {}),
        },
        spider_args={"source": "wayback", **(spider_args or {})},
        timeout=60,
    )


def crawl_ok(archive, db_path, **kwargs):
    result = crawl_archive(archive, db_path, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"crawl exited {result.returncode}:\n{result.stderr[-6000:]}")
    return result


def rows(db_path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def articles(db_path) -> dict[int, dict]:
    found = {row["asset_id"]: row for row in rows(db_path, "select * from articles")}
    for table in ("images", "attachments"):
        for row in found.values():
            row[table] = rows(
                db_path,
                f"select * from {table} where article_url = ? order by position",
                [row["url"]],
            )
    return found


def version_counts(db_path) -> dict[int, int]:
    counted = rows(
        db_path,
        "select a.asset_id, count(v.id) as n from articles a "
        "left join article_versions v on v.article_url = a.url group by a.asset_id",
    )
    return {row["asset_id"]: row["n"] for row in counted}


def stored_capture_timestamps(db_path) -> set[str]:
    return {
        row["ts"]
        for row in rows(
            db_path,
            "select capture_timestamp as ts from articles union "
            "select capture_timestamp from article_versions",
        )
        if row["ts"]
    }


def article_playbacks(requests) -> list[tuple[str, str]]:
    """(timestamp, original) of every article capture the archive was asked for (the first
    pages: a multi-page article's later pages are read with each, at its moment)."""
    found = []
    for request in requests:
        capture = capture_of(f"http://archive{request.path}")
        if (
            request.kind == "playback"
            and capture
            and parse_article_link(capture[1])
            and article_page_number(capture[1]) == 1
        ):
            found.append(capture)
    return found


@pytest.fixture(scope="module")
def schedule() -> WaybackReplica:
    """The replica archive of a fresh Site, built once: its captures never change, each test
    serves it with an empty request log (:func:`serving`)."""
    return WaybackReplica(Site())


@contextmanager
def serving(archive: WaybackReplica, throttle_every: int = 0):
    archive.requests.clear()
    archive.throttle_every = throttle_every
    with archive:
        yield archive
    archive.throttle_every = 0


@dataclass
class ArchivedRun:
    archive: WaybackReplica
    archive_url: str
    requests: list
    """The archive's request log of this run."""
    db_path: object
    result: subprocess.CompletedProcess
    seconds: float


@pytest.fixture(scope="module")
def archived(schedule, tmp_path_factory) -> ArchivedRun:
    """One full wayback crawl (files and WARC on, as an operator runs it)."""
    db_path = tmp_path_factory.mktemp("wayback") / "archive.db"
    with serving(schedule) as archive:
        started = time.monotonic()
        result = crawl_ok(archive, db_path)
        seconds = time.monotonic() - started
        archive_url = archive.url.rstrip("/")
    return ArchivedRun(archive, archive_url, list(archive.requests), db_path, result, seconds)


@pytest.fixture(scope="module")
def stored(archived) -> dict[int, dict]:
    return articles(archived.db_path)


# --- What is archived ---------------------------------------------------------------------------
def test_every_captured_article_archived_once(archived, stored):
    assert sorted(stored) == sorted(archived.archive.captured_ids())


@pytest.mark.parametrize(
    "field", ["title", "published_at", "category", "category_raw", "author", "unit", "summary"]
)
def test_field_equals_ground_truth_of_newest_capture(archived, stored, field):
    expected = archived.archive.expected_articles()
    wrong = [
        f"{asset_id}: {stored_value(stored[asset_id], field)!r} != {getattr(truth, field)!r}"
        for asset_id, truth in expected.items()
        if stored_value(stored[asset_id], field) != getattr(truth, field)
    ]
    assert wrong == []


def test_published_at_raw_is_the_text_the_date_came_from(archived, stored):
    expected = archived.archive.expected_articles()
    wrong = [
        asset_id
        for asset_id, truth in expected.items()
        if truth.published_at_raw not in (stored[asset_id]["published_at_raw"] or "")
    ]
    assert wrong == []


def test_body_has_the_newest_capture_text_and_no_chrome(archived, stored):
    expected = archived.archive.expected_articles()
    missing = [
        (asset_id, snippet)
        for asset_id, truth in expected.items()
        for snippet in truth.must_contain
        if snippet not in stored[asset_id]["body_text"]
    ]
    present = [
        (asset_id, snippet)
        for asset_id, truth in expected.items()
        for snippet in truth.must_not_contain
        if snippet in stored[asset_id]["body_text"]
    ]
    assert missing == [] and present == []


def test_images_resolve_against_the_portal_not_the_archive(archived, stored):
    expected = archived.archive.expected_articles()
    wrong = []
    for asset_id, truth in expected.items():
        got = [(image["url"], image["caption"]) for image in stored[asset_id]["images"]]
        if got != [(PORTAL + path, caption) for path, caption in truth.images]:
            wrong.append((asset_id, got))
    assert wrong == []
    html = " ".join(row["body_html"] for row in stored.values())
    assert "127.0.0.1" not in html and "/web/" not in html


def test_attachments_resolve_against_the_portal(archived, stored):
    expected = archived.archive.expected_articles()
    wrong = [
        asset_id
        for asset_id, truth in expected.items()
        if [(a["url"], a["filename"]) for a in stored[asset_id]["attachments"]]
        != [(PORTAL + path, name) for path, name in truth.attachments]
    ]
    assert wrong == []


def test_images_come_from_the_archive_copies(archived):
    files = rows(archived.db_path, "select url, sha256, fetch_error from images")
    assert files and all(row["sha256"] for row in files), [r for r in files if not r["sha256"]]


def test_versions_for_each_differing_capture(archived):
    expected = archived.archive.expected_versions()
    assert any(count >= 2 for count in expected.values())  # the schedule has such an article
    assert version_counts(archived.db_path) == expected
    for version in rows(archived.db_path, "select * from article_versions"):
        assert version["source"] == "wayback"
        current = rows(
            archived.db_path,
            "select capture_timestamp from articles where url = ?",
            [version["article_url"]],
        )[0]
        assert version["capture_timestamp"] < current["capture_timestamp"]


def test_provenance_columns(archived, stored):
    archive_url = archived.archive_url
    for asset_id, row in stored.items():
        assert row["source"] == "wayback"
        assert re.fullmatch(r"\d{14}", row["capture_timestamp"])
        assert row["capture_url"].startswith(f"{archive_url}/web/{row['capture_timestamp']}id_/")
        assert row["fetched_url"] == row["capture_url"]
        timestamp, original = capture_of(row["capture_url"])
        assert timestamp == row["capture_timestamp"]
        assert urlsplit(original).hostname == "sadec.dongthap.gov.vn"
        assert row["url"] == f"{PORTAL}/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE" + (
            f"/content/id/{asset_id}"
        )
    run = rows(archived.db_path, "select source from crawl_runs")
    assert run == [{"source": "wayback"}]


def test_articles_without_capture_are_reported_not_invented(archived, stored):
    archive = archived.archive
    errors = rows(archived.db_path, "select url, kind, message from crawl_errors")
    for asset_id, kind in archive.expected_errors().items():
        matching = [
            e
            for e in errors
            if e["url"].endswith(f"/content/id/{asset_id}")
            or e["url"].endswith(f"/content/{archive.slug(asset_id)}")
        ]
        assert [e["kind"] for e in matching] == [kind], (asset_id, matching)
        if kind != "http_404" or asset_id not in archive.captured_ids():
            assert asset_id not in stored
    reported = {e["url"] for e in errors}
    assert len(reported) == len(errors) == len(archive.expected_errors())


# --- How it was fetched -------------------------------------------------------------------------
def test_only_the_archive_is_contacted(archived):
    log = archived.result.stderr
    sent = int(re.search(r"'downloader/request_count': (\d+)", log)[1])
    steps = int(re.search(r"'sadec/wayback/steps': (\d+)", log)[1])
    # Every request the downloader sent reached the archive, but the run's own steps (data:
    # URLs, nothing fetched): the portal was never asked.
    assert sent - steps == len(archived.requests)
    assert "DNSLookupError" not in log and "sadec.dongthap.gov.vn/robots.txt" not in log


def test_each_capture_fetched_once_and_identical_recaptures_skipped(archived):
    archive = archived.archive
    fetched = article_playbacks(archived.requests)
    assert len(fetched) == len(set(fetched))
    # Re-captures with the same digest as the capture before them are never fetched.
    by_key: dict[str, list] = {}
    for capture in archive.captures:
        by_key.setdefault(capture.urlkey, []).append(capture)
    repeats = {
        (later.timestamp, later.original)
        for captures in by_key.values()
        for earlier, later in zip(captures, captures[1:], strict=False)
        if earlier.digest == later.digest
    }
    assert repeats and not repeats & set(fetched)


def test_cost_to_the_archive_is_reported(archived):
    """Requests per archived article, for docs/wayback.md (printed with ``-s``)."""
    archive, requests = archived.archive, archived.requests
    kinds: dict[str, int] = {}
    for request in requests:
        kinds[request.kind] = kinds.get(request.kind, 0) + 1
    per_article = len(requests) / len(archive.captured_ids())
    print(
        f"\nwayback crawl: {len(requests)} requests ({kinds}) for "
        f"{len(archive.captured_ids())} articles = {per_article:.2f} per article, "
        f"{len(article_playbacks(requests))} article captures, "
        f"{archived.seconds:.1f} s"
    )
    assert per_article < 4


# --- Resuming -----------------------------------------------------------------------------------
def assert_complete(archive, db_path):
    assert sorted(articles(db_path)) == sorted(archive.captured_ids())
    assert version_counts(db_path) == archive.expected_versions()


def test_stopped_job_resumes_without_refetching(schedule, tmp_path):
    """CLOSESPIDER_ITEMCOUNT stops the first run cleanly; with the same JOBDIR the second run
    reuses the discovery (no index query, no listing) and fetches no stored capture again."""
    db_path, job = tmp_path / "archive.db", tmp_path / "job"
    settings = {**LEAN, "JOBDIR": str(job)}
    with serving(schedule) as archive:
        crawl_archive(archive, db_path, settings={**settings, "CLOSESPIDER_ITEMCOUNT": "15"})
        first = len(archive.requests)
        stored = stored_capture_timestamps(db_path)
        assert 5 <= len(articles(db_path)) < len(archive.captured_ids())
        crawl_ok(archive, db_path, settings=settings)
        second = archive.requests[first:]
        assert not [r for r in second if r.kind == "cdx"]
        assert not stored & {timestamp for timestamp, _ in article_playbacks(second)}
        assert len(article_playbacks(second)) == len(set(article_playbacks(second)))
        listings = [r for r in second if r.kind == "playback" and not capture_is_article(r)]
        assert listings == []
        assert_complete(archive, db_path)


def capture_is_article(request) -> bool:
    capture = capture_of(f"http://archive{request.path}")
    return bool(capture and parse_article_link(capture[1]))


def test_killed_backfill_resumes_from_the_database(schedule, tmp_path):
    """SIGKILL in the middle of a run (no JOBDIR): the next run skips what was stored, and
    reads the discovery (index and listings) the killed run kept."""
    db_path = tmp_path / "archive.db"
    with serving(schedule) as archive:
        settings = {
            "SADEC_WAYBACK_URL": archive.url.rstrip("/"),
            **FINDINGS_ALLOWED,
            **LEAN,
            "DOWNLOAD_DELAY": "0.02",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
        }
        argv = crawl_command(PORTAL, db_path, settings=settings, spider_args={"source": "wayback"})
        log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=crawl_env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if db_path.exists() and stored_count(db_path) >= 12:
                    break
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
            log.close()
        killed_log = (tmp_path / "killed.log").read_text()[-3000:]
        assert process.returncode == -signal.SIGKILL, killed_log  # killed, not finished
        stored = stored_capture_timestamps(db_path)
        assert 1 <= len(articles(db_path)) < len(archive.captured_ids()), killed_log
        first = len(archive.requests)
        crawl_ok(archive, db_path, settings=LEAN)
        second = archive.requests[first:]
        again = article_playbacks(second)
        assert not stored & {timestamp for timestamp, _ in again}
        # Its discovery was kept in the database: no index query, no listing read again.
        assert not [r for r in second if r.kind == "cdx"]
        assert not [r for r in second if r.kind == "playback" and not capture_is_article(r)]
        assert_complete(archive, db_path)


def stored_count(db_path) -> int:
    try:
        return rows(db_path, "select count(*) as n from articles")[0]["n"]
    except sqlite3.Error:
        return 0


# --- Politeness and windows ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def windowed(schedule, tmp_path_factory):
    """A run over the captures of state B only (``-a since=DAY -a until=DAY``), against an
    archive that answers every 20th request with ``429`` and ``Retry-After: 1``."""
    db_path = tmp_path_factory.mktemp("window") / "archive.db"
    day = schedule.state_days["B"]
    with serving(schedule, throttle_every=20) as archive:
        crawl_ok(archive, db_path, settings=LEAN, spider_args={"since": day, "until": day})
    return day.replace("-", ""), list(archive.requests), db_path


def test_429_retry_after_is_honoured(windowed):
    _, requests, _ = windowed
    refused = [r for r in requests if r.status == 429]
    assert refused
    for request in refused:
        retry = next(r for r in requests if r.path == request.path and r.at > request.at)
        assert retry.at - request.at >= 0.95 and retry.status != 429


def test_since_until_select_the_captures_of_that_window(schedule, windowed):
    day, requests, db_path = windowed
    for request in requests:
        if request.kind == "cdx":
            query = parse_qs(urlsplit(request.path).query)
            assert query["from"] == [day] and query["to"] == [day + "235959"]
    in_window = {
        asset_id: [truth for ts, truth in captures if ts.startswith(day)]
        for asset_id, captures in schedule.article_captures().items()
    }
    in_window = {asset_id: truths[-1] for asset_id, truths in in_window.items() if truths}
    stored = articles(db_path)
    assert sorted(stored) == sorted(in_window)
    for asset_id, truth in in_window.items():
        assert stored[asset_id]["capture_timestamp"].startswith(day)
        assert all(snippet in stored[asset_id]["body_text"] for snippet in truth.must_contain)


# --- The pieces ---------------------------------------------------------------------------------
def test_cdx_query_url_and_resume_key_are_sent_as_the_readme_says():
    query = CdxQuery("sadec.dongthap.gov.vn/chi-tiet-bai-viet", filters=("statuscode:200",))
    url = query.request_url("https://web.archive.org", "vn%2Cgov+20250101000000%21")
    parts = urlsplit(url)
    assert parts.path == "/cdx/search/cdx"
    params = parse_qs(parts.query)
    assert params["matchType"] == ["prefix"] and params["output"] == ["json"]
    assert params["filter"] == ["statuscode:200"]
    # No collapse: the server's compares rows across URLs (identical 404s of neighbouring
    # URLs hide each other); and urlkey in fl, else the resume key is the broken "-+<ts>".
    assert "collapse" not in params and params["fl"][0].split(",")[0] == "urlkey"
    assert params["showResumeKey"] == ["true"]
    assert params["resumeKey"] == ["vn,gov 20250101000000!"]  # sent once-encoded


def test_parse_cdx_json_rows_and_resume_key():
    body = json.dumps(
        [
            ["timestamp", "original", "mimetype", "statuscode", "digest"],
            ["20250101000000", "https://x.vn/a", "text/html", "200", "D1"],
            ["20250102000000", "https://x.vn/a", "warc/revisit", "-", "D1"],
            [],
            ["key%21"],
        ]
    ).encode()
    captures, resume_key = parse_cdx_json(body)
    assert resume_key == "key%21"
    assert [c.status for c in captures] == [200, None]
    assert all(c.usable for c in captures)
    assert parse_cdx_json(b"[]") == ([], None)
    assert parse_cdx_json(gzip.compress(body)) == (captures, resume_key)


def test_replica_cdx_follows_the_readme(schedule):
    archive = schedule
    host = "sadec.dongthap.gov.vn"

    def query(**params) -> list[list[str]]:
        answer = archive.cdx({k: v if isinstance(v, list) else [v] for k, v in params.items()})
        return json.loads(answer.body)

    everything = query(url=f"{host}/", matchType="prefix", output="json")
    assert everything[0] == list(
        ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
    )
    assert len(everything) - 1 == len(archive.captures)
    keys = [(row[0], row[1]) for row in everything[1:]]
    assert keys == sorted(keys)
    collapsed = query(url=f"{host}/", matchType="prefix", output="json", collapse="digest")
    assert len(collapsed) < len(everything)
    not_ok = query(url=f"{host}/*", output="json", fl="statuscode", filter="!statuscode:200")
    assert {row[0] for row in not_ok[1:]} == {"302", "404"}
    day = archive.state_days["B"].replace("-", "")
    window = query(
        url=f"{host}/",
        matchType="prefix",
        output="json",
        fl="timestamp",
        **{"from": day, "to": day},
    )
    assert window[1:] and all(row[0].startswith(day) for row in window[1:])
    first = query(
        url=f"{host}/", matchType="prefix", output="json", limit="7", showResumeKey="true"
    )
    assert len(first) == 1 + 7 + 2 and first[-2] == []
    rest = query(
        url=f"{host}/", matchType="prefix", output="json", resumeKey=unquote_plus(first[-1][0])
    )
    assert [r[:2] for r in first[1:8]] + [r[:2] for r in rest[1:]] == [
        r[:2] for r in everything[1:]
    ]
    assert (
        query(url=f"{host}/", matchType="prefix", output="json", limit="-1")[1] == (everything[-1])
    )
    assert query(url="example.org/", output="json") == []


def test_replica_playback_exact_and_nearest(schedule):
    with serving(schedule) as archive:
        capture = next(
            c for c in archive.captures if c.status == 200 and "/content/id/" in c.original
        )
        exact = urllib.request.urlopen(
            f"{archive.url}web/{capture.timestamp}id_/{capture.original}"
        )
        assert exact.status == 200 and exact.read() == capture.body
        near = urllib.request.urlopen(f"{archive.url}web/2030id_/{capture.original}")
        newest = max(
            c.timestamp
            for c in archive.captures
            if c.urlkey == surt_key(capture.original) and c.status == 200
        )
        assert f"/web/{newest}id_/" in near.url


def test_listing_entry_is_the_one_shown_when_the_page_was_captured():
    def entry(date: str) -> ListingEntry:
        return ListingEntry(f"{PORTAL}/x/content/id/1", 1, f"{PORTAL}/l", "T", date, "S")

    index = ListingIndex([Sighting("20250101000000", entry("01/01/2025"))])
    index.add(Sighting("20250301000000", entry("02/02/2025")))
    assert index.entry_for(1, "u", None, "20250201000000").date_raw == "01/01/2025"
    assert index.entry_for(1, "u", None, "20250401000000").date_raw == "02/02/2025"
    assert index.entry_for(1, "u", None, "20240101000000").date_raw == "01/01/2025"
    assert index.entry_for(2, "u", None, "20250401000000") is None


def test_one_listing_capture_per_page_and_month():
    def capture(timestamp: str, path: str) -> CdxCapture:
        return CdxCapture(timestamp, f"{PORTAL}{path}", "text/html", 200, timestamp)

    pages = [
        capture("20250101000000", "/tin-tuc"),
        capture("20250115000000", "/tin-tuc"),
        capture("20250201000000", "/tin-tuc"),
        capture("20250101000000", "/tin-tuc?_x_cur=2"),
        capture("20250101000000", "/gioi-thieu-khac"),
        capture("20250101000000", "/"),
    ]
    chosen = select_listing_captures(pages, {"/tin-tuc"}, 6)
    assert [(c.timestamp, urlsplit(c.original).query) for c in chosen] == [
        ("20250101000000", "_x_cur=2"),
        ("20250115000000", ""),
        ("20250201000000", ""),
    ]


def test_retry_after_header_forms():
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")
    assert later == 0.0  # a moment in the past: no wait


def test_a_listed_capture_the_archive_cannot_play_is_an_error_never_a_version(tmp_path):
    """The real service lists captures whose ``id_`` playback answers 302 to another moment;
    the page was stored under the other date (an article could fall back to older content)
    and the capture asked for again on every run."""
    site = Site(seed=0)
    with WaybackReplica(site, unplayable=2) as archive:
        assert len(archive.unplayable_captures) == 2
        db = tmp_path / "archive.db"
        crawl_ok(archive, db)
        stored = articles(db)
        for asset_id, truth in archive.expected_articles().items():
            assert stored_value(stored[asset_id], "unit") == truth.unit
            assert stored[asset_id]["title"] == truth.title
        for asset_id, timestamp in archive.unplayable_captures.items():
            row = stored[asset_id]
            assert row["capture_timestamp"] != timestamp, "never stored under another date"
            versions = rows(
                db,
                "select capture_timestamp from article_versions where article_url = ?",
                [row["url"]],
            )
            assert timestamp not in {v["capture_timestamp"] for v in versions}
        errors = rows(db, "select url, message from crawl_errors where kind = 'wayback_unplayable'")
        assert {e["url"].split("/web/")[1][:14] for e in errors} == set(
            archive.unplayable_captures.values()
        )
        asked = len(archive.playback_requests())
        crawl_ok(archive, db)
        unplayable = set(archive.unplayable_captures.values())
        again = [r.path for r in archive.playback_requests()[asked:] if r.path[5:19] in unplayable]
        assert again == [], "a capture known to be unplayable is not asked for again"


def test_captures_played_back_still_gzipped_are_read(tmp_path):
    """``id_`` bodies sometimes arrive gzip-compressed with no Content-Encoding."""
    site = Site(seed=0)
    with WaybackReplica(site, gzipped_bodies=8) as archive:
        db = tmp_path / "archive.db"
        result = crawl_ok(archive, db)
        decoded = re.search(r"'sadec/wayback/gzip_bodies_decoded': (\d+)", result.stderr)
        assert decoded and int(decoded[1]) >= 5, "most of the 8 are asked for (some collapse)"
        stored = articles(db)
        for asset_id, truth in archive.expected_articles().items():
            assert stored[asset_id]["title"] == truth.title
            assert all(snippet in stored[asset_id]["body_text"] for snippet in truth.must_contain)


def test_an_archived_error_page_is_asked_for_once_not_retried(tmp_path):
    """The archive plays back a 503 the portal gave its crawler with that status and a
    ``Memento-Datetime``: retried, each file cost five requests to a service that blocks the
    impatient, and always the same answer."""
    site = Site(seed=0)
    with WaybackReplica(site, failed_media=2) as archive:
        assert len(archive.failed_media) == 2
        db = tmp_path / "archive.db"
        result = crawl_ok(archive, db)
        for path in archive.failed_media:
            # The archive first redirects to its capture's own moment (302), then plays it.
            asked = [r for r in archive.playback_requests() if r.path.endswith(path)]
            played = [r for r in asked if r.status != 302]
            assert [r.status for r in played] == [503], (path, [r.path for r in asked])
        assert "'sadec/wayback/archived_error_mementos': 2" in result.stderr
        failed = rows(
            db,
            "select url, fetch_error from images where fetch_error is not null union all "
            "select url, fetch_error from attachments where fetch_error is not null",
        )
        for path in archive.failed_media:
            assert [r["fetch_error"] for r in failed if r["url"].endswith(path)][:1] == [
                "http_503"
            ], path


def test_a_run_after_a_complete_backfill_fetches_no_article_page(tmp_path):
    """Re-captures whose content changed nothing were stored "unchanged" without moving the
    resume point, so every later run fetched them all again."""
    site = Site(seed=0)
    with WaybackReplica(site) as archive:
        db = tmp_path / "archive.db"
        crawl_ok(archive, db)
        asked = len(archive.playback_requests())
        crawl_ok(archive, db)
        again = [
            r.path
            for r in archive.playback_requests()[asked:]
            if any(prefix in r.path for prefix in ("/chi-tiet-bai-viet", "/-/asset_publisher/"))
        ]
        assert again == []

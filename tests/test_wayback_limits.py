"""The web archive's limits, met offline: rate limits without ``Retry-After``, firewall blocks,
and a run that pauses, probes, stops and resumes (issue 15; sources in docs/wayback.md).

Every duration is the real one scaled down (a 60 s window becomes about 1 s), so that the runs
stay short; the ratios between the paces, the limits and the pauses are kept.
"""

from __future__ import annotations

import bisect
import json
import re
import signal
import sqlite3
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from replica import Site
from replica.wayback import WaybackReplica
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env
from tests.test_wayback import (
    FINDINGS_ALLOWED,
    LEAN,
    PORTAL,
    article_playbacks,
    assert_complete,
    crawl_archive,
    crawl_ok,
    rows,
)

GATE = {
    **LEAN,
    "CONCURRENT_REQUESTS_PER_DOMAIN": "1",  # the default towards the real archive
    "SADEC_RETRY_BACKOFF": "0.05",
    "SADEC_WAYBACK_BREAKER_FAILURES": "3",
}
ROW_COLUMNS = (
    "url, asset_id, title, published_at, category, author, unit_raw, body_text, "
    "capture_timestamp, content_hash"
)


def stored_rows(db_path) -> list[dict]:
    """What an archive holds, in a form two runs can be compared by."""
    articles = rows(db_path, f"select {ROW_COLUMNS} from articles order by url")
    versions = rows(
        db_path,
        "select article_url, capture_timestamp, title, body_text from article_versions "
        "order by article_url, capture_timestamp",
    )
    return articles + versions


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> list[dict]:
    """The rows of a run nothing interrupted, to compare the others with."""
    db = tmp_path_factory.mktemp("undisturbed") / "archive.db"
    with WaybackReplica(Site(seed=0)) as archive:
        crawl_ok(archive, db, settings=GATE)
    return stored_rows(db)


def client_requests(requests) -> list:
    """The requests the client sent: when a kept-alive connection is reset, Twisted's HTTP
    client sends the same request again at once on a new one (its automatic retry of
    idempotent requests); the server sees two, the crawler asked once."""
    sent = []
    for request in requests:
        if sent and sent[-1].path == request.path and request.at - sent[-1].at < 0.02:
            continue
        sent.append(request)
    return sent


def gaps_after(requests, index: int) -> float:
    return requests[index + 1].at - requests[index].at


def test_429s_without_retry_after_pause_the_whole_source_and_are_never_knocked_on(
    tmp_path, undisturbed
):
    """The archive allows 8 playbacks and 4 index queries a second (scaled: the real 15 and 30
    a minute, and more); the client is asked to go faster. Each 429 pauses every request for
    the pause (0.6 s, longer than the limiter's window, so the archive never blocks it), the
    request it interrupted is asked for again, and the run archives everything."""
    db = tmp_path / "archive.db"
    limits = {"playback": (8, 0.5), "cdx": (4, 0.5)}
    with WaybackReplica(Site(seed=0), rate_limits=limits, block_after=0.5) as archive:
        result = crawl_ok(
            archive,
            db,
            settings={
                **GATE,
                "SADEC_WAYBACK_PAUSE": "0.6",
                "SADEC_WAYBACK_PLAYBACK_PER_MINUTE": "1800",
                "SADEC_WAYBACK_CDX_PER_MINUTE": "1800",
            },
        )
        requests = [r for r in archive.requests if r.kind in ("cdx", "playback")]
        assert archive.blocks == [], "the archive never had to block the client"
        limited = [i for i, r in enumerate(requests) if r.status == 429]
        assert limited, "the client met the limiter (else this test tests nothing)"
        for index in limited[:-1] if limited[-1] == len(requests) - 1 else limited:
            assert gaps_after(requests, index) >= 0.6 * 0.95, "no request during a pause"
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed
    pauses = re.search(r"'sadec/wayback/pauses': (\d+)", result.stderr)
    assert pauses and int(pauses[1]) == len(limited)
    errors = rows(db, "select kind from crawl_errors where kind like 'wayback_%'")
    assert errors == [], "a 429 costs time, never an error or an article"


def test_a_client_that_knocks_on_gets_blocked_by_the_replica(tmp_path):
    """The replica's firewall, checked on its own: 429s ignored past ``block_after`` seconds
    become a block, and every connection is then reset without an answer."""
    import http.client

    with WaybackReplica(Site(seed=0), rate_limits={"cdx": (2, 5.0)}, block_after=0.2) as archive:
        host, port = archive.url.split("//")[1].rstrip("/").split(":")
        statuses = []
        for _ in range(12):
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            try:
                connection.request("GET", "/cdx/search/cdx?url=sadec.dongthap.gov.vn/")
                response = connection.getresponse()
                statuses.append(response.status)
                assert response.getheader("Retry-After") is None
            except (ConnectionError, http.client.RemoteDisconnected):
                statuses.append(0)
            finally:
                connection.close()
            if statuses[-1] == 429:
                import time

                time.sleep(0.05)
        assert statuses[:2] == [200, 200] and 429 in statuses and statuses[-1] == 0
        assert archive.blocks


def test_during_a_block_one_probe_per_pause_then_the_run_goes_on(tmp_path, undisturbed):
    """From the 25th request the archive resets every connection for 2 s. The breaker opens
    after 3 failures in a row; then one probe per pause (0.4 s, 0.8 s, 1.6 s: doubling) until
    the archive answers again; nothing is lost."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), block_at=25, block_for=2.0) as archive:
        result = crawl_ok(archive, db, settings={**GATE, "SADEC_WAYBACK_PAUSE": "0.4"})
        (start, end), *_ = archive.blocks
        during = client_requests([r for r in archive.requests if start <= r.at < end])
        assert during and all(r.status == 0 for r in during)
        # The request that met the block, two more before the breaker opened, then probes.
        breaker, probes = during[:3], during[3:]
        assert len(probes) <= 3, [round(r.at - start, 2) for r in during]
        pause = 0.4
        for previous, probe in zip([breaker[-1], *probes], probes, strict=False):
            assert probe.at - previous.at >= pause * 0.95
            pause *= 2
        after = [r for r in archive.requests if r.at >= end]
        assert after and after[0].status in (200, 302)
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed
    assert rows(db, "select kind from crawl_errors where kind like 'wayback_%'") == []
    assert "then one probe" in result.stderr


def test_a_block_that_outlasts_the_pauses_stops_the_run_which_resumes_later(tmp_path, undisturbed):
    """The archive blocks for good from the 40th request: after 3 pauses in a row the run
    stops, exit 75, with one line saying why; what it stored stays. Once the block lifts the
    next run goes on: no stored capture is fetched again, and the archive is the same as an
    undisturbed run's."""
    db = tmp_path / "archive.db"
    settings = {**GATE, "SADEC_WAYBACK_PAUSE": "0.2", "SADEC_WAYBACK_MAX_PAUSES": "3"}
    with WaybackReplica(Site(seed=0), block_at=40, block_for=600.0) as archive:
        stopped = crawl_archive(archive, db, settings=settings)
        assert stopped.returncode == 75, stopped.stderr[-3000:]
        runs = rows(db, "select finish_reason, exit_status, message from crawl_runs")
        assert runs[-1]["finish_reason"] == "wayback_unreachable"
        assert runs[-1]["exit_status"] == 75
        assert "3 pauses in a row" in runs[-1]["message"]
        (start, _end), *_ = archive.blocks
        during = client_requests([r for r in archive.requests if r.at >= start])
        assert len(during) <= 3 + 3, "the breaker's 3, then one probe per pause, never more"
        stored_before = {r["capture_timestamp"] for r in rows(db, "select * from articles")}
        assert rows(db, "select kind from crawl_errors where kind like 'wayback_%'") == []

        archive.blocks.clear()
        archive.block_at = 0
        asked = len(archive.requests)
        crawl_ok(archive, db, settings=settings)
        again = {timestamp for timestamp, _ in article_playbacks(archive.requests[asked:])}
        assert not again & stored_before, "nothing stored is fetched again"
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed


# --- The index's paging and moods -----------------------------------------------------------
def cdx_requests(archive) -> list:
    return [r for r in archive.requests if r.kind == "cdx"]


def test_the_replica_index_gives_the_broken_resume_key_without_urlkey():
    """internetarchive/wayback #121, as the replica plays it: with ``fl`` leaving out
    ``urlkey`` the key is ``-+<timestamp>``, and resuming with it starts over."""
    archive = WaybackReplica(Site(seed=0))
    query = {"url": ["sadec.dongthap.gov.vn/"], "matchType": ["prefix"], "output": ["json"]}
    paged = {**query, "limit": ["5"], "showResumeKey": ["true"]}
    without = json.loads(archive.cdx({**paged, "fl": ["timestamp,original"]}).body)
    key = without[-1][0]
    assert key.startswith("-+")
    again = json.loads(archive.cdx({**query, "fl": ["timestamp"], "resumeKey": [key]}).body)
    assert again[1][0] == without[1][0], "resumed with the broken key: back at the start"
    with_key = json.loads(archive.cdx({**paged, "fl": ["urlkey,timestamp"]}).body)
    assert not with_key[-1][0].startswith("-+")


def test_empty_pages_with_a_key_are_followed(tmp_path, undisturbed):
    """The index pages before it filters: with 7 rows a page, many pages of the pages query
    (200s only) are empty, and still carry a key. Every page is read; nothing is missed."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), empty_pages=True) as archive:
        crawl_ok(archive, db, settings={**GATE, "SADEC_WAYBACK_CDX_LIMIT": "7"})
        bodies = len(cdx_requests(archive))
        assert bodies > 20
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed


def test_a_resume_key_that_repeats_ends_that_query_not_the_run(tmp_path):
    """The index answers every resumed page with the key it was given: the second time a key
    comes back the query ends with one recorded error; what it read is archived."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), stuck_paging=True) as archive:
        result = crawl_ok(archive, db, settings={**GATE, "SADEC_WAYBACK_CDX_LIMIT": "40"})
        assert len(cdx_requests(archive)) <= 3 * 4, "each query: a page, its repeat, and no more"
    errors = rows(db, "select message from crawl_errors where kind = 'wayback_cdx'")
    assert errors and all("repeated the resume key" in e["message"] for e in errors)
    assert rows(db, "select count(*) as n from articles")[0]["n"] > 0
    assert "wayback_cdx" in result.stderr


def test_a_prefix_query_that_times_out_is_split_until_it_answers(tmp_path, undisturbed):
    """Prefix queries over more than 3,000 days answer 504 (#285: under load). Each is asked
    again over the halves of its window, down to spans the index answers; nothing is lost
    and no error stays."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), prefix_timeout_days=3000) as archive:
        result = crawl_ok(archive, db, settings=GATE)
        failed = [r for r in cdx_requests(archive) if r.status == 504]
        assert failed
        by_query: dict[str, int] = {}
        for request in failed:
            by_query[request.path] = by_query.get(request.path, 0) + 1
        assert max(by_query.values()) <= 2, "one retry, then split"
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed
    assert re.search(r"'sadec/wayback/cdx_queries_split': \d+", result.stderr)
    assert rows(db, "select kind from crawl_errors where kind = 'wayback_cdx'") == []


def test_an_html_maintenance_page_from_the_index_is_asked_again(tmp_path, undisturbed):
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), cdx_maintenance=2) as archive:
        crawl_ok(archive, db, settings={**GATE, "SADEC_WAYBACK_PAUSE": "0.3"})
        first = cdx_requests(archive)[:3]
        assert first[2].at - first[1].at >= 0.3 * 0.95, "the index alone waited a pause"
        assert_complete(archive, db)
    assert stored_rows(db) == undisturbed
    assert rows(db, "select kind from crawl_errors where kind = 'wayback_cdx'") == []


def test_revisits_and_view_counter_recaptures_cost_one_fetch_ever(tmp_path):
    """Identical re-captures listed as ``warc/revisit`` rows are never fetched; re-captures
    that differ only in their "N lượt xem" are fetched once, stored as unchanged (no version),
    and a run after the backfill fetches no article page."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0), revisits=True, view_counter=True) as archive:
        revisits = {(c.timestamp, c.original) for c in archive.captures if c.revisit}
        crawl_ok(archive, db, settings=GATE)
        fetched = article_playbacks(archive.requests)
        assert not revisits & set(fetched)
        # New bytes: unlike the URL's capture before (else a re-capture), then unlike the
        # article's capture before among those (else the same page under another URL).
        new_for_url, previous = set(), {}
        for capture in sorted(archive.captures, key=lambda c: (c.urlkey, c.timestamp)):
            if capture.status == 200 and previous.get(capture.urlkey) != capture.digest:
                new_for_url.add(capture.timestamp)
            if capture.status == 200:
                previous[capture.urlkey] = capture.digest
        digest_at = {c.timestamp: c.digest for c in archive.captures}
        differing = set()
        for states in archive.article_captures().values():
            before = None
            for timestamp in [ts for ts, _ in states if ts in new_for_url]:
                if digest_at[timestamp] != before:
                    differing.add(timestamp)
                before = digest_at[timestamp]
        assert differing == {ts for ts, _ in fetched}, "each differing one, once"
        assert len(fetched) == len(set(fetched))
        assert_complete(archive, db)
        asked = len(archive.requests)
        crawl_ok(archive, db, settings=GATE)
        assert article_playbacks(archive.requests[asked:]) == []


# --- Resumable for days ---------------------------------------------------------------------
def start_crawl(archive, db_path, settings, log_path):
    argv = crawl_command(
        PORTAL,
        db_path,
        settings={"SADEC_WAYBACK_URL": archive.url.rstrip("/"), **FINDINGS_ALLOWED, **settings},
        spider_args={"source": "wayback"},
    )
    log = open(log_path, "w")  # noqa: SIM115 - closed by the caller's kill()
    return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=crawl_env(), stdout=log, stderr=log), log


def kill_when(process, log, condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and process.poll() is None and not condition():
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        log.close()


def count(db_path, sql: str) -> int:
    try:
        return rows(db_path, sql)[0]["n"]
    except sqlite3.Error:
        return 0


def test_killed_while_reading_the_index_the_restart_asks_for_no_page_it_read(tmp_path):
    """SIGKILL after the first index pages (7 rows a page): the restart reads those pages
    from the archive database and asks the index only for the ones after them."""
    db = tmp_path / "archive.db"
    settings = {**GATE, "SADEC_WAYBACK_CDX_LIMIT": "7", "SADEC_WAYBACK_CDX_PER_MINUTE": "600"}
    with WaybackReplica(Site(seed=0)) as archive:
        process, log = start_crawl(archive, db, settings, tmp_path / "killed.log")
        kill_when(
            process,
            log,
            lambda: count(db, "select count(*) as n from wayback_index_pages as n") >= 6,
        )
        assert process.returncode == -signal.SIGKILL
        kept = rows(db, "select query, resume_key from wayback_index_pages")
        assert len(kept) >= 6
        read_before = {r.path for r in cdx_requests(archive)}
        asked = len(archive.requests)
        crawl_ok(archive, db, settings=settings)
        again = [r.path for r in archive.requests[asked:] if r.kind == "cdx"]
        kept_paths = {
            urlsplit(k["query"]).path
            + "?"
            + urlsplit(k["query"]).query
            + (f"&resumeKey={k['resume_key']}" if k["resume_key"] else "")
            for k in kept
        }
        assert not kept_paths & set(again), "no page an earlier run read is asked for again"
        assert kept_paths <= read_before
        assert_complete(archive, db)


def test_the_run_after_a_finished_one_queries_the_index_afresh(tmp_path):
    """Kept index pages serve a restart only: once a run has finished, the next one asks the
    index again (captures made since would be missed otherwise)."""
    db = tmp_path / "archive.db"
    with WaybackReplica(Site(seed=0)) as archive:
        crawl_ok(archive, db, settings=GATE)
        asked = len(archive.requests)
        crawl_ok(archive, db, settings=GATE)
        assert [r for r in archive.requests[asked:] if r.kind == "cdx"]


PACE_FACTOR = 100
"""Real seconds per test second: a minute of the real service is 0.6 s here."""


def test_a_1000_capture_backfill_keeps_the_paces_and_shows_its_progress(tmp_path):
    """About 1,000 article captures fetched at the default paces, scaled (index 20/min, playback
    24/min, in 0.6 s "minutes"), against an archive limiting at the real rates, scaled (30
    index requests a minute; playback faster than one every 2 s refused): never a 429, never
    a block, and in every sliding "minute" no more requests per endpoint than the pace allows.
    While it runs, ``crawl_runs`` shows captures planned, done and left, the next request time
    and an expected end, and the log a progress line."""
    minute = 60 / PACE_FACTOR
    db = tmp_path / "archive.db"
    site = Site(seed=0, extra_articles=900)
    limits = {"cdx": (30, minute), "playback": (30, minute)}
    settings = {
        **GATE,
        "SADEC_WAYBACK_CDX_PER_MINUTE": str(20 * PACE_FACTOR),
        "SADEC_WAYBACK_PLAYBACK_PER_MINUTE": str(24 * PACE_FACTOR),
        "SADEC_WAYBACK_PAUSE": str(60 / PACE_FACTOR),
        "SADEC_PROGRESS_INTERVAL": "1",
    }
    with WaybackReplica(site, rate_limits=limits, block_after=minute) as archive:
        captures = sum(len(states) for states in archive.article_captures().values())
        assert captures >= 1400
        process, log = start_crawl(archive, db, settings, tmp_path / "paced.log")
        seen = []
        try:
            deadline = time.monotonic() + 240
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    progress = rows(
                        db,
                        "select captures_planned, captures_done, captures_left, "
                        "next_request_at, finish_expected_at from crawl_runs "
                        "order by id desc limit 1",
                    )
                except sqlite3.Error:
                    # Not made yet, or being migrated: asked again at the next poll (a race
                    # once killed the run here, under load).
                    progress = []
                if progress and progress[0]["captures_planned"] is not None:
                    seen.append(progress[0])
                time.sleep(0.5)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()
        output = (tmp_path / "paced.log").read_text()
        assert process.returncode == 0, output[-3000:]
        requests = [r for r in archive.requests if r.kind in ("cdx", "playback")]
        assert not [r for r in requests if r.status in (0, 429)] and not archive.blocks
        for kind, per_minute in (("cdx", 20), ("playback", 24)):
            times = [r.at for r in requests if r.kind == kind]
            most = max(
                bisect.bisect_left(times, at + minute) - index for index, at in enumerate(times)
            )
            print(f"{kind}: at most {most} requests in a scaled minute (pace {per_minute})")
            assert most <= per_minute + 1, (kind, most)
        assert_complete(archive, db)
    assert len(seen) >= 3, "progress recorded while the run went on"
    lefts = [row["captures_left"] for row in seen]
    assert lefts == sorted(lefts, reverse=True) and lefts[0] > lefts[-1]
    assert all(
        row["captures_planned"] == row["captures_done"] + row["captures_left"] for row in seen
    )
    # An expected end needs a pace to go by: shown from the first capture done (rows written
    # while the index was still being read, slow under load, have none).
    paced = [row for row in seen if row["captures_done"]]
    assert paced and all(row["next_request_at"] and row["finish_expected_at"] for row in paced)
    assert re.search(r"wayback: \d+ of \d+ captures done, \d+ left; paces cdx 2000/min", output)
    final = rows(db, "select captures_planned, captures_left from crawl_runs")[-1]
    # Identical re-captures (per URL, then per article) are dropped before planning; the
    # thousand or so left are fetched.
    assert final["captures_planned"] >= 950 and final["captures_left"] == 0

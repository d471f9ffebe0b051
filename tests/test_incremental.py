"""Cron-grade runs against the replica: incremental discovery, history, accounting, safety.

Every crawl here is the real `scrapy crawl sadec` in a subprocess; the replica's "advance"
control publishes, edits, removes and re-categorises articles between runs.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request

import pytest

from replica import ReplicaServer, Site
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env, run_crawl
from sadec_crawler.commands.crawl import LOCKED_EXIT_STATUS, acquire_lock
from tests.conftest import crawl_or_fail
from tests.reliability import content_rows, query, record
from tests.support.reading_room import run_demo_without_serving

ARTICLE_PREFIX = "/chi-tiet-bai-viet/-/asset_publisher/"


def article_requests(entries) -> list[int]:
    """Asset ids of the article pages a slice of the replica's request log asked for."""
    return [
        int(e.path_with_query.split("?")[0].split(";")[0].rstrip("/").rsplit("/", 1)[-1])
        for e in entries
        if e.path_with_query.startswith(ARTICLE_PREFIX) and "/content/id/" in e.path_with_query
    ]


# --- The scenario of the issue: full run, site changes, incremental runs -----------------------
@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    site = Site(seed=0)
    db = tmp_path_factory.mktemp("incremental") / "archive.db"
    with ReplicaServer(site) as server:
        crawl_or_fail(server.url, db, spider_args={"mode": "full"})
        run1 = len(server.requests)
        truth_before = {t.asset_id: t for t in site.truth()}
        change = site.advance(seed=1, publish=3, edit=2, remove=1, recategorise=1)
        truth_after = {t.asset_id: t for t in site.truth()}
        old_edit, recent_edit = sorted(change["edited"], key=lambda a: truth_after[a].published_at)
        # The next nightly run happens the day after the recent edit's article was published.
        next_day = dt.date.fromisoformat(truth_after[recent_edit].published_at[:10])
        next_day += dt.timedelta(days=1)
        settings = {"SADEC_NOW": next_day.isoformat()}
        crawl_or_fail(server.url, db, settings=settings)
        run2 = server.requests[run1:]
        # An operator forcing every archived article to be re-validated now.
        crawl_or_fail(server.url, db, settings={**settings, "SADEC_REVALIDATE_DAYS": "1"})
        run2b = server.requests[run1 + len(run2) :]
        before_run3 = query(db, "select asset_id, last_crawled_at from articles")
        crawl_or_fail(server.url, db, settings=settings)
        run3 = server.requests[run1 + len(run2) + len(run2b) :]
    return {
        "db": db,
        "change": change,
        "truth_before": truth_before,
        "truth_after": truth_after,
        "old_edit": old_edit,
        "recent_edit": recent_edit,
        "run1": run1,
        "run2": run2,
        "run2b": run2b,
        "run3": run3,
        "before_run3": before_run3,
        "now": next_day,
    }


def test_run2_archives_the_new_articles(scenario):
    rows = content_rows(scenario["db"])
    for asset_id in scenario["change"]["published"]:
        truth = scenario["truth_after"][asset_id]
        assert rows[asset_id]["title"] == truth.title
        assert rows[asset_id]["published_at"] == truth.published_at
    runs = query(scenario["db"], "select * from crawl_runs order by id")
    assert runs[1]["articles_new"] == 3 and runs[1]["mode"] == "incremental"


def test_run2_keeps_the_recent_edit_and_the_recategorisation_as_versions(scenario):
    db = scenario["db"]
    for asset_id in (scenario["recent_edit"], *scenario["change"]["recategorised"]):
        (article,) = query(db, "select * from articles where asset_id = ?", [asset_id])
        versions = query(
            db, "select * from article_versions where article_url = ?", [article["url"]]
        )
        assert versions, asset_id
        truth = scenario["truth_after"][asset_id]
        assert article["category"] == truth.category
        assert all(snippet in article["body_text"] for snippet in truth.must_contain)
    (recat,) = scenario["change"]["recategorised"]
    (article,) = query(db, "select url, category from articles where asset_id = ?", [recat])
    (version,) = query(db, "select * from article_versions where article_url = ?", [article["url"]])
    assert json.loads(version["changed_fields"]) == ["category"]
    assert version["category"] == scenario["truth_before"][recat].category


def test_run2_costs_far_fewer_requests_than_run1(scenario):
    run1, run2 = scenario["run1"], len(scenario["run2"])
    print(f"requests: full run {run1}, incremental run {run2}")
    assert run2 * 4 < run1


def test_forced_revalidation_catches_the_old_edit_and_the_removal(scenario):
    db = scenario["db"]
    (old,) = query(
        db, "select url, body_text from articles where asset_id = ?", [scenario["old_edit"]]
    )
    assert query(db, "select id from article_versions where article_url = ?", [old["url"]])
    truth = scenario["truth_after"][scenario["old_edit"]]
    assert all(snippet in old["body_text"] for snippet in truth.must_contain)
    (removed,) = scenario["change"]["removed"]
    (row,) = query(db, "select gone_at, title from articles where asset_id = ?", [removed])
    assert row["gone_at"] and row["title"] == scenario["truth_before"][removed].title
    runs = query(db, "select * from crawl_runs order by id")
    assert runs[2]["articles_gone"] == 1 and runs[2]["articles_changed"] == 1


def test_run3_fetches_only_the_recheck_window_and_rotation(scenario):
    db = scenario["db"]
    fetched = set(article_requests(scenario["run3"]))
    window_start = scenario["now"] - dt.timedelta(days=3)
    in_window = {
        r["asset_id"]
        for r in query(db, "select asset_id, published_at, gone_at from articles")
        if window_start.isoformat() <= r["published_at"][:10] <= scenario["now"].isoformat()
        and not r["gone_at"]
    }
    # The rotation slice: the least recently checked archived articles, 1/90 of them per run.
    alive = sorted(
        (r for r in scenario["before_run3"] if r["asset_id"] not in in_window),
        key=lambda r: (r["last_crawled_at"], r["asset_id"]),
    )
    gone = {
        r["asset_id"] for r in query(db, "select asset_id from articles where gone_at is not null")
    }
    alive = [r for r in alive if r["asset_id"] not in gone]
    rotation = {r["asset_id"] for r in alive[: -(-len(alive) // 90)]}
    assert fetched <= in_window | rotation, fetched - in_window - rotation
    (run3,) = query(db, "select * from crawl_runs order by id desc limit 1")
    assert run3["articles_new"] == run3["articles_changed"] == 0 and run3["exit_status"] == 0


def test_crawl_runs_account_for_every_run(scenario):
    runs = query(scenario["db"], "select * from crawl_runs order by id")
    assert [r["mode"] for r in runs] == ["full", "incremental", "incremental", "incremental"]
    assert runs[0]["articles_new"] == len(scenario["truth_before"])
    assert runs[0]["requests"] == sum(json.loads(runs[0]["responses_by_status"]).values())
    for run in runs:
        assert run["finish_reason"] == "finished" and run["exit_status"] == 0
        assert run["started_at"] <= run["finished_at"]


# --- Failures cron must hear about --------------------------------------------------------------
def test_server_down_gives_nonzero_exit_and_one_line_reason(tmp_path):
    result = run_crawl("http://127.0.0.1:9", tmp_path / "archive.db", settings={"RETRY_TIMES": "0"})
    assert result.returncode == 1
    assert "failed: the home page could not be read" in result.stderr
    (run,) = query(tmp_path / "archive.db", "select * from crawl_runs")
    assert run["exit_status"] == 1 and "home page" in run["message"]


class _RedesignProxy(http.server.ThreadingHTTPServer):
    """Serves the replica's pages with the article body's class renamed: a site redesign that
    the selectors do not know."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805 - the server is `self` of the outer class
                try:
                    with urllib.request.urlopen(self.upstream + handler.path) as response:
                        body, status = response.read(), response.status
                        kind = response.headers.get("Content-Type", "text/html")
                except urllib.error.HTTPError as error:
                    body, status, kind = error.read(), error.code, "text/html"
                body = body.replace(b"journal-content-article", b"article-body-v2")
                body = body.replace(b"asset-full-content", b"detail-v2")
                handler.send_response(status)
                handler.send_header("Content-Type", kind)
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_selector_drift_gives_nonzero_exit_and_clear_reason(replica, tmp_path):
    db = tmp_path / "archive.db"
    crawl_or_fail(replica.url, db, spider_args={"mode": "full"})
    replica.site.advance(seed=2, publish=3, edit=0, remove=0, recategorise=0)
    proxy = _RedesignProxy(replica.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        result = run_crawl(f"http://127.0.0.1:{proxy.server_address[1]}", db)
    finally:
        proxy.shutdown()
    assert result.returncode == 1
    assert "selector miss" in result.stderr
    assert "listings showed 3 new articles but none was archived" in result.stderr
    (run,) = query(db, "select * from crawl_runs order by id desc limit 1")
    assert run["exit_status"] == 1 and "none was archived" in run["message"]
    assert run["articles_new"] == 0
    assert len(query(db, "select url from articles")) == 64, "nothing archived before is lost"


def test_a_second_writer_is_refused_with_a_clear_message(replica, tmp_path):
    db = tmp_path / "archive.db"
    lock = acquire_lock(db)
    try:
        result = run_crawl(replica.url, db)
    finally:
        lock.close()
    assert result.returncode == LOCKED_EXIT_STATUS
    assert f"another crawl (pid {os.getpid()}) is writing to {db}" in result.stderr
    assert not db.exists()


def test_the_lock_holds_through_another_name_of_the_database(replica, tmp_path):
    """Two names of one database (a symlinked folder) once let two crawls write it at once."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    lock = acquire_lock(real / "archive.db")
    try:
        result = run_crawl(replica.url, tmp_path / "link" / "archive.db")
    finally:
        lock.close()
    assert result.returncode == LOCKED_EXIT_STATUS, result.stderr[-2000:]
    assert not (real / "archive.db").exists()
    record("red-team", case_11=f"second crawl through a symlink: refused, exit {result.returncode}")


def test_bad_arguments_are_refused_clearly(tmp_path):
    for args, message in (
        ({"mode": "sometimes"}, "-a mode='sometimes': expected one of incremental, full"),
        ({"since": "19/03/2021"}, "-a since='19/03/2021': expected a date as YYYY-MM-DD"),
    ):
        result = run_crawl("http://127.0.0.1:9", tmp_path / "x.db", spider_args=args)
        assert result.returncode != 0 and message in result.stderr
    # A password in the base URL would be kept in crawl_runs, crawl_errors and WARC files.
    result = run_crawl("http://editor:s3cret@127.0.0.1:9", tmp_path / "y.db")
    assert result.returncode != 0 and "with a user name or password" in result.stderr
    assert "s3cret" not in result.stderr and not (tmp_path / "y.db").exists()
    record("red-team", case_16="base URL with a password: refused before anything is stored")


BAD_CONFIGURATIONS = [
    ({"mode": "nope"}, {}, "-a mode='nope'"),
    ({"source": "nope"}, {}, "-a source='nope'"),
    ({"since": "notadate"}, {}, "-a since='notadate'"),
    ({"since": "2022-01-01", "until": "2021-01-01"}, {}, "is after -a until"),
    ({"mod": "full"}, {}, "unknown spider argument -a mod="),
    ({}, {"SADEC_MAX_ERRORS": "abc"}, "SADEC_MAX_ERRORS='abc': expected a whole number"),
    ({}, {"CONCURRENT_REQUESTS": "0"}, "CONCURRENT_REQUESTS=0: expected 1 or more"),
    ({}, {"DOWNLOAD_DELAY": "soon"}, "DOWNLOAD_DELAY='soon': expected a number"),
    ({}, {"ROBOTSTXT_OBEY": "maybe"}, "ROBOTSTXT_OBEY='maybe': expected true or false"),
    ({}, {"SADEC_WARC_GZIP_LEVEL": "42"}, "a gzip level is 1 to 9"),
    ({}, {"SADEC_WARC_WRITER": "elsewhere"}, "expected process or thread"),
    ({}, {"SADEC_PAGE_WORKER": "threads"}, "SADEC_PAGE_WORKER='threads': expected process or off"),
    ({}, {"SADEC_COMMIT_INTERVAL": "-1"}, "SADEC_COMMIT_INTERVAL=-1"),
    ({}, {"SADEC_NOW": "yesterday"}, "SADEC_NOW='yesterday'"),
    ({}, {"SADEC_BASE_URL": "sadec.dongthap.gov.vn"}, "expected an http(s) URL"),
    ({}, {"SADEC_BASE_URL": "ftp://u:pw@x.test"}, "SADEC_BASE_URL='ftp://x.test'"),
    ({"source": "wayback"}, {"SADEC_WAYBACK_URL": "archive"}, "SADEC_WAYBACK_URL='archive'"),
    ({}, {"SADEC_DB_PATH": "{tmp}"}, "is a folder"),
    ({}, {"SADEC_DB_PATH": "/dev/null"}, "is not a regular file"),
    ({}, {"SADEC_DB_PATH": "{tmp}/notes.txt"}, "is not a SQLite database"),
    ({}, {"SADEC_WARC_DIR": "{tmp}/notes.txt"}, "is a file, not a folder"),
    ({}, {"SADEC_FILES_DIR": "{tmp}/notes.txt"}, "is a file, not a folder"),
    ({"portals": "sadec,nowhere"}, {}, "unknown portal 'nowhere'"),
    ({}, {"SADEC_PORTALS_FILE": "{tmp}/missing.yml"}, "SADEC_PORTALS_FILE="),
    ({}, {"SADEC_PORTALS_FILE": "{tmp}/notes.txt"}, "SADEC_PORTALS_FILE="),
]


@pytest.mark.parametrize(("spider_args", "settings", "message"), BAD_CONFIGURATIONS)
def test_a_bad_configuration_is_one_clear_line(tmp_path, spider_args, settings, message):
    """Red-team finding 14: 22 of 28 bad configurations printed tracebacks."""
    (tmp_path / "notes.txt").write_text("not a database\n")
    settings = {name: value.format(tmp=tmp_path) for name, value in settings.items()}
    base = settings.pop("SADEC_BASE_URL", "http://127.0.0.1:9")
    db = settings.pop("SADEC_DB_PATH", str(tmp_path / "archive.db"))
    result = run_crawl(base, db, settings=settings, spider_args=spider_args, timeout=120)
    said = [line for line in result.stderr.splitlines() if line.startswith("scrapy crawl sadec:")]
    assert result.returncode == 2, result.stderr[-1500:]
    assert len(said) == 1 and message in said[0], said
    assert "Traceback" not in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"
    record(
        "red-team",
        case_14=f"{len(BAD_CONFIGURATIONS)} bad configurations: each exit 2 "
        "with one line, no traceback",
    )


# --- Killed runs -------------------------------------------------------------------------------
def _count_articles(db) -> int:
    try:
        return query(f"file:{db}?mode=ro", "select count(*) as n from articles")[0]["n"]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("kill_after_articles", [5, 30])
def test_killed_run_then_rerun_equals_an_uninterrupted_run(replica, tmp_path, kill_after_articles):
    reference = tmp_path / "reference.db"
    crawl_or_fail(replica.url, reference)
    db = tmp_path / "archive.db"
    slow = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
    process = subprocess.Popen(
        crawl_command(replica.url, db, settings=slow),
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _count_articles(db) < kill_after_articles and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = _count_articles(db)
    assert 0 < interrupted < 64, "the kill landed mid-crawl"
    result = crawl_or_fail(replica.url, db)
    assert "walks everything" in result.stderr
    assert query(db, "pragma integrity_check") == [{"integrity_check": "ok"}]
    rows, expected = content_rows(db), content_rows(reference)
    assert sorted(rows) == sorted(expected)
    differences = {
        (asset_id, key): (rows[asset_id][key], value)
        for asset_id, row in expected.items()
        for key, value in row.items()
        if rows[asset_id][key] != value
    }
    assert differences == {}
    assert not query(db, "select id from article_versions")


# --- What researchers see of the history ---------------------------------------------------------
def test_reading_room_shows_versions_and_a_text_diff(scenario):
    import httpx
    from markupsafe import escape

    from tests.support.reading_room import running_server

    db = scenario["db"]
    recent = scenario["recent_edit"]
    (article,) = query(db, "select url, body_text from articles where asset_id = ?", [recent])
    (version,) = query(
        db, "select body_text from article_versions where article_url = ?", [article["url"]]
    )
    removed = set(version["body_text"].split("\n\n")) - set(article["body_text"].split("\n\n"))
    added = set(article["body_text"].split("\n\n")) - set(version["body_text"].split("\n\n"))
    assert removed or added
    with running_server(db) as url, httpx.Client(base_url=url, timeout=10) as http:
        reader = http.get(f"/-/article/{recent}").text
        assert f"/-/article/{recent}/history" in reader
        page = http.get(f"/-/article/{recent}/history")
        assert page.status_code == 200
        for paragraph in removed:
            assert f"<del>{escape(paragraph)}</del>" in page.text
        for paragraph in added:
            assert f"<ins>{escape(paragraph)}</ins>" in page.text
        (removed_article,) = scenario["change"]["removed"]
        assert "gone from the portal since" in http.get(f"/-/article/{removed_article}").text


def test_menu_drift_gives_nonzero_exit(tmp_path):
    """A home page whose menu leads nowhere (a redesign): the run must not pass for a success."""

    class EmptyHome(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = b"<html><body><h1>Trang ch\xe1\xbb\xa7</h1></body></html>"
            self.send_response(200 if self.path in ("/", "/robots.txt") else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EmptyHome)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_crawl(f"http://127.0.0.1:{server.server_address[1]}", tmp_path / "a.db")
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert "no listing found from the home page" in result.stderr


def test_a_dated_window_archives_only_what_was_published_in_it(replica, tmp_path):
    """``-a since/until`` once archived articles of other years reached by related links
    (50 of 54 in a 2021 window; 50 for a window in 2999)."""
    db = tmp_path / "archive.db"
    result = run_crawl(replica.url, db, spider_args={"since": "2021-01-01", "until": "2021-12-31"})
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {t.asset_id for t in replica.site.truth() if t.published_at.startswith("2021")}
    stored = {row["asset_id"] for row in query(db, "select asset_id from articles")}
    assert expected and stored == expected
    empty = tmp_path / "empty.db"
    result = run_crawl(replica.url, empty, spider_args={"since": "2999-01-01"})
    assert query(empty, "select count(*) as n from articles") == [{"n": 0}], result.stderr[-2000:]
    record(
        "red-team",
        case_12=f"2021 window: {len(stored)} archived, all of 2021; since=2999-01-01: 0",
    )


def test_a_run_stopped_by_sigterm_is_recorded_as_such_and_the_next_walks_everything(tmp_path):
    """SIGTERM (or Ctrl-C) once counted as a finished run: exit 0, and the next incremental
    runs never fetched what it had not reached (a third of a 3,064-article replica)."""
    site = Site(extra_articles=300)
    db = tmp_path / "archive.db"
    lean = {"SADEC_WARC_DIR": "off", "SADEC_FILES_DIR": "off"}
    with ReplicaServer(site) as server:
        process = subprocess.Popen(
            crawl_command(server.url, db, settings=lean),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            # The file exists before its tables do: counted only once there is something.
            if db.exists() and _count_articles(db) >= 20:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=60)[1]
        assert process.returncode == 1, log[-3000:]
        (run,) = query(db, "select finish_reason, exit_status, message from crawl_runs")
        assert run["finish_reason"] == "shutdown" and run["exit_status"] == 1
        assert "stopped early (shutdown)" in run["message"]
        stored = query(db, "select count(*) as n from articles")[0]["n"]
        assert stored < len(site.truth())
        crawl_or_fail(server.url, db, settings=lean)  # incremental, as cron runs it
    modes = [row["mode"] for row in query(db, "select mode from crawl_runs order by id")]
    assert modes == ["full", "full"], "the run after a stopped one walks everything"
    archived = {row["asset_id"] for row in query(db, "select asset_id from articles")}
    assert archived == {t.asset_id for t in site.truth()}
    record(
        "red-team",
        case_4=f"SIGTERM after {stored} of {len(site.truth())} articles: exit 1, "
        f"finish_reason shutdown; next run full, {len(archived)} of {len(site.truth())} archived",
    )


# --- Identity independent of where pages are fetched from ------------------------------------
def test_the_demo_runs_twice_into_one_archive_of_portal_urls(tmp_path):
    """The demo's replica listens on a new port each run; stored URLs once carried the first
    run's port, so a second demo re-checked every article at a dead port and failed."""
    db = tmp_path / "demo" / "archive.db"
    for run in (1, 2):
        result = run_demo_without_serving(db)
        assert result.returncode == 0, (run, result.stdout[-3000:], result.stderr[-2000:])
        assert "stale archive" not in result.stdout
    runs = query(db, "select mode, exit_status, errors from crawl_runs order by id")
    assert [r["mode"] for r in runs] == ["full", "incremental"]
    assert all(r["exit_status"] == 0 and r["errors"] == 0 for r in runs), runs
    urls = [row["url"] for row in query(db, "select url from articles")]
    assert len(urls) == len(Site(seed=0).truth())
    assert all(url.startswith("https://sadec.dongthap.gov.vn/") for url in urls)


def test_host_map_settings():
    from sadec_crawler.hostmap import mapped_url, parse_host_map

    mapping = parse_host_map("https://Sadec.dongthap.gov.vn/=http://127.0.0.1:8765")
    assert mapped_url("https://sadec.dongthap.gov.vn/tin-tuc?a=1", mapping) == (
        "http://127.0.0.1:8765/tin-tuc?a=1"
    )
    assert mapped_url("https://example.org/x", mapping) is None
    assert parse_host_map("") == {}
    for bad in ("sadec.dongthap.gov.vn=127.0.0.1", "https://a.test/web/x=http://b.test"):
        with pytest.raises(ValueError, match="SADEC_HOST_MAP"):
            parse_host_map(bad)

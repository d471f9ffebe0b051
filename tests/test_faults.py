"""A crawl of a misbehaving portal: 5xx (some with Retry-After), stalls, truncated bodies, soft
404s, malformed markup and a redirect loop, all from the replica's deterministic fault modes.

Nothing is lost that the portal served correctly at least once within the retry budget, nothing
is archived twice or wrongly, and everything that could not be fetched is an error of the run,
never an empty article.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter, defaultdict

import pytest
from scrapy import signals
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from pipelines.storage import SQLiteStoragePipeline
from replica import FaultConfig, ReplicaServer, Site
from replica import faults as fault_kinds
from sadec.local import run_crawl
from sadec_crawler.items import ArticlePage
from sadec_crawler.spiders.sadec import SadecSpider
from tests.reliability import (
    article_rows,
    asset_of_path,
    duplicates,
    query,
    record,
    served_correctly,
    truth_mismatches,
)

# The replica stalls longer than the crawler waits, so every stall is a timeout and a retry.
DOWNLOAD_TIMEOUT = 1.0
STALL_SECONDS = 2.0
RETRY_TIMES = 5
MAX_ERRORS = 10
"""What an operator tolerates on such a site before cron hears of it (SADEC_MAX_ERRORS)."""

CRAWL_SETTINGS = {
    "DOWNLOAD_TIMEOUT": str(DOWNLOAD_TIMEOUT),
    "RETRY_TIMES": str(RETRY_TIMES),
    "SADEC_MAX_ERRORS": str(MAX_ERRORS),
}
NOT_PAGES = ("/robots.txt", "/documents/", "/o/")
"""Requests that are no page of the site: robots.txt, files (their failures are recorded on
the image or attachment row) and the theme."""
BROKEN_PAGE = "/gioi-thieu"
"""A menu page that never answers but with an error page: what cannot be fetched at all."""


def fault_config(seed: int, scale: float = 1.0) -> FaultConfig:
    """The issue's mix: 10 % errors, 3 % stalls, some truncation, soft 404s and malformed
    pages, and a redirect loop linked from the home page."""
    return FaultConfig(
        seed=seed,
        error_rate=0.10 * scale,
        timeout_rate=0.03 * scale,
        timeout_seconds=STALL_SECONDS,
        truncate_rate=0.02 * scale,
        soft404_rate=0.02 * scale,
        malformed_rate=0.05 * scale,
        redirect_loop=True,
        soft404_paths=(BROKEN_PAGE,),
    )


class TimedReplica(ReplicaServer):
    """The replica, noting when each request arrived (``entry.arrived``, monotonic seconds)."""

    def _log(self, handler, method):
        entry, attempt = super()._log(handler, method)
        entry.arrived = time.monotonic()
        return entry, attempt


def faulty_crawl(tmp_path, seed: int, scale: float = 1.0) -> dict:
    """Crawl a replica with faults; everything the checks below need."""
    site, config = Site(seed=0), fault_config(seed, scale)
    db = tmp_path / "archive.db"
    with TimedReplica(site, faults=config) as server:
        started = time.monotonic()
        result = run_crawl(server.url, db, settings=CRAWL_SETTINGS, timeout=300)
        elapsed = time.monotonic() - started
        requests = list(server.requests)
    return {
        "site": site,
        "config": config,
        "db": db,
        "result": result,
        "elapsed": elapsed,
        "requests": requests,
        "truth": {t.asset_id: t for t in site.truth()},
        "rows": article_rows(db),
        "errors": query(db, "select * from crawl_errors"),
        "run": query(db, "select * from crawl_runs order by id desc limit 1")[0],
    }


def attempts(requests) -> list[tuple[object, int]]:
    """(entry, attempt number at its path): what the replica's fault decisions were keyed on."""
    seen: Counter = Counter()
    numbered = []
    for entry in requests:
        numbered.append((entry, seen[entry.path_with_query]))
        seen[entry.path_with_query] += 1
    return numbered


def retry_after_waits(crawl) -> list[float]:
    """For each answer carrying Retry-After that was retried: seconds until the retry came."""
    config, numbered = crawl["config"], attempts(crawl["requests"])
    by_path = defaultdict(list)
    for entry, _ in numbered:
        by_path[entry.path_with_query].append(entry)
    waits = []
    for entry, attempt in numbered:
        if entry.fault != fault_kinds.ERROR:
            continue
        _, retry_after = config.error_details(entry.path_with_query, attempt)
        later = by_path[entry.path_with_query][attempt + 1 :]
        if retry_after and later:
            waits.append(later[0].arrived - entry.arrived)
    return waits


def check_crawl(crawl) -> dict:
    """The issue's promises over one faulty crawl; returns its figures."""
    site, truth, rows, errors = crawl["site"], crawl["truth"], crawl["rows"], crawl["errors"]
    result, run, requests = crawl["result"], crawl["run"], crawl["requests"]
    log = result.stderr

    # The run completes, and its exit status is what the operator's error budget says.
    assert run["finish_reason"] == "finished", log[-3000:]
    assert run["errors"] == len(errors)
    assert result.returncode == (1 if len(errors) > MAX_ERRORS else 0), log[-3000:]
    assert "database is locked" not in log

    # Exactly once: one row per article, one set of images and attachments per row.
    assert len({row["url"] for row in rows.values()}) == len(rows)
    for row in rows.values():
        assert [i["position"] for i in row["images"]] == list(range(1, row["image_count"] + 1))
        assert len(row["attachments"]) == row["attachment_count"]
    fts = query(crawl["db"], "select count(*) as n from articles_fts")[0]["n"]
    assert fts == len(rows)

    # Served correctly at least once: archived, and equal to the ground truth.
    served = served_correctly(site, requests)
    expected = {asset_id for asset_id in truth if served.get(asset_id)}
    lost = sorted(expected - set(rows))
    assert lost == [], f"served correctly but not archived: {lost}"
    wrong = {a: truth_mismatches(truth[a], rows[a]) for a in expected}
    assert {a: w for a, w in wrong.items() if w} == {}
    assert set(rows) <= set(truth)

    # Never served correctly: an error of the run, never an empty article.
    empty = [a for a, row in rows.items() if not (row["title"] and row["body_text"])]
    assert empty == []
    errored_assets = {asset_of_path(site, _path(error["url"])) for error in errors}
    never = sorted(set(truth) - expected)
    assert not set(never) & set(rows)
    assert [a for a in never if served.get(a) is False and a not in errored_assets] == []
    ok_paths = defaultdict(bool)
    for entry in requests:
        ok_paths[entry.path_with_query] |= entry.served_ok
    failed_pages = {
        path
        for path, ok in ok_paths.items()
        if not ok and not path.startswith(NOT_PAGES) and asset_of_path(site, path) is None
    }
    errored_paths = {_path(error["url"]) for error in errors}
    assert failed_pages <= errored_paths, failed_pages - errored_paths
    if not failed_pages:
        assert set(truth) <= set(served), "an article was never even asked for"

    # The page that never answers but with an error page, and the redirect loop: errors of
    # the run, named as such.
    assert any(e["kind"] == "soft_404" and _path(e["url"]) == BROKEN_PAGE for e in errors)
    assert any(
        e["kind"] == "redirect_loop" and _path(e["url"]) == fault_kinds.LOOP_PATH_A for e in errors
    ), errors
    # Files the replica never served whole are marked so on their row.
    for row in rows.values():
        for ref in row["images"] + row["attachments"]:
            assert (ref["sha256"] is None) == (ref["fetch_error"] is not None), ref

    injected = Counter(e.fault for e in requests if e.fault)
    waits = retry_after_waits(crawl)
    return {
        "requests": len(requests),
        "faults_injected": sum(injected.values()),
        "faults_by_kind": dict(sorted(injected.items())),
        "retry_after_answers": len(waits),
        "retry_after_min_wait_s": round(min(waits), 2) if waits else None,
        "expected": len(expected),
        "never_served": len(never),
        "archived": len(rows),
        "archived_correctly": sum(1 for a in expected if not wrong[a]),
        "lost": len(lost),
        "duplicated": duplicates(crawl["db"]),
        "empty_articles": len(empty),
        "errors_recorded": len(errors),
        "errors_by_kind": dict(Counter(e["kind"] for e in errors)),
        "exit_status": result.returncode,
    }


def _path(url: str) -> str:
    """Path and query of a URL, as the replica's request log writes it."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


# --- Always on: one seed that injects every kind of fault ------------------------------------
FAULT_SEED = 8


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    return faulty_crawl(tmp_path_factory.mktemp("faults"), FAULT_SEED)


def test_every_kind_of_fault_was_injected(crawl):
    kinds = {entry.fault for entry in crawl["requests"]}
    assert {"error", "timeout", "truncate", "soft404", "malformed"} <= kinds
    assert retry_after_waits(crawl), "no answer with Retry-After was retried"
    soft_pages = {
        e.path_with_query
        for e in crawl["requests"]
        if e.fault == "soft404" and asset_of_path(crawl["site"], e.path_with_query) is None
    }
    assert soft_pages, "no listing or menu page got a soft 404"


def test_nothing_lost_nothing_twice_nothing_empty(crawl):
    figures = check_crawl(crawl)
    record("faults", scenario=f"faults, seed {FAULT_SEED}", seeds=[FAULT_SEED], **figures)


def test_retry_after_is_honoured(crawl):
    """The server said "Retry-After: 1": the retry comes no sooner (Scrapy alone retries at
    once). A lower bound only: a loaded machine makes waits longer, never shorter."""
    waits = retry_after_waits(crawl)
    assert waits and min(waits) >= 0.95, waits


def test_errors_are_counted_where_cron_and_the_reader_see_them(crawl):
    run, errors = crawl["run"], crawl["errors"]
    assert run["errors"] == len(errors) >= 1
    assert all(e["run_id"] == run["id"] and e["kind"] and e["message"] for e in errors)
    assert f"{len(errors)} errors" in crawl["result"].stderr


# --- Slow: several seeds, twice the fault rates ------------------------------------------------
SOAK_SEEDS = (1, 2, 3, 5, 6)


@pytest.mark.slow
def test_soak_several_seeds_double_rates(tmp_path):
    totals: Counter = Counter()
    for seed in SOAK_SEEDS:
        figures = check_crawl(faulty_crawl(tmp_path / f"seed{seed}", seed, scale=2.0))
        for key in ("requests", "faults_injected", "expected", "archived", "lost"):
            totals[key] += figures[key]
        for key in ("duplicated", "errors_recorded", "never_served", "archived_correctly"):
            totals[key] += figures[key]
    record(
        "faults_soak",
        scenario=f"faults ×2, {len(SOAK_SEEDS)} seeds (slow)",
        seeds=list(SOAK_SEEDS),
        **dict(totals),
    )
    assert totals["lost"] == 0 and totals["duplicated"] == 0


# --- Failures inside the crawler itself --------------------------------------------------------
def test_a_failing_parser_or_pipeline_is_an_error_of_the_run(tmp_path):
    """A callback that raises (markup never seen before) or an item that fails in a pipeline
    (a write refused): Scrapy only logs them, so the article would be lost and the run would
    exit 0. The storage pipeline records them like failed fetches."""
    db = tmp_path / "archive.db"
    crawler = get_crawler(
        SadecSpider, settings_dict={"SADEC_DB_PATH": str(db), "SADEC_BASE_URL": "http://x.test"}
    )
    crawler.spider = SadecSpider.from_crawler(crawler)
    pipeline = SQLiteStoragePipeline.from_crawler(crawler)
    pipeline.open_spider(crawler.spider)
    listing = HtmlResponse("http://x.test/tin-tuc-su-kien", body=b"<html></html>")
    crawler.signals.send_catch_log(
        signals.spider_error,
        failure=Failure(ValueError("markup never seen")),
        response=listing,
        spider=crawler.spider,
    )
    article = ArticlePage("http://x.test/a/1", 1, "http://x.test/a/1", 200, "2024-01-01T00:00Z")
    crawler.signals.send_catch_log(
        signals.item_error,
        item=article,
        response=listing,
        spider=crawler.spider,
        failure=Failure(RuntimeError("disk full")),
    )
    pipeline.close_spider(crawler.spider)
    assert query(db, "select url, kind, message from crawl_errors order by id") == [
        {
            "url": "http://x.test/tin-tuc-su-kien",
            "kind": "spider_error",
            "message": "ValueError: markup never seen",
        },
        {
            "url": "http://x.test/a/1",
            "kind": "pipeline_error",
            "message": "RuntimeError: disk full",
        },
        # This run never read a home page either: said and recorded too.
        {
            "url": "http://x.test/",
            "kind": "home_unread",
            "message": "no answer was read (see the log)",
        },
    ]
    (run,) = query(db, "select errors, exit_status from crawl_runs")
    assert run == {"errors": 3, "exit_status": 1} and crawler.sadec_exit_status == 1


# --- A full disk ---------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: the archive's disk fills up early in a crawl."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_fails_the_run(replica, small_disk):
    """A disk that filled up mid-crawl once gave exit 0 (8 of 64 archived, the run's row
    without a finish reason or exit status)."""
    result = run_crawl(replica.url, small_disk / "archive.db")
    assert result.returncode != 0, result.stderr[-3000:]
    assert "not recorded as finished" in result.stderr or "disk is full" in result.stderr
    record("red-team", case_5=f"crawl on a 2 MB tmpfs: exit {result.returncode}, told in one line")

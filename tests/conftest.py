"""Shared fixtures: the offline replica of the portal and databases produced by real crawls."""

from __future__ import annotations

from pathlib import Path

import pytest

from replica import ReplicaServer, Site
from sadec.local import run_crawl

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs for a person to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def replica():
    """A fresh Site (seed 0, corpus only) served on a free 127.0.0.1 port, no faults."""
    with ReplicaServer(Site()) as server:
        yield server


@pytest.fixture
def fresh_replica(replica):
    """Alias of :func:`replica` for tests that advance its state or inject faults."""
    return replica


def crawl_or_fail(base_url: str, db_path: Path, **kwargs):
    """Run `scrapy crawl sadec`; fail the test with the crawl's log if it exits non-zero."""
    result = run_crawl(base_url, db_path, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"crawl exited {result.returncode}:\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def crawl_result(tmp_path_factory):
    """One real crawl of a pristine replica: (truth, db path, crawl output, request log)."""
    site = Site(seed=0)
    db_path = tmp_path_factory.mktemp("crawl") / "archive.db"
    with ReplicaServer(site) as server:
        result = crawl_or_fail(server.url, db_path, settings={"SADEC_PROGRESS_INTERVAL": "0.5"})
        truth = site.truth()
        requests = list(server.requests)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "crawl.log").write_text(result.stderr, encoding="utf-8")
    return truth, db_path, result, requests


@pytest.fixture(scope="session")
def crawled_db(crawl_result) -> Path:
    """The database a real crawl of the replica produced, with its captures/ and files/ beside
    it. Shared by many tests: open it read-only."""
    _, db_path, _, _ = crawl_result
    return db_path

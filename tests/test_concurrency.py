"""The reading room answers while a crawl writes: Datasette (a second process) is queried in a
loop over the crawl's own database as it fills, and not one query fails or meets a lock.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipelines.database import open_database
from replica import ReplicaServer, Site
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env
from serving.server import server_command
from tests.reliability import duplicates, query, record
from tests.support.reading_room import free_port, stop_process

SLOW = {"DOWNLOAD_DELAY": "0.02", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}
"""A crawl of several seconds, writing all along."""
MAX_QUERIES = 1500
"""The loop is bounded: it stops at this many queries or when the crawl has ended."""
LOCKED = "database is locked"

QUERIES = (
    "/archive.json?sql=select+count(*)+from+articles&_shape=array",
    "/archive/articles.json?_size=10&_sort_desc=first_seen_at&_shape=objects",
    "/archive.json?sql=select+rowid+from+articles_fts+where+articles_fts+match+%27sa%27"
    "&_shape=array",
    "/archive/images.json?_size=5",
    "/archive/crawl_runs.json",
    "/archive/articles?_search=sa+dec",
    "/",
)
"""JSON reads, full-text search, HTML pages: what readers do."""


class Reader(threading.Thread):
    """Queries the reading room in a loop until told to stop; keeps every failure."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.sent = 0
        self.failures: list[str] = []
        self.locked = 0
        self.counts: list[int] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=20) as client:
            while not self.stop.is_set() and self.sent < MAX_QUERIES:
                path = QUERIES[self.sent % len(QUERIES)]
                self.sent += 1
                try:
                    response = client.get(path)
                except httpx.HTTPError as error:
                    self.failures.append(f"{path}: {type(error).__name__}: {error}")
                    continue
                self.locked += response.text.count(LOCKED)
                if response.status_code != 200:
                    self.failures.append(f"{path}: HTTP {response.status_code}")
                elif path.startswith("/archive.json?sql=select+count"):
                    self.counts.append(response.json()[0]["count(*)"])


def start_reading_room(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """The real server (``python -m serving``) on the database, its output kept in ``log``."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            # Arbitrary SQL on, as an operator may allow it for trusted readers: its queries are
            # the plainest readers of the database while the crawl writes.
            server_command(db, port, allow_sql=True),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/-/versions.json", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"reading room not up on {base}")


@pytest.fixture
def served_database(tmp_path):
    """An empty archive (schema only) and the reading room already serving it."""
    db = tmp_path / "archive.db"
    open_database(db).close()
    server, base = start_reading_room(db, tmp_path / "serving.log")
    yield db, base, tmp_path / "serving.log"
    stop_process(server)


def test_queries_while_a_crawl_writes(served_database, tmp_path):
    db, base, server_log = served_database
    crawl_log = tmp_path / "crawl.log"
    with ReplicaServer(Site()) as replica:
        reader = Reader(base)
        reader.start()
        with crawl_log.open("w") as out:
            crawl = subprocess.run(
                crawl_command(replica.url, db, settings=SLOW),
                cwd=PROJECT_ROOT,
                env=crawl_env(),
                stdout=subprocess.DEVNULL,
                stderr=out,
                timeout=300,
                check=False,
            )
        reader.stop.set()
        reader.join(timeout=60)
    crawl_text, server_text = crawl_log.read_text(), server_log.read_text()
    figures = {
        "queries": reader.sent,
        "queries_failed": len(reader.failures),
        "locked_messages": reader.locked + crawl_text.count(LOCKED) + server_text.count(LOCKED),
        "articles_during_queries": max(reader.counts, default=0) - min(reader.counts, default=0),
    }
    archived = query(db, "select count(*) as n from articles")[0]["n"]
    expected = len(Site().truth())
    record(
        "concurrency",
        scenario="Datasette queried while a crawl writes",
        **figures,
        expected=expected,
        archived=archived,
        lost=expected - archived,
        duplicated=duplicates(db),
    )
    assert crawl.returncode == 0, crawl_text[-3000:]
    assert reader.failures == [], reader.failures[:10]
    assert figures["locked_messages"] == 0
    # The queries did overlap the writes: the readers saw the archive grow.
    assert figures["articles_during_queries"] >= 30, reader.counts
    assert reader.counts == sorted(reader.counts), "a reader saw the archive shrink"
    assert archived == expected

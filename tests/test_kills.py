"""SIGKILL at many moments of a crawl, then reruns: no duplicate, no loss, an intact database,
WARC files readable up to their last whole record.

The kill points come from a seeded RNG: after the first stored article, while the WAL is
growing (a write in progress), at random times over the crawl, after random numbers of
articles. The always-on test chains five kills on one database (each rerun is killed again)
before a complete run; the slow one kills and reruns from scratch at more points.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines import database, migrations
from pipelines.database import open_database
from replica import ReplicaServer, Site
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env
from sadec_crawler.digests import scan_block_digests
from sadec_crawler.items import Article, ImageRef
from tests.conftest import crawl_or_fail
from tests.reliability import content_rows, duplicates, query, record

SLOW = {"DOWNLOAD_DELAY": "0.03", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
"""One request at a time with a short delay: a crawl long enough to be killed anywhere in it."""


# --- Watching and killing a crawl ---------------------------------------------------------------
def count_articles(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("select count(*) from articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wal_state(db: Path) -> tuple[int, int]:
    """Size and modification time of the WAL: either changes on every write (after a
    checkpoint the WAL is written again from its start, so its size alone may not move)."""
    try:
        stat = os.stat(f"{db}-wal")
    except FileNotFoundError:
        return 0, 0
    return stat.st_size, stat.st_mtime_ns


@dataclass
class KillPoint:
    """Kill once ``seconds`` have passed and ``articles`` are stored; with ``on_write``, then
    at the next growth of the WAL (a write going on)."""

    seconds: float = 0.0
    articles: int = 0
    on_write: bool = False

    def __str__(self) -> str:
        parts = [f"after {self.seconds:g} s"] if self.seconds else []
        parts += [f"{self.articles} stored"] if self.articles else []
        parts += ["during a write"] if self.on_write else []
        return ", ".join(parts)


def kill_points(rng: random.Random, count: int, duration: float, total: int) -> list[KillPoint]:
    """``count`` kill points drawn from ``rng`` over a crawl of ``duration`` seconds storing
    ``total`` articles: the first stored article, then by turns random numbers of articles
    (increasing, so that they still mean something when reruns are killed in a row) and random
    times, half of them at a write."""
    # Well before the last article, so that the next write is still one of the crawl's own.
    thresholds = sorted(rng.sample(range(3, total - 10), count))
    points = [KillPoint(articles=1)]
    while len(points) < count:
        if len(points) % 2:
            points.append(
                KillPoint(articles=thresholds[len(points)], on_write=len(points) % 4 == 1)
            )
        else:
            # Early enough that even a rerun (files already stored) is still going.
            seconds = round(rng.uniform(0.15, 0.45) * duration, 2)
            points.append(KillPoint(seconds=seconds, on_write=len(points) % 4 == 2))
    return points


def run_until_killed(url: str, db: Path, point: KillPoint, log: Path) -> dict:
    """Start a crawl, SIGKILL it at ``point``; what the kill hit."""
    with log.open("w") as out:
        process = subprocess.Popen(
            crawl_command(url, db, settings=SLOW),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    started, deadline = time.monotonic(), time.monotonic() + 120
    last_wal, reached = None, False
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if not reached:
                reached = (
                    time.monotonic() - started >= point.seconds
                    and count_articles(db) >= point.articles
                )
                last_wal = wal_state(db)
                if reached and not point.on_write:
                    break
            elif wal_state(db) != last_wal:
                break
            time.sleep(0.002 if reached else 0.01)
        assert process.poll() is None, f"the crawl ended before the kill point {point}"
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    runs = query(db, "select finished_at from crawl_runs") if count_articles(db) else []
    assert not any(run["finished_at"] for run in runs), f"{point}: killed after the run ended"
    return {"point": str(point), "articles": count_articles(db), "during_write": point.on_write}


# --- What must hold after a kill ----------------------------------------------------------------
def integrity_ok(db: Path) -> bool:
    return query(db, "pragma integrity_check") == [{"integrity_check": "ok"}]


def check_consistent(db: Path) -> None:
    """Each article went in whole or not at all: its images, attachments and index entries
    are all there (each article's writes all or nothing)."""
    assert integrity_ok(db)
    tables = {row["name"] for row in query(db, "select name from sqlite_master")}
    if "articles" not in tables:
        return  # killed while the crawl was starting: before or during its migrations
    partial = query(
        db,
        "select url from articles a where image_count != "
        "(select count(*) from images i where i.article_url = a.url) or attachment_count != "
        "(select count(*) from attachments t where t.article_url = a.url)",
    )
    assert partial == []
    articles = query(db, "select count(*) as n from articles")[0]["n"]
    for table in ("articles_fts", "articles_fts_exact"):
        assert query(db, f"select count(*) as n from {table}")[0]["n"] == articles


def content(db: Path) -> tuple[dict, dict, dict]:
    """Articles (without fetch times and capture pointers), images and attachments."""
    articles = content_rows(db)
    children = tuple(
        {(row["article_url"], row["position"]): row for row in query(db, f"select * from {table}")}
        for table in ("images", "attachments")
    )
    return articles, *children


def gzip_members(data: bytes) -> tuple[list[tuple[int, int]], bool]:
    """(start, end) of every whole gzip member, and whether an unfinished one follows."""
    members, position, view = [], 0, memoryview(data)
    while position < len(data):
        inflater, fed = zlib.decompressobj(zlib.MAX_WBITS | 16), position
        while not inflater.eof and fed < len(data):
            chunk = view[fed : fed + (1 << 20)]
            fed += len(chunk)
            inflater.decompress(chunk)
        if not inflater.eof:
            return members, True
        end = fed - len(inflater.unused_data)
        members.append((position, end))
        position = end
    return members, False


def check_warc(path: Path, tmp: Path) -> tuple[int, bool]:
    """Every whole record of a WARC file reads and matches its block digest; only a last,
    unfinished record (a kill mid-write) may be missing. Returns (records, torn)."""
    data = path.read_bytes()
    members, torn = gzip_members(data)
    whole = tmp / f"whole-{path.name}"
    whole.write_bytes(data[: members[-1][1]] if members else b"")
    count, problems = scan_block_digests(whole)
    assert problems == [] and count == len(members), (path.name, problems)
    return count, torn


# --- Tests ----------------------------------------------------------------------------------------
@pytest.fixture
def reference(replica, tmp_path):
    """An uninterrupted crawl of the same replica server, and how long it took."""
    db = tmp_path / "reference" / "archive.db"
    started = time.monotonic()
    crawl_or_fail(replica.url, db, settings=SLOW)
    return db, time.monotonic() - started


def survive(replica, reference, tmp_path, points: list[KillPoint], chained: bool) -> dict:
    """Kill at every point (on one database if ``chained``, else each on a fresh one), rerun
    to completion, and check everything; returns the figures."""
    reference_db, _ = reference
    expected = content(reference_db)
    kills, survived, warc_files, torn_files, warc_records = [], 0, 0, 0, 0
    lost = duplicated = archived = 0
    databases = []
    for index, point in enumerate(points):
        db = tmp_path / ("chain" if chained else f"kill{index}") / "archive.db"
        db.parent.mkdir(exist_ok=True)
        kills.append(run_until_killed(replica.url, db, point, tmp_path / f"kill{index}.log"))
        check_consistent(db)
        if not chained:
            databases.append(db)
    databases = databases or [tmp_path / "chain" / "archive.db"]
    for db in databases:
        result = crawl_or_fail(replica.url, db)
        (db.parent / "rerun.log").write_text(result.stderr, encoding="utf-8")
        assert "walks everything" in result.stderr
        check_consistent(db)
        got = content(db)
        lost += len(set(expected[0]) - set(got[0]))
        duplicated += duplicates(db)
        archived = len(got[0])
        assert sorted(got[0]) == sorted(expected[0]), "lost or extra articles"
        assert got == expected
        assert query(db, "select count(*) as n from article_versions")[0]["n"] == 0
        runs = query(db, "select finished_at, exit_status from crawl_runs order by id")
        assert runs[-1]["exit_status"] == 0
        assert all(run["finished_at"] is None for run in runs[:-1]), "a killed run finished?"
        for path in sorted((db.parent / "captures").glob("*.warc.gz")):
            records, torn = check_warc(path, tmp_path)
            warc_files, torn_files, warc_records = (
                warc_files + 1,
                torn_files + torn,
                warc_records + records,
            )
        # Every kill this database took is survived once its rerun has checked out.
        survived += len(points) if chained else 1
    assert survived == len(points)
    return {
        "kill_points": [k["point"] for k in kills],
        "kills_survived": survived,
        "kills_during_write": sum(k["during_write"] for k in kills),
        "articles_at_kills": [k["articles"] for k in kills],
        "integrity_checks_ok": len(points) + len(databases),
        "warc_files": warc_files,
        "warc_files_torn": torn_files,
        "warc_records": warc_records,
        "expected": len(expected[0]),
        "archived": archived,
        "lost": lost,
        "duplicated": duplicated,
    }


def test_five_kills_in_a_row_then_a_complete_run(replica, reference, tmp_path):
    _, duration = reference
    points = kill_points(random.Random(5), 5, duration, len(Site().truth()))
    figures = survive(replica, reference, tmp_path, points, chained=True)
    assert figures["kills_during_write"] >= 1
    record("kills", scenario="SIGKILL ×5 in a row, then a complete run", **figures)


@pytest.mark.slow
def test_ten_kills_each_rerun_from_the_killed_state(replica, reference, tmp_path):
    _, duration = reference
    points = kill_points(random.Random(10), 10, duration, len(Site().truth()))
    figures = survive(replica, reference, tmp_path, points, chained=False)
    record("kills_slow", scenario="SIGKILL at 10 points, each rerun (slow)", **figures)


def test_a_torn_last_record_is_told_apart_from_damage(tmp_path):
    """The WARC check itself: a file cut inside its last record passes as torn, a file with a
    damaged record in the middle does not."""
    replica_dir = tmp_path / "w"
    with ReplicaServer(Site()) as server:
        crawl_or_fail(server.url, replica_dir / "archive.db", settings={"SADEC_FILES_DIR": "off"})
    (path,) = (replica_dir / "captures").glob("*.warc.gz")
    data = path.read_bytes()
    members, torn = gzip_members(data)
    assert not torn and len(members) > 10
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: members[-1][0] + (members[-1][1] - members[-1][0]) // 2])
    assert check_warc(cut, tmp_path) == (len(members) - 1, True)
    damaged = bytearray(data)
    start, end = members[len(members) // 2]
    damaged[(start + end) // 2] ^= 0xFF
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(damaged))
    with pytest.raises((AssertionError, zlib.error)):
        check_warc(broken, tmp_path)


def test_an_article_is_stored_whole_or_not_at_all(tmp_path, monkeypatch):
    """What a kill between two statements of one article would leave, made deterministic:
    the article's index entry fails to be written, and nothing of the article remains."""
    db = open_database(tmp_path / "archive.db")

    def index_fails(*args):
        raise sqlite3.OperationalError("killed here")

    monkeypatch.setattr(database, "index_article", index_fails)
    article = Article(
        url="http://x.test/a/1",
        asset_id=1,
        title="Bài viết",
        published_at="2024-01-02",
        published_at_raw="02/01/2024",
        published_at_source="listing",
        category="Tin tức - Sự kiện",
        category_raw="SD_Tin tức - Sự kiện",
        author=None,
        unit=None,
        byline=None,
        summary=None,
        body_text="Nội dung.",
        body_html="<p>Nội dung.</p>",
        images=[ImageRef("http://x.test/documents/1/0/a.jpg/u", "Ảnh", None)],
    )
    with pytest.raises(sqlite3.OperationalError):
        database.upsert_article(db, article)
    db.close()
    for table in ("articles", "images"):
        assert query(tmp_path / "archive.db", f"select count(*) as n from {table}") == [{"n": 0}]


@pytest.mark.parametrize("index", range(len(migrations.MIGRATIONS)))
def test_a_run_killed_inside_a_migration_leaves_an_archive_that_opens(tmp_path, index):
    """A first run killed while it creates the schema: the migration it was in is undone as
    a whole, and the next run applies it again (it used to find half its tables there and stop
    for good on "table already exists")."""
    path = tmp_path / "archive.db"
    original = migrations.MIGRATIONS[index]

    def killed_at_its_end(db):
        original(db)
        raise KeyboardInterrupt("killed")

    killed_at_its_end.__name__ = original.__name__
    migrations.MIGRATIONS[index] = killed_at_its_end
    try:
        with pytest.raises(KeyboardInterrupt):
            open_database(path)
    finally:
        migrations.MIGRATIONS[index] = original
    assert query(path, "select count(*) as n from _migrations") == [{"n": index}]
    open_database(path).close()
    applied = query(path, "select count(*) as n from _migrations")
    assert applied == [{"n": len(migrations.MIGRATIONS)}]

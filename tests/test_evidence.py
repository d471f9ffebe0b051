"""Evidence: WARC captures of every exchange, files by hash, rebuild, verify and export."""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.request
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from scrapy.exceptions import DownloadCancelledError, NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from pipelines.files import FilesPipeline, store_body, stored_file_from_body
from replica import FaultConfig, ReplicaServer, Site
from sadec.export import MANIFEST, export
from sadec.local import PROJECT_ROOT, crawl_env
from sadec.rebuild import rebuild
from sadec.verify import verify
from sadec_crawler.layout import content_path, inside, safe_extension
from sadec_crawler.warc import WarcWriterMiddleware, exchange_parts, failure_parts
from sadec_crawler.warc_files import ProcessWarcWriter, RotatingWarcWriter, gzip_member
from sadec_crawler.warc_replay import DamagedRecord, index_captures, raw_response
from tests import reliability
from tests.conftest import crawl_or_fail

CRAWL_TIMESTAMPS = {"first_seen_at", "last_crawled_at", "last_changed_at"}
"""Columns that say when this database saw an article, not what the article is."""


# --- Fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evidence_crawl(tmp_path_factory):
    """One crawl of a replica that also answers with redirects (a loop) and 5xx errors:
    (archive folder, server request log)."""
    root = tmp_path_factory.mktemp("evidence")
    faults = FaultConfig(redirect_loop=True, error_rate=0.05)
    with ReplicaServer(Site(seed=0), faults) as server:
        # The redirect loop is an error of the run (crawl_errors): tolerated as an operator
        # would, with SADEC_MAX_ERRORS.
        crawl_or_fail(server.url, root / "archive.db", settings={"SADEC_MAX_ERRORS": "1"})
        requests = list(server.requests)
    return root, requests


@pytest.fixture
def archive_copy(evidence_crawl, tmp_path) -> Path:
    """A private copy of the crawled archive (database, captures, files), to damage."""
    root, _ = evidence_crawl
    copy = tmp_path / "archive"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("rebuilt*", "bundle*"))
    return copy / "archive.db"


def _records(folder: Path):
    """(file, offset, record) for every record of every WARC file, payload read."""
    for path in sorted(folder.glob("*.warc.gz")):
        with path.open("rb") as handle:
            records = ArchiveIterator(handle)
            for record in records:
                payload = record.raw_stream.read()
                yield path, records.get_record_offset(), record, payload


def _rows(db: Path, table: str, key: tuple[str, ...]) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {
            tuple(row[k] for k in key): {
                name: value for name, value in dict(row).items() if name not in CRAWL_TIMESTAMPS
            }
            for row in conn.execute(f"select * from {table}")
        }
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sadec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sadec.cli", *args],
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- WARC captures --------------------------------------------------------------------------------
def test_every_exchange_has_request_and_response_records(evidence_crawl):
    root, server_log = evidence_crawl
    records = list(_records(root / "captures"))
    first_of_file = {}
    for path, _offset, record, _ in records:
        first_of_file.setdefault(path, record.rec_type)
    assert first_of_file and set(first_of_file.values()) == {"warcinfo"}

    by_id = {r.rec_headers.get_header("WARC-Record-ID"): r for _, _, r, _ in records}
    sent, answered = Counter(), Counter()
    for _, _, record, _ in records:
        if record.rec_type not in ("request", "response"):
            continue
        parts = urlsplit(record.rec_headers.get_header("WARC-Target-URI"))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        partner = by_id[record.rec_headers.get_header("WARC-Concurrent-To")]
        assert {record.rec_type, partner.rec_type} == {"request", "response"}
        if record.rec_type == "request":
            sent[(record.http_headers.protocol, path)] += 1
        else:
            answered[(path, int(record.http_headers.get_statuscode()))] += 1

    assert sent == Counter((entry.method, entry.path_with_query) for entry in server_log)
    assert answered == Counter((entry.path_with_query, entry.status) for entry in server_log)
    statuses = {status for _, status in answered}
    assert 302 in statuses and statuses & {500, 503}, "the replica served no redirect or error"


def test_response_records_keep_raw_status_and_headers(evidence_crawl):
    root, _ = evidence_crawl
    redirects = [
        record
        for _, _, record, _ in _records(root / "captures")
        if record.rec_type == "response" and record.http_headers.get_statuscode() == "302"
    ]
    assert redirects
    assert redirects[0].http_headers.statusline == "302 Found"
    assert redirects[0].http_headers.get_header("Location")
    assert redirects[0].http_headers.get_header("Liferay-Portal")


def test_article_rows_point_at_their_response_record(evidence_crawl):
    root, _ = evidence_crawl
    responses = {
        (path.name, offset): record
        for path, offset, record, _ in _records(root / "captures")
        if record.rec_type == "response"
    }
    rows = _rows(root / "archive.db", "articles", ("url",)).values()
    assert rows
    for row in rows:
        record = responses[(row["warc_file"], row["warc_offset"])]
        assert record.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert record.rec_headers.get_header("WARC-Payload-Digest") == row["warc_payload_digest"]
        assert record.rec_headers.get_header("WARC-Target-URI") == row["fetched_url"]
        assert row["captured_at"] == record.rec_headers.get_header("WARC-Date")


def test_writer_rotates_and_survives_a_torn_last_record(tmp_path):
    writer = RotatingWarcWriter(tmp_path, max_bytes=2_000, info={"software": "test"})
    body = gzip.compress(random.Random(0).randbytes(3_000))  # incompressible: 3 kB a record
    captures = []
    for n in range(4):
        request = Request(f"http://example.test/page/{n}")
        response = Response(
            request.url,
            status=200,
            body=body,
            request=request,
            headers={
                "Content-Encoding": "gzip",
                "Transfer-Encoding": "chunked",
                "Content-Type": "text/html; charset=utf-8",
            },
        )
        captures.append(writer.write_exchange_parts(exchange_parts(request, response, None)))
    writer.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) == 4, "a new file each time the size limit was passed"
    for path in files:
        with path.open("rb") as handle:
            assert next(iter(ArchiveIterator(handle))).rec_type == "warcinfo"
    record = next(r for r in ArchiveIterator(files[0].open("rb")) if r.rec_type == "response")
    assert record.http_headers.statusline == "200 OK"
    assert record.http_headers.get_header("Transfer-Encoding") is None
    assert record.raw_stream.read() == body, "the body as transferred, still gzipped"

    # A crawl killed while writing: every record before the torn one stays readable.
    last = files[-1]
    last.write_bytes(last.read_bytes()[: captures[-1].offset + 200])
    index = index_captures(files)
    readable = [ref for ref in index.responses if ref.warc_path != last]
    assert [ref.record_id for ref in readable] == [c.record_id for c in captures[:-1]]
    # Replayed as it came off the network: still gzipped, for the crawl's middlewares to undo.
    replayed = [raw_response(ref) for ref in readable]
    assert all(r.body == body and r.headers[b"Content-Encoding"] == b"gzip" for r in replayed)
    for ref in index.responses:
        if ref.warc_path == last:
            with pytest.raises(DamagedRecord):
                raw_response(ref)


@pytest.mark.parametrize("level", range(1, 10))
def test_every_gzip_level_gives_a_member_any_gzip_reader_inflates(level):
    # Levels 1-3 are ISA-L's, 4-9 zlib's: both must be plain gzip, one member each.
    page = (Path(PROJECT_ROOT) / "README.md").read_bytes()
    member = gzip_member(page, level)
    assert member[:2] == b"\x1f\x8b"
    assert gzip.decompress(member) == page
    inflater = zlib.decompressobj(wbits=31)
    assert inflater.decompress(member) == page and inflater.eof and not inflater.unused_data


def test_the_writer_process_loads_no_scrapy_even_under_the_scrapy_script(tmp_path):
    # What the writer process loads is what it waits for before its first record. Started
    # from a main script that imports Scrapy first, as the `scrapy` console script does (a
    # multiprocessing "spawn" child ran such a script again); lxml stands for Scrapy, which
    # loads it through parsel, and is looked for among the child's mapped files.
    script = tmp_path / "scrapy_like.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "import scrapy  # noqa: F401\n"
        "from sadec_crawler.warc_files import ProcessWarcWriter\n"
        "writer = ProcessWarcWriter(Path(sys.argv[1]), 10**8, 3)\n"
        "writer.open({'software': 'test'})\n"
        "writer.write_fields('urn:test', {'a': 'b'})\n"
        "maps = Path(f'/proc/{writer.pid}/maps').read_text()\n"
        "writer.close()\n"
        "print('lxml' in maps, 'isal' in maps)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "captures")],
        env=crawl_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_the_writer_process_outlives_an_interrupt_of_the_crawl(tmp_path):
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the crawl stops
    # gracefully, and its writer must still take the records of that stop.
    writer = ProcessWarcWriter(tmp_path, 10**8, 3)
    try:
        writer.open({"software": "test", "sadec-crawl-id": "c1"})
        writer.write_fields("urn:before", {"a": "b"})  # answered: the process is in its loop
        os.kill(writer.pid, signal.SIGINT)
        os.kill(writer.pid, signal.SIGTERM)
        writer.write_fields("urn:sadec:crawl:c1", {"finish-reason": "shutdown"})
    finally:
        writer.close()
    assert writer.files_written and writer.cpu_s > 0
    index = index_captures(sorted(tmp_path.glob("*.warc.gz")))
    assert index.crawls["c1"].finish_reason == "shutdown"


def test_a_writer_that_cannot_open_says_why_at_the_first_record(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the captures folder should be")
    writer = ProcessWarcWriter(blocker, 10**8, 3)
    try:
        writer.open({"software": "test"})
        with pytest.raises(OSError) as raised:
            writer.write_fields("urn:test", {"a": "b"})
        assert "gone" not in str(raised.value)  # the writer's reason, not a lost process
    finally:
        writer.close()


def test_failures_and_crawl_end_are_recorded(tmp_path):
    writer = RotatingWarcWriter(tmp_path, info={"software": "test", "sadec-crawl-id": "c1"})
    request = Request("http://example.test/big.pdf")
    cancelled = DownloadCancelledError("exceeded DOWNLOAD_MAXSIZE")
    writer.write_failure_parts(failure_parts(request, cancelled, None))
    writer.write_fields("urn:sadec:crawl:c1", {"finish-reason": "finished"})
    writer.close()
    index = index_captures(sorted(tmp_path.glob("*.warc.gz")))
    [failure] = index.by_url["http://example.test/big.pdf"]
    assert failure.kind == "too_large"
    assert index.crawls["c1"].finish_reason == "finished"


def test_capture_switched_off():
    crawler = get_crawler(settings_dict={"SADEC_WARC_DIR": "off"})
    with pytest.raises(NotConfigured):
        WarcWriterMiddleware.from_crawler(crawler)
    crawler = get_crawler(settings_dict={"SADEC_FILES_DIR": "OFF"})
    with pytest.raises(NotConfigured):
        FilesPipeline.from_crawler(crawler)


# --- Files ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://x.test/documents/481527/0/..%2F..%2F..%2Fetc%2Fpasswd/uuid?t=1",
        "http://x.test/documents/481527/0/%2Fetc%2Fpasswd/uuid",
        "http://x.test/../../../../etc/passwd",
        "http://x.test/documents/a/" + "A" * 5000 + ".pdf" + "B" * 300,
        "http://x.test/documents/a/evil.p%00df/..%5C..%5Cwindows.exe",
        "http://x.test/documents/a/b.%2E%2E%2F%2E%2E",
        "http://x.test/documents/481527/0/B%C3%A1o+c%C3%A1o.PDF/0f1e?download=true",
    ],
)
def test_hostile_file_names_stay_inside_the_files_folder(tmp_path, url):
    folder = tmp_path / "files"
    stored = stored_file_from_body(url, 200, "application/pdf", b"%PDF-1.4 test", 10_000)
    assert stored.stored_path == content_path(stored.sha256, safe_extension(url, "application/pdf"))
    assert stored.stored_path.startswith(f"sha256/{stored.sha256[:2]}/{stored.sha256}")
    assert len(stored.stored_path) <= len("sha256/ab/") + 64 + 9
    written = store_body(folder, stored.stored_path, b"%PDF-1.4 test")
    assert written.resolve().is_relative_to(folder.resolve())
    assert written.read_bytes() == b"%PDF-1.4 test"


def test_path_checks_refuse_escapes(tmp_path):
    for relative in ("../x", "/etc/passwd", "sha256/../../x", ""):
        with pytest.raises(ValueError):
            inside(tmp_path, relative)
    with pytest.raises(ValueError):
        content_path("../" + "a" * 61)
    with pytest.raises(ValueError):
        content_path("a" * 64, "/../x")
    assert safe_extension("http://x.test/documents/1/0/anh+1.JPG/uuid") == ".jpg"
    assert safe_extension("http://x.test/documents/1/0/uuid", "image/jpeg; q=1") == ".jpg"
    assert safe_extension("http://x.test/img.php", None) == ""


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("http://x.test/documents/1/0/x.svg", "image/svg+xml"),
        ("http://x.test/documents/1/0/x.html", "text/html"),
        ("http://x.test/documents/1/0/x.xml", "application/xml"),
        ("http://x.test/documents/1/0/x.js", "text/javascript"),
        ("http://x.test/documents/1/0/x.xhtml", None),
        ("http://x.test/documents/1/0/uuid", "image/svg+xml"),
        ("http://x.test/documents/1/0/uuid", "text/html; charset=utf-8"),
    ],
)
def test_files_a_browser_could_run_are_stored_without_their_extension(url, content_type):
    """Red-team finding 3: an ``<img>`` at an SVG was stored as ``.svg`` and ran script."""
    assert safe_extension(url, content_type) == ""


@pytest.mark.parametrize(
    ("url", "extension"),
    [
        ("x.pdf", ".pdf"),
        ("x.doc", ".doc"),
        ("x.xls", ".xls"),
        ("x.png", ".png"),
        ("x.gif", ".gif"),
        ("x.mp4", ".mp4"),
        ("x.txt", ".txt"),
        ("x.zip", ".zip"),
    ],
)
def test_inert_files_keep_their_extension(url, extension):
    assert safe_extension(f"http://x.test/documents/1/0/{url}") == extension


def test_file_outcomes():
    missing = stored_file_from_body("http://x.test/a.jpg", 404, "text/html", b"", 10)
    assert missing.error == "http_404"
    assert stored_file_from_body("http://x.test/a.jpg", 200, None, b"x" * 11, 10).error == (
        "too_large"
    )
    ok = stored_file_from_body("http://x.test/a.jpg", 200, "image/jpeg", b"abc", 10)
    assert ok.sha256 == hashlib.sha256(b"abc").hexdigest() and ok.size == 3


def test_files_stored_by_hash(evidence_crawl):
    root, _ = evidence_crawl
    conn = sqlite3.connect(root / "archive.db")
    rows = conn.execute(
        "select stored_path, sha256, size from images where sha256 is not null union "
        "select stored_path, sha256, size from attachments where sha256 is not null"
    ).fetchall()
    assert rows
    for stored_path, sha256, size in rows:
        data = (root / "files" / stored_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256 and len(data) == size


# --- Rebuild --------------------------------------------------------------------------------------
def test_rebuild_gives_the_same_articles(evidence_crawl, tmp_path):
    root, _ = evidence_crawl
    new_db = tmp_path / "rebuilt" / "archive.db"
    assert rebuild(root / "captures", new_db) == 0
    for table, key in (
        ("articles", ("url",)),
        ("images", ("article_url", "position")),
        ("attachments", ("article_url", "position")),
    ):
        crawled, rebuilt = _rows(root / "archive.db", table, key), _rows(new_db, table, key)
        assert crawled, table
        assert rebuilt == crawled, table
    assert verify(new_db) == 0
    assert rebuild(root / "captures", new_db) == 2, "never overwrites a database"


def test_second_run_reuses_files_and_rebuild_keeps_versions(fresh_replica, tmp_path):
    db = tmp_path / "archive.db"
    crawl_or_fail(fresh_replica.url, db)
    fresh_replica.site.advance(edit=4)
    second = len(fresh_replica.requests)
    crawl_or_fail(fresh_replica.url, db, spider_args={"mode": "full"})
    file_paths = {
        urlsplit(record.rec_headers.get_header("WARC-Target-URI")).path
        for _, _, record, _ in _records(tmp_path / "captures")
        if record.rec_headers.get_header("Sadec-Purpose") == "file"
    }

    def paths(entries) -> set[str]:
        return {e.path_with_query.split("?")[0] for e in entries} & file_paths

    first_files = paths(fresh_replica.requests[:second])
    assert first_files, "the first run downloaded no file"
    assert not paths(fresh_replica.requests[second:]) & first_files, "files fetched again"

    new_db = tmp_path / "rebuilt" / "archive.db"
    assert rebuild(tmp_path / "captures", new_db) == 0
    for table, key in (
        ("articles", ("url",)),
        ("images", ("article_url", "position")),
        ("attachments", ("article_url", "position")),
        ("article_versions", ("article_url", "content_hash")),
    ):
        skip = {"id", "fetched_at", "superseded_at", "gone_at"}
        crawled = {
            k: {n: v for n, v in row.items() if n not in skip}
            for k, row in _rows(db, table, key).items()
        }
        rebuilt = {
            k: {n: v for n, v in row.items() if n not in skip}
            for k, row in _rows(new_db, table, key).items()
        }
        assert rebuilt == crawled, table
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from article_versions").fetchone()[0] > 0


# --- Verify ---------------------------------------------------------------------------------------
def test_rebuild_reads_on_past_damage_and_says_so(evidence_crawl, tmp_path, capsys):
    """Garbage inserted between records once lost every record after it (139 in the red
    team's run) and the rebuild still exited 0; a file of another kind exited 0 too."""
    root, _ = evidence_crawl
    captures = tmp_path / "captures"
    shutil.copytree(root / "captures", captures)
    (path,) = sorted(captures.glob("*.warc.gz"))
    records = list(_records(captures))
    middle = records[len(records) // 2][1]  # the offset of a record half way through
    data = path.read_bytes()
    garbage = bytes(range(256)) * 16  # 4 KB, no gzip member inside
    path.write_bytes(data[:middle] + garbage + data[middle:])
    new_db = tmp_path / "rebuilt" / "archive.db"
    assert rebuild(captures, new_db) == 1
    out = capsys.readouterr().out
    assert f"damaged captures: 1 stretch(es), {len(garbage)} bytes skipped" in out

    def content(db):  # the evidence pointers of records after the garbage moved with them
        return {
            url: {k: v for k, v in row.items() if not k.startswith("warc_")}
            for url, row in _rows(db, "articles", ("url",)).items()
        }

    assert content(new_db) == content(root / "archive.db"), "every record after it was read"
    reliability.record(
        "red-team",
        case_8=f"4 KB of garbage inside a WARC file: exit 1, {len(content(new_db))} of "
        f"{len(content(root / 'archive.db'))} articles rebuilt; another kind of file: exit 1",
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.warc.gz").write_bytes(b"not a WARC file at all\n" * 100)
    assert rebuild(other, tmp_path / "other.db") == 1
    assert "no crawl of this project" in capsys.readouterr().out
    assert not (tmp_path / "other.db").exists()
    # Warnings quote damaged bytes escaped, never raw control characters.
    assert not any(ord(c) < 32 and c not in "\n\t" for c in out)


def test_a_rebuild_whose_replays_all_fail_keeps_nothing(evidence_crawl, tmp_path, capsys):
    """Red-team finding 14: a failed rebuild left a database that refused the rerun."""
    root, _ = evidence_crawl
    new_db = tmp_path / "rebuilt.db"
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    assert rebuild(root / "captures", new_db, scrapy=failing) == 1
    assert "nothing kept" in capsys.readouterr().out
    assert not new_db.exists() and not list(tmp_path.glob("rebuilt.db*"))
    assert rebuild(root / "captures", new_db) == 0, "the rerun is not refused"


def _tamper_member(path: Path, offset: int) -> None:
    """Change one byte of the HTTP payload inside the gzip member at ``offset``."""
    data = path.read_bytes()
    inflater = zlib.decompressobj(wbits=31)
    member = inflater.decompress(data[offset:])
    end = len(data) - len(inflater.unused_data)
    position = member.rindex(b"</html>") - 1
    changed = member[:position] + bytes([member[position] ^ 0x01]) + member[position + 1 :]
    path.write_bytes(data[:offset] + gzip.compress(changed, mtime=0) + data[end:])


def test_verify_reports_a_changed_capture(archive_copy, capsys):
    assert verify(archive_copy) == 0
    assert capsys.readouterr().out.startswith("OK:")
    conn = sqlite3.connect(archive_copy)
    warc_file, offset, record_id = conn.execute(
        "select warc_file, warc_offset, warc_record_id from articles "
        "order by warc_file desc, warc_offset desc limit 1"
    ).fetchone()
    conn.close()
    _tamper_member(archive_copy.parent / "captures" / warc_file, offset)

    assert verify(archive_copy) == 1
    out = capsys.readouterr().out
    assert f"capture payload digest mismatch: {warc_file} @ {offset} {record_id}" in out
    assert "WARC block digest mismatch" in out
    assert "expected sha1:" in out and "actual sha1:" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED:")


def test_verify_reports_a_changed_file(archive_copy, capsys):
    conn = sqlite3.connect(archive_copy)
    stored_path, sha256 = conn.execute(
        "select stored_path, sha256 from images where sha256 is not null limit 1"
    ).fetchone()
    conn.close()
    path = archive_copy.parent / "files" / stored_path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    assert verify(archive_copy) == 1
    out = capsys.readouterr().out
    assert f"file sha256 mismatch: {path}" in out and f"expected {sha256}" in out


# --- Export ---------------------------------------------------------------------------------------
def _wait_for_json(url: str, process: subprocess.Popen, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"datasette exited: {process.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.read()
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url}")


def test_export_bundle_opens_and_verifies_anywhere(archive_copy, tmp_path):
    bundle = tmp_path / "bundle"
    assert export(archive_copy, bundle) == 0
    assert (bundle / "archive.db").is_file() and (bundle / "README.md").is_file()
    assert list((bundle / "captures").glob("*.warc.gz"))
    manifest = (bundle / MANIFEST).read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    assert "archive.db" in listed and "README.md" in listed
    assert any(name.startswith("files/sha256/") for name in listed)
    for name, digest in listed.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "datasette", str(bundle / "archive.db"), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _wait_for_json(
            f"http://127.0.0.1:{port}/archive/articles.json?_shape=array", process
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert b"warc_record_id" in body

    moved = tmp_path / "elsewhere" / "the-bundle"
    moved.parent.mkdir()
    shutil.move(bundle, moved)
    shutil.rmtree(archive_copy.parent)  # nothing to fall back on
    result = _sadec("verify", str(moved / "archive.db"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK:")
    if shutil.which("sha256sum"):
        check = subprocess.run(
            ["sha256sum", "--quiet", "-c", MANIFEST], cwd=moved, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_export_refuses_an_existing_target(archive_copy, tmp_path):
    (tmp_path / "taken").mkdir()
    assert export(archive_copy, tmp_path / "taken") == 2


def test_a_failed_export_keeps_nothing_and_the_rerun_works(archive_copy, tmp_path, capsys):
    """Red-team finding 14: a failed export left a partial bundle the rerun refused."""
    (warc,) = sorted((archive_copy.parent / "captures").glob("*.warc.gz"))
    saved = tmp_path / "saved.warc.gz"
    warc.rename(saved)
    warc.symlink_to(tmp_path / "gone.warc.gz")  # listed, but unreadable when copied
    out = tmp_path / "bundle"
    assert export(archive_copy, out) == 1
    assert "nothing kept" in capsys.readouterr().err
    assert not out.exists()
    warc.unlink()
    saved.rename(warc)
    assert export(archive_copy, out) == 0


@pytest.mark.parametrize("command", ["verify", "export", "serve"])
def test_commands_refuse_a_database_this_project_did_not_make(tmp_path, command):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("create table notes (text)")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for db, said in ((foreign, "not an archive made by this project"), (text, "not a SQLite")):
        args = [str(db), str(tmp_path / "out")] if command == "export" else [str(db)]
        result = subprocess.run(
            [sys.executable, "-m", "sadec", command, *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=PROJECT_ROOT,
        )
        assert result.returncode == 2
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert len(lines) == 1 and said in lines[0], lines
        assert not (tmp_path / "out").exists()


def test_export_tarball(archive_copy, tmp_path):
    out = tmp_path / "bundle.tar.gz"
    assert export(archive_copy, out) == 0
    with tarfile.open(out) as archive:
        names = archive.getnames()
    assert "bundle/archive.db" in names and f"bundle/{MANIFEST}" in names

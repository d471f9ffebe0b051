"""``sadec verify``: fixity of an archive, re-hashing its captures and files against the
database (read-only: verifying never changes what it verifies)."""

from __future__ import annotations

import sqlite3
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from warcio.exceptions import ArchiveLoadFailed

from sadec_crawler.digests import (
    check_record_at,
    digests_match,
    hash_file,
    scan_block_digests,
)
from sadec_crawler.layout import (
    CAPTURES,
    FILES,
    WARC_PATTERNS,
    archive_problem,
    folder_candidates,
    locate,
)


def open_read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection: verifying must not change what it verifies."""
    if not db.is_file():
        raise FileNotFoundError(f"no database at {db}")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


@dataclass
class FixityReport:
    captures: int = 0
    warc_files: int = 0
    warc_records: int = 0
    files: int = 0
    uncaptured: int = 0
    problems: list[str] = field(default_factory=list)


def check_captures(conn: sqlite3.Connection, db: Path, report: FixityReport) -> None:
    """Each article's response record: there, the right record, the same payload digest."""
    folders = folder_candidates(conn, db, CAPTURES)
    rows = conn.execute(
        "select url, warc_file, warc_record_id, warc_offset, warc_payload_digest "
        "from articles order by url"
    )
    for row in rows:
        if not row["warc_file"]:
            report.uncaptured += 1
            continue
        report.captures += 1
        where = f"{row['warc_file']} @ {row['warc_offset']} {row['warc_record_id']} ({row['url']})"
        path = locate(folders, row["warc_file"])
        if path is None:
            report.problems.append(f"capture missing: {where}: WARC file not found")
            continue
        expected = row["warc_payload_digest"] or ""
        try:
            found = check_record_at(path, row["warc_offset"], expected.partition(":")[0] or "sha1")
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, StopIteration, ValueError) as e:
            report.problems.append(f"capture unreadable: {where}: {type(e).__name__}: {e}")
            continue
        if found.record_id != row["warc_record_id"]:
            report.problems.append(
                f"capture record id mismatch: {where}: expected {row['warc_record_id']}, "
                f"actual {found.record_id}"
            )
        elif not digests_match(expected, found.payload_digest):
            report.problems.append(
                f"capture payload digest mismatch: {where}: expected {expected}, "
                f"actual {found.payload_digest}"
            )


def check_warc_files(conn: sqlite3.Connection, db: Path, report: FixityReport) -> None:
    """Every record of every WARC file of the archive against its own block digest."""
    for path in warc_files_of(conn, db):
        count, problems = scan_block_digests(path)
        report.warc_files += 1
        report.warc_records += count
        report.problems.extend(problems)


def stored_file_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """One row per stored file (path, sha256, size), whichever article links it."""
    return conn.execute(
        "select stored_path, sha256, max(size) as size from ("
        " select stored_path, sha256, size from images where sha256 is not null"
        " union all"
        " select stored_path, sha256, size from attachments where sha256 is not null"
        ") group by stored_path, sha256 order by stored_path"
    ).fetchall()


def check_files(conn: sqlite3.Connection, db: Path, report: FixityReport) -> None:
    """Each stored file re-hashed against its SHA-256 and size."""
    folders = folder_candidates(conn, db, FILES)
    for row in stored_file_rows(conn):
        report.files += 1
        path = locate(folders, row["stored_path"] or "")
        if path is None:
            report.problems.append(f"file missing: {row['stored_path']}")
            continue
        sha256, size = hash_file(path)
        if sha256 != row["sha256"]:
            report.problems.append(
                f"file sha256 mismatch: {path}: expected {row['sha256']}, actual {sha256}"
            )
        elif size != row["size"]:
            report.problems.append(
                f"file size mismatch: {path}: expected {row['size']}, actual {size}"
            )


def fixity_report(db: Path) -> FixityReport:
    """Every check of :func:`verify`, without printing."""
    report = FixityReport()
    conn = open_read_only(db)
    try:
        check_captures(conn, db, report)
        check_warc_files(conn, db, report)
        check_files(conn, db, report)
    finally:
        conn.close()
    return report


def verify(db: Path) -> int:
    """``sadec verify``: 0 and one OK line when every capture and file is intact, else the
    problems one a line and 1; 2 and one line when ``db`` is not an archive."""
    problem = archive_problem(db)
    if problem:
        print(f"sadec verify: {problem}", file=sys.stderr)
        return 2
    report = fixity_report(db)
    for problem in report.problems:
        print(f"MISMATCH {problem}")
    counts = (
        f"{report.captures} article captures, {report.warc_records} WARC records in "
        f"{report.warc_files} file(s), {report.files} stored files"
        + (f", {report.uncaptured} articles without capture" if report.uncaptured else "")
    )
    if report.problems:
        print(f"FAILED: {len(report.problems)} problem(s) in {db} ({counts})")
        return 1
    print(f"OK: {db}: {counts} verified")
    return 0


# --- Export -------------------------------------------------------------------------------------


def warc_files_of(conn: sqlite3.Connection, db: Path) -> list[Path]:
    """The WARC files of an archive, from all of its capture folders (one per name)."""
    found: dict[str, Path] = {}
    for folder in folder_candidates(conn, db, CAPTURES):
        if not folder.is_dir():
            continue
        for pattern in WARC_PATTERNS:
            for path in sorted(folder.glob(pattern)):
                found.setdefault(path.name, path)
    return [found[name] for name in sorted(found)]

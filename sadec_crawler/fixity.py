"""Evidence on disk: where captures and files live, ``sadec verify`` and ``sadec export``.

An archive is a database plus two folders: ``captures/`` (WARC files, see
:mod:`sadec_crawler.warc`) and ``files/`` (images and attachments named by their SHA-256, see
:mod:`pipelines.files`), by default beside the database. The folders a crawl used are recorded
in the ``archive_folders`` table, relative to the database when inside its folder, so that a
moved or exported archive still finds its evidence.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import mimetypes
import re
import shutil
import sqlite3
import tarfile
import tempfile
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

OFF = "off"
CAPTURES, FILES = "captures", "files"
BUNDLE_DB = "archive.db"
MANIFEST = "manifest-sha256.txt"
WARC_PATTERNS = ("*.warc.gz", "*.warc")
_CHUNK = 1 << 20


# --- Folders ---------------------------------------------------------------------------------
def evidence_folder(
    setting: str | None, db_path: str | Path | None, default_name: str
) -> Path | None:
    """The folder a ``SADEC_WARC_DIR``/``SADEC_FILES_DIR`` value names: None for ``off``,
    ``<default_name>/`` beside the database for "", else the value itself."""
    value = (setting or "").strip()
    if value.lower() == OFF:
        return None
    if value:
        return Path(value)
    base = Path(db_path).parent if db_path else Path(".")
    return base / default_name


def _stored_form(folder: Path, db_path: Path) -> str:
    """``folder`` relative to the database's folder when inside it, else absolute."""
    folder, home = folder.resolve(), db_path.resolve().parent
    try:
        return folder.relative_to(home).as_posix() or "."
    except ValueError:
        return str(folder)


def record_folder(db_path: str | Path, kind: str, folder: Path) -> None:
    """Remember that this database's ``kind`` (captures or files) went to ``folder``."""
    from pipelines.database import open_database

    db_path = Path(db_path)
    db = open_database(db_path)
    try:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        path = _stored_form(folder, db_path)
        with db.conn:
            existing = db.execute(
                "select 1 from archive_folders where kind = ? and path = ?", [kind, path]
            ).fetchone()
            if existing:
                db["archive_folders"].update((kind, path), {"last_used_at": now})
            else:
                db["archive_folders"].insert(
                    {"kind": kind, "path": path, "first_used_at": now, "last_used_at": now}
                )
    finally:
        db.close()


def folder_candidates(conn: sqlite3.Connection, db_path: Path, kind: str) -> list[Path]:
    """Folders that may hold this database's ``kind``: those recorded (latest first), then the
    default beside the database."""
    home = db_path.resolve().parent
    recorded: list[str] = []
    # A database from before the archive_folders migration has only the defaults.
    with contextlib.suppress(sqlite3.OperationalError):
        recorded = [
            row[0]
            for row in conn.execute(
                "select path from archive_folders where kind = ? order by last_used_at desc",
                [kind],
            )
        ]
    candidates = []
    for path in [*recorded, kind]:
        folder = home / path  # an absolute ``path`` replaces ``home``
        if folder not in candidates:
            candidates.append(folder)
    return candidates


def locate(candidates: list[Path], relative: str) -> Path | None:
    """The first existing ``relative`` file among the candidate folders (never outside them)."""
    for folder in candidates:
        try:
            path = inside(folder, relative)
        except ValueError:
            return None
        if path.is_file():
            return path
    return None


# --- Stored files ------------------------------------------------------------------------------
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Only Python's built-in table: the system's mime.types differ between machines, and
# ``sadec rebuild`` must derive the same stored path as the crawl did.
_MIME = mimetypes.MimeTypes(filenames=())
_PREFERRED = {"image/jpeg": ".jpg", "image/pjpeg": ".jpg", "text/plain": ".txt"}


def _known_extension(ext: str) -> bool:
    return ext in _MIME.types_map[True] or ext in _MIME.types_map[False]


def safe_extension(url: str, content_type: str | None = None) -> str:
    """A short, harmless extension for a stored file (``.jpg``, ``.pdf``…) or "".

    Taken from the URL's last two path segments (the portal puts the file's title before its
    uuid), percent-decoded, when it is a known type; else from the ``Content-Type``. Never a
    path: only ``.`` and 1–8 ASCII letters or digits, lower-cased.
    """
    segments = [s for s in urlsplit(url).path.split("/") if s][-2:]
    for segment in reversed(segments):
        name = unquote_plus(segment).replace("\\", "/").rsplit("/", 1)[-1]
        match = _EXTENSION.search(name)
        if match and _known_extension(f".{match[1].lower()}"):
            return f".{match[1].lower()}"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    guessed = _PREFERRED.get(mime) or (_MIME.guess_extension(mime) if mime else None)
    if guessed and _EXTENSION.fullmatch(guessed):
        return guessed.lower()
    return ""


def content_path(sha256: str, extension: str = "") -> str:
    """Path of a stored file relative to the files folder: ``sha256/ab/<sha256><ext>``."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a hex SHA-256: {sha256!r}")
    if extension and not _EXTENSION.fullmatch(extension):
        raise ValueError(f"not a safe extension: {extension!r}")
    return f"sha256/{sha256[:2]}/{sha256}{extension}"


def inside(folder: Path, relative: str) -> Path:
    """``folder / relative``, refusing anything that would land outside ``folder``."""
    base = folder.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or path == base:
        raise ValueError(f"{relative!r} is not a path inside {folder}")
    return path


def hash_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- WARC reading -------------------------------------------------------------------------------
def warc_digest(algorithm: str, chunks) -> str:
    """``<algorithm>:<BASE32>``, the form of ``WARC-*-Digest`` headers, over byte chunks."""
    digest = hashlib.new(algorithm)
    for chunk in chunks:
        digest.update(chunk)
    return f"{algorithm}:{base64.b32encode(digest.digest()).decode('ascii')}"


def _read_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def digests_match(expected: str, actual_algorithm_digest: str) -> bool:
    """Compare digests written in base32 (warcio) or hex (some other tools)."""
    if expected == actual_algorithm_digest:
        return True
    algorithm, _, value = expected.partition(":")
    _, _, actual = actual_algorithm_digest.partition(":")
    try:
        return base64.b32decode(actual).hex() == value.lower()
    except ValueError:
        return False


@dataclass
class RecordCheck:
    """What was found at one offset of one WARC file."""

    record_id: str | None
    target_uri: str | None
    payload_digest: str | None
    """Recomputed over the payload as stored, in the algorithm asked for."""


def check_record_at(path: Path, offset: int, algorithm: str = "sha1") -> RecordCheck:
    """Read the record at ``offset`` and recompute its payload digest."""
    with path.open("rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        digest = warc_digest(algorithm, _read_chunks(record.raw_stream))
        return RecordCheck(
            record.rec_headers.get_header("WARC-Record-ID"),
            record.rec_headers.get_header("WARC-Target-URI"),
            digest,
        )


def scan_block_digests(path: Path) -> tuple[int, list[str]]:
    """Check every record's ``WARC-Block-Digest``; return (records, problems)."""
    problems, count = [], 0
    try:
        with path.open("rb") as handle:
            records = ArchiveIterator(handle, no_record_parse=True)
            for record in records:
                count += 1
                expected = record.rec_headers.get_header("WARC-Block-Digest")
                if not expected:
                    continue
                actual = warc_digest(expected.partition(":")[0], _read_chunks(record.raw_stream))
                if not digests_match(expected, actual):
                    offset = records.get_record_offset()
                    problems.append(
                        f"WARC block digest mismatch: {path.name} @ {offset} "
                        f"{record.rec_headers.get_header('WARC-Record-ID')}: "
                        f"expected {expected}, actual {actual}"
                    )
    except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as error:
        problems.append(f"WARC file unreadable after {count} records: {path.name}: {error}")
    return count, problems


# --- Verify -------------------------------------------------------------------------------------
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
    problems one a line and 1."""
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


def backup_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API, as one file (no WAL beside it)."""
    src = open_read_only(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("pragma journal_mode = delete")
    finally:
        src.close()
        dst.close()


def _point_at_bundle_folders(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            conn.execute("delete from archive_folders")
            conn.executemany(
                "insert into archive_folders (kind, path, first_used_at, last_used_at) "
                "values (?, ?, ?, ?)",
                [(CAPTURES, CAPTURES, now, now), (FILES, FILES, now, now)],
            )
        conn.execute("vacuum")
    finally:
        conn.close()


def write_manifest(bundle: Path) -> int:
    """``manifest-sha256.txt``: ``<sha256>  <path>`` for every file, as ``sha256sum`` writes."""
    lines = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        relative = path.relative_to(bundle).as_posix()
        if relative == MANIFEST:
            continue
        lines.append(f"{hash_file(path)[0]}  {relative}\n")
    (bundle / MANIFEST).write_text("".join(lines), encoding="utf-8")
    return len(lines)


def _bundle_facts(conn: sqlite3.Connection) -> dict:
    facts = dict(
        conn.execute(
            "select count(*) as articles, min(published_at) as first, max(published_at) as last,"
            " min(captured_at) as first_capture, max(captured_at) as last_capture from articles"
        ).fetchone()
    )
    runs = conn.execute("select base_url from crawl_runs where base_url is not null limit 1")
    row = runs.fetchone()
    facts["base_url"] = row[0] if row else "the Sa Đéc city portal"
    example = conn.execute(
        "select url, title, captured_at, warc_record_id, warc_payload_digest, warc_file "
        "from articles where warc_record_id is not null order by captured_at limit 1"
    ).fetchone()
    facts["example"] = dict(example) if example else None
    return facts


def bundle_readme(facts: dict, warc_count: int, file_count: int) -> str:
    """The README.md a recipient of the bundle reads first."""
    example = facts["example"]
    citation = (
        f"> {example['title']}. {example['url']} — captured {example['captured_at']}, "
        f"WARC record {example['warc_record_id']} in `captures/{example['warc_file']}`, "
        f"payload digest {example['warc_payload_digest']}."
        if example
        else "> (no captured article in this bundle)"
    )
    return textwrap.dedent(f"""\
        # Sa Đéc city news archive — export bundle

        News articles of {facts["base_url"]}, archived with `sadec-archive`
        (Scrapy crawler, SQLite database, WARC captures). Exported
        {dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}.

        - `archive.db`: SQLite database, {facts["articles"]} articles published
          {facts["first"]} – {facts["last"]}, captured {facts["first_capture"]} –
          {facts["last_capture"]}. Tables: `articles`, `images`, `attachments`,
          `article_versions` (earlier versions of changed articles), `crawl_runs`,
          `crawl_errors`.
        - `captures/`: {warc_count} WARC file(s) (ISO 28500, gzip per record): every HTTP
          request and response of the crawls, as sent by the server. Each article row points at
          its response record (`warc_file`, `warc_offset`, `warc_record_id`,
          `warc_payload_digest`).
        - `files/`: {file_count} images and attachments, named by their SHA-256
          (`files/sha256/ab/<sha256>.<ext>`), listed in the `images` and `attachments` tables.
        - `manifest-sha256.txt`: the SHA-256 of every file of the bundle.

        ## Open it

        With the project installed: `sadec serve archive.db`, then open http://127.0.0.1:8001/.
        Or with Datasette alone: `datasette archive.db`. Any SQLite tool reads `archive.db`.
        WARC files open in replay tools such as ReplayWeb.page, or with `warcio index`.

        ## Check it

        - `sha256sum -c manifest-sha256.txt` (run inside this folder): no file changed since
          export. (Opening `archive.db` with a tool that writes to it changes its digest.)
        - `sadec verify archive.db`: each article's WARC record still has the payload digest the
          database recorded, every WARC record its block digest, every stored file its SHA-256.
        - `sadec rebuild captures/ new.db`: re-parses the captures into a fresh database,
          without network, to check that the database says what the captures say.

        ## Cite an article

        Give the canonical URL, the capture date, the WARC record id and the payload digest:

        {citation}
        """)


def _tar(folder: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)


def export(db: Path, out: Path) -> int:
    """``sadec export``: a self-contained folder (or ``.tar.gz``) with the database, its
    captures and files, a SHA-256 manifest and a README; the bundle is verified before return."""
    if out.exists():
        print(f"sadec export: {out} already exists; choose a new name")
        return 2
    tarball = out.name.endswith(".tar.gz")
    staging_root = Path(tempfile.mkdtemp(prefix="sadec-export-")) if tarball else None
    bundle = staging_root / out.name.removesuffix(".tar.gz") if staging_root else out
    try:
        bundle.mkdir(parents=True)
        backup_database(db, bundle / BUNDLE_DB)
        _point_at_bundle_folders(bundle / BUNDLE_DB)
        conn = open_read_only(db)
        try:
            warcs = warc_files_of(conn, db)
            rows = stored_file_rows(conn)
            file_folders = folder_candidates(conn, db, FILES)
            facts = _bundle_facts(conn)
        finally:
            conn.close()
        (bundle / CAPTURES).mkdir()
        for path in warcs:
            shutil.copy2(path, bundle / CAPTURES / path.name)
        missing = []
        for row in rows:
            source = locate(file_folders, row["stored_path"] or "")
            if source is None:
                missing.append(row["stored_path"])
                continue
            target = inside(bundle / FILES, row["stored_path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        (bundle / "README.md").write_text(
            bundle_readme(facts, len(warcs), len(rows) - len(missing)), encoding="utf-8"
        )
        manifest_count = write_manifest(bundle)
        report = fixity_report(bundle / BUNDLE_DB)
        if tarball:
            _tar(bundle, out)
    finally:
        if staging_root:
            shutil.rmtree(staging_root, ignore_errors=True)
    print(
        f"exported {facts['articles']} articles, {len(warcs)} WARC file(s), "
        f"{len(rows) - len(missing)} files to {out} ({manifest_count} files in {MANIFEST})"
    )
    for path in missing:
        print(f"MISSING file not exported: {path}")
    for problem in report.problems:
        print(f"MISMATCH {problem}")
    if missing or report.problems:
        print("FAILED: the bundle is incomplete or does not verify")
        return 1
    print(f"bundle verified: {report.captures} captures, {report.files} files")
    return 0

"""``sadec export``: a self-contained, verifiable bundle of an archive for another researcher."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

from sadec_crawler.digests import hash_file
from sadec_crawler.layout import CAPTURES, FILES, archive_problem, folder_candidates, inside, locate

from .verify import fixity_report, open_read_only, stored_file_rows, warc_files_of

BUNDLE_DB = "archive.db"
MANIFEST = "manifest-sha256.txt"


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
        print(f"sadec export: {out} already exists; choose a new name", file=sys.stderr)
        return 2
    problem = archive_problem(db)
    if problem:
        print(f"sadec export: {problem}", file=sys.stderr)
        return 2
    tarball = out.name.endswith(".tar.gz")
    staging_root = Path(tempfile.mkdtemp(prefix="sadec-export-")) if tarball else None
    bundle = staging_root / out.name.removesuffix(".tar.gz") if staging_root else out
    finished = False
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
        finished = True
    except (OSError, sqlite3.Error) as error:
        print(f"sadec export: failed, nothing kept at {out}: {error}", file=sys.stderr)
        return 1
    finally:
        if staging_root:
            shutil.rmtree(staging_root, ignore_errors=True)
        if not finished:
            # A half-written bundle would refuse the rerun ("already exists") and could be
            # mistaken for a whole one.
            if out.is_dir():
                shutil.rmtree(out, ignore_errors=True)
            elif out.exists():
                out.unlink()
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

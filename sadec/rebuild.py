"""``sadec rebuild WARC_DIR NEW_DB``: the database again, from the WARC captures alone.

Each crawl run found in the captures is replayed by ``scrapy crawl sadec`` itself, on Scrapy's
engine, with the project's own spider, middlewares and item pipelines: only the source of the
responses differs (:class:`sadec_crawler.warc_replay.WarcReplayMiddleware` answers every
request from the run's captures; nothing reaches the network). Runs are replayed oldest first,
each with the spider arguments, the ``SADEC_*`` settings and the clock it recorded in its
``warcinfo``, so a page captured again by a later run becomes the current row and what it
replaced a version, as in the crawl. Web-archive runs replay the same way (their requests to the
archive were captured too). Images and attachments come from their captured responses into the
new archive's ``files/`` folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from pipelines.database import open_database, record_folder
from sadec_crawler.layout import CAPTURES, FILES
from sadec_crawler.warc_replay import CrawlInfo, date_key, index_captures, warc_files_in

from .local import PROJECT_ROOT, crawl_command, crawl_env

PATH_SETTINGS = ("SADEC_DB_PATH", "SADEC_WARC_DIR", "SADEC_FILES_DIR")
"""Recorded settings that name the crawl's machine's folders: never replayed."""
REPLAY_SETTINGS = {
    "SADEC_WARC_DIR": "off",  # the captures are the source, not written again
    "SADEC_PROGRESS_INTERVAL": "0",
    "LOG_LEVEL": "INFO",
}
SCRAPY = [sys.executable, "-m", "scrapy"]


def replay_arguments(crawl: CrawlInfo, warc_dir: Path, new_db: Path) -> tuple[dict, dict]:
    """(settings, spider arguments) of one run's replay: what it recorded, its clock, the
    captures as its source and the new database as its target."""
    settings = {
        name: str(value)
        for name, value in crawl.settings.items()
        if name.startswith("SADEC_") and name not in PATH_SETTINGS and value not in (None, "")
    }
    if not settings.get("SADEC_NOW") and crawl.started_at:
        # Incremental runs plan from "now": the crawl's now, not the rebuild's.
        settings["SADEC_NOW"] = date_key(crawl.started_at).isoformat()
    settings.update(REPLAY_SETTINGS)
    settings.update(
        SADEC_REPLAY_WARC_DIR=str(warc_dir.resolve()),
        SADEC_REPLAY_CRAWL_ID=crawl.crawl_id,
        SADEC_FILES_DIR=str((new_db.parent / FILES).resolve()),
    )
    spider_args = {name: value for name, value in crawl.spider_args.items() if value}
    return settings, spider_args


def _runs_in_order(crawls: dict[str, CrawlInfo]) -> list[CrawlInfo]:
    """Crawl runs that made requests, oldest first."""
    runs = [crawl for crawl in crawls.values() if crawl.started_at and crawl.base_url]
    return sorted(runs, key=lambda crawl: crawl.started_at)


def _stat(log: str, name: str) -> int:
    found = re.findall(rf"'{re.escape(name)}': (\d+)", log)
    return int(found[-1]) if found else 0


_SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")


def rebuild(warc_dir: Path, new_db: Path, scrapy: list[str] | None = None) -> int:
    """``sadec rebuild``: 0 when every captured run was replayed into the new database, 1
    when one could not be, when captures were damaged (what could be read is rebuilt all the
    same) or when none is of this project, 2 on a usage error. ``scrapy``: the command that
    runs Scrapy (``python -m scrapy``)."""
    if new_db.exists():
        print(
            f"sadec rebuild: {new_db} already exists; rebuild writes a new database only "
            "(remove it or give another name)"
        )
        return 2
    if not warc_dir.is_dir():
        print(f"sadec rebuild: {warc_dir} is not a folder of WARC files")
        return 2
    warc_files = warc_files_in(warc_dir)
    if not warc_files:
        print(f"sadec rebuild: no .warc.gz or .warc file in {warc_dir}")
        return 2
    started = time.monotonic()
    index = index_captures(warc_files)
    runs = _runs_in_order(index.crawls)
    if not runs:
        for problem in index.problems:
            print(f"warning: {problem}")
        print(f"sadec rebuild: no crawl of this project in {warc_dir} ({index.records} records)")
        return 1
    new_db.parent.mkdir(parents=True, exist_ok=True)
    open_database(new_db).close()
    totals = {"pages": 0, "new": 0, "changed": 0, "unchanged": 0, "gone": 0, "errors": 0}
    failed = []
    for number, crawl in enumerate(runs, 1):
        settings, spider_args = replay_arguments(crawl, warc_dir, new_db)
        argv = crawl_command(crawl.base_url, new_db, settings=settings, spider_args=spider_args)
        argv[: len(SCRAPY)] = scrapy or SCRAPY
        result = subprocess.run(
            argv, cwd=PROJECT_ROOT, env=crawl_env(), capture_output=True, text=True, check=False
        )
        log = result.stderr
        totals["pages"] += _stat(log, "sadec/replay/answered")
        for outcome in ("new", "changed", "unchanged", "gone"):
            totals[outcome] += _stat(log, f"sadec/articles/{outcome}")
        totals["errors"] += _stat(log, "sadec/errors")
        args = json.dumps(spider_args, sort_keys=True)
        if result.returncode not in (0, 1) or "Spider closed" not in log:
            # 0 and 1 are the crawl's own verdicts (errors it recorded); anything else means
            # the replay itself did not run.
            failed.append(crawl.crawl_id)
            print(f"run {number} ({crawl.started_at}, {args}): replay failed")
            print("\n".join(log.strip().splitlines()[-15:]))
        else:
            print(f"run {number} ({crawl.started_at}, {args}): exit status {result.returncode}")
    if len(failed) == len(runs):
        # Nothing was replayed: an empty database would refuse the rerun ("already exists")
        # and could pass for a rebuilt archive.
        for path in (new_db, *(Path(f"{new_db}{suffix}") for suffix in _SIDE_FILES)):
            path.unlink(missing_ok=True)
        print(f"sadec rebuild: no run could be replayed; nothing kept at {new_db}")
        return 1
    db = open_database(new_db)
    try:
        record_folder(db, new_db, CAPTURES, warc_dir)
        record_folder(db, new_db, FILES, new_db.parent / FILES)
        files = db.execute("select count(distinct sha256) from images where sha256 is not null")
        stored_files = files.fetchone()[0]
        kinds = db.execute(
            "select kind, count(*) from crawl_errors group by kind order by count(*) desc"
        ).fetchall()
    finally:
        db.close()
    for problem in index.problems:
        print(f"warning: {problem}")
    if index.problems:
        failed.append("damaged captures")
        print(
            f"damaged captures: {len(index.problems)} stretch(es), {index.skipped_bytes} bytes "
            f"skipped; every intact record after them was read. {new_db} holds what could be "
            "read; remove it (or give another name) to rebuild again"
        )
    print(
        f"rebuilt {new_db} from {len(warc_files)} WARC file(s), {index.records} records, "
        f"{len(runs)} crawl run(s): {totals['pages']} responses replayed; articles "
        f"{totals['new']} new, {totals['changed']} changed, {totals['unchanged']} unchanged, "
        f"{totals['gone']} gone; {stored_files} images stored; {totals['errors']} errors"
        + (f" ({', '.join(f'{kind} ×{n}' for kind, n in kinds)})" if kinds else "")
        + f"; {time.monotonic() - started:.1f} s"
    )
    return 1 if failed else 0

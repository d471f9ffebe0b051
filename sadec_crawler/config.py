"""Checks of a crawl's configuration before anything starts: one clear line per problem.

``scrapy crawl sadec`` runs :func:`config_problems` first and, when it finds any, prints them
and exits 2 without opening the database or the network (red-team finding 14: 22 of 28 bad
configurations gave tracebacks). The spider and the components still check what they read;
this is what an operator sees first.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from sadec_crawler.hostmap import parse_host_map
from sadec_crawler.portals import load_registry

SQLITE_HEADER = b"SQLite format 3\x00"

INTEGER_SETTINGS = (
    "SADEC_WARC_MAX_BYTES",
    "SADEC_WARC_GZIP_LEVEL",
    "SADEC_FILE_MAXSIZE",
    "SADEC_WAYBACK_CDX_LIMIT",
    "SADEC_WAYBACK_LISTING_PERIOD",
    "SADEC_WAYBACK_WORKERS",
    "SADEC_WAYBACK_MAX_PAUSES",
    "SADEC_WAYBACK_BREAKER_FAILURES",
    "SADEC_WAYBACK_CDX_MAX_PAGES",
    "SADEC_RECHECK_DAYS",
    "SADEC_REVALIDATE_DAYS",
    "SADEC_REVALIDATE_COUNT",
    "SADEC_LISTING_OVERLAP",
    "SADEC_MAX_ERRORS",
    "SADEC_STALE_DAYS",
    "SADEC_MAX_LISTING_PAGES",
    "SADEC_MAX_LINKS_PER_PAGE",
    "CLOSESPIDER_PAGECOUNT",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "CONCURRENT_ITEMS",
    "RETRY_TIMES",
    "REDIRECT_MAX_TIMES",
    "DOWNLOAD_MAXSIZE",
    "DOWNLOAD_WARNSIZE",
)
NUMBER_SETTINGS = (
    "SADEC_PROGRESS_INTERVAL",
    "SADEC_COMMIT_INTERVAL",
    "SADEC_COVERAGE_DROP",
    "SADEC_WAYBACK_CDX_PER_MINUTE",
    "SADEC_WAYBACK_PLAYBACK_PER_MINUTE",
    "SADEC_WAYBACK_PAUSE",
    "SADEC_WAYBACK_CDX_TIMEOUT",
    "DOWNLOAD_DELAY",
    "DOWNLOAD_TIMEOUT",
    "CLOSESPIDER_TIMEOUT",
    "AUTOTHROTTLE_START_DELAY",
    "AUTOTHROTTLE_MAX_DELAY",
    "AUTOTHROTTLE_TARGET_CONCURRENCY",
)
BOOLEAN_SETTINGS = (
    "SADEC_CONDITIONAL_REQUESTS",
    "ROBOTSTXT_OBEY",
    "AUTOTHROTTLE_ENABLED",
    "RETRY_ENABLED",
)
AT_LEAST_ONE = (
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "SADEC_MAX_LISTING_PAGES",
    "SADEC_MAX_LINKS_PER_PAGE",
    "SADEC_WAYBACK_CDX_LIMIT",
    "SADEC_WAYBACK_BREAKER_FAILURES",
    "SADEC_WAYBACK_CDX_MAX_PAGES",
)
NOT_NEGATIVE = (
    "SADEC_MAX_ERRORS",
    "SADEC_COMMIT_INTERVAL",
    "SADEC_RECHECK_DAYS",
    "SADEC_LISTING_OVERLAP",
    "RETRY_TIMES",
    "DOWNLOAD_DELAY",
    "DOWNLOAD_TIMEOUT",
    "SADEC_STALE_DAYS",
    "SADEC_WAYBACK_CDX_PER_MINUTE",
    "SADEC_WAYBACK_PLAYBACK_PER_MINUTE",
    "SADEC_WAYBACK_PAUSE",
    "SADEC_WAYBACK_MAX_PAUSES",
    "SADEC_WAYBACK_CDX_TIMEOUT",
)


def config_problems(settings) -> list[str]:
    """What is wrong with ``settings`` (Scrapy ``Settings``), one sentence each; [] if nothing."""
    problems: list[str] = []
    problems += _number_problems(settings)
    for name in ("SADEC_BASE_URL", "SADEC_WAYBACK_URL"):
        problem = _url_problem(name, settings.get(name))
        if problem:
            problems.append(problem)
    try:
        parse_host_map(settings.get("SADEC_HOST_MAP"))
    except ValueError as error:
        problems.append(str(error))
    portals_file = (settings.get("SADEC_PORTALS_FILE") or "").strip()
    if portals_file:
        try:
            load_registry(Path(portals_file))
        except OSError as error:
            problems.append(f"SADEC_PORTALS_FILE={portals_file!r}: {error.strerror or error}")
        except (ValueError, yaml.YAMLError) as error:
            problems.append(f"SADEC_PORTALS_FILE={portals_file!r}: {' '.join(str(error).split())}")
    level = _integer(settings.get("SADEC_WARC_GZIP_LEVEL"))
    if level is not None and not 1 <= level <= 9:
        problems.append(f"SADEC_WARC_GZIP_LEVEL={level}: a gzip level is 1 to 9")
    writer = str(settings.get("SADEC_WARC_WRITER") or "process").strip().lower()
    if writer not in ("process", "thread"):
        problems.append(f"SADEC_WARC_WRITER={writer!r}: expected process or thread")
    reader = str(settings.get("SADEC_PAGE_WORKER") or "process").strip().lower()
    if reader not in ("process", "off"):
        problems.append(f"SADEC_PAGE_WORKER={reader!r}: expected process or off")
    now = (settings.get("SADEC_NOW") or "").strip()
    if now:
        try:
            dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"SADEC_NOW={now!r}: expected an ISO date or date-time")
    db_path = settings.get("SADEC_DB_PATH")
    if db_path:
        problems += _database_problems(Path(db_path))
        for name in ("SADEC_WARC_DIR", "SADEC_FILES_DIR"):
            value = (settings.get(name) or "").strip()
            if value and value.lower() != "off":
                folder = Path(db_path).resolve().parent / value
                problem = _folder_problem(name, folder)
                if problem:
                    problems.append(problem)
    return problems


def _integer(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _number_problems(settings) -> list[str]:
    problems = []
    for name in INTEGER_SETTINGS:
        value = settings.get(name)
        if value is None:
            continue
        number = _integer(value)
        if number is None:
            problems.append(f"{name}={value!r}: expected a whole number")
        elif name in AT_LEAST_ONE and number < 1:
            problems.append(f"{name}={number}: expected 1 or more")
        elif name in NOT_NEGATIVE and number < 0:
            problems.append(f"{name}={number}: expected 0 or more")
    for name in NUMBER_SETTINGS:
        value = settings.get(name)
        if value is None:
            continue
        try:
            number = float(str(value).strip())
        except ValueError:
            problems.append(f"{name}={value!r}: expected a number")
            continue
        if name in NOT_NEGATIVE and number < 0:
            problems.append(f"{name}={value}: expected 0 or more")
    for name in BOOLEAN_SETTINGS:
        value = settings.get(name)
        if value is None or isinstance(value, bool):
            continue
        if str(value).strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
            problems.append(f"{name}={value!r}: expected true or false")
    return problems


def _url_problem(name: str, value) -> str | None:
    if not value:
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = str(value).replace(parts.netloc, parts.netloc.rpartition("@")[2])
        return f"{name}={shown!r}: expected an http(s) URL such as https://sadec.dongthap.gov.vn"
    return None


def _database_problems(path: Path) -> list[str]:
    shown = str(path)
    if path.exists():
        if path.is_dir():
            return [f"SADEC_DB_PATH={shown}: is a folder; give the path of a database file"]
        if not path.is_file():
            return [f"SADEC_DB_PATH={shown}: is not a regular file; give a database file"]
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            return [f"SADEC_DB_PATH={shown}: is not a SQLite database; refusing to write to it"]
        if not os.access(path, os.W_OK):
            return [f"SADEC_DB_PATH={shown}: cannot be written (permissions)"]
    folder = _existing_ancestor(path.resolve().parent)
    if folder is None or not folder.is_dir():
        return [f"SADEC_DB_PATH={shown}: its folder cannot be created"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"SADEC_DB_PATH={shown}: cannot write in {folder} (permissions)"]
    return []


def _folder_problem(name: str, folder: Path) -> str | None:
    if folder.exists() and not folder.is_dir():
        return f"{name}={folder}: is a file, not a folder"
    existing = _existing_ancestor(folder)
    if existing is None or not existing.is_dir():
        return f"{name}={folder}: cannot be created"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{name}={folder}: cannot write in {existing} (permissions)"
    return None


def _existing_ancestor(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None

"""Shared by the reliability suite (faults, kills, concurrency, hostile input, scope).

- :func:`record`: a test's own measurements, written to the JSON file named by
  ``SADEC_RELIABILITY_FIGURES`` (nothing is written without it). ``scripts/reliability-report``
  runs the suite with it set and renders ``docs/reliability.md`` with ``python -m
  tests.reliability FIGURES.json OUT.md``: every figure of that page comes from here.
- Ground-truth comparison of crawled rows (as ``tests/test_sadec.py`` does, field by field) and
  the replica's request log read per article.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote, urlsplit

from replica import ArticleTruth, Site
from replica.app import ARTICLE_ROUTE, JSESSIONID

FIGURES_ENV = "SADEC_RELIABILITY_FIGURES"


# --- Figures ------------------------------------------------------------------------------------
def record(section: str, **figures) -> None:
    """Merge ``figures`` into ``section`` of the figures file, if the report asked for one."""
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    path = Path(target)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.setdefault(section, {}).update(figures)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


SUMMARY_COLUMNS = (
    ("faults_injected", "faults injected"),
    ("expected", "articles expected"),
    ("archived", "archived"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("errors_recorded", "errors recorded"),
)
"""Columns of the summary table; a section appears in it when it measured ``expected``."""

LABELS = {
    "scenario": "scenario",
    "seeds": "fault seeds",
    "requests": "requests the replica answered",
    "faults_injected": "faults injected",
    "faults_by_kind": "faults by kind",
    "retry_after_answers": "answers with Retry-After",
    "retry_after_min_wait_s": "shortest wait before retrying a Retry-After answer (s)",
    "expected": "articles expected (served correctly at least once)",
    "never_served": "articles never served correctly (must be recorded as errors)",
    "archived": "articles archived",
    "archived_correctly": "archived and equal to the ground truth",
    "lost": "lost",
    "duplicated": "duplicated",
    "empty_articles": "empty articles stored",
    "errors_recorded": "errors recorded (crawl_errors)",
    "errors_by_kind": "errors by kind",
    "exit_status": "exit status (SADEC_MAX_ERRORS set as an operator would)",
    "kill_points": "SIGKILL points",
    "kills_survived": "kills survived (rerun complete, archive intact)",
    "kills_during_write": "kills while the WAL was growing",
    "articles_at_kills": "articles stored when killed",
    "integrity_checks_ok": "PRAGMA integrity_check = ok",
    "warc_files": "WARC files read",
    "warc_files_torn": "WARC files torn by a kill (readable up to the last whole record)",
    "warc_records": "WARC records read",
    "queries": "queries sent to Datasette during the crawl",
    "queries_failed": "failed queries",
    "locked_messages": '"database is locked" (HTTP answers, crawl log, server log)',
    "articles_during_queries": "articles written while queries ran",
    "hypothesis_examples": "generated HTML fragments (hypothesis)",
    "handwritten_cases": "hand-written hostile fragments",
    "hostile_articles_crawled": "hostile articles crawled end to end",
    "file_names_tried": "hostile attachment names tried",
    "unsafe_outputs": "outputs outside the safe subset",
    "files_outside_folder": "files written outside the files folder",
    "offsite_links_offered": "off-site links and redirects offered",
    "offsite_requests_received": "requests received by the other host",
    "huge_page_bytes": "huge page size (bytes)",
    "maxsize_bytes": "DOWNLOAD_MAXSIZE (bytes)",
    "huge_page_error": "huge page (with Content-Length) recorded as",
    "peak_rss_mb": "crawl peak resident memory, both pages included (MB)",
    "streamed_page_error": "endless page without Content-Length recorded as",
}


RED_TEAM_CASES = {
    1: "search terms and length bounded",
    2: "arbitrary SQL off; SQLite length limit",
    3: "archived files cannot run script",
    4: "a run stopped by SIGTERM",
    5: "disk full mid-crawl",
    6: "decompression bombs",
    7: "run bounds",
    8: "rebuild of damaged captures",
    9: "control characters",
    10: "values of a hand-edited database",
    11: "the lock through another name",
    12: "since/until applied to what is stored",
    13: "no false edits",
    14: "one clear line for bad input",
    15: "no internal details in errors",
    16: "credentials in the base URL",
    17: "why the home page was not read",
}
"""The red team's findings (the issue's numbering), for the labels of their section."""


RED_TEAM_TITLE = "Red-team findings, each re-run by the test of its fix"


def _red_team_rows(values: dict) -> list[tuple[str, str]]:
    def number(key: str) -> int:
        match = re.match(r"case_(\d+)", key)
        return int(match[1]) if match else 99

    rows = []
    for key in sorted((k for k in values if k != "scenario"), key=lambda k: (number(k), k)):
        case = number(key)
        detail = re.sub(r"^case_\d+[ _]?", "", key).replace("_", " ")
        label = f"{case}. {RED_TEAM_CASES.get(case, '')}" + (f" ({detail})" if detail else "")
        rows.append((label, _cell(values[key])))
    return rows


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def headline(figures: dict) -> list[tuple[str, str]]:
    """The one-line figures of the summary: kills, queries, hostile inputs, off-site requests."""
    rows = []
    kills = [figures[s] for s in ("kills", "kills_slow") if s in figures]
    if kills:
        survived = sum(k["kills_survived"] for k in kills)
        points = sum(len(k["kill_points"]) for k in kills)
        rows.append(("kills survived", f"{survived} of {points} SIGKILLs"))
    if "concurrency" in figures:
        c = figures["concurrency"]
        rows.append(
            (
                "queries served while a crawl wrote",
                f"{c['queries'] - c['queries_failed']} of {c['queries']} "
                f'({c["locked_messages"]} "database is locked")',
            )
        )
    if "hostile" in figures:
        h = figures["hostile"]
        tried = sum(
            h.get(key, 0)
            for key in ("handwritten_cases", "hypothesis_examples", "file_names_tried")
        ) + h.get("hostile_articles_crawled", 0)
        rows.append(
            (
                "hostile inputs tried",
                f"{tried} ({h.get('unsafe_outputs', 0)} unsafe outputs, "
                f"{h.get('files_outside_folder', 0)} files outside the files folder)",
            )
        )
    if "scope" in figures:
        sc = figures["scope"]
        rows.append(
            (
                "off-site requests",
                f"{sc['offsite_requests_received']} received by the other host "
                f"({sc['offsite_links_offered']} links and redirects offered)",
            )
        )
    return rows


def render(figures: dict, outcome: str) -> str:
    """``docs/reliability.md`` from the figures file."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability: faults, kills, concurrent readers, hostile input, scope",
        "",
        "Generated by `scripts/reliability-report` "
        f"({now}; {outcome}). Every figure below is measured by the tests themselves "
        "(`tests/test_faults.py`, `tests/test_kills.py`, `tests/test_concurrency.py`, "
        "`tests/test_hostile.py`, `tests/test_scope.py`, and for the red team's findings "
        "the tests of each fix) against the offline replica; "
        "do not edit by hand, rerun the script.",
        "",
        "## Summary",
        "",
        "| scenario | " + " | ".join(label for _, label in SUMMARY_COLUMNS) + " |",
        "|---|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    for section, values in figures.items():
        if "expected" in values:
            cells = [_cell(values.get(key, "–")) for key, _ in SUMMARY_COLUMNS]
            lines.append(f"| {values.get('scenario', section)} | " + " | ".join(cells) + " |")
    lines += ["", "| protection | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in headline(figures)]
    for section, values in figures.items():
        lines += [
            "",
            f"## {values.get('scenario', RED_TEAM_TITLE if section == 'red-team' else section)}",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        if section == "red-team":
            lines += [f"| {label} | {value} |" for label, value in _red_team_rows(values)]
            continue
        for key, value in values.items():
            if key != "scenario":
                lines.append(f"| {LABELS.get(key, key)} | {_cell(value)} |")
    lines += [
        "",
        "## What each protection is",
        "",
        "- Retries (`RETRY_TIMES`, `DOWNLOAD_TIMEOUT`) and `Retry-After` "
        "(`sadec_crawler.middlewares.RetryAfterMiddleware`, any retryable status); soft 404s "
        "retried like a 5xx, then recorded (`soft_404`); redirect loops recorded "
        "(`RedirectLoopMiddleware`); items failing in a pipeline recorded (`pipeline_error`).",
        "- Each item all or nothing (a savepoint), committed in groups every "
        "`SADEC_COMMIT_INTERVAL` seconds in WAL mode; WARC records flushed one gzip member at a "
        "time; the lock released by the OS when a crawl is killed.",
        "- Datasette opens the database read-only; WAL readers never wait for the writer.",
        "- nh3 with the allow-lists of `sadec_crawler/sanitise.py` (`SAFE_TAGS`, "
        "`SAFE_ATTRIBUTES`, `SAFE_URL_SCHEMES`); files stored by SHA-256 under the files folder "
        "only.",
        "- `StayOnSiteMiddleware` (Scrapy's off-site filter without its `dont_filter` exemption, "
        "which let retried requests follow redirects to other hosts); `DOWNLOAD_MAXSIZE`.",
        "- By design, not tested as off-site: images and attachments an article embeds are "
        "fetched wherever they are kept (`FilesPipeline`, `allow_offsite`), as evidence of the "
        "article; the other host of the scope test is offered pages and redirects only.",
        "- Errors above `SADEC_MAX_ERRORS` (default 0) give exit status 1: the fault crawl sets "
        "it to 10 as an operator of a flaky site would; the scope crawl keeps the default and "
        "exits 1 for its two over-size pages, as it should.",
        "",
    ]
    return "\n".join(lines)


# --- Crawled rows against the ground truth --------------------------------------------------------
def query(db_path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


CRAWL_TIME_COLUMNS = {
    "first_seen_at",
    "last_crawled_at",
    "last_changed_at",
    "captured_at",
    "warc_file",
    "warc_record_id",
    "warc_offset",
    "warc_payload_digest",
    "fetched_url",
    "url_title",  # the route that happened to lead to the article, like fetched_url
}
"""Columns that say when, by which route or from which capture a row was fetched, not what the
article is."""


def content_rows(db_path) -> dict[int, dict]:
    """Article rows by asset id, without the :data:`CRAWL_TIME_COLUMNS`."""
    return {
        row["asset_id"]: {k: v for k, v in row.items() if k not in CRAWL_TIME_COLUMNS}
        for row in query(db_path, "select * from articles")
    }


def duplicates(db_path) -> int:
    """Article rows beyond one per asset id (the URL is the primary key, so a second row of
    the same article could only hide under another URL form)."""
    return query(db_path, "select count(*) - count(distinct asset_id) as n from articles")[0]["n"]


def article_rows(db_path) -> dict[int, dict]:
    """Every article row by asset id, with its images and attachments in order."""
    rows = {row["asset_id"]: row for row in query(db_path, "select * from articles")}
    for table in ("images", "attachments"):
        children = defaultdict(list)
        for child in query(db_path, f"select * from {table} order by article_url, position"):
            children[child["article_url"]].append(child)
        for row in rows.values():
            row[table] = children[row["url"]]
    return rows


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


TRUTH_COLUMNS = {"unit": "unit_raw"}
"""The stored column a ground-truth field is compared with, where they are named apart: the
replica's truth is the unit as the byline writes it, stored as ``unit_raw`` beside the
canonical ``unit`` (``sadec_crawler/units.yml``)."""


def stored_value(row: dict, name: str):
    """The stored value to compare with the ground truth's ``name``."""
    return row[TRUTH_COLUMNS.get(name, name)]


def truth_mismatches(truth: ArticleTruth, row: dict) -> list[str]:
    """How a stored row differs from the ground truth (the checks of tests/test_sadec.py)."""
    wrong = []
    for name in ("title", "published_at", "category", "category_raw", "author", "unit", "summary"):
        if stored_value(row, name) != getattr(truth, name):
            wrong.append(f"{name}={stored_value(row, name)!r}, expected {getattr(truth, name)!r}")
    if truth.published_at_raw not in (row["published_at_raw"] or ""):
        wrong.append(f"published_at_raw={row['published_at_raw']!r}")
    body = row["body_text"] or ""
    wrong += [f"body lacks {s!r}" for s in truth.must_contain if s not in body]
    wrong += [
        f"body holds {s!r}"
        for s in truth.must_not_contain
        if s in body or s in (row["body_html"] or "")
    ]
    images = [(_path_and_query(i["url"]), i["caption"]) for i in row["images"]]
    if images != list(map(tuple, truth.images)):
        wrong.append(f"images {images} != {truth.images}")
    attachments = [(_path_and_query(a["url"]), a["filename"]) for a in row["attachments"]]
    if attachments != list(map(tuple, truth.attachments)):
        wrong.append(f"attachments {attachments} != {truth.attachments}")
    return wrong


def asset_of_path(site: Site, path_with_query: str) -> int | None:
    """The article a requested path is a form of (id, url-title, jsessionid …), else None."""
    path = unquote(JSESSIONID.sub("", urlsplit(path_with_query).path))
    match = ARTICLE_ROUTE.match(path)
    if not match:
        return None
    if match["asset_id"]:
        return int(match["asset_id"])
    return site.slugs().get(match["slug"])


def served_correctly(site: Site, requests) -> dict[int, bool]:
    """For every article the crawl asked for: was it served correctly (200, no fault but
    malformed markup) at least once, in any of its URL forms?"""
    served: dict[int, bool] = defaultdict(bool)
    for entry in requests:
        asset_id = asset_of_path(site, entry.path_with_query)
        if asset_id is not None:
            served[asset_id] |= entry.served_ok and entry.status == 200
    return dict(served)


def main(argv: list[str]) -> int:
    """``python -m tests.reliability FIGURES.json OUT.md [OUTCOME]``."""
    figures_path, out_path = Path(argv[0]), Path(argv[1])
    outcome = argv[2] if len(argv) > 2 else "suite passed"
    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    out_path.write_text(render(figures, outcome), encoding="utf-8")
    print(f"wrote {out_path} ({len(figures)} sections)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

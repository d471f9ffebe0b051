"""Requests per run: a full crawl of a replica of 1,000+ articles, then an incremental run
(the default mode) of the unchanged replica, then one after 10 new articles were published,
each counted from the replica's own request log, by kind.

Defaults throughout (politeness off, as for every local crawl): ``SADEC_REVALIDATE_DAYS=90``
re-validates a rotating slice of ceil(articles / 90) archived articles per run with conditional
requests (304 when unchanged), ``SADEC_RECHECK_DAYS=3`` re-fetches articles published in the
last three days (none here: the replica's newest article is older than that), and the files
pipeline downloads the images and attachments of every new article.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from replica import Site

from . import common

HELP = "requests of a full crawl vs incremental runs (unchanged, 10 new articles)"
NAME = "requests"
QUICK_ARGS = ["--articles", "1000"]
GOAL_SHARE = 0.03


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=1000, help="generated articles (+64)")
    parser.add_argument("--new", type=int, default=10, help="articles published before run 3")


def _counts(entries) -> dict:
    counts = common.count_kinds(entries)
    counts["conditional"] = sum(
        1
        for e in entries
        if {k.lower() for k in e.headers} & {"if-none-match", "if-modified-since"}
    )
    counts["not_modified_304"] = sum(1 for e in entries if e.status == 304)
    return counts


def run(args) -> dict:
    site = Site(seed=0, extra_articles=args.articles)
    articles = len(site.truth())
    work = Path(tempfile.mkdtemp(prefix="sadec-bench-requests-"))
    db = work / "archive.db"
    runs: dict[str, dict] = {}
    try:
        with common.TimedReplica(site) as replica:
            plan = [
                ("full crawl", {"mode": "full"}, None),
                ("incremental, unchanged site", {}, None),
                (f"incremental, {args.new} new articles", {}, args.new),
            ]
            for label, spider_args, publish in plan:
                if publish:
                    change = site.advance(publish=publish, edit=0, remove=0, recategorise=0)
                    common.progress(f"requests: published {len(change.get('published', []))}")
                mark = replica.mark()
                # A run may exit 1 for reasons of its own (see "failure" in the results): the
                # requests it made are what is measured here.
                result = common.sadec_crawl(replica.url, db, spider_args=spider_args, check=False)
                entries = replica.requests[mark[0] :]
                counts = _counts(entries)
                stats = result["stats"]
                runs[label] = {
                    **counts,
                    "articles_new": stats.get("sadec/articles/new", 0),
                    "elapsed_s": round(stats.get("elapsed_time_seconds", result["wall_s"]), 2),
                    "exit_status": result["exit_status"],
                    "failure": _failure(result["log"]),
                }
                common.progress(f"  {label}: {counts['total']} requests")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    full = runs["full crawl"]["total"]
    unchanged = runs["incremental, unchanged site"]["total"]
    with_new = runs[f"incremental, {args.new} new articles"]["total"]
    rows = [
        (
            label,
            r["total"],
            r["robots"],
            r["page"],
            r["article"],
            r["conditional"],
            r["not_modified_304"],
            r["document"],
            r["articles_new"],
            f"{100 * r['total'] / full:.1f}%",
        )
        for label, r in runs.items()
    ]
    common.table(
        [
            "run",
            "requests",
            "robots",
            "pages",
            "articles",
            "conditional",
            "304",
            "documents",
            "stored new",
            "of full",
        ],
        rows,
        f"Requests per run: replica of {articles} articles (+{args.new} for the last run)",
    )
    share = unchanged / full
    extra = with_new - unchanged
    met = share <= GOAL_SHARE
    print(
        f"\nunchanged incremental / full = {100 * share:.1f}% (goal ≤ {100 * GOAL_SHARE:.0f}%: "
        f"{'met' if met else 'MISSED'}); {args.new} new articles cost {extra} more requests "
        f"({extra / args.new:.1f} per new article: the article page, its images and "
        "attachments, and the listing pages they push onto)"
    )
    return {
        "params": {"articles": articles, "new_articles": args.new, "settings": "defaults"},
        "runs": runs,
        "unchanged_share_of_full": round(share, 4),
        "extra_requests_for_new": extra,
        "extra_per_new_article": round(extra / args.new, 2),
        "goal": {"unchanged_share_max": GOAL_SHARE, "met": met},
    }


def _failure(log: str) -> str | None:
    """Why the run exited non-zero, as its log says."""
    marker = log.rfind(" failed: ")
    return log[marker + len(" failed: ") :].splitlines()[0] if marker >= 0 else None

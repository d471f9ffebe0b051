"""Memory: peak resident memory of the crawl process (``scrapy crawl sadec -a mode=full``,
default settings, politeness off) over replicas of 2,000 and 20,000 articles.

The peak is the kernel's own high-water mark of the crawl process (``VmHWM`` in
``/proc/<pid>/status``, polled; a peak between two polls still counts), with a timeline of its
resident memory against requests served so far, to tell steady growth from a bump. The crawl's
helper processes (the page worker, the WARC writer) are read the same way, each one's peak
summed; the goal applies to the crawl and its helpers together.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from replica import Site
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env

from . import common

HELP = "peak RSS of full crawls of 2,000 and 20,000 replica articles"
NAME = "memory"
QUICK_ARGS = ["--sizes", "500", "2000"]
GOAL_PEAK_MB = 300
GOAL_GROWTH = 0.20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[2000, 20000],
        help="replica sizes in generated articles (+64 each); the first two are compared",
    )


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in listed.split()]
    except (OSError, ValueError):
        return []


def crawl_with_timeline(replica: common.TimedReplica, db: Path, interval: float = 1.0) -> dict:
    argv = crawl_command(
        replica.url,
        db,
        # The 20,000-article replica's listings run past 1,000 pages, the default bound of a
        # run (a bound reached is a failed run).
        settings={"SADEC_PROGRESS_INTERVAL": "0", "SADEC_MAX_LISTING_PAGES": "100000"},
        spider_args={"mode": "full"},
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    timeline: list[tuple[float, int, int]] = []
    peak = [0]
    helpers_peak = [0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            rss, hwm = _status_kb(process.pid, "VmRSS"), _status_kb(process.pid, "VmHWM")
            if hwm:
                peak[0] = max(peak[0], hwm)
            # The page worker and the WARC writer: each one's own high-water mark, summed.
            helpers = sum(_status_kb(child, "VmHWM") or 0 for child in _children(process.pid))
            helpers_peak[0] = max(helpers_peak[0], helpers)
            if rss:
                timeline.append(
                    (round(time.perf_counter() - started, 1), rss // 1024, len(replica.requests))
                )
            stop.wait(interval / 5 if not timeline else interval)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, log = process.communicate()
    stop.set()
    poller.join()
    if process.returncode != 0:
        raise RuntimeError(f"crawl exited {process.returncode}:\n{log[-3000:]}")
    stats = common.scrapy_stats(log)
    return {
        "peak_rss_mb": round(peak[0] / 1024, 1),
        "helpers_peak_rss_mb": round(helpers_peak[0] / 1024, 1),
        "total_peak_rss_mb": round((peak[0] + helpers_peak[0]) / 1024, 1),
        "scrapy_memusage_max_mb": round(stats.get("memusage/max", 0) / 2**20, 1),
        "elapsed_s": round(stats.get("elapsed_time_seconds", 0), 1),
        "requests": stats.get("downloader/request_count"),
        "articles_stored": stats.get("sadec/articles/new"),
        "timeline": timeline,
    }


def run(args) -> dict:
    results = {}
    for size in args.sizes:
        site = Site(seed=0, extra_articles=size)
        articles = len(site.truth())
        work = Path(tempfile.mkdtemp(prefix="sadec-bench-memory-"))
        common.progress(f"memory: full crawl of {articles} articles")
        try:
            with common.TimedReplica(site) as replica:
                result = crawl_with_timeline(replica, work / "archive.db")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result["articles"] = articles
        results[size] = result
        common.progress(
            f"  {articles} articles: peak RSS {result['peak_rss_mb']} MB "
            f"(+{result['helpers_peak_rss_mb']} MB in helpers), "
            f"{result['requests']} requests in {result['elapsed_s']} s"
        )
        del site
    rows = []
    for result in results.values():
        timeline = result["timeline"]
        quarter = [timeline[len(timeline) * k // 4][1] for k in (1, 2, 3)] if timeline else []
        rows.append(
            (
                result["articles"],
                result["requests"],
                result["elapsed_s"],
                result["peak_rss_mb"],
                result["helpers_peak_rss_mb"],
                result["total_peak_rss_mb"],
                " / ".join(str(q) for q in quarter),
            )
        )
    common.table(
        [
            "articles",
            "requests",
            "elapsed s",
            "peak RSS MB",
            "helpers MB",
            "in all MB",
            "RSS at ¼ / ½ / ¾ of the run",
        ],
        rows,
        "Memory of a full crawl (peak RSS of the crawl process; of its helper processes, the "
        "page worker and the WARC writer, each one's peak summed; in all, the two added: an "
        "upper bound)",
    )
    small, large = (results[s] for s in args.sizes[:2])
    growth = large["total_peak_rss_mb"] / small["total_peak_rss_mb"] - 1
    met = large["total_peak_rss_mb"] <= GOAL_PEAK_MB and growth <= GOAL_GROWTH
    print(
        f"\npeak in all grows {100 * growth:.0f}% from {small['articles']} to {large['articles']} "
        f"articles (goal ≤ {GOAL_PEAK_MB} MB and ≤ {100 * GOAL_GROWTH:.0f}%: "
        f"{'met' if met else 'MISSED'})"
    )
    for result in results.values():
        # A point every ~2% of the run is enough to see the shape.
        timeline = result["timeline"]
        step = max(1, len(timeline) // 50)
        result["timeline"] = timeline[::step] + timeline[-1:]
    return {
        "params": {"sizes": args.sizes, "settings": "defaults, politeness off"},
        "runs": {str(k): v for k, v in results.items()},
        "growth": round(growth, 3),
        "goal": {"peak_mb_max": GOAL_PEAK_MB, "growth_max": GOAL_GROWTH, "met": met},
    }

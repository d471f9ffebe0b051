"""Crawl overhead: the full crawler against a fetch-only spider and a naive BeautifulSoup
pipeline, over the same pages of the replica, politeness off, interleaved repetitions.

- ``full``: ``scrapy crawl sadec -a mode=full`` into a fresh database, default settings but
  politeness (``sadec.local.LOCAL_SITE_SETTINGS``): parse, clean, store, WARC captures
  and file downloads on, as configured by default.
- ``full-warc-thread``: the same with the WARC records written by a thread of the crawl's
  process (``SADEC_WARC_WRITER=thread``) instead of a process of their own.
- ``full-no-page-worker``: the same with listing and article pages parsed and cleaned in the
  crawl's own thread (``SADEC_PAGE_WORKER=off``) instead of the page worker process.
- ``fetch``: ``bench/spiders.py`` requesting exactly the URLs the full crawl requested (from
  the replica's log of a warm-up crawl), doing nothing with the answers.
- ``soup``: the same requests, every HTML page parsed whole by BeautifulSoup in a pipeline.

Throughput is HTML pages (home, listings, articles, other pages) per second of the crawl's own
``elapsed_time_seconds`` (Scrapy's stat: spider opened to closed, interpreter start-up excluded);
documents fetched by the files pipeline are in every variant's request list too.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from pathlib import Path

from replica import Site
from sadec.local import LOCAL_SITE_SETTINGS, crawl_env

from . import common
from .spiders import SOUP_PIPELINES

HELP = "full crawler vs fetch-only vs naive BeautifulSoup, pages/s (replica, politeness off)"
NAME = "crawl"
VARIANTS = ("full", "full-warc-thread", "full-no-page-worker", "fetch", "soup")
GOAL_RATIO = 0.35
QUICK_ARGS = ["--articles", "300", "--repetitions", "1"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=1000, help="generated articles (+64)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--server",
        choices=("replay", "replica"),
        default="replay",
        help="replay: the replica's answers recorded once and served from memory (default); "
        "replica: the replica itself, rendering every page (then it limits every variant)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also run the full crawl with WARC captures off, with file downloads off, with "
        "both off (parse, clean, store), and with neither nor storage (parse and clean)",
    )


def baseline_command(base_url: str, urls_file: Path, mode: str) -> list[str]:
    argv = [
        *common.sys_executable_scrapy(),
        "runspider",
        str(Path(__file__).with_name("spiders.py")),
        "-a",
        f"urls={urls_file}",
        "-a",
        f"mode={mode}",
    ]
    settings = {**LOCAL_SITE_SETTINGS, "SADEC_BASE_URL": base_url.rstrip("/")}
    if mode == "soup":
        settings["ITEM_PIPELINES"] = SOUP_PIPELINES
    for name, value in settings.items():
        argv += ["-s", f"{name}={value}"]
    return argv


def page_sizes(recording: dict) -> dict:
    """Sizes of the HTML pages the crawl fetched, by kind."""
    sizes: dict[str, list[int]] = {"article": [], "page": []}
    for path, (status, _, body) in recording.items():
        kind = common.request_kind(path)
        if kind in sizes and status == 200:
            sizes[kind].append(len(body))
    return {
        kind: {
            "count": len(values),
            "median_kb": round(common.median(values) / 1024, 1),
            "min_kb": round(min(values) / 1024, 1),
            "max_kb": round(max(values) / 1024, 1),
        }
        for kind, values in sizes.items()
        if values
    }


def _run_variant(name: str, base_url: str, work: Path, rep: int, urls_file: Path, settings):
    if name.startswith("full"):
        db = work / f"{name}-{rep}" / "archive.db"
        result = common.sadec_crawl(
            base_url, db, settings=settings.get(name, {}), spider_args={"mode": "full"}
        )
        result["stored_articles"] = _count_articles(db)
        shutil.rmtree(db.parent, ignore_errors=True)
        return result
    return common.run_process(baseline_command(base_url, urls_file, name), env=crawl_env())


def run(args) -> dict:
    site = Site(seed=0, extra_articles=args.articles)
    articles = len(site.truth())
    work = Path(tempfile.mkdtemp(prefix="sadec-bench-crawl-"))
    variants = list(VARIANTS)
    # The WARC records written by a thread of the crawl's process (the design before the
    # writer process), side by side with the default in the same run.
    settings = {
        "full": {},
        "full-warc-thread": {"SADEC_WARC_WRITER": "thread"},
        # The pages parsed and cleaned by the crawl's own thread (the design before the page
        # worker), side by side with the default in the same run.
        "full-no-page-worker": {"SADEC_PAGE_WORKER": "off"},
    }
    if args.breakdown:
        settings["full-nowarc"] = {"SADEC_WARC_DIR": "off"}
        settings["full-nofiles"] = {"SADEC_FILES_DIR": "off"}
        # Parse, clean, store: the crawler without its evidence (captures, file downloads).
        settings["full-store-only"] = {"SADEC_WARC_DIR": "off", "SADEC_FILES_DIR": "off"}
        # The spider and the cleaning pipeline alone (what the reference design
        # measures): no captures, no downloads, nothing stored.
        settings["full-parse-only"] = {
            "SADEC_WARC_DIR": "off",
            "SADEC_FILES_DIR": "off",
            "ITEM_PIPELINES": '{"pipelines.clean.ArticleCleaningPipeline": 300}',
        }
        variants += ["full-nowarc", "full-nofiles", "full-store-only", "full-parse-only"]
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        with common.TimedReplica(site) as replica:
            common.progress(f"crawl: warm-up full crawl of {articles} articles (replica)")
            common.sadec_crawl(
                replica.url, work / "warm" / "archive.db", spider_args={"mode": "full"}
            )
            entries = list(replica.requests)
            stored = _count_articles(work / "warm" / "archive.db")
            paths = [e.path_with_query for e in entries]
            recording = common.record_answers(replica.server, paths)
            kinds = common.count_kinds(entries)
            html_pages = kinds["page"] + kinds["article"]
            sizes = page_sizes(recording)
            recording_file = common.ReplayServer.write(recording, work / "recording.pickle")
            del recording
            for rep, name in common.interleaved(variants, args.repetitions):
                urls_file = work / f"urls-{rep}-{name}.txt"
                if args.server == "replica":
                    mark = replica.mark()
                    urls_file.write_text(
                        "".join(
                            replica.url.rstrip("/") + p + "\n" for p in paths if p != "/robots.txt"
                        )
                    )
                    result = _run_variant(name, replica.url, work, rep, urls_file, settings)
                    result["requests"] = len(replica.requests) - mark[0]
                    result["unknown_paths"] = 0
                else:
                    with common.ReplayServer(recording_file, replica.url) as replay:
                        urls_file.write_text(
                            "".join(
                                replay.url.rstrip("/") + p + "\n"
                                for p in paths
                                if p != "/robots.txt"
                            )
                        )
                        result = _run_variant(name, replay.url, work, rep, urls_file, settings)
                    result["requests"] = len(replay.report["requests"])
                    result["unknown_paths"] = len(replay.report["unknown"])
                elapsed = result["stats"].get("elapsed_time_seconds") or result["wall_s"]
                result["elapsed_s"] = elapsed
                result["pages_per_s"] = html_pages / elapsed
                del result["log"]
                samples[name].append(result)
                common.progress(
                    f"  rep {rep + 1} {name:>12}: {elapsed:6.2f} s, "
                    f"{result['pages_per_s']:6.1f} pages/s, {result['requests']} requests "
                    f"({result['unknown_paths']} relayed), CPU {result['cpu_s']:.1f} s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows, summary = [], {}
    for name in variants:
        runs = samples[name]
        rate = common.median([s["pages_per_s"] for s in runs])
        # Ratio per repetition (same machine load), then the median of those.
        ratios = [
            s["pages_per_s"] / f["pages_per_s"]
            for s, f in zip(runs, samples["fetch"], strict=False)
        ]
        summary[name] = {
            "pages_per_s_median": rate,
            "elapsed_s": [round(s["elapsed_s"], 3) for s in runs],
            "wall_s": [round(s["wall_s"], 3) for s in runs],
            "cpu_s": [round(s["cpu_s"], 3) for s in runs],
            "cpu_ms_per_page": round(
                1000 * common.median([s["cpu_s"] for s in runs]) / html_pages, 2
            ),
            "unknown_paths": [s["unknown_paths"] for s in runs],
            "requests": [s["requests"] for s in runs],
            "peak_rss_mb": [round(s["peak_rss_mb"] or 0, 1) for s in runs],
            "ratio_to_fetch_per_rep": [round(r, 3) for r in ratios],
            "ratio_to_fetch": round(common.median(ratios), 3),
        }
        writer_ms = [s.get("stats", {}).get("sadec/warc/writer_cpu_ms") or 0 for s in runs]
        summary[name]["writer_cpu_ms_per_page"] = round(common.median(writer_ms) / html_pages, 2)
        worker_ms = [s.get("stats", {}).get("sadec/page_worker/cpu_ms") or 0 for s in runs]
        summary[name]["page_worker_cpu_ms_per_page"] = round(
            common.median(worker_ms) / html_pages, 2
        )
        if name.startswith("full"):
            summary[name]["stored_articles"] = [s["stored_articles"] for s in runs]
        cpu_ratios = [f["cpu_s"] / s["cpu_s"] for s, f in zip(runs, samples["fetch"], strict=False)]
        summary[name]["cpu_ratio_to_fetch"] = round(common.median(cpu_ratios), 3)
        rows.append(
            (
                name,
                round(common.median([s["elapsed_s"] for s in runs]), 2),
                rate,
                f"{common.median(ratios):.2f}×",
                summary[name]["cpu_ms_per_page"],
                summary[name]["writer_cpu_ms_per_page"],
                summary[name]["page_worker_cpu_ms_per_page"],
                f"{common.median(cpu_ratios):.2f}×",
            )
        )
    full_vs_soup = [
        f["pages_per_s"] / s["pages_per_s"]
        for f, s in zip(samples["full"], samples["soup"], strict=False)
    ]
    title = (
        f"Crawl overhead: {articles} articles, {html_pages} HTML pages "
        f"(article pages median {sizes.get('article', {}).get('median_kb')} KB), "
        f"{kinds['document']} documents, {args.repetitions} interleaved repetitions"
    )
    common.table(
        [
            "variant",
            "elapsed s",
            "pages/s",
            "ratio",
            "CPU ms/page",
            "of it writer",
            "of it page worker",
            "CPU ratio",
        ],
        rows,
        title,
    )
    parts = cpu_parts(summary) if args.breakdown else None
    if parts:
        print(
            "\nCPU a page by part (medians above; the crawl's own process, the writer process "
            "and the page worker apart): "
            + ", ".join(f"{name} {value:.1f} ms" for name, value in parts.items())
        )
    ratio = summary["full"]["ratio_to_fetch"]
    print(
        f"\nfull vs naive soup: {common.median(full_vs_soup):.2f}× faster; "
        f"goal full ≥ {GOAL_RATIO}× fetch-only: {'met' if ratio >= GOAL_RATIO else 'MISSED'}"
    )
    return {
        "params": {
            "articles": articles,
            "extra_articles": args.articles,
            "repetitions": args.repetitions,
            "server": args.server,
            "settings": LOCAL_SITE_SETTINGS,
            "full_crawl": "scrapy crawl sadec -a mode=full; WARC captures on (captures/ beside "
            "the database, gzip), image and attachment downloads on (files/ beside the "
            "database): the defaults",
        },
        "requests_by_kind": kinds,
        "html_pages": html_pages,
        "stored_articles_warmup": stored,
        "page_sizes": sizes,
        "variants": summary,
        "full_vs_soup": round(common.median(full_vs_soup), 2),
        "cpu_ms_per_page_by_part": parts,
        "goal": {"full_to_fetch_ratio": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
    }


def cpu_parts(summary: dict) -> dict[str, float]:
    """CPU a page of each part of the crawl, from the variants that leave one part out: what
    the crawl's own process spends (the writer's and the page worker's shares taken out)
    beyond the variant without that part, and what those two processes spend."""

    def own(name: str) -> float:
        variant = summary[name]
        helpers = variant["writer_cpu_ms_per_page"] + variant["page_worker_cpu_ms_per_page"]
        return variant["cpu_ms_per_page"] - helpers

    parts = {
        "fetching (Scrapy)": own("fetch"),
        "parse and clean, crawl's process": own("full-parse-only") - own("fetch"),
        "parse and clean, page worker": summary["full-parse-only"]["page_worker_cpu_ms_per_page"],
        "store": own("full-store-only") - own("full-parse-only"),
        "file downloads": own("full-nowarc") - own("full-store-only"),
        "WARC captures, crawl's process": own("full-nofiles") - own("full-store-only"),
        "WARC captures, writer process": summary["full-nofiles"]["writer_cpu_ms_per_page"],
        "both kinds of evidence, crawl's process": own("full") - own("full-store-only"),
    }
    return {name: round(value, 2) for name, value in parts.items()}


def _count_articles(db: Path) -> int:
    if not db.exists():
        return 0  # a variant that stores nothing
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select count(*) from articles").fetchone()[0]
    finally:
        conn.close()

"""Rebuild throughput: ``sadec rebuild`` from a crawl's WARC captures, against what parsing,
cleaning and storing the same article pages cost in one process.

A crawl of the replica (``-a mode=full``, default settings but politeness) leaves its WARC
captures; then, interleaved:

- **rebuild**: ``sadec.rebuild.rebuild(captures, new.db)`` — the captures indexed, each captured
  run replayed by ``scrapy crawl sadec`` on Scrapy's engine (listings, articles, files from the
  captures, every pipeline), into a new database;
- **parse+clean+store**: the same articles' pages, already in memory, through
  ``build_article`` and ``upsert_article`` into a new database file, one process, nothing
  else — the floor a rebuild cannot go below.

Throughput is articles per second of wall time (the rebuild's start-up and index included:
an operator waits for all of it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.database import open_database, upsert_article
from replica import ReplicaServer, Site
from sadec.rebuild import rebuild
from sadec_crawler.article import build_article

from . import common
from .parse import BASE, article_page, saved_articles

NAME = "rebuild"
HELP = "sadec rebuild from WARC captures vs parse+clean+store of the same pages, articles/s"
QUICK_ARGS = ["--articles", "40", "--repetitions", "1"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=500, help="generated articles (+64)")
    parser.add_argument("--repetitions", type=int, default=3)


def run_store(pages, folder: Path) -> tuple[float, int]:
    """Parse, clean and store every page into a new database; (seconds, articles stored)."""
    db_path = folder / "store.db"
    items = [article_page(saved) for saved in pages]
    db = open_database(db_path)
    gc.collect()
    started = time.perf_counter()
    for item in items:
        upsert_article(db, build_article(item, BASE), now="2024-06-01T00:00:00Z")
    elapsed = time.perf_counter() - started
    stored = db.execute("select count(*) from articles").fetchone()[0]
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed, stored


def run_rebuild(captures: Path, folder: Path) -> tuple[float, int]:
    """``sadec rebuild`` into a new database; (seconds, articles rebuilt)."""
    new_db = folder / "rebuilt.db"
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as said:
        status = rebuild(captures, new_db)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"rebuild exited {status}:\n{said.getvalue()[-3000:]}")
    db = open_database(new_db)
    rebuilt = db.execute("select count(*) from articles").fetchone()[0]
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed, rebuilt


def run(args) -> dict:
    site = Site(seed=0, extra_articles=args.articles)
    work = Path(tempfile.mkdtemp(prefix="sadec-bench-rebuild-"))
    try:
        with ReplicaServer(site) as replica:
            common.progress(f"rebuild: crawling {len(site.truth())} articles with captures")
            common.sadec_crawl(
                replica.url, work / "crawl" / "archive.db", spider_args={"mode": "full"}
            )
        captures = work / "crawl" / "captures"
        warc_bytes = sum(path.stat().st_size for path in captures.iterdir())
        common.progress("rebuild: rendering the same article pages for parse+clean+store")
        pages = saved_articles(site, site.liferay)
        timings: dict[str, list[float]] = {"rebuild": [], "parse+clean+store": []}
        counts: dict[str, int] = {}
        for rep, name in common.interleaved(list(timings), args.repetitions):
            folder = work / f"{name}-{rep}"
            folder.mkdir()
            if name == "rebuild":
                elapsed, articles = run_rebuild(captures, folder)
            else:
                elapsed, articles = run_store(pages, folder)
            counts[name] = articles
            timings[name].append(elapsed)
            rate = articles / elapsed
            common.progress(f"  rep {rep + 1} {name:>17}: {elapsed:6.2f} s, {rate:6.1f} articles/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rates = {name: [counts[name] / t for t in values] for name, values in timings.items()}
    ratios = [r / s for r, s in zip(rates["rebuild"], rates["parse+clean+store"], strict=True)]
    ratio = common.median(ratios)
    rows = [
        (
            name,
            counts[name],
            common.median(timings[name]),
            common.median(rates[name]),
            f"{ratio:.2f}×" if name == "rebuild" else "1.00×",
        )
        for name in timings
    ]
    common.table(
        ["variant", "articles", "seconds", "articles/s", "ratio"],
        rows,
        f"Rebuild: {counts['rebuild']} articles from {warc_bytes / 1e6:.1f} MB of WARC captures, "
        f"{args.repetitions} interleaved repetitions",
    )
    return {
        "params": {"articles": len(site.truth()), "repetitions": args.repetitions},
        "warc_mb": round(warc_bytes / 1e6, 1),
        "seconds": {name: [round(t, 2) for t in values] for name, values in timings.items()},
        "articles_per_s": {name: [round(r, 1) for r in values] for name, values in rates.items()},
        "ratio_per_rep": [round(r, 3) for r in ratios],
        "ratio": round(ratio, 3),
        "articles": counts,
    }

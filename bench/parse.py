"""Parse and clean throughput (what ``sadec rebuild`` and backfills pay): the project's parser
(``sadec_crawler.article.build_article``: selectors, BeautifulSoup cleaning, nh3) on saved
replica article pages of every Liferay generation (6.2, 7.0, 7.4 markup of the same articles),
beside ``trafilatura.extract`` on the same pages, interleaved.

Every parsed article is checked against the replica's ground truth (title, date, category,
author, unit, summary, images with captions, attachments, body snippets that must and must not
be there): a fast parser that gets articles wrong would not count. The listing entries the
articles need for their dates and summaries come from the replica's listing pages, parsed with
``extract_listing`` beforehand (not timed).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from replica import Site
from replica.app import App
from replica.faults import FaultConfig
from sadec_crawler.article import build_article
from sadec_crawler.items import ArticlePage
from sadec_crawler.pages import continuation_links, extract_listing, parse_html
from sadec_crawler.urls import parse_article_link

from . import common

HELP = "build_article vs trafilatura.extract on saved replica pages, articles/s, checked"
NAME = "parse"
QUICK_ARGS = ["--articles", "70", "--repetitions", "1"]
BASE = "https://sadec.dongthap.gov.vn"
GOAL_RATIO = 5.0
BATCH = 24
"""Pages each parser reads in its turn."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=500, help="generated articles (+64)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--generations",
        default="6.2,7.0,7.4",
        help="Liferay generations whose pages are parsed (comma-separated)",
    )
    parser.add_argument(
        "--input",
        choices=("text", "bytes"),
        default="text",
        help="what both parsers are given: each page as text (str, the default) or as the "
        "UTF-8 bytes a response holds (what the spider hands the parser); with --against, "
        "REV's parser must read bytes",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also time the parser of git revision REV, in this process, interleaved (what a "
        "change to the parser gained, measured side by side)",
    )


def parser_at(revision: str):
    """``build_article`` of the project as it was at ``revision``: its ``sadec_crawler``
    package taken from git into a temporary folder under another name, so that both
    versions run in one process (its parsing modules import each other relatively)."""
    folder = Path(tempfile.mkdtemp(prefix="sadec-bench-parser-"))
    name = "sadec_crawler_at_" + re.sub(r"\W", "_", revision)
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "sadec_crawler"],
            cwd=common.PROJECT_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode().strip()
        raise SystemExit(f"bench parse: --against {revision}: {message}") from None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        # The "data" filter where this Python has it (3.11.4+): files of this repository only.
        options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(folder, **options)
    (folder / "sadec_crawler").rename(folder / name)
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{name}.article").build_article


@dataclass
class SavedArticle:
    """One article as the portal serves it: its truth, its pages (the first, then any later
    pages of a multi-page article) and the listing entry that leads to it."""

    truth: object
    pages: list[str]
    """Its pages as text, or as UTF-8 bytes under ``--input bytes``."""
    entry: object | None
    generation: str


def saved_articles(site: Site, generation: str) -> list[SavedArticle]:
    """Every article of ``site`` as served in ``generation``."""
    app = App(site, FaultConfig(), generation)
    entries = {}
    slugs = site.slugs()
    for category in site.categories.values():
        portlet = category.portlet_for(generation)
        url = f"{category.url}?_{portlet}_delta=200"
        number = 1
        while True:
            page_url = url + f"&_{portlet}_cur={number}"
            html = app.handle("GET", page_url, {}, b"").body.decode("utf-8")
            listing = extract_listing(html, BASE + page_url, BASE)
            for entry in listing.entries:
                if not entry.asset_id:
                    # A url-title link: the crawl matches it by title; the replica knows it.
                    link = parse_article_link(entry.url)
                    entry.asset_id = slugs.get(link.url_title, 0) if link else 0
            new = [e for e in listing.entries if e.asset_id and e.asset_id not in entries]
            if not new:
                break
            for entry in new:
                entry.listing_url = BASE + category.url
                entries[entry.asset_id] = entry
            number += 1
    saved = []
    for truth in site.truth(generation):
        html = app.handle("GET", truth.url, {}, b"").body.decode("utf-8")
        later = [
            app.handle("GET", _path(url), {}, b"").body.decode("utf-8")
            for url in continuation_links(parse_html(html), BASE + truth.url)
        ]
        saved.append(SavedArticle(truth, [html, *later], entries.get(truth.asset_id), generation))
    return saved


def article_page(saved: SavedArticle) -> ArticlePage:
    return ArticlePage(
        url=BASE + saved.truth.url,
        asset_id=saved.truth.asset_id,
        fetched_url=BASE + saved.truth.url,
        http_status=200,
        fetched_at="2024-06-01T00:00:00Z",
        html=saved.pages[0],
        listing=saved.entry,
        continuation_html=saved.pages[1:],
    )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


def mismatches(truth, article) -> list[str]:
    """Fields where the parsed article differs from the ground truth."""
    wrong = []
    for name in ("title", "published_at", "category", "author", "unit", "summary"):
        # The truth's unit is the byline's text: the parser keeps it as ``unit_raw``.
        parsed = getattr(article, "unit_raw" if name == "unit" else name)
        if parsed != getattr(truth, name):
            wrong.append(name)
    if [(_path(i.url), i.caption) for i in article.images] != [tuple(i) for i in truth.images]:
        wrong.append("images")
    attachments = [(_path(a.url), a.filename) for a in article.attachments]
    if attachments != [tuple(a) for a in truth.attachments]:
        wrong.append("attachments")
    if any(snippet not in article.body_text for snippet in truth.must_contain):
        wrong.append("must_contain")
    if any(s in article.body_text or s in article.body_html for s in truth.must_not_contain):
        wrong.append("must_not_contain")
    return wrong


class Clock:
    """CPU time of this process (what a one-threaded parser costs, whatever else the
    machine's other core is doing) and wall time, from one start."""

    def __init__(self):
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def stop(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def run_ours(pages: list[SavedArticle], parse=build_article) -> tuple[tuple[float, float], list]:
    items = [article_page(saved) for saved in pages]
    clock = Clock()
    articles = [parse(item, BASE) for item in items]
    return clock.stop(), articles


def fix_uppercase_categories(articles: list) -> None:
    """What storage does after a crawl (``fix_uppercase_categories``): labels printed in
    capitals take the mixed-case spelling seen on other articles."""
    names = {
        a.category.casefold(): a.category
        for a in articles
        if a.category and a.category_raw and not a.category_raw.isupper()
    }
    for article in articles:
        if article.category:
            article.category = names.get(article.category.casefold(), article.category)


def run_trafilatura(pages) -> tuple[tuple[float, float], list]:
    import trafilatura

    clock = Clock()
    texts = [
        "\n".join(trafilatura.extract(page, url=BASE + s.truth.url) or "" for page in s.pages)
        for s in pages
    ]
    return clock.stop(), texts


def run(args) -> dict:
    import trafilatura

    generations = [g.strip() for g in args.generations.split(",") if g.strip()]
    pages: list[SavedArticle] = []
    for generation in generations:
        common.progress(f"parse: rendering the replica's pages ({generation})")
        site = Site(seed=0, extra_articles=args.articles, liferay=generation)
        pages += saved_articles(site, generation)
    sizes = [len(saved.pages[0].encode("utf-8")) for saved in pages]
    if args.input == "bytes":
        for saved in pages:
            saved.pages = [page.encode("utf-8") for page in saved.pages]
    # Imports, compiled patterns and caches warmed for both before anything is timed.
    run_trafilatura(pages[:30])
    run_ours(pages[:30])
    earlier = parser_at(args.against) if args.against else None
    if earlier is not None:
        run_ours(pages[:30], earlier)
    names = ["sadec", "trafilatura"] + ([f"sadec@{args.against}"] if earlier else [])
    timings: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    wrong: dict[str, int] = {}
    wrong_examples: list[str] = []
    wrong_articles = 0
    trafilatura_found = trafilatura_snippets = 0

    def parse_with(name: str, batch: list[SavedArticle]):
        if name == "trafilatura":
            return run_trafilatura(batch)
        return run_ours(batch, build_article if name == "sadec" else earlier)

    for rep in range(args.repetitions):
        cpu = dict.fromkeys(names, 0.0)
        elapsed_wall = dict.fromkeys(names, 0.0)
        outputs: dict[str, list] = {name: [] for name in names}
        gc.collect()
        # Parsers take turns on small batches of pages, in an order that rotates: this
        # machine's speed drifts by a quarter within seconds (another guest on the same
        # core), and a whole pass of one parser, then of the other, saw different machines.
        for index, start in enumerate(range(0, len(pages), BATCH)):
            batch = pages[start : start + BATCH]
            shift = (index + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                (batch_cpu, batch_wall), parsed = parse_with(name, batch)
                cpu[name] += batch_cpu
                elapsed_wall[name] += batch_wall
                outputs[name].extend(parsed)
        if rep == 0:
            fix_uppercase_categories(outputs["sadec"])
            for saved, article in zip(pages, outputs["sadec"], strict=True):
                truth = saved.truth
                fields = mismatches(truth, article)
                wrong_articles += bool(fields)
                for field in fields:
                    wrong[field] = wrong.get(field, 0) + 1
                    if len(wrong_examples) < 10:
                        wrong_examples.append(f"{saved.generation} {truth.asset_id}: {field}")
            for saved, text in zip(pages, outputs["trafilatura"], strict=True):
                must = saved.truth.must_contain
                trafilatura_snippets += len(must)
                trafilatura_found += sum(1 for snippet in must if snippet in (text or ""))
        for name in names:
            timings[name].append(cpu[name])
            wall[name].append(elapsed_wall[name])
            common.progress(
                f"  rep {rep + 1} {name:>11}: {len(pages) / cpu[name]:7.1f} articles per CPU "
                f"second, {len(pages) / elapsed_wall[name]:7.1f} per second of wall time"
            )
    rates = {name: [len(pages) / t for t in values] for name, values in timings.items()}
    ratios = [s / t for s, t in zip(rates["sadec"], rates["trafilatura"], strict=True)]
    ratio = common.median(ratios)
    wall_rates = {name: [len(pages) / t for t in values] for name, values in wall.items()}
    wall_ratios = [
        s / t for s, t in zip(wall_rates["sadec"], wall_rates["trafilatura"], strict=True)
    ]
    rows = [
        (
            "sadec build_article",
            common.median(rates["sadec"]),
            1000 / common.median(rates["sadec"]),
            f"{ratio:.2f}×",
            f"{len(pages) - wrong_articles}/{len(pages)} exact",
        ),
        (
            "trafilatura.extract",
            common.median(rates["trafilatura"]),
            1000 / common.median(rates["trafilatura"]),
            "1.00×",
            f"{trafilatura_found}/{trafilatura_snippets} snippets",
        ),
    ]
    against = None
    if earlier is not None:
        name = f"sadec@{args.against}"
        gains = [s / e for s, e in zip(rates["sadec"], rates[name], strict=True)]
        earlier_ratios = [e / t for e, t in zip(rates[name], rates["trafilatura"], strict=True)]
        rows.append(
            (
                f"build_article at {args.against}",
                common.median(rates[name]),
                1000 / common.median(rates[name]),
                f"{common.median(earlier_ratios):.2f}×",
                "",
            )
        )
        against = {
            "revision": args.against,
            "articles_per_cpu_s": [round(r, 1) for r in rates[name]],
            "ratio_to_trafilatura": round(common.median(earlier_ratios), 2),
            "speed_up_per_rep": [round(g, 2) for g in gains],
            "speed_up": round(common.median(gains), 2),
        }
    common.table(
        ["parser", "articles/CPU s", "CPU ms/article", "ratio", "correct"],
        rows,
        f"Parse and clean: {len(pages)} replica articles in Liferay {', '.join(generations)} "
        f"(median {common.median(sizes) / 1024:.0f} KB) given as {args.input}, "
        f"{args.repetitions} interleaved repetitions, CPU time of this process",
    )
    print(
        f"\nwall time: {common.median(wall_rates['sadec']):.1f} against "
        f"{common.median(wall_rates['trafilatura']):.1f} articles/s, "
        f"{common.median(wall_ratios):.2f}× (per repetition "
        + ", ".join(f"{r:.2f}" for r in wall_ratios)
        + ")"
    )
    if against is not None:
        print(
            f"against {args.against}: {against['speed_up']:.2f}× as fast (per repetition "
            + ", ".join(f"{g:.2f}" for g in against["speed_up_per_rep"])
            + ")"
        )
    met = ratio >= GOAL_RATIO and not wrong
    print(
        f"\ngoal ≥ {GOAL_RATIO}× trafilatura with every article correct: "
        f"{'met' if met else 'MISSED'}" + (f" (wrong fields: {wrong})" if wrong else "")
    )
    return {
        "params": {
            "articles": len(pages),
            "repetitions": args.repetitions,
            "generations": generations,
            "input": args.input,
        },
        "page_size_kb": {
            "median": round(common.median(sizes) / 1024, 1),
            "min": round(min(sizes) / 1024, 1),
            "max": round(max(sizes) / 1024, 1),
        },
        "trafilatura_version": trafilatura.__version__,
        "clock": "CPU time of the process (time.process_time)",
        "articles_per_cpu_s": {
            name: [round(r, 1) for r in values] for name, values in rates.items()
        },
        "ratio_per_rep": [round(r, 2) for r in ratios],
        "articles_per_wall_s": {
            name: [round(r, 1) for r in values] for name, values in wall_rates.items()
        },
        "wall_ratio_per_rep": [round(r, 2) for r in wall_ratios],
        "ratio": round(ratio, 2),
        "articles_correct": len(pages) - wrong_articles,
        "wrong_fields": wrong,
        "wrong_examples": wrong_examples,
        "trafilatura_snippets_found": [trafilatura_found, trafilatura_snippets],
        "against": against,
        "goal": {"ratio": GOAL_RATIO, "all_correct": not wrong, "met": met},
    }

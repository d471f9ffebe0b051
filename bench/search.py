"""Search: latency of the reading room (the real server, ``python -m serving``, Datasette over
HTTP on 127.0.0.1) on a synthetic archive of 100,000 articles, beside the same FTS queries run
directly in SQLite.

Cases, each repeated in interleaved rounds (every case once per round, the order rotated):
the articles table's search (JSON and the HTML page with the configured facets), with and
without tone marks, on a term in about half the articles, a rare term and a phrase; and the
ranked search with snippets (``/-/search``). Medians and 95th percentiles of wall time per
request, as a client sees it.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx
from datasette.utils import escape_fts

from pipelines.database import open_database
from serving import plugin, search
from serving.views import LIST_COLUMNS, PAGE_SIZE
from tests.support.reading_room import running_server

from . import archive, common

HELP = "reading-room search latency on 100,000 synthetic articles vs direct SQLite"
NAME = "search"
QUICK_ARGS = ["--articles", "20000", "--rounds", "10"]
ARCHIVE_VERSION = 1
"""Bump when bench/archive.py changes what it generates (the cached archive is rebuilt)."""
GOALS_MS = {"table-json": 150, "table-html": 400, "ranked": 250}
# Candidate search terms (as a reader types them): the benchmark picks, from the generated
# archive, the one hitting closest to half of it, a rare one and a phrase.
COMMON_CANDIDATES = ["làng hoa", "VietGAP", "câu lạc bộ", "thu nhập", "phần quà"]
RARE_CANDIDATES = ["nem Lai Vung", "bánh pía", "gạo huyết rồng", "mắm cá linh"]
PHRASE_CANDIDATES = ['"làng hoa Sa Đéc"', '"thu nhập ổn định"', '"cải cách hành chính"']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="requests per case")
    parser.add_argument(
        "--archive",
        type=Path,
        default=None,
        help="where the generated archive is kept between runs (default: the temp folder)",
    )


def archive_path(args) -> Path:
    if args.archive:
        return args.archive
    name = f"sadec-bench-archive-{args.articles}-v{ARCHIVE_VERSION}.db"
    return Path(tempfile.gettempdir()) / name


def ensure_archive(path: Path, articles: int) -> dict:
    """The generated archive, built once and kept; every migration applied (as a crawl would
    leave it after an upgrade)."""
    info = {"path": str(path), "generated_now": False}
    if not path.exists():
        common.progress(f"search: generating {articles} articles into {path}")
        started = time.perf_counter()
        info.update(archive.build(path, articles))
        info["generated_now"] = True
        info["generation_s"] = round(time.perf_counter() - started, 1)
    db = open_database(path)  # applies any migration added since the archive was generated
    db.conn.close()
    info["size_mb"] = round(path.stat().st_size / 2**20, 1)
    return info


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    # The reading room's SQL functions, so the direct queries are the same queries.
    conn.create_function("vn_fold", 1, plugin.fold, deterministic=True)
    for arity in (1, 2):
        conn.create_function("vn_fts", arity, plugin._fts, deterministic=True)
    for arity in (2, 3, 4):
        conn.create_function("vn_snippet", arity, plugin._snippet, deterministic=True)
    return conn


def hits(conn: sqlite3.Connection, query: str) -> int:
    match = search.to_fts(query, search.FOLDED)
    return conn.execute(
        "select count(*) from articles_fts where articles_fts match ?", [match]
    ).fetchone()[0]


def pick_terms(conn: sqlite3.Connection, total: int) -> dict[str, tuple[str, int]]:
    def closest(candidates, share):
        counted = [(term, hits(conn, term)) for term in candidates]
        return min(counted, key=lambda pair: abs(pair[1] / total - share))

    return {
        "common": closest(COMMON_CANDIDATES, 0.5),
        "rare": closest(RARE_CANDIDATES, 0.002),
        "phrase": closest(PHRASE_CANDIDATES, 0.5),
    }


def direct_table_sql(term: str, plus: bool = True) -> tuple[str, dict]:
    """What the articles table page asks SQLite for: the newest page of matches, as the
    plugin's search writes it (``+asset_id``), or as Datasette's own did (``plus=False``)."""
    match = escape_fts(search.normalise_query(term, search.FOLDED))
    sql = (
        f"select * from articles where {'+' if plus else ''}asset_id in (select rowid from "
        "articles_fts where articles_fts match :match) order by published_at desc limit 51"
    )
    return sql, {"match": match}


def direct_ranked_sql(term: str) -> tuple[str, dict]:
    """What /-/search asks SQLite for: 20 best by bm25 with snippets, and the total."""
    fts = search.FTS_TABLES[search.FOLDED]
    sql = f"""
        select {LIST_COLUMNS}, a.image_count, r.rank,
          vn_snippet(a.title, :q, :mode, 0) as title_html,
          vn_snippet(coalesce(a.summary || char(10), '') || a.body_text, :q, :mode, 260)
            as snippet_html
        from (
          select rowid, bm25({fts}, 10.0, 4.0, 1.0) as rank from {fts}
          where {fts} match :match order by rank limit :limit
        ) as r join articles as a on a.asset_id = r.rowid
        order by r.rank
    """
    params = {
        "q": term,
        "mode": search.FOLDED,
        "match": search.to_fts(term, search.FOLDED),
        "limit": PAGE_SIZE,
    }
    return sql, params


def cases(terms: dict[str, tuple[str, int]]) -> list[dict]:
    common_term, rare_term, phrase = terms["common"][0], terms["rare"][0], terms["phrase"][0]
    unaccented = search.normalise_query(common_term, search.FOLDED)
    out = []

    def add(kind, label, term, **how):
        out.append({"kind": kind, "label": label, "term": term, **how})

    table_terms = (
        ("common, accented", common_term),
        ("common, unaccented", unaccented),
        ("rare", rare_term),
        ("phrase", phrase),
    )
    for label, term in table_terms:
        args = urllib.parse.urlencode({"_search": term})
        add("table-json", label, term, path=f"/archive/articles.json?{args}")
        add("table-html", label, term, path=f"/archive/articles?{args}")
    for label, term in (("common", common_term), ("rare", rare_term), ("phrase", phrase)):
        args = urllib.parse.urlencode({"q": term})
        add("ranked", label, term, path=f"/-/search?{args}")
        add("ranked-json", label, term, path=f"/-/search.json?{args}")
    for label, term in (("common", common_term), ("rare", rare_term), ("phrase", phrase)):
        add("sqlite-table", label, term, sql=direct_table_sql(term))
        add("sqlite-ranked", label, term, sql=direct_ranked_sql(term))
    # For reference: the newest page as Datasette's own table search asked SQLite for it.
    add("sqlite-table-datasette", "common", common_term, sql=direct_table_sql(common_term, False))
    return out


def run(args) -> dict:
    path = archive_path(args)
    info = ensure_archive(path, args.articles)
    conn = _connect(path)
    total = conn.execute("select count(*) from articles").fetchone()[0]
    terms = pick_terms(conn, total)
    common.progress(
        "search: terms "
        + ", ".join(f"{k} {t!r} ({100 * n / total:.1f}%)" for k, (t, n) in terms.items())
    )
    plan = cases(terms)
    timings: dict[int, list[float]] = {i: [] for i in range(len(plan))}
    sizes: dict[int, int] = {}
    with (
        running_server(path, timeout=120) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        for i, case in enumerate(plan):  # warm caches: the first request of each is not counted
            if "path" in case:
                response = client.get(case["path"])
                response.raise_for_status()
                sizes[i] = len(response.content)
            else:
                conn.execute(*case["sql"]).fetchall()
        for _, i in common.interleaved(list(range(len(plan))), args.rounds):
            case = plan[i]
            started = time.perf_counter()
            if "path" in case:
                client.get(case["path"]).raise_for_status()
            else:
                conn.execute(*case["sql"]).fetchall()
            timings[i].append(1000 * (time.perf_counter() - started))
    conn.close()

    rows, results = [], []
    for i, case in enumerate(plan):
        values = timings[i]
        median, p95 = common.median(values), common.percentile(values, 0.95)
        goal = (
            GOALS_MS.get(case["kind"]) if case["label"].startswith(("common", "phrase")) else None
        )
        result = {
            "kind": case["kind"],
            "label": case["label"],
            "term": case["term"],
            "request": case.get("path") or " ".join(case["sql"][0].split()),
            "median_ms": round(median, 1),
            "p95_ms": round(p95, 1),
            "min_ms": round(min(values), 1),
            "max_ms": round(max(values), 1),
            "response_kb": round(sizes[i] / 1024, 1) if i in sizes else None,
            "goal_p95_ms": goal,
            "met": None if goal is None else p95 <= goal,
        }
        results.append(result)
        rows.append(
            (
                case["kind"],
                case["label"],
                result["median_ms"],
                result["p95_ms"],
                f"≤ {goal}" if goal else "",
                "" if goal is None else ("met" if result["met"] else "MISSED"),
            )
        )
    common.table(
        ["request", "term", "median ms", "p95 ms", "goal p95", ""],
        rows,
        f"Search latency: {total:,} articles ({info['size_mb']:,} MB), "
        f"{args.rounds} interleaved rounds; terms: "
        + "; ".join(f"{k} {t!r} in {100 * n / total:.1f}%" for k, (t, n) in terms.items()),
    )
    missed = [r for r in results if r["met"] is False]
    return {
        "params": {"articles": total, "rounds": args.rounds},
        "archive": info,
        "terms": {
            k: {"term": t, "hits": n, "share": round(n / total, 4)} for k, (t, n) in terms.items()
        },
        "cases": results,
        "goal": {"p95_ms": GOALS_MS, "met": not missed},
    }

"""The reading room's own pages: ranked search, article reader, charts, Atom feed, about, robots.

Each handler is an ``async def(datasette, request)`` registered by :mod:`serving.plugin`. All
SQL goes through ``Database.execute`` so Datasette's time limit and thread pool apply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import urllib.parse
from pathlib import Path

from datasette.utils import tilde_encode
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from sadec_crawler.units import default_authority

from . import charts, citation, feed, search
from .security import clean_article_html, safe_link, safe_stored_path
from .server import FILES_MOUNT, load_dictionary

STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 20
FEED_SIZE = 50
LIST_COLUMNS = "a.asset_id, a.url, a.title, a.published_at, a.category, a.unit, a.author"


async def archive_database(datasette):
    """The served database holding ``articles``: ``archive`` when present (``sadec serve``
    always names it so), else the first attached database that has the table."""
    names = [name for name in datasette.databases if not name.startswith("_")]
    names.sort(key=lambda name: name != "archive")
    for name in names:
        db = datasette.get_database(name)
        if await db.table_exists("articles"):
            return db
    raise NotFound("No archive database (with an articles table) is being served")


def robots_allowed(datasette) -> bool:
    """Crawlers are kept out unless the operator opts in (env var or plugin setting)."""
    if os.environ.get("SADEC_ALLOW_ROBOTS", "").lower() in ("1", "true", "yes"):
        return True
    config = datasette.plugin_config("sadec") or {}
    return bool(config.get("allow_robots"))


def _mode(request) -> str:
    mode = request.args.get("mode") or search.FOLDED
    return mode if mode in search.MODES else search.FOLDED


def _int_arg(request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name) or default)
    except ValueError:
        value = default
    return max(low, min(high, value))


def table_url(datasette, db_name: str, **args: str) -> str:
    """URL of the articles table with query arguments (facet filters, search)."""
    url = datasette.urls.table(db_name, "articles")
    return url + ("?" + urllib.parse.urlencode(args) if args else "")


def reader_path(datasette, asset_id: int) -> str:
    """Path of the reading page of one article."""
    return datasette.urls.path(f"/-/article/{asset_id}")


ORDERS = ("relevance", "newest", "oldest")
"""How the search page orders its results."""


async def dated_search(db, query, mode, limit, offset, order, since, until, portal=None):
    """One page of results ordered by date or within dates (``since``/``until``: ISO dates,
    inclusive) or on one portal (``articles.portal``), and the total count; ranked by bm25
    inside the window for ``relevance``."""
    match = search.to_fts(query, mode)
    if match is None:
        return [], 0
    fts = search.FTS_TABLES[mode]
    window, params = [], {"match": match}
    if since:
        window.append("a.published_at >= :since")
        params["since"] = since
    if until:
        window.append("a.published_at < :until_next")
        params["until_next"] = until + "T99"  # after every time of that day
    if portal:
        window.append("a.portal = :portal")
        params["portal"] = portal
    matched = f"a.asset_id in (select rowid from {fts} where {fts} match :match)"
    where = " and ".join([matched, *window])
    count_sql = f"select count(*) from articles as a where {where}"
    count = (await db.execute(count_sql, params)).first()[0]
    if order == "relevance":
        ids_sql = f"""
            select f.rowid from {fts} as f join articles as a on a.asset_id = f.rowid
            where {fts} match :match {"and " + " and ".join(window) if window else ""}
            order by bm25({fts}, 10.0, 4.0, 1.0), f.rowid limit :limit offset :offset
        """
    else:
        direction = "desc" if order == "newest" else "asc"
        ids_sql = f"""
            select a.asset_id from articles as a where {where}
            order by a.published_at {direction}, a.asset_id {direction}
            limit :limit offset :offset
        """
    found = await db.execute(ids_sql, {**params, "limit": limit, "offset": offset})
    ids = [row[0] for row in found]
    return await result_rows(db, query, mode, ids), count


async def result_rows(db, query: str, mode: str, ids: list[int]) -> list[dict]:
    """The articles ``ids``, in that order, with their highlighted title and snippet
    (``vn_snippet``, computed for these rows only)."""
    if not ids:
        return []
    placeholders = ", ".join(f":id{i}" for i in range(len(ids)))
    page_sql = f"""
        select {LIST_COLUMNS}, a.image_count,
          vn_snippet(a.title, :q, :mode, 0) as title_html,
          vn_snippet(coalesce(a.summary || char(10), '') || a.body_text, :q, :mode, 260)
            as snippet_html
        from articles as a where a.asset_id in ({placeholders})
    """
    page_params = {"q": query, "mode": mode, **{f"id{i}": n for i, n in enumerate(ids)}}
    position = {asset_id: i for i, asset_id in enumerate(ids)}
    return sorted(
        (dict(row) for row in await db.execute(page_sql, page_params)),
        key=lambda row: position[row["asset_id"]],
    )


def _date_arg(request, name: str) -> str | None:
    """An ISO date argument (``2021-03-19``), None when absent or not a date."""
    value = (request.args.get(name) or "").strip()
    try:
        return dt.date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None


async def ranked_search(db, query: str, mode: str, limit: int, offset: int):
    """One page of results by bm25 (title weighs 10, summary 4, body 1) and the total count.

    Ranking every match is most of the work when a term is in half the archive, so it runs
    as two queries at once, one per half of the rowids (bm25 takes its statistics from the
    whole index either way, so the scores are the same), each keeping its best
    ``offset + limit``; the page is the best of both. With the count on a third of
    Datasette's SQL threads, the three share the machine's cores (SQLite lets go of the GIL):
    a phrase in half of 100,000 articles ranked in about 120 ms instead of 170 ms here.
    Snippets (Python, via ``vn_snippet``) are then computed for the rows shown only.
    """
    match = search.to_fts(query, mode)
    if match is None:
        return [], 0
    fts = search.FTS_TABLES[mode]
    bounds = (await db.execute("select min(asset_id), max(asset_id) from articles")).first()
    middle = (bounds[0] + bounds[1]) // 2 if bounds and bounds[0] is not None else 0
    rank_sql = f"""
        select rowid, bm25({fts}, 10.0, 4.0, 1.0) as rank from {fts}
        where {fts} match :match and rowid {{}} :middle order by rank, rowid limit :want
    """
    params = {"match": match, "middle": middle, "want": offset + limit}
    count_sql = f"select count(*) from {fts} where {fts} match :match"
    lower, upper, count = await asyncio.gather(
        db.execute(rank_sql.format("<="), params),
        db.execute(rank_sql.format(">"), params),
        db.execute(count_sql, {"match": match}),
    )
    ranked = sorted([*lower, *upper], key=lambda row: (row[1], row[0]))[offset : offset + limit]
    rank_of = {row[0]: row[1] for row in ranked}
    rows = await result_rows(db, query, mode, [row[0] for row in ranked])
    return [dict(row, rank=rank_of[row["asset_id"]]) for row in rows], count.first()[0]


MAX_PAGES = 500
"""Pages of ranked results a search shows at most (10,000 results): past that, narrow it."""


def no_result_hints(query: str, mode: str) -> list[str]:
    """What to try when a search found nothing, in the reader's terms."""
    hints = []
    if mode == search.EXACT:
        hints.append("exact")
    if len([p for p in search.parse_query(query, mode) if p != "OR"]) > 1:
        hints.append("fewer")
    if '"' in query:
        hints.append("phrase")
    if search.normalise_query(query, search.FOLDED) == search.normalise_query(query, search.EXACT):
        hints.append("accents")
    return hints


async def search_page(datasette, request):
    """``/-/search?q=…&mode=folded|exact&page=N``: ranked results with highlighted snippets;
    ``/-/search.json`` gives the same as JSON."""
    db = await archive_database(datasette)
    query = (request.args.get("q") or "").strip()
    mode = _mode(request)
    page = _int_arg(request, "page", 1, 1, MAX_PAGES)
    order = request.args.get("sort") if request.args.get("sort") in ORDERS else "relevance"
    since, until = _date_arg(request, "from"), _date_arg(request, "to")
    portals = [
        row[0]
        for row in await db.execute(
            "select distinct portal from articles where portal is not null order by portal"
        )
    ]
    portal = request.args.get("portal") if request.args.get("portal") in portals else None

    async def results(number: int):
        offset = (number - 1) * PAGE_SIZE
        if order == "relevance" and not since and not until and not portal:
            return await ranked_search(db, query, mode, PAGE_SIZE, offset)
        return await dated_search(db, query, mode, PAGE_SIZE, offset, order, since, until, portal)

    rows, total = await results(page)
    pages = min(MAX_PAGES, -(-total // PAGE_SIZE))
    if total and page > pages:
        # Past the end (an old link, a typed number): the last page, not an empty one.
        page = pages
        rows, total = await results(page)
    for row in rows:
        row["reader_url"] = reader_path(datasette, row["asset_id"])
    if request.url_vars.get("format") == "json":
        body = {
            "q": query,
            "mode": mode,
            "sort": order,
            "from": since,
            "to": until,
            "portal": portal,
            "page": page,
            "pages": pages,
            "total": total,
            "rows": rows,
        }
        return Response(json_dumps(body), content_type="application/json; charset=utf-8")
    for row in rows:
        row["title_html"] = Markup(row["title_html"])
        row["snippet_html"] = Markup(row["snippet_html"])

    kept = {
        "sort": order if order != "relevance" else None,
        "from": since,
        "to": until,
        "portal": portal,
    }
    kept = {key: value for key, value in kept.items() if value}

    def page_url(number: int) -> str:
        return "?" + urllib.parse.urlencode({"q": query, "mode": mode, **kept, "page": number})

    context = {
        "q": query,
        "mode": mode,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "sort": order,
        "since": since or "",
        "until": until or "",
        "portal": portal or "",
        "portals": portals if len(portals) > 1 else [],
        "searched": search.describe_query(query, mode) if query else "",
        "hints": no_result_hints(query, mode) if query and not total else [],
        "folded_url": page_url(1).replace("mode=exact", "mode=folded"),
        "prev_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
        "table_search_url": table_url(
            datasette,
            db.name,
            _search=query,
            **({"_fts_table": search.FTS_TABLES[search.EXACT]} if mode == search.EXACT else {}),
        ),
        "feed_url": datasette.urls.path("/-/feed.atom?")
        + urllib.parse.urlencode({"q": query, "mode": mode}),
        "json_url": datasette.urls.path("/-/search.json?")
        + urllib.parse.urlencode({"q": query, "mode": mode, **kept, "page": page}),
    }
    html = await datasette.render_template("sadec_search.html", context, request=request)
    return Response.html(html)


def local_copies(datasette, files: list[dict]) -> dict[str, str]:
    """Original URL → URL of the archive's own copy, for files downloaded by the crawl (the
    portal may be gone; the copy is what the archive vouches for)."""
    mounts = {mount for mount, _ in getattr(datasette, "static_mounts", [])}
    if FILES_MOUNT not in mounts:
        return {}
    return {
        item["url"]: datasette.urls.path(f"/{FILES_MOUNT}/{safe_stored_path(item['stored_path'])}")
        for item in files
        if item.get("url") and safe_stored_path(item.get("stored_path")) and item.get("sha256")
    }


def use_local_copies(body_html: str, copies: dict[str, str]) -> str:
    """Point the body's image sources and file links at the archive's copies."""
    for original, local in copies.items():
        quoted, local = str(escape(original)), str(escape(local))
        body_html = body_html.replace(f'src="{quoted}"', f'src="{local}"')
        body_html = body_html.replace(f'href="{quoted}"', f'href="{local}"')
    return body_html


_IMG = re.compile(r"<img\b[^>]*>")
_ALT = re.compile(r'\salt="[^"]*"')


def with_captions_as_alt(body_html: str, images: list[dict]) -> str:
    """Body images without a text alternative get their caption as one (editors rarely fill
    ``alt``; the caption under the photo says what it shows)."""
    captions = {}
    for image in images:
        if image.get("caption"):
            for url in filter(None, (image.get("url"), image.get("local_url"))):
                captions[str(escape(url))] = str(escape(image["caption"]))

    def give_alt(match: re.Match) -> str:
        tag = match.group(0)
        src = re.search(r'\ssrc="([^"]*)"', tag)
        caption = captions.get(src.group(1)) if src else None
        if not caption:
            return tag
        alt = _ALT.search(tag)
        if alt and alt.group(0) != ' alt=""':
            return tag
        tag = _ALT.sub("", tag)
        return tag[:4] + f' alt="{caption}"' + tag[4:]

    return _IMG.sub(give_alt, body_html)


def asset_id_from(request) -> int:
    """The asset id of an article URL (``/-/article/<id>``), or a 404 that says what it got."""
    text = request.url_vars["asset_id"]
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise NotFound(
            f"Không có bài viết “{text}” · No article “{text}”: an article's id is a number"
        )
    return int(text)


async def article_page(datasette, request):
    """``/-/article/<asset_id>``: one article for reading, body re-sanitised, with its images,
    attachments and earlier versions."""
    db = await archive_database(datasette)
    asset_id = asset_id_from(request)
    row = (await db.execute("select * from articles where asset_id = ?", [asset_id])).first()
    if row is None:
        raise NotFound(f"No article with asset id {asset_id}")
    article = dict(row)
    images = [
        dict(r)
        for r in await db.execute(
            "select * from images where article_url = ? order by position", [article["url"]]
        )
    ]
    attachments = [
        dict(r)
        for r in await db.execute(
            "select * from attachments where article_url = ? order by position", [article["url"]]
        )
    ]
    versions = (
        await db.execute(
            "select count(*) from article_versions where article_url = ?", [article["url"]]
        )
    ).first()[0]
    cited = (
        [
            dict(r)
            for r in await db.execute(
                "select * from document_refs where article_url = ? order by position",
                [article["url"]],
            )
        ]
        if "document_refs" in await db.table_names()
        else []
    )
    for ref in cited:
        ref["citing_url"] = datasette.urls.table(db.name, "document_refs") + (
            "?" + urllib.parse.urlencode({"symbol": ref["symbol"]})
        )
    copies = local_copies(datasette, images + attachments)
    for item in images + attachments:
        item["local_url"] = copies.get(item["url"])
        item["link"] = safe_link(item["url"])
    article["link"] = safe_link(article["url"])
    # Every capture the Internet Archive holds of the page, for a reader checking the text
    # against other copies.
    article["wayback_calendar"] = (
        f"https://web.archive.org/web/*/{article['link']}" if article["link"] else None
    )
    article["capture_link"] = safe_link(article.get("capture_url"))
    permalink = datasette.absolute_url(request, datasette.urls.path(f"/-/article/{asset_id}"))
    context = {
        "article": article,
        "citation": citation.cite(article, permalink),
        "body_html": Markup(
            with_captions_as_alt(
                use_local_copies(clean_article_html(article["body_html"]), copies),
                images,
            )
        ),
        "images": images,
        "attachments": attachments,
        "cited": cited,
        "versions": versions,
        "versions_url": datasette.urls.table(db.name, "article_versions")
        + "?"
        + urllib.parse.urlencode({"article_url": article["url"]}),
        "history_url": datasette.urls.path(f"/-/article/{asset_id}/history"),
        "row_url": datasette.urls.row(db.name, "articles", tilde_encode(article["url"])),
        "category_url": table_url(datasette, db.name, category=article["category"] or ""),
        "unit_url": table_url(datasette, db.name, unit=article["unit"] or ""),
    }
    html = await datasette.render_template("sadec_article.html", context, request=request)
    return Response.html(html)


async def _counts(db, expression: str, order: str, limit: int) -> list[dict]:
    sql = (
        f"select {expression} as label, count(*) as n from articles "
        f"where {expression} is not null and {expression} != '' "
        f"group by label order by {order} limit {limit}"
    )
    return [dict(r) for r in await db.execute(sql)]


async def charts_page(datasette, request):
    """``/-/charts``: articles per month, per category and per unit, as SVG bar charts."""
    db = await archive_database(datasette)
    months = await _counts(db, "substr(published_at, 1, 7)", "label", 1000)
    categories = await _counts(db, "category", "n desc, label", 40)
    units = await _counts(db, "unit", "n desc, label", 40)

    def bars(rows, column):
        return [
            charts.Bar(
                r["label"],
                r["n"],
                table_url(datasette, db.name, **{column: r["label"]}),
            )
            for r in rows
        ]

    months = [
        {"label": label, "n": count}
        for label, count in charts.every_month({r["label"]: r["n"] for r in months})
    ]
    month_bars = [
        charts.Bar(
            r["label"], r["n"], table_url(datasette, db.name, published_at__startswith=r["label"])
        )
        for r in months
    ]
    context = {
        "month_chart": Markup(charts.vertical_bars(month_bars, "Articles per month")),
        "category_chart": Markup(
            charts.horizontal_bars(bars(categories, "category"), "Articles per category")
        ),
        "unit_chart": Markup(charts.horizontal_bars(bars(units, "unit"), "Articles per unit")),
        "months": months,
    }
    html = await datasette.render_template("sadec_charts.html", context, request=request)
    return Response.html(html)


async def feed_atom(datasette, request):
    """``/-/feed.atom`` (latest articles) and ``/-/feed.atom?q=…&mode=…`` (a search), newest
    first."""
    db = await archive_database(datasette)
    query = (request.args.get("q") or "").strip()
    mode = _mode(request)
    columns = (
        f"{LIST_COLUMNS}, a.summary, substr(a.body_text, 1, 400) as body_text, a.last_changed_at"
    )
    match = search.to_fts(query, mode) if query else None
    if match:
        fts = search.FTS_TABLES[mode]
        sql = (
            f"select {columns} from articles as a where a.asset_id in "
            f"(select rowid from {fts} where {fts} match :match) "
            "order by a.published_at desc, a.asset_id desc limit :limit"
        )
    else:
        sql = (
            f"select {columns} from articles as a "
            "order by a.published_at desc, a.asset_id desc limit :limit"
        )
    rows = [dict(r) for r in await db.execute(sql, {"match": match, "limit": FEED_SIZE})]
    self_url = datasette.absolute_url(request, request.full_path)
    title = "Tin tức thành phố Sa Đéc — lưu trữ"
    if query:
        title += f" — tìm kiếm: {query}"
    body = feed.build_feed(
        feed_id=self_url,
        title=title,
        self_url=self_url,
        home_url=datasette.absolute_url(request, datasette.urls.instance()),
        rows=rows,
        reader_url=lambda row: datasette.absolute_url(
            request, reader_path(datasette, row["asset_id"])
        ),
    )
    return Response(body, content_type="application/atom+xml; charset=utf-8")


async def about_page(datasette, request):
    """``/-/about``: the data dictionary (from metadata) and the archive's coverage (from the
    data: date range, crawl runs)."""
    db = await archive_database(datasette)
    coverage = dict(
        (
            await db.execute(
                "select count(*) as articles, min(substr(published_at, 1, 10)) as first, "
                "max(substr(published_at, 1, 10)) as last, "
                "sum(gone_at is not null) as gone, sum(source = 'wayback') as wayback "
                "from articles"
            )
        ).first()
    )
    runs = [
        dict(r)
        for r in await db.execute(
            "select id, started_at, finished_at, mode, source, articles_seen, articles_new, "
            "articles_changed, errors, finish_reason from crawl_runs order by id desc limit 20"
        )
    ]
    authority = default_authority()
    unknown_units = [
        {"name": raw, "articles": count}
        for raw, count in await db.execute(
            "select unit_raw, count(*) from articles where unit_raw is not null "
            "group by unit_raw order by count(*) desc, unit_raw"
        )
        if not authority.knows(raw)
    ]
    context = {
        "coverage": coverage,
        "runs": runs,
        "unknown_units": unknown_units,
        "dictionary_url": datasette.urls.path("/-/dictionary"),
        "metadata": datasette.metadata(),
    }
    html = await datasette.render_template("sadec_about.html", context, request=request)
    return Response.html(html)


async def dictionary_page(datasette, request):
    """``/-/dictionary``: every table and column of the archive (``serving/dictionary.yml``),
    with the tables' descriptions from the metadata."""
    db = await archive_database(datasette)
    tables = datasette.metadata("tables", database=db.name) or {}
    described = load_dictionary()
    dictionary = [
        {
            "name": name,
            "description": (tables.get(name) or {}).get("description", ""),
            "columns": list((config.get("columns") or {}).items()),
            "url": datasette.urls.table(db.name, name),
        }
        for name, config in described.items()
    ]
    html = await datasette.render_template(
        "sadec_dictionary.html", {"dictionary": dictionary}, request=request
    )
    return Response.html(html)


async def robots_txt(datasette, request):
    """``/robots.txt``: everything disallowed unless the operator allowed robots."""
    rules = "Disallow:" if robots_allowed(datasette) else "Disallow: /"
    return Response.text(f"User-agent: *\n{rules}\n")


async def stylesheet(datasette, request):
    """``/-/sadec/sadec.css``: served by the plugin itself, so it works however Datasette was
    started (``sadec serve`` or a plain ``datasette`` with the plugin installed)."""
    css = (STATIC / "sadec.css").read_text(encoding="utf-8")
    return Response(
        css,
        content_type="text/css; charset=utf-8",
        headers={"Cache-Control": "max-age=3600"},
    )


def json_dumps(value) -> str:
    """JSON with Vietnamese left readable (not ``\\u`` escaped)."""
    return json.dumps(value, ensure_ascii=False, default=str)

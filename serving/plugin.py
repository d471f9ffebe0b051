"""The Datasette plugin of the Sa Đéc reading room (entry point ``sadec`` in pyproject).

Hooks:

- ``prepare_connection``: SQL functions ``vn_fold``, ``vn_fts`` and ``vn_snippet`` (usable in
  any SQL query too) and ``query_only`` on the archive's connections;
- ``asgi_wrapper``: folds the ``_search`` of the articles table before Datasette sees it, and
  adds the Content-Security-Policy and robots headers;
- ``register_routes``: the pages of :mod:`serving.views`;
- ``filters_from_request``: the articles table's search (instead of Datasette's own);
- ``register_facet_classes``: column, year and month facets counted fast (serving.facets);
- ``render_cell``: article bodies stay out of table cells (a link to the reader instead);
- ``menu_links``, ``extra_css_urls``, ``startup``.
"""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
import urllib.parse
from pathlib import Path

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ArrayFacet, DateFacet
from datasette.filters import FilterArguments
from datasette.utils import detect_json1
from datasette.utils.asgi import Base400, Request, Response
from datasette.views.base import DatasetteError
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup, escape

from sadec_crawler.layout import RASTER_IMAGE_TYPES
from sadec_crawler.textnorm import fold

from . import facets, history, search, views
from .facets import MonthFacet, SadecColumnFacet, YearFacet
from .security import (
    clean_snippet_html,
    content_security_policy,
    datasette_inline_script_hashes,
)
from .server import FILES_MOUNT, SETTINGS

TEMPLATES = Path(__file__).parent / "templates"
MENU_SCRIPT_HASHES, ALL_SCRIPT_HASHES = datasette_inline_script_hashes()
# Datasette's pages load its own static JS; the reader page needs none but the menu script.
DATASETTE_CSP = content_security_policy(["'self'", *ALL_SCRIPT_HASHES])
logger = logging.getLogger(__name__)
SQL_TIME_LIMIT_S = SETTINGS["sql_time_limit_ms"] / 1000

HIDDEN_PATHS = re.compile(r"^/-/(databases|threads)(\.json)?$")
"""Datasette's introspection pages that show the database's absolute path or the server's
source files: not for visitors."""
MAX_VALUE_BYTES = 20_000_000
"""SQLite's ``SQLITE_LIMIT_LENGTH`` on the reading room's connections: the largest string or
blob a query may build."""
READER_CSP = content_security_policy(MENU_SCRIPT_HASHES)

_ARTICLES_PATH = re.compile(r"^/[^/]+/articles(\.[a-z]+)?$")
_READER_PATH = re.compile(r"^/-/article/")
BODY_PREVIEW = 200
_READER_LINKED = {"body_html", "body_text", "asset_id", "title"}


# ---------------------------------------------------------------- SQL functions


def _snippet(text, query, mode=search.FOLDED, width=260):
    """SQL ``vn_snippet(text, query[, mode[, width]])``: HTML, matches in ``<mark>``."""
    width = max(0, min(int(width or 0), search.MAX_SNIPPET_WIDTH))
    return search.highlight(text, query, mode if mode in search.MODES else search.FOLDED, width)


def _fts(query, mode=search.FOLDED):
    """SQL ``vn_fts(query[, mode])``: the safe FTS5 expression for a user query."""
    return search.to_fts(query, mode if mode in search.MODES else search.FOLDED)


@hookimpl
def prepare_connection(conn, database, datasette):
    conn.create_function("vn_fold", 1, fold, deterministic=True)
    for arity in (1, 2):
        conn.create_function("vn_fts", arity, _fts, deterministic=True)
    for arity in (2, 3, 4):
        conn.create_function("vn_snippet", arity, _snippet, deterministic=True)
    # A value past this fails at once ("string or blob too big") instead of building a
    # gigabyte in one step no time limit can interrupt (printf('%.*c', 1e9, 'x'): 38 s and
    # 769 MB before; red-team finding 2). The largest article body is far below it.
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    if not database.startswith("_"):
        # Belt and braces with Datasette's read-only connections: even a plugin's write fails.
        conn.execute("pragma query_only = 1")


# ---------------------------------------------------------------- request rewriting


def fold_search_args(query_string: str) -> str:
    """Rewrite an articles-table query string for the folded index.

    ``_search`` is folded (Datasette then escapes it as usual, quotes kept as phrases).
    ``_search_<column>`` is turned into one raw ``_search`` with FTS5 column filters, because
    Datasette's column search joins on ``rowid`` while this index is keyed by ``asset_id``.
    Nothing changes when the exact-tone index is asked for (``_fts_table=articles_fts_exact``
    or the plugin's ``_sadec_fts_table``), except the column-search rewrite.
    """
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    args = dict(pairs)
    # Datasette's own name, or the plugin's (``table_args``): the plugin's is what every link
    # Datasette draws on a results page carries (CSV, JSON, facets, sort, next page).
    index = args.get("_fts_table") or args.get(facets.FTS_TABLE_ARG)
    exact = index == search.FTS_TABLES[search.EXACT]
    mode = search.EXACT if exact else search.FOLDED
    column_searches = [
        (key[len("_search_") :], value)
        for key, value in pairs
        if key.startswith("_search_") and value.strip()
    ]
    out = []
    if column_searches:
        expressions = []
        if args.get("_search", "").strip():
            expressions.append(search.to_fts(args["_search"], mode))
        for column, value in column_searches:
            match = search.to_fts(value, mode)
            if match and re.fullmatch(r"\w+", column):
                expressions.append(f"{column} : ({match})")
        raw = " AND ".join(f"({e})" for e in expressions if e)
        out = [(k, v) for k, v in pairs if not k.startswith("_search")]
        out += [("_search", raw), ("_searchmode", "raw")]
    else:
        for key, value in pairs:
            if key == "_search" and not exact:
                value = fold(value)
            out.append((key, value))
    return urllib.parse.urlencode(out)


UTF8_BOM = b"\xef\xbb\xbf"


def csv_args(query_string: str) -> tuple[str, bool]:
    """A CSV request's query string as Datasette should answer it, and whether to start the
    file with a byte-order mark.

    Every row, not the first page: ``_stream=on`` unless the request pages itself (``_next``,
    ``_size``) or says ``_stream`` (the documented ``/archive/articles.csv?_search=sa+dec``
    once returned 50 of 64 rows without a word). ``_bom=1`` is the Excel-friendly variant:
    Excel reads UTF-8 as its legacy code page unless the file starts with a BOM."""
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    bom = any(key == "_bom" and value not in ("", "0", "off") for key, value in pairs)
    out = [(key, value) for key, value in pairs if key != "_bom"]
    if not any(key in ("_stream", "_next", "_size") for key, _ in out):
        out.append(("_stream", "on"))
    return urllib.parse.urlencode(out), bom


READING_COLUMNS = ("title", "published_at", "category", "unit", "author", "asset_id")
"""The articles table's columns on its HTML page unless asked otherwise: 36 columns with full
bodies once made it 8,380 px wide and titles one word a line."""
ALL_COLUMNS_ARG = "_sadec_cols"
"""``_sadec_cols=all`` shows every column (CSV and JSON always have them all)."""


def default_columns(query_string: str) -> str:
    """The HTML table's query string with :data:`READING_COLUMNS` when it names no columns
    (marked ``_sadec_cols=reading``, so the CSV and JSON links drawn from it drop them)."""
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    if any(key in ("_col", "_nocol", ALL_COLUMNS_ARG) for key, _ in pairs):
        return query_string
    reading = [("_col", column) for column in READING_COLUMNS] + [(ALL_COLUMNS_ARG, "reading")]
    return urllib.parse.urlencode(pairs + reading)


def without_reading_columns(query_string: str) -> str:
    """A CSV or JSON request's query string without the HTML page's default columns."""
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    if (ALL_COLUMNS_ARG, "reading") not in pairs:
        return query_string
    return urllib.parse.urlencode(
        [(key, value) for key, value in pairs if key not in ("_col", ALL_COLUMNS_ARG)]
    )


def table_args(query_string: str, json: bool) -> tuple[str, bool]:
    """The articles table's query string as the plugin's own search expects it, and whether
    the plugin counts the matches itself.

    ``_fts_table`` becomes ``_sadec_fts_table``: the table search is the plugin's
    (``filters_from_request``), and Datasette would otherwise run its own as well. A JSON
    request gets ``_nofacet=1`` unless it names a facet (``_facet…``): API clients rarely want
    the facets, and counting them is most of the work of a search. A search whose filters
    the full-text index can count gets ``_nocount=1``: Datasette's count of a search walks
    the whole table again; the plugin counts the index's matches instead (the same number)
    and puts it where Datasette's would have been (``extra_template_vars``, and the JSON).
    """
    pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    out = [(facets.FTS_TABLE_ARG if key == "_fts_table" else key, value) for key, value in pairs]
    if json and not any(key.startswith(("_facet", "_nofacet")) for key, _ in pairs):
        out.append(("_nofacet", "1"))
    own_count = bool(dict(out).get(facets.SEARCH_ARG, "").strip()) and (
        facets.pair_filters(out) is not None
    )
    if own_count:
        out = [pair for pair in out if pair[0] != "_nocount"] + [("_nocount", "1")]
    return urllib.parse.urlencode(out), own_count


_NULL_COUNT = b'"filtered_table_rows_count": null'


def _with_own_count(send, datasette, database: str, scope, receive):
    """``send`` for a table search answered in JSON: the plugin's count of the matches goes
    where Datasette's count would have been (Datasette was told ``_nocount``)."""
    start: dict = {}
    chunks: list[bytes] = []

    async def patched(message):
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        if start.get("status") == 200 and _NULL_COUNT in body:
            count = await facets.match_count(
                datasette, database, facets.ARTICLES, Request(scope, receive)
            )
            if count is not None:
                body = body.replace(_NULL_COUNT, b'"filtered_table_rows_count": %d' % count, 1)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send(dict(start, headers=[*headers, (b"content-length", str(len(body)).encode())]))
        await send({"type": "http.response.body", "body": body})

    return patched


def _headers_with(headers, extra: dict[bytes, bytes]):
    names = {name.lower() for name, _ in headers}
    return list(headers) + [(k, v) for k, v in extra.items() if k not in names]


_HTML_TAG = re.compile(rb"<html(?=[\s>])(?![^>]*\blang=)", re.IGNORECASE)


def with_language(page: bytes) -> bytes:
    """The page with ``lang="vi"`` on its ``<html>`` element (Datasette's base template has
    none): screen readers then read the Vietnamese text with Vietnamese rules, and browsers
    offer the right dictionary and translation."""
    return _HTML_TAG.sub(b'<html lang="vi"', page, count=1)


def search_query_problem(query_string: str) -> str | None:
    """Why a request's search text cannot be served (past :func:`serving.search.check_query`'s
    bounds), or None. Checked before anything runs: ``q`` of the search page, the feed and the
    canned queries, ``_search`` and ``_search_<column>`` of the table."""
    for key, value in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
        if key == "q" or (key.startswith("_search") and key != "_searchmode"):
            try:
                search.check_query(value)
            except search.QueryProblem as error:
                return str(error)
    return None


async def _refuse_query(send, message: str, as_json: bool) -> None:
    """400 with the reason, in the form the client asked for."""
    if as_json:
        body = views.json_dumps({"ok": False, "error": message, "status": 400}).encode()
        content_type = b"application/json; charset=utf-8"
    else:
        body = (
            '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
            "<title>Search not run</title></head><body><main><h1>Tìm kiếm không chạy được · "
            "Search not run</h1>"
            f'<p>{escape(message)}</p><p><a href="/-/search">Search again</a></p>'
            "</main></body></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    await _answer(
        send, 400, body, content_type, [(b"content-security-policy", b"default-src 'none'")]
    )


def archived_file_headers(content_type: bytes) -> dict[bytes, bytes]:
    """Headers of a file served from the archive's copies: nothing in it may run at the
    reading room's address (red-team finding 3). Whatever its type, a sandboxed CSP that
    allows no script; anything but a raster image is offered as a download, not shown."""
    headers = {
        b"content-security-policy": b"default-src 'none'; img-src 'self'; sandbox",
        b"referrer-policy": b"no-referrer",
        b"cross-origin-resource-policy": b"same-origin",
    }
    mime = content_type.split(b";", 1)[0].strip().decode("latin-1").lower()
    if mime not in RASTER_IMAGE_TYPES:
        headers[b"content-disposition"] = b"attachment"
    return headers


async def _answer(send, status: int, body: bytes, content_type: bytes, headers=()) -> None:
    """An answer the plugin gives itself, before Datasette sees the request."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _not_found(send) -> None:
    await _answer(send, 404, b"Not found\n", b"text/plain; charset=utf-8")


async def _refuse_write(send) -> None:
    """The archive is read-only: no write canned query, no insert API, no login; say so plainly
    instead of letting Datasette fail on a POST it cannot handle."""
    body = b"This archive is read-only: only GET and HEAD requests are served.\n"
    await _answer(send, 405, body, b"text/plain; charset=utf-8", [(b"allow", b"GET, HEAD")])


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            if scope.get("method", "GET") not in ("GET", "HEAD"):
                return await _refuse_write(send)
            path = scope.get("path", "")
            if HIDDEN_PATHS.match(path):
                return await _not_found(send)
            query_string = scope.get("query_string", b"").decode("utf-8", "replace")
            problem = search_query_problem(query_string)
            if problem:
                return await _refuse_query(send, problem, as_json=".json" in path)
            bom = False
            if path.endswith((".csv", ".json")):
                query_string = without_reading_columns(query_string)
                scope = dict(scope, query_string=query_string.encode("ascii"))
            if path.endswith(".csv"):
                query_string, bom = csv_args(query_string)
                scope = dict(scope, query_string=query_string.encode("ascii"))
            articles = _ARTICLES_PATH.match(path)
            own_count = False
            if articles:
                query = scope.get("query_string", b"").decode("utf-8", "replace")
                if "_search" in query:
                    query = fold_search_args(query)
                query, own_count = table_args(query, json=articles.group(1) == ".json")
                if articles.group(1) is None:
                    query = default_columns(query)
                scope = dict(scope, query_string=query.encode("ascii"), sadec_own_count=own_count)
            csp = READER_CSP if _READER_PATH.match(path) else DATASETTE_CSP
            archived_file = path.startswith(f"/{FILES_MOUNT}/")
            robots = views.robots_allowed(datasette)

            sent_bom: list[bool] = []
            held: dict = {}

            async def send_with_headers(message):
                if held:
                    # An HTML page, held whole (they are small) to be given its language.
                    held["body"].append(message.get("body", b""))
                    if message.get("more_body"):
                        return
                    body = with_language(b"".join(held["body"]))
                    start = held["start"]
                    start["headers"] = [
                        (
                            name,
                            str(len(body)).encode() if name.lower() == b"content-length" else value,
                        )
                        for name, value in start["headers"]
                    ]
                    await send(start)
                    await send({"type": "http.response.body", "body": body})
                    return
                if message["type"] == "http.response.start":
                    headers = message.get("headers", [])
                    content_type = dict(headers).get(b"content-type", b"")
                    extra = {b"x-content-type-options": b"nosniff"}
                    if archived_file:
                        extra.update(archived_file_headers(content_type))
                    elif content_type.startswith(b"text/html"):
                        extra[b"content-security-policy"] = csp.encode("ascii")
                        extra[b"referrer-policy"] = b"no-referrer"
                    if not robots:
                        extra[b"x-robots-tag"] = b"noindex, nofollow"
                    message = dict(message, headers=_headers_with(headers, extra))
                    if bom:
                        message["headers"] = [
                            (name, value)
                            for name, value in message["headers"]
                            if name.lower() != b"content-length"
                        ]
                    if content_type.startswith(b"text/html") and not archived_file:
                        held.update(start=message, body=[])
                        return
                elif bom and message["type"] == "http.response.body" and not sent_bom:
                    sent_bom.append(True)
                    message = dict(message, body=UTF8_BOM + message.get("body", b""))
                await send(message)

            if own_count and articles.group(1) == ".json":
                database = urllib.parse.unquote(path.split("/")[1])
                return await app(
                    scope,
                    receive,
                    _with_own_count(send_with_headers, datasette, database, scope, receive),
                )
            return await app(scope, receive, send_with_headers)

        return wrapped

    return wrap


# ---------------------------------------------------------------- pages and UI


UNKNOWN_SORT = re.compile(r"^Cannot sort table by (?P<column>.*)$")


def _public_error(exception) -> tuple[int, str] | None:
    """The status and message a visitor sees for ``exception``, or None to let Datasette
    answer (its 4xx messages are about the visitor's own request). Server errors never show
    their message: it holds absolute paths or the SQL that ran (red-team finding 15)."""
    unknown = UNKNOWN_SORT.match(str(exception))
    if unknown is not None:
        return 400, f"Không sắp xếp được theo cột “{unknown['column']}” / No such column to sort by"
    message = getattr(exception, "message", None) or str(exception)
    if isinstance(exception, QueryInterrupted) or "took too long" in str(message):
        return 400, (
            f"The query took too long and was stopped (limit {SQL_TIME_LIMIT_S:g} s). "
            "Search for fewer or more specific words, or narrow the filters."
        )
    if isinstance(exception, OSError) and exception.errno == errno.ENAMETOOLONG:
        return 404, "Not found"
    if isinstance(exception, Base400):
        return None
    if isinstance(exception, DatasetteError) and exception.status < 500:
        return None
    return 500, "Internal error: the server's log has the details."


@hookimpl
def handle_exception(datasette, request, exception):
    """Errors answered without internal details: an unknown sort column is a 400 (Datasette
    0.65 says it with a 500), a query stopped by the time limit a 400 without its SQL, an
    overlong file name a 404, any other server error a 500 that says only that."""
    answer_with = _public_error(exception)
    if answer_with is None or request is None:
        return None
    status, message = answer_with
    if status >= 500:
        logger.error("error answering %s", request.path, exc_info=exception)

    async def answer():
        if request.path.endswith(".json"):
            return Response.json({"ok": False, "error": message, "status": status}, status=status)
        html = await datasette.render_template(
            "error.html", {"ok": False, "error": message, "status": status, "title": None}, request
        )
        return Response.html(html, status=status)

    return answer


@hookimpl
def register_routes(datasette):
    return [
        (r"^/robots\.txt$", views.robots_txt),
        (r"^/-/search(\.(?P<format>json))?$", views.search_page),
        (r"^/-/article/(?P<asset_id>[^/]+)$", views.article_page),
        (r"^/-/article/(?P<asset_id>[^/]+)/history$", history.history_page),
        (r"^/-/charts$", views.charts_page),
        (r"^/-/feed\.atom$", views.feed_atom),
        (r"^/-/about$", views.about_page),
        (r"^/-/dictionary$", views.dictionary_page),
        (r"^/-/sadec/sadec\.css$", views.stylesheet),
    ]


@hookimpl
def register_facet_classes():
    # Datasette's own column facet is replaced by a faster one (see serving.facets; the
    # default facets plugin is unregistered at startup), its other facets are kept.
    classes = [SadecColumnFacet, DateFacet, YearFacet, MonthFacet]
    if detect_json1():
        classes.append(ArrayFacet)
    return classes


def _described(query: str, fts: str) -> str:
    mode = search.EXACT if fts == search.FTS_TABLES[search.EXACT] else search.FOLDED
    try:
        return search.describe_query(query, mode) or f"“{query}”"
    except search.QueryProblem:
        return f"“{query}”"


@hookimpl
def filters_from_request(request, database, table, datasette):
    """The articles table's search (``_search``, on ``articles_fts`` or the index named by
    ``_sadec_fts_table``), instead of Datasette's, which has no ``fts_table`` to work with.

    The same match as Datasette's, with ``+asset_id``: the unary plus keeps SQLite from
    looking each match up by ``asset_id`` (it cannot tell a word in half the archive from a
    rare one), so the newest page of a common word walks ``(published_at, asset_id)`` from
    the newest end until it has its 50 rows, instead of fetching and sorting 50,000."""
    if table != facets.ARTICLES:
        return None

    async def inner():
        match = facets.match_expression(request.args)
        if match is None:
            return FilterArguments([], extra_context={"supports_search": True})
        fts, expression = match
        query = request.args.get(facets.SEARCH_ARG)
        return FilterArguments(
            [f"+{facets.FTS_PK} in (select rowid from {fts} where {fts} match :sadec_search)"],
            {"sadec_search": expression},
            [f"search for {_described(query, fts)}"],
            {"supports_search": True, "search": query},
        )

    return inner


@hookimpl
def extra_template_vars(template, database, table, columns, view_name, request, datasette):
    """The count of a table search the plugin counts itself (see :func:`table_args`)."""
    if table != facets.ARTICLES or request is None or not request.scope.get("sadec_own_count"):
        return {}

    async def inner():
        count = await facets.match_count(datasette, database, table, request)
        return {} if count is None else {"filtered_table_rows_count": count}

    return inner


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if table is None and column in ("snippet", "snippet_html", "title_html") and value:
        # Ranked-search canned query output: only <mark> survives.
        return Markup(clean_snippet_html(str(value)))
    if table != "articles" or value is None or column not in _READER_LINKED:
        return None  # most cells: return before any work, this runs for each of them
    try:
        asset_id = row["asset_id"]
    except (IndexError, KeyError):
        asset_id = None  # a query that did not select it
    reader = datasette.urls.path(f"/-/article/{asset_id}") if asset_id is not None else None
    if column == "body_html":
        # Raw markup in a cell is unreadable and, rendered, unsafe: the reader page shows it.
        label = f"read the article ({len(value):,} characters of HTML)"
        return Markup(f'<a href="{escape(reader)}">{escape(label)}</a>') if reader else None
    if column == "body_text" and len(value) > BODY_PREVIEW:
        more = f' <a href="{escape(reader)}">read on</a>' if reader else ""
        return Markup(f"{escape(value[:BODY_PREVIEW])}…{more}")
    if column == "asset_id" and reader:
        return Markup(f'{escape(value)} <a href="{escape(reader)}">read</a>')
    if column == "title" and reader:
        return Markup(f'<a href="{escape(reader)}">{escape(value)}</a>')
    return None


@hookimpl
def menu_links(datasette, actor, request):
    return [
        {"href": datasette.urls.path("/-/search"), "label": "Tìm kiếm · Search articles"},
        {"href": datasette.urls.path("/-/charts"), "label": "Biểu đồ · Charts"},
        {"href": datasette.urls.path("/-/about"), "label": "Giới thiệu · About the archive"},
        {"href": datasette.urls.path("/-/feed.atom"), "label": "Tin mới (Atom) · Atom feed"},
    ]


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.path("/-/sadec/sadec.css")]


def _configures(metadata, plugin: str) -> bool:
    """Whether ``plugin`` has a configuration anywhere in the metadata."""
    if isinstance(metadata, dict):
        return plugin in (metadata.get("plugins") or {}) or any(
            _configures(value, plugin) for value in metadata.values()
        )
    return False


@hookimpl
def startup(datasette):
    # The default column facet gives way to serving.facets.SadecColumnFacet (same output).
    from datasette.plugins import pm

    default_facets = pm.get_plugin("datasette.facets")
    if default_facets is not None:
        pm.unregister(default_facets)
    # datasette-render-html looks up its configuration for every cell of every table page
    # (about 1,700 a page here, a third of the page's time); unconfigured, it does nothing.
    render_html = [
        plugin
        for _, plugin in pm.list_name_plugin()
        if getattr(plugin, "__name__", "") == "datasette_render_html"
    ]
    if render_html and not _configures(datasette.metadata(), "datasette-render-html"):
        pm.unregister(render_html[0])
    # The entry point names a module, not a package, so Datasette does not find
    # serving/templates by itself: add it just before Datasette's default templates (the last
    # search path), so an operator's --template-dir still wins.
    loader = datasette.jinja_env.loader
    if not isinstance(loader, ChoiceLoader) or not loader.loaders:
        return
    files = loader.loaders[0]
    if isinstance(files, FileSystemLoader) and str(TEMPLATES) not in files.searchpath:
        files.searchpath.insert(max(0, len(files.searchpath) - 1), str(TEMPLATES))

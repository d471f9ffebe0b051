"""Facets of the articles table: column facets and year/month facets, counted fast.

Year and month facets count rows by the first 4 or 7 characters of an ISO date column
(``published_at`` holds ``YYYY-MM-DD`` or a full timestamp). Selecting a value filters with
Datasette's own ``published_at__startswith=…``, which keeps the URLs readable and the filter
visible in the UI. Configure in metadata as ``{year: published_at}`` and ``{month:
published_at}``, or ask for one with ``?_facet_year=published_at``.

Why counted in Python: Datasette counts each facet with its own ``group by`` over the filtered
query, and a search for a common word matches half the archive: five facets meant five passes
over 50,000 matches (about 140 ms each at 100,000 articles). Here the search's matches are read
once from the full-text index (the row ids, a few ms) and every facet is counted from a compact
copy of the facet columns kept in memory, reloaded whenever the archive changes. Requests with
filters this cannot reproduce exactly fall back to Datasette's SQL.
"""

from __future__ import annotations

import asyncio
import re
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from datasette.database import QueryInterrupted
from datasette.facets import ColumnFacet, Facet
from datasette.utils import (
    escape_sqlite,
    path_with_added_args,
    path_with_removed_args,
)

from . import search

ARTICLES = "articles"
FACET_COLUMNS = ("category", "unit", "author", "published_at")
"""Columns of ``articles`` the in-memory copy holds (what the configured facets count)."""
PREFIX_COLUMNS = ("published_at",)
PREFIX_WIDTHS = (4, 7)
FTS_PK = "asset_id"
SEARCH_ARG = "_search"
FTS_TABLE_ARG = "_sadec_fts_table"
"""The index a table search uses (``articles_fts`` or ``articles_fts_exact``). Datasette's own
``_fts_table`` is renamed to this by the plugin: Datasette must not run its search too."""
# Query-string arguments that leave the set of matching rows unchanged.
NEUTRAL_ARGS = {
    "_facet",
    "_facet_size",
    "_facet_year",
    "_facet_month",
    "_size",
    "_sort",
    "_sort_desc",
    "_col",
    "_nocol",
    "_sadec_cols",
    "_shape",
    "_labels",
    "_nofacet",
    "_nosuggest",
    "_nocount",
    "_trace",
    "_json",
    "_timelimit",
    "_searchmode",
    SEARCH_ARG,
    FTS_TABLE_ARG,
}


def match_expression(args) -> tuple[str, str] | None:
    """(FTS table, MATCH expression) of a table search request, None without a search.

    The query language of the search page (:func:`serving.search.to_fts`: phrases, prefixes,
    ``OR``, ``AND``, ``-word``/``NOT``), or the expression as written with ``_searchmode=raw``
    (the column-search rewrite)."""
    query = args.get(SEARCH_ARG, "")
    if not query.strip():
        return None
    table = args.get(FTS_TABLE_ARG) or search.FTS_TABLES[search.FOLDED]
    if table not in search.FTS_TABLES.values():
        table = search.FTS_TABLES[search.FOLDED]
    if args.get("_searchmode") == "raw":
        return table, query
    mode = search.EXACT if table == search.FTS_TABLES[search.EXACT] else search.FOLDED
    expression = search.to_fts(query, mode)
    # Nothing searchable (punctuation only): a phrase that matches nothing, not every row.
    return table, expression or '""'


@dataclass
class FacetColumns:
    """The facet columns of every article, in memory: asset id → value, per column."""

    version: tuple = ()
    values: dict[str, dict[int, object]] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    encoded: dict[str, tuple[bytes, list]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_DATE_PREFIX = re.compile(r"[0-9-]*")
_COPIES: dict[str, FacetColumns] = {}
_COPIES_LOCK = threading.Lock()


def _version(conn) -> tuple:
    """Changes whenever a crawl or a rebuild changed the archive (index lookups only): every
    stored article moves ``last_crawled_at``, a new one the largest rowid, and each run ends
    by writing its ``crawl_runs`` row, after its last changes to the facet columns."""
    return tuple(
        conn.execute(
            "select (select max(rowid) from articles), (select max(last_crawled_at) from "
            "articles), (select max(id) from crawl_runs), (select max(finished_at) from "
            "crawl_runs)"
        ).fetchone()
    )


def _facet_values(conn, copy: FacetColumns) -> dict[str, dict[int, object]]:
    version = _version(conn)
    with copy.lock:
        if copy.values and copy.version == version:
            return copy.values
        columns = ", ".join(FACET_COLUMNS)
        rows = conn.execute(f"select {FTS_PK}, {columns} from {ARTICLES}").fetchall()
        copy.values = {
            column: {row[0]: row[i] for row in rows} for i, column in enumerate(FACET_COLUMNS, 1)
        }
        # The year and month facets' values too, so that they are counted like the others.
        for column in PREFIX_COLUMNS:
            for width in PREFIX_WIDTHS:
                copy.values[f"{column}:{width}"] = {
                    key: value[:width]
                    for key, value in copy.values[column].items()
                    if isinstance(value, str) and len(value) >= width
                }
        # Small codes per row for columns with few values (all but the full dates): counting a
        # search's 50,000 matches is then a C loop over bytes instead of 50,000 dict lookups.
        copy.positions = {row[0]: i for i, row in enumerate(rows)}
        copy.encoded = {}
        for column, mapping in copy.values.items():
            labels = [None, *{value for value in mapping.values() if value is not None}]
            if len(labels) > 256:
                continue
            code_of = {label: code for code, label in enumerate(labels)}
            codes = bytearray(len(rows) + 1)  # the last one for ids that are no row: None
            for asset_id, value in mapping.items():
                codes[copy.positions[asset_id]] = code_of[value]
            copy.encoded[column] = (bytes(codes), labels)
        copy.version = version
        return copy.values


def _copy_for(database_path: str) -> FacetColumns:
    with _COPIES_LOCK:
        return _COPIES.setdefault(database_path, FacetColumns())


def fast_path_filters(request, table: str | None) -> list[tuple[str, str, str]] | None:
    """The row filters of a request as (column, operator, value) when they are all ones the
    in-memory count reproduces exactly; None when SQL must count."""
    if table != ARTICLES:
        return None
    return pair_filters(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True))


def pair_filters(pairs) -> list[tuple[str, str, str]] | None:
    """:func:`fast_path_filters` of query-string pairs."""
    filters = []
    for key, value in pairs:
        if key in NEUTRAL_ARGS:
            continue
        column, _, operator = key.partition("__")
        if column not in FACET_COLUMNS or operator not in ("", "exact", "startswith"):
            return None
        if operator == "startswith" and not _DATE_PREFIX.fullmatch(value):
            return None  # SQL's LIKE has wildcards and folds case: leave those to SQL
        filters.append((column, operator or "exact", value))
    return filters


@dataclass
class Matches:
    """The rows a request selects (asset ids), and the facet columns to count them by."""

    ids: list[int]
    columns: dict[str, dict[int, object]]
    positions: dict[int, int] = field(default_factory=dict)
    encoded: dict[str, tuple[bytes, list]] = field(default_factory=dict)
    _counts: dict[str, Counter] = field(default_factory=dict)
    _getter: object = None

    def _pick(self, codes: bytes) -> tuple | list:
        """The code of each match, in C: one itemgetter of the matches' row positions."""
        if self._getter is None:
            missing = len(codes) - 1  # the position of ids that are no row (code 0: None)
            rows = list(map(self.positions.get, self.ids, repeat(missing)))
            self._getter = (
                itemgetter(*rows) if len(rows) > 1 else lambda seq: [seq[r] for r in rows]
            )
        return self._getter(codes)

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self, column: str) -> Counter:
        """Rows per value of ``column`` (NULL left out, as ``where col is not null``)."""
        if column in self._counts:
            return self._counts[column]
        if column in self.encoded:
            codes, labels = self.encoded[column]
            selected = bytes(self._pick(codes))
            if len(labels) <= 32:
                # A scan of the bytes per value beats counting them one by one, for few values.
                coded = {code: selected.count(code) for code in range(1, len(labels))}
            else:
                coded = Counter(selected)
            counts = Counter({labels[code]: n for code, n in coded.items() if code and n})
        else:
            counts = Counter(map(self.columns[column].get, self.ids))
            counts.pop(None, None)
        self._counts[column] = counts
        return counts


async def matching_values(facet: Facet) -> Matches | None:
    """The rows the request selects, with the facet columns; None when the request has
    filters the fast path does not reproduce (SQL counts then)."""
    return await request_values(facet.ds, facet.database, facet.table, facet.request)


async def match_count(ds, database: str, table: str, request) -> int | None:
    """How many rows a table search selects, from the full-text index (one count of the
    match, or the matches the facets already read); None when SQL must count."""
    filters = fast_path_filters(request, table)
    match = match_expression(request.args)
    if filters is None or match is None:
        return None
    cached = request.scope.get("sadec_facet_values", {}).get("values")
    if cached is None and not filters:
        fts, expression = match
        fts = escape_sqlite(fts)
        rows = await ds.get_database(database).execute(
            f"select count(*) from {fts} where {fts} match :match", {"match": expression}
        )
        return rows.first()[0]
    values = cached or await request_values(ds, database, table, request)
    return len(values) if values is not None else None


async def request_values(ds, database: str, table: str, request) -> Matches | None:
    """:func:`matching_values` for a request of a table of a database."""
    filters = fast_path_filters(request, table)
    if filters is None:
        return None
    cache = request.scope.setdefault("sadec_facet_values", {})
    if "values" in cache:
        return cache["values"]
    if "pending" in cache:
        # Datasette runs the facets at once: the first reads the matches, the others wait.
        return await cache["pending"]
    db = ds.get_database(database)
    match = match_expression(request.args)
    copy = _copy_for(db.path or database)

    def collect(conn):
        columns = _facet_values(conn, copy)
        if match is None:
            ids = list(columns[FACET_COLUMNS[0]])
        else:
            fts, expression = match
            sql = f"select rowid from {escape_sqlite(fts)} where {escape_sqlite(fts)} match ?"
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples: 50,000 sqlite3.Row objects cost more
            ids = [row[0] for row in cursor.execute(sql, [expression]).fetchall()]
        for column, operator, value in filters:
            mapping = columns[column]
            if operator == "exact":
                ids = [i for i in ids if (v := mapping.get(i)) is not None and str(v) == value]
            else:
                ids = [
                    i for i in ids if (v := mapping.get(i)) is not None and str(v).startswith(value)
                ]
        return Matches(ids, columns, copy.positions, copy.encoded)

    cache["pending"] = asyncio.ensure_future(db.execute_fn(collect))
    cache["values"] = await cache["pending"]
    return cache["values"]


def _results_from_counts(counts: Counter, order: str, limit: int) -> list[tuple]:
    items = [(value, count) for value, count in counts.items()]
    if order == "count":
        # Datasette's "order by count desc, value"; SQLite orders text by UTF-8 bytes, which is
        # code point order, as Python does.
        items.sort(key=lambda pair: (-pair[1], _sort_key(pair[0])))
    else:
        items.sort(key=lambda pair: _sort_key(pair[0]), reverse=True)
    return items[:limit]


def _sort_key(value):
    # SQLite orders numbers before text; these columns hold text, but never fail on others.
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


class SadecColumnFacet(ColumnFacet):
    """Datasette's column facet, counted from memory when the request allows it."""

    async def facet_results(self):
        values = await matching_values(self)
        configs = self.get_configs()
        if values is None or any(
            (c["config"].get("column") or c["config"]["simple"]) not in values.columns
            for c in configs
        ):
            return await super().facet_results()
        facet_results, qs_pairs, facet_size = (
            [],
            self.get_querystring_pairs(),
            self.get_facet_size(),
        )
        for source_and_config in configs:
            config, source = source_and_config["config"], source_and_config["source"]
            column = config.get("column") or config["simple"]
            counts = values.counts(column)
            rows = _results_from_counts(counts, "count", facet_size + 1)
            expanded = await self.ds.expand_foreign_keys(
                self.database, self.table, column, [value for value, _ in rows[:facet_size]]
            )
            results = []
            for value, count in rows[:facet_size]:
                column_qs = f"{column}__exact" if column.startswith("_") else column
                selected = (column_qs, str(value)) in qs_pairs
                toggle = (path_with_removed_args if selected else path_with_added_args)(
                    self.request, {column_qs: str(value) if selected else value}
                )
                results.append(
                    {
                        "value": value,
                        "label": expanded.get((column, value), value),
                        "count": count,
                        "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)),
                        "selected": selected,
                    }
                )
            facet_results.append(
                {
                    "name": column,
                    "type": self.type,
                    "hideable": source != "metadata",
                    "toggle_url": self.ds.urls.path(
                        path_with_removed_args(self.request, {"_facet": column})
                    ),
                    "results": results,
                    "truncated": len(rows) > facet_size,
                }
            )
        return facet_results, []


class PrefixFacet(Facet):
    """Counts rows by the first :attr:`width` characters of a text column, newest first."""

    type = "prefix"
    width = 0

    async def suggest(self):
        # Suggestions cost a query per column on every page; the archive configures its facets.
        return []

    async def _counts(self, column: str, facet_size: int) -> list[tuple]:
        key = f"{column}:{self.width}"
        values = await matching_values(self) if column in PREFIX_COLUMNS else None
        if values is not None and key in values.columns:
            counts = values.counts(key)
            return _results_from_counts(counts, "value", facet_size + 1)
        col = escape_sqlite(column)
        sql = (
            f"select substr({col}, 1, {self.width}) as value, count(*) as count "
            f"from ({self.sql}) where length({col}) >= {self.width} "
            f"group by value order by value desc limit {facet_size + 1}"
        )
        rows = await self.ds.execute(
            self.database,
            sql,
            self.params,
            truncate=False,
            custom_time_limit=self.ds.setting("facet_time_limit_ms"),
        )
        return [(row["value"], row["count"]) for row in rows.rows]

    async def facet_results(self):
        results, timed_out = [], []
        pairs = self.get_querystring_pairs()
        facet_size = self.get_facet_size()
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            filter_key = f"{column}__startswith"
            chosen = {value for key, value in pairs if key == filter_key}
            try:
                rows = await self._counts(column, facet_size)
            except QueryInterrupted:
                timed_out.append(column)
                continue
            values = []
            for value, count in rows[:facet_size]:
                selected = value in chosen
                toggle = (path_with_removed_args if selected else path_with_added_args)(
                    self.request, {filter_key: value}
                )
                values.append(
                    {
                        "value": value,
                        "label": value,
                        "count": count,
                        "toggle_url": self.ds.absolute_url(self.request, toggle),
                        "selected": selected,
                    }
                )
            results.append(
                {
                    "name": column,
                    "type": self.type,
                    "results": values,
                    "hideable": source_and_config["source"] != "metadata",
                    "toggle_url": path_with_removed_args(
                        self.request, {f"_facet_{self.type}": column}
                    ),
                    "truncated": len(rows) > facet_size,
                }
            )
        return results, timed_out


class YearFacet(PrefixFacet):
    """``2021`` from ``2021-03-19``."""

    type = "year"
    width = 4


class MonthFacet(PrefixFacet):
    """``2021-03`` from ``2021-03-19``."""

    type = "month"
    width = 7

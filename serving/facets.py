"""Year and month facets over an ISO date column, without schema changes.

``published_at`` holds ``YYYY-MM-DD`` or a full timestamp, so a year is its first 4 characters
and a month its first 7. Selecting a value filters with Datasette's own
``published_at__startswith=…``, which keeps the URLs readable and the filter visible in the UI.
Configure in metadata as ``{year: published_at}`` and ``{month: published_at}``, or ask for one
with ``?_facet_year=published_at``.
"""

from __future__ import annotations

from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args


class PrefixFacet(Facet):
    """Counts rows by the first :attr:`width` characters of a text column, newest first."""

    type = "prefix"
    width = 0

    async def suggest(self):
        # Suggestions cost a query per column on every page; the archive configures its facets.
        return []

    async def facet_results(self):
        results, timed_out = [], []
        pairs = self.get_querystring_pairs()
        facet_size = self.get_facet_size()
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            filter_key = f"{column}__startswith"
            chosen = {value for key, value in pairs if key == filter_key}
            col = escape_sqlite(column)
            sql = (
                f"select substr({col}, 1, {self.width}) as value, count(*) as count "
                f"from ({self.sql}) where length({col}) >= {self.width} "
                f"group by value order by value desc limit {facet_size + 1}"
            )
            try:
                rows = await self.ds.execute(
                    self.database,
                    sql,
                    self.params,
                    truncate=False,
                    custom_time_limit=self.ds.setting("facet_time_limit_ms"),
                )
            except QueryInterrupted:
                timed_out.append(column)
                continue
            values = []
            for row in rows.rows[:facet_size]:
                value = row["value"]
                selected = value in chosen
                toggle = (path_with_removed_args if selected else path_with_added_args)(
                    self.request, {filter_key: value}
                )
                values.append(
                    {
                        "value": value,
                        "label": value,
                        "count": row["count"],
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

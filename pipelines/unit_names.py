"""The archive's ``units`` table and canonical ``articles.unit``, kept in step with the unit
authority (``sadec_crawler/units.yml``).

Run by the migration that introduced units and at the start of every crawl, so an alias an
operator adds to the file files the articles that byline named under the right office.
"""

from __future__ import annotations

import json

import sqlite_utils

from sadec_crawler.units import UnitAuthority

from .schema import ensure_table

UNIT_COLUMNS = {
    "name": "text primary key",
    "level": "text",
    "parent": "text",
    "aliases": "text",
    "valid_from": "text",
    "valid_to": "text",
    "successors": "text",
    "successors_verified": "integer",
    "successors_via": "text",
    "verified": "integer",
    "source": "text",
}

UNIT_ARTICLES_VIEW = """
create view unit_articles as
select a.unit as unit, 'byline' as filed_by, a.portal as portal, a.url as url,
  a.asset_id as asset_id, a.title as title, a.published_at as published_at
from articles a where a.unit is not null
union all
select p.canonical_unit, 'portal', a.portal, a.url, a.asset_id, a.title, a.published_at
from articles a join portals p on p.key = a.portal where p.canonical_unit is not null
"""
"""Every article under each canonical unit it belongs to, whatever portal showed it: the unit
its byline names and the unit whose portal owns it (``?unit=UBND phường 1`` gives the ward
portal's articles and the city's articles signed by the ward)."""


def ensure_units_table(db: sqlite_utils.Database) -> None:
    """``units`` with every column of this version (older archives get the new ones)."""
    ensure_table(db, "units", UNIT_COLUMNS)


def create_unit_articles_view(db: sqlite_utils.Database) -> None:
    """The ``unit_articles`` view (needs ``articles.portal`` and ``portals.canonical_unit``)."""
    db.execute("drop view if exists unit_articles")
    db.execute(UNIT_ARTICLES_VIEW)


def sync_units(db: sqlite_utils.Database, authority: UnitAuthority) -> int:
    """Write the authority's units into ``units`` and give every article the canonical name of
    its ``unit_raw``; returns how many articles changed unit. The caller holds the transaction."""
    ensure_units_table(db)
    db.execute("delete from units")
    names = list(UNIT_COLUMNS)
    for unit in authority.units:
        successors, successors_verified, via = authority.successors_of(unit.name)
        db.execute(
            f"insert into units ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
            [
                unit.name,
                unit.level,
                unit.parent,
                json.dumps(list(unit.aliases), ensure_ascii=False),
                unit.valid_from,
                unit.valid_to,
                json.dumps(list(successors), ensure_ascii=False),
                int(successors_verified),
                via,
                int(unit.verified),
                unit.source,
            ],
        )
    if "unit_raw" not in db["articles"].columns_dict:
        return 0
    changed = 0
    raw_names = [row[0] for row in db.execute("select distinct unit_raw from articles")]
    for raw in filter(None, raw_names):
        cursor = db.execute(
            "update articles set unit = ? where unit_raw = ? and unit is not ?",
            [authority.canonical(raw), raw, authority.canonical(raw)],
        )
        changed += cursor.rowcount
    return changed

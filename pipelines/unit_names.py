"""The archive's ``units`` table and canonical ``articles.unit``, kept in step with the unit
authority (``sadec_crawler/units.yml``).

Run by the migration that introduced units and at the start of every crawl, so an alias an
operator adds to the file files the articles that byline named under the right office.
"""

from __future__ import annotations

import json

import sqlite_utils

from sadec_crawler.units import UnitAuthority


def sync_units(db: sqlite_utils.Database, authority: UnitAuthority) -> int:
    """Write the authority's units into ``units`` and give every article the canonical name of
    its ``unit_raw``; returns how many articles changed unit. The caller holds the transaction."""
    db.execute(
        "create table if not exists units (name text primary key, level text, parent text, "
        "aliases text, valid_from text, valid_to text)"
    )
    db.execute("delete from units")
    for unit in authority.units:
        db.execute(
            "insert into units (name, level, parent, aliases, valid_from, valid_to) "
            "values (?, ?, ?, ?, ?, ?)",
            [
                unit.name,
                unit.level,
                unit.parent,
                json.dumps(list(unit.aliases), ensure_ascii=False),
                unit.valid_from,
                unit.valid_to,
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

"""The archive's ``portals`` table, kept in step with the registry of portals
(``sadec_crawler/portals.yml``, or ``SADEC_PORTALS_FILE``).

Written by the migration that introduced it and at the start of every crawl, so that a reader
of the archive can tell, next to ``articles.portal``, whose portal it was, at what level, under
which canonical unit (``sadec_crawler/units.yml``), and whether its entry was ever verified.
What crawls learn of a portal (``learnt_group_id``, :mod:`pipelines.ownership`) is kept across
syncs.
"""

from __future__ import annotations

import json

import sqlite_utils

from sadec_crawler.portals import PortalRegistry
from sadec_crawler.units import UnitAuthority, default_authority

from .schema import ensure_table

REGISTRY_COLUMNS = {
    "key": "text primary key",
    "base_url": "text",
    "unit": "text",
    "level": "text",
    "parent": "text",
    "group_id": "integer",
    "category_prefix": "text",
    "active_from": "text",
    "active_to": "text",
    "successors": "text",
    "successors_verified": "integer",
    "verified": "integer",
    "source": "text",
    "canonical_unit": "text",
}
"""Columns the registry fills (and refills at every sync)."""
LEARNT_COLUMNS = {
    "learnt_group_id": "integer",
    "learnt_group_articles": "integer",
    "learnt_group_of": "integer",
    "learnt_at": "text",
}
"""Columns crawls fill from the portal's own pages: never overwritten by a sync."""


def ensure_portals_table(db: sqlite_utils.Database) -> None:
    """``portals`` with every column of this version (older archives get the new ones)."""
    ensure_table(db, "portals", {**REGISTRY_COLUMNS, **LEARNT_COLUMNS})


def sync_portals(
    db: sqlite_utils.Database, registry: PortalRegistry, authority: UnitAuthority | None = None
) -> None:
    """Upsert every registered portal into ``portals``. Portals no longer registered stay (an
    archive never forgets where its articles came from). The caller holds the transaction."""
    ensure_portals_table(db)
    authority = authority or default_authority()
    names = list(REGISTRY_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
    for portal in registry.portals:
        db.execute(
            f"insert into portals ({', '.join(names)}) values ({', '.join('?' for _ in names)}) "
            f"on conflict (key) do update set {updates}",
            [
                portal.key,
                portal.base_url,
                portal.unit,
                portal.level,
                portal.parent,
                portal.group_id,
                portal.category_prefix,
                portal.active_from,
                portal.active_to,
                json.dumps(list(portal.successors), ensure_ascii=False),
                int(portal.successors_verified),
                int(portal.verified),
                portal.source,
                authority.canonical(portal.unit),
            ],
        )

"""The archive's ``portals`` table, kept in step with the registry of portals
(``sadec_crawler/portals.yml``, or ``SADEC_PORTALS_FILE``).

Written by the migration that introduced it and at the start of every crawl, so that a reader
of the archive can tell, next to ``articles.portal``, whose portal it was, at what level, and
whether its entry was ever verified.
"""

from __future__ import annotations

import json

import sqlite_utils

from sadec_crawler.portals import PortalRegistry


def sync_portals(db: sqlite_utils.Database, registry: PortalRegistry) -> None:
    """Upsert every registered portal into ``portals``. Portals no longer registered stay (an
    archive never forgets where its articles came from). The caller holds the transaction."""
    db.execute(
        "create table if not exists portals (key text primary key, base_url text, unit text, "
        "level text, parent text, group_id integer, category_prefix text, active_from text, "
        "active_to text, successors text, successors_verified integer, verified integer, "
        "source text)"
    )
    for portal in registry.portals:
        db.execute(
            "insert or replace into portals values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ],
        )

"""Which portal an article belongs to, learnt from the portals' own pages.

An article shown by several portals (the province re-posting a ward's news) is stored once,
under its owner: the portal whose Liferay group its images and attachments are kept under
(``/documents/<groupId>/``). The registry names the group ids seen by hand; for the others,
each portal's group id is learnt from its own pages: the group most of the articles it shows
keep their files under (``portals.learnt_group_id``). Once learnt, articles stored under the
wrong portal (the one that archived them first) move to their owner, so that the order in
which portals are crawled does not decide whose an article is.

Learnt from files, not from the page's ``themeDisplay.getScopeGroupId()``: the replica prints
one fixed group id there for every site (``replica/boilerplate.py``), and site-spec has no
verified page of another portal that prints its own, so nothing shows it can be relied on.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import sqlite_utils

from sadec_crawler.portals import PortalRegistry, document_group_ids

logger = logging.getLogger(__name__)

MIN_ARTICLES = 3
"""Articles with files a portal must show under one group before that group is taken for its
own: one or two could be re-posts."""

CHILD_TABLES = ("images", "attachments", "article_versions", "article_portals", "document_refs")
"""Tables whose ``article_url`` follows an article moved to its owner's URL."""


def _article_groups(db: sqlite_utils.Database, portal_column: str, join: str) -> dict:
    """``{(portal, article_url): group id its files mostly carry}``."""
    urls: dict[tuple[str, str], list[str]] = defaultdict(list)
    for table in ("images", "attachments"):
        for portal, article_url, url in db.execute(
            f"select {portal_column}, f.article_url, f.url from {join} "
            f"join {table} f on f.article_url = x.url_key where {portal_column} is not null"
        ):
            urls[(portal, article_url)].append(url)
    groups = {}
    for key, found in urls.items():
        ranked = document_group_ids(found)
        if ranked:
            groups[key] = ranked[0]
    return groups


def learn_group_ids(db: sqlite_utils.Database, now: str) -> dict[str, int]:
    """Each portal's group id as its pages show it: the group that most articles it showed
    keep their files under, when at least :data:`MIN_ARTICLES` and more than half of them do.
    Recorded in ``portals`` (with how many articles agreed, of how many); returns the learnt
    ids by portal. The caller holds the transaction."""
    shown = _article_groups(
        db, "x.portal", "(select article_url as url_key, portal from article_portals) x"
    )
    counts: dict[str, Counter] = defaultdict(Counter)
    for (portal, _), group in shown.items():
        counts[portal][group] += 1
    learnt = {}
    for portal, groups in counts.items():
        group, agreeing = groups.most_common(1)[0]
        total = sum(groups.values())
        if agreeing < MIN_ARTICLES or agreeing * 2 <= total:
            continue
        learnt[portal] = group
        db.execute(
            "update portals set learnt_group_id = ?, learnt_group_articles = ?, "
            "learnt_group_of = ?, learnt_at = ? where key = ?",
            [group, agreeing, total, now, portal],
        )
    return learnt


def group_owners(db: sqlite_utils.Database, registry: PortalRegistry) -> dict[int, str]:
    """Group id → key of the portal it belongs to: the registry's group ids first, then those
    learnt for registered portals that have none; a group learnt by two portals (a province
    re-posting mostly one unit's news) goes to the one whose articles agree the most."""
    owners = {portal.group_id: portal.key for portal in registry.portals if portal.group_id}
    unregistered = {portal.key for portal in registry.portals if not portal.group_id}
    if "portals" not in db.table_names():
        return owners
    columns = {row[1] for row in db.execute("pragma table_info(portals)")}
    if "learnt_group_id" not in columns:
        return owners
    for key, group in db.execute(
        "select key, learnt_group_id from portals where learnt_group_id is not null "
        "order by 1.0 * learnt_group_articles / learnt_group_of desc, learnt_group_articles desc"
    ):
        if key in unregistered:
            owners.setdefault(group, key)
    return owners


def owner_url(url: str, owner_base: str, shown_prefix: str = "") -> str:
    """``url`` (an article shown by a portal under ``shown_prefix``, its ``/web/<site>`` path
    when it has one) as its owner's URL: the owner's base and the article's own path."""
    path = urlsplit(url).path
    if shown_prefix and path.startswith(shown_prefix + "/"):
        path = path[len(shown_prefix) :]
    return owner_base.rstrip("/") + path


def move_article(db: sqlite_utils.Database, old_url: str, new_url: str, portal: str) -> None:
    """Store an article under another URL and portal, its images, attachments, versions,
    showings and document references with it. The caller holds the transaction."""
    # Children and parent change in one transaction; their keys agree again at its end.
    db.execute("pragma defer_foreign_keys = on")
    tables = set(db.table_names())
    for table in CHILD_TABLES:
        if table in tables:
            db.execute(
                f"update {table} set article_url = ? where article_url = ?", [new_url, old_url]
            )
    db.execute("update articles set url = ?, portal = ? where url = ?", [new_url, portal, old_url])


def reassign_owners(db: sqlite_utils.Database, registry: PortalRegistry) -> int:
    """Move every article stored under another portal than the one its files' group belongs
    to (registered or learnt); returns how many moved. The caller holds the transaction."""
    owners = group_owners(db, registry)
    if not owners:
        return 0
    current = _article_groups(db, "x.portal", "(select url as url_key, portal from articles) x")
    moved = 0
    for (portal, url), group in current.items():
        owner_key = owners.get(group)
        if owner_key is None or owner_key == portal:
            continue
        owner = registry.get(owner_key)
        try:
            shown_prefix = registry.get(portal).path_prefix
        except KeyError:
            shown_prefix = ""
        new_url = owner_url(url, owner.base_url, shown_prefix)
        if db.execute("select 1 from articles where url = ?", [new_url]).fetchone():
            logger.warning("ownership: %s not moved, %s is already stored", url, new_url)
            continue
        move_article(db, url, new_url, owner_key)
        logger.info("ownership: %s is %s's (group %d): moved to %s", url, owner_key, group, new_url)
        moved += 1
    return moved

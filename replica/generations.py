"""The Liferay generations the replica can wear: which stock markup each page gets.

Sources (liferay/liferay-portal; docs/site-spec.md §8 has the markup itself):
- 6.2: ``portal-web/docroot/html/portlet/asset_publisher/display/*.jsp``, ``asset_metadata.jspf``,
  ``portal-web/docroot/html/taglib/ui/{header,page_iterator,asset_links,
  asset_categories_summary}/``; the Asset Publisher is portlet ``101``.
- 7.0/7.1: ``modules/apps/web-experience/asset/asset-publisher-web/…/display/*.jsp``,
  ``journal-web/…/asset/full_content.jsp``; the portlet is
  ``com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet``.
- 7.4: ``modules/apps/asset/asset-publisher-web/…/view_asset_entries_*.jsp`` (the replica's
  original markup, site-spec §3 and §7).

Choices a real portal makes per page (which web-content template an article uses, whether
its category summary is shown) are spread over the articles by a stable hash, so every
variant occurs and a given site always renders the same way.
"""

from __future__ import annotations

from datetime import date

GENERATIONS = ("6.2", "7.0", "7.4")
DEFAULT = "7.4"

ERAS = ((date(2019, 1, 1), "6.2"), (date(2023, 1, 1), "7.0"))
"""When the portal changed generation, for captures of the Wayback replica: before 2019 6.2,
2019–2022 7.0, later 7.4 (an assumption of the replica: the UUIDs of 2022–2023 documents say
7.x, and captures of the first years will be 6.2)."""

SERVER_HEADERS = {
    "6.2": "Liferay Portal Community Edition 6.2 CE GA6 (Newton / Build 6205 / January 6, 2016)",
    "7.0": "Liferay Community Edition Portal 7.0.6 GA7 (Wilberforce / Build 7006 / June 21, 2018)",
    "7.4": "Liferay Community Edition Portal 7.4.3.112 CE GA112",
}
"""The ``Liferay-Portal`` response header each generation sends."""

LEGACY_PORTLET = "101_INSTANCE_"
MODULE_PORTLET = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_"


def check(generation: str) -> str:
    """``generation`` if the replica can render it; a clear error otherwise."""
    if generation not in GENERATIONS:
        raise ValueError(f"unknown Liferay generation {generation!r}: one of {GENERATIONS}")
    return generation


def generation_on(day: date, eras=ERAS) -> str:
    """The generation the portal wore on ``day``."""
    for until, generation in eras:
        if day < until:
            return generation
    return DEFAULT


def portlet_prefix(generation: str, legacy_category: bool = False) -> str:
    """The Asset Publisher's portlet id up to its instance id.

    6.2 names every instance ``101_INSTANCE_…``; 7.x renamed them all on upgrade. The 7.4
    replica keeps the 6.2-style name on its "legacy" categories, as it always has."""
    if generation == "6.2" or (generation == "7.4" and legacy_category):
        return LEGACY_PORTLET
    return MODULE_PORTLET


def pager_kind(generation: str, category_pagination: str, simple: bool = False) -> str:
    """Which page iterator a listing shows: ``lexicon`` (7.2+, with ``page-item`` classes),
    ``lexicon-70`` (7.0's, without them), ``classic`` (6.2 and the 7.0 Asset Publisher's
    ``taglib-page-iterator``) or ``simple`` (previous/next only)."""
    if simple and generation != "7.4":
        return "simple"
    if category_pagination == "legacy" or generation == "6.2":
        return "classic"
    if generation == "7.0":
        return "lexicon-70"
    return "lexicon"

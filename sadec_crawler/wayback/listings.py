"""Listing entries as captured listings showed them, and which listing captures to read."""

from __future__ import annotations

from dataclasses import dataclass

from ..items import ListingEntry
from ..textnorm import slugify
from ..urls import listing_key, pagination_param, parse_article_link
from .cdx import CdxCapture


@dataclass
class Sighting:
    """A listing entry as one listing capture showed it."""

    timestamp: str
    entry: ListingEntry


class ListingIndex:
    """Listing entries seen in captured listings, by asset id and by url-title."""

    def __init__(self, sightings: list[Sighting] | None = None):
        self.sightings: list[Sighting] = []
        self.by_id: dict[int, list[Sighting]] = {}
        self.by_title: dict[str, list[Sighting]] = {}
        for sighting in sightings or []:
            self.add(sighting)

    def add(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)
        entry = sighting.entry
        if entry.asset_id:
            self.by_id.setdefault(entry.asset_id, []).append(sighting)
            return
        link = parse_article_link(entry.url)
        if link and link.url_title:
            self.by_title.setdefault(link.url_title, []).append(sighting)

    def slugs(self) -> dict[str, int]:
        """Title slug → asset id, from entries that link by id (they name both)."""
        return {
            slugify(s.entry.title): s.entry.asset_id
            for s in self.sightings
            if s.entry.asset_id and s.entry.title
        }

    def ambiguous_slugs(self) -> set[str]:
        """Title slugs two articles share (Liferay then gives the second url-title a ``-1``):
        a url-title equal to one of them names either."""
        seen: dict[str, int] = {}
        shared = set()
        for sighting in self.sightings:
            entry = sighting.entry
            if entry.asset_id and entry.title:
                slug = slugify(entry.title)
                if seen.setdefault(slug, entry.asset_id) != entry.asset_id:
                    shared.add(slug)
        return shared

    def entry_for(self, asset_id: int, url: str, slug: str | None, timestamp: str):
        """The entry as the listings showed it when the article was captured: each field from
        the newest listing capture at or before ``timestamp`` that has it, else the oldest
        after. None when no listing showed the article."""
        sightings = self.by_id.get(asset_id, []) + (self.by_title.get(slug, []) if slug else [])
        if not sightings:
            return None
        before = sorted((s for s in sightings if s.timestamp <= timestamp), key=_moment)
        after = sorted((s for s in sightings if s.timestamp > timestamp), key=_moment)
        ordered = before[::-1] + after

        def first(name: str):
            return next((getattr(s.entry, name) for s in ordered if getattr(s.entry, name)), None)

        return ListingEntry(
            url=url,
            asset_id=asset_id,
            listing_url=ordered[0].entry.listing_url,
            title=first("title"),
            date_raw=first("date_raw"),
            summary=first("summary"),
        )


def _moment(sighting: Sighting) -> str:
    return sighting.timestamp


def select_listing_captures(
    pages: list[CdxCapture], menu_paths: set[str], period_digits: int
) -> list[CdxCapture]:
    """The listing captures worth reading: pages the menus name or that carry a pagination
    parameter, the newest capture of each listing page per period (so every article that went
    through a listing in that period is seen with its date and summary)."""
    chosen: dict[tuple, CdxCapture] = {}
    for capture in pages:
        key = listing_key(capture.original)
        if key[0] not in menu_paths and pagination_param(capture.original) is None:
            continue
        if key[0] == "/":
            continue  # the home page is read once, for its menus
        slot = (key, capture.timestamp[:period_digits])
        if slot not in chosen or capture.timestamp > chosen[slot].timestamp:
            chosen[slot] = capture
    return sorted(chosen.values(), key=lambda c: (c.timestamp, c.original))

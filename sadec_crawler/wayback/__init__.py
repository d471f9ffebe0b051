"""Archiving from the Internet Archive's captures: ``scrapy crawl sadec -a source=wayback``.

:mod:`.cdx` speaks to the index and names playback URLs, :mod:`.listings` keeps what captured
listings showed, :mod:`.resume` reads what the archive already holds, :mod:`.run` is the run on
Scrapy's engine, :mod:`.middleware` keeps it off the portal.
"""

from .cdx import CdxCapture, CdxQuery, capture_of, parse_cdx_json, playback_url
from .listings import ListingIndex, Sighting, select_listing_captures

__all__ = [
    "CdxCapture",
    "CdxQuery",
    "ListingIndex",
    "Sighting",
    "capture_of",
    "parse_cdx_json",
    "playback_url",
    "select_listing_captures",
]

"""Step requests: ``data:`` requests that fetch nothing, so that a callback runs and what it
yields reaches the pipelines when no response is at hand (a Wayback run between captures; the
links other portals handed to this one). Scrapy's ``data:`` download handler answers them."""

from __future__ import annotations

from scrapy import Request

STEP_SLOT = "sadec-steps"
"""Their download slot (``DOWNLOAD_SLOTS``): apart from every host's, and undelayed."""


def step_request(callback, cb_kwargs: dict | None = None) -> Request:
    """A request for ``callback`` to run with ``cb_kwargs``, fetching nothing."""
    return Request(
        "data:,",
        callback=callback,
        cb_kwargs=cb_kwargs or {},
        dont_filter=True,
        meta={
            "allow_offsite": True,
            "dont_obey_robotstxt": True,
            "download_slot": STEP_SLOT,
            "autothrottle_dont_adjust_delay": True,
        },
    )

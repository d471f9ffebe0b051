"""The downloader middleware that keeps a Wayback run off the portal."""

from __future__ import annotations

from scrapy.http import Request


class WaybackMiddleware:
    """Downloader middleware (before robots.txt and the off-site filter): with
    ``-a source=wayback``, a request for any host but the archive — the files pipeline fetching
    an article's images from the portal — is turned into a request for the archive's copy, so
    the live portal is never contacted. Does nothing for the live source."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request):
        wayback = getattr(self.crawler, "sadec_wayback", None)
        if wayback is None:
            return None
        return wayback.archived_request(request)

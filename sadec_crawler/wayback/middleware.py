"""The downloader middleware that keeps a Wayback run off the portal."""

from __future__ import annotations

import zlib

from scrapy.http import Request, Response

GZIP_MAGIC = b"\x1f\x8b"


class WaybackMiddleware:
    """Downloader middleware (before robots.txt and the off-site filter): with
    ``-a source=wayback``, a request for any host but the archive — the files pipeline fetching
    an article's images from the portal — is turned into a request for the archive's copy, so
    the live portal is never contacted. Does nothing for the live source."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.max_bytes = crawler.settings.getint("DOWNLOAD_MAXSIZE")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request):
        wayback = getattr(self.crawler, "sadec_wayback", None)
        if wayback is None:
            return None
        return wayback.archived_request(request)

    def process_response(self, request: Request, response: Response):
        """A capture played back still gzip-compressed, without a ``Content-Encoding`` that
        says so (the real service's ``id_`` playback does this at times): its bytes are
        decompressed here, after Scrapy's own decompression had no header to go by. The WARC
        record keeps the bytes as they came."""
        if getattr(self.crawler, "sadec_wayback", None) is None:
            return response
        if not response.body.startswith(GZIP_MAGIC):
            return response
        inflater = zlib.decompressobj(wbits=47)  # gzip, and zlib too
        try:
            body = inflater.decompress(response.body, self.max_bytes or 0)
        except zlib.error:
            return response  # gzip-like bytes that are not: left for the parsers to refuse
        if inflater.unconsumed_tail:
            return response  # past DOWNLOAD_MAXSIZE: not inflated here (a bomb stays a blob)
        self.crawler.stats.inc_value("sadec/wayback/gzip_bodies_decoded")
        return response.replace(body=body)


class MementoMiddleware:
    """Downloader middleware just before retries (``Retry-After`` at 555, Scrapy's at 550): in
    a Wayback run, an answer that carries ``Memento-Datetime`` is the archived page, whatever
    its status. A 5xx or 429 the portal gave the archive's crawler years ago is what the page
    was then, not an error of the archive now: asked for again it says the same, so it is not
    retried (each retry is one more request to a service that blocks the impatient)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.retried = set(crawler.settings.getlist("RETRY_HTTP_CODES"))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request: Request, response: Response):
        if getattr(self.crawler, "sadec_wayback", None) is None:
            return response
        if response.status in self.retried and b"Memento-Datetime" in response.headers:
            request.meta["dont_retry"] = True
            self.crawler.stats.inc_value("sadec/wayback/archived_error_mementos")
        return response

"""What a failed request means for the archive: a recorded error of the run, or nothing.

Scrapy hands an errback a ``Failure``; the crawl records it in ``crawl_errors`` under a short
kind (``http_503``, ``timeout``, ``redirect_loop`` …) with a one-line message, except where the
crawl itself chose not to fetch (robots.txt, the off-site rule).
"""

from __future__ import annotations

from dataclasses import dataclass

from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from .middlewares import RedirectLoop
from .warc import exception_kind

DECOMPRESSED_TOO_LARGE = "exceeded DOWNLOAD_MAXSIZE"
"""Words of Scrapy's HttpCompressionMiddleware when a body outgrows the limit."""
MESSAGES = {
    "timeout": "timed out after retries",
    "dns": "host name not found",
}


@dataclass(frozen=True)
class FetchFailure:
    """A request that failed: the URL the site links to, the kind and a one-line message."""

    url: str
    kind: str
    message: str


def describe(failure, max_redirects: int) -> FetchFailure | None:
    """The error a failed request records; None when nothing failed (the crawl chose not to
    fetch: robots.txt, off-site)."""
    request = failure.request
    url = request.url
    if failure.check(IgnoreRequest) and request.meta.get("redirect_urls"):
        url = request.meta["redirect_urls"][0]  # the URL the site links to, not a hop
    if failure.check(RedirectLoop):
        return FetchFailure(url, "redirect_loop", str(failure.value)[:300])
    if failure.check(IgnoreRequest) and DECOMPRESSED_TOO_LARGE in str(failure.value):
        # Scrapy refuses a body that outgrows DOWNLOAD_MAXSIZE while it is decompressed (a
        # decompression bomb) with IgnoreRequest: a page not read, not one chosen not to read.
        message = f"larger than the size limit (DOWNLOAD_MAXSIZE) once decompressed: {url}"
        return FetchFailure(url, "too_large", message[:300])
    if failure.check(IgnoreRequest) and not failure.check(HttpError):
        if request.meta.get("redirect_times", 0) < max_redirects:
            return None
        # A chain too long to follow, though, is a page the site links to that was not read.
        return FetchFailure(url, "too_many_redirects", f"more than {max_redirects} redirects")
    if failure.check(HttpError):
        status = failure.value.response.status
        return FetchFailure(url, f"http_{status}", f"HTTP {status}")
    # Scrapy 2.13+ raises its own exception types (DownloadTimeoutError …), not Twisted's.
    kind = exception_kind(failure.value)
    if kind == "too_large":
        message = f"larger than the size limit (DOWNLOAD_MAXSIZE): {failure.value}"
    else:
        message = MESSAGES.get(kind, f"{failure.type.__name__}: {failure.value}")
    return FetchFailure(url, kind, message[:300])

"""Downloader middlewares of the crawl (see ``DOWNLOADER_MIDDLEWARES`` in the settings).

:class:`RetryAfterMiddleware` makes the crawl wait when a server says it is overloaded. Scrapy's
own retry middleware retries at once, which is what an overloaded server, and above all the
Internet Archive's rate limiter, must not get. :class:`StayOnSiteMiddleware` keeps the crawl on
its site even for retried requests, :class:`RedirectLoopMiddleware` turns a redirect loop into an
error the run records. Other engineers may add middlewares here: keep each one a
class with its own docstring and settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from scrapy.downloadermiddlewares.offsite import OffsiteMiddleware
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater
from w3lib.url import safe_url_string

logger = logging.getLogger(__name__)

BACKOFF_META = "sadec_backoff"
"""Request meta key: this request goes to a host that wants exponential backoff between
retries (the web archive); set by :mod:`sadec_crawler.wayback`."""


def retry_after_seconds(value: bytes | str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (moment - now).total_seconds())


class RetryAfterMiddleware:
    """Waits before retrying when a host asks for it, and holds back that host meanwhile.

    - ``429 Too Many Requests``, and any retryable status (``RETRY_HTTP_CODES``: 500, 503 …)
      with a ``Retry-After`` header: no request goes to that host until the time the header
      names (``SADEC_RETRY_AFTER_MAX`` seconds at most), or, for a 429 without the header, for
      an exponential backoff; then the request is retried (within ``RETRY_TIMES``, counted with
      Scrapy's retry middleware).
    - Requests marked ``meta["sadec_backoff"]`` (the web archive's) also back off after every
      other retryable status and network error: ``SADEC_RETRY_BACKOFF`` × 2^retries seconds.

    Placed just below Scrapy's retry middleware (550) so that it sees these answers first.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.max_wait = settings.getfloat("SADEC_RETRY_AFTER_MAX", 300.0)
        self.backoff = settings.getfloat("SADEC_RETRY_BACKOFF", 2.0)
        self.retry_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.enabled = settings.getbool("RETRY_ENABLED", True)
        self.paused_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        wait = self.paused_until.get(host, 0.0) - time.monotonic()
        if wait > 0:
            self.crawler.stats.inc_value("sadec/retry_after/waits")
            # Imported here: the spider imports this module before Scrapy installs its asyncio
            # reactor, and a module-level import would install Twisted's default one first.
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, wait, lambda: None))
        return None

    def process_response(self, request: Request, response: Response):
        if not self.enabled or request.meta.get("dont_retry"):
            return response
        status = response.status
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        # RFC 9110 defines Retry-After for 503, but an overloaded Liferay behind a proxy also
        # sends it with 500/502/504: a server asking for a pause gets one, whatever the code.
        asked = status == 429 or (status in self.retry_codes and retry_after is not None)
        backoff = request.meta.get(BACKOFF_META) and status in self.retry_codes
        if not (asked or backoff):
            return response
        retry = get_retry_request(request, spider=self.crawler.spider, reason=f"http_{status}")
        if retry is None:
            return response  # retries used up: the caller sees the answer
        wait = retry_after if retry_after is not None else self._backoff(request)
        self._pause(request, min(wait, self.max_wait), f"HTTP {status}")
        return retry

    def process_exception(self, request: Request, exception: BaseException):
        """Network failures toward a backoff host: hold it back; Scrapy's retry middleware
        then retries as usual."""
        if request.meta.get(BACKOFF_META) and not isinstance(exception, IgnoreRequest):
            self._pause(
                request, min(self._backoff(request), self.max_wait), type(exception).__name__
            )
        return None

    def _backoff(self, request: Request) -> float:
        return self.backoff * 2 ** request.meta.get("retry_times", 0)

    def _pause(self, request: Request, wait: float, why: str) -> None:
        host = urlsplit(request.url).hostname or ""
        until = time.monotonic() + wait
        self.paused_until[host] = max(self.paused_until.get(host, 0.0), until)
        self.crawler.stats.inc_value("sadec/retry_after/pauses")
        logger.info("%s from %s: no request to it for %.1f s", why, host, wait)


class StayOnSiteMiddleware(OffsiteMiddleware):
    """Scrapy's off-site filter without its ``dont_filter`` exemption.

    Scrapy lets every ``dont_filter`` request through its off-site filter, its retry middleware
    marks every retry ``dont_filter``, and a redirect keeps the mark: a page that failed once and
    then redirected to another host was fetched from that host. Here only
    ``meta["allow_offsite"]`` passes (the files pipeline's images and attachments: part of an
    article's evidence wherever they are kept). Replaces Scrapy's filter at the same place (50).
    """

    def process_request(self, request: Request, spider=None) -> None:
        if request.dont_filter and not (
            request.meta.get("allow_offsite") or self.should_follow(request, self.crawler.spider)
        ):
            self.stats.inc_value("offsite/filtered")
            host = urlsplit(request.url).hostname
            logger.debug("off-site request refused despite dont_filter: %s", request)
            raise IgnoreRequest(f"Filtered offsite request to {host!r}")
        return super().process_request(request)


class RedirectLoop(IgnoreRequest):
    """A redirect leads back to a URL of its own chain: the page can never be read."""


REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class RedirectLoopMiddleware:
    """Stops a redirect loop at its first repeat with :class:`RedirectLoop`, which reaches the
    request's errback (the spider records it in ``crawl_errors``).

    Without it, Scrapy's duplicate filter drops the request that closes the loop without a word
    (no errback), or, for a retried request (``dont_filter``), the loop goes round until
    ``REDIRECT_MAX_TIMES``: either way a page the site links to is never read and nobody hears
    of it. Placed above Scrapy's redirect middleware (600) so that it sees each 3xx first.
    """

    def process_response(self, request: Request, response: Response):
        location = response.headers.get("Location")
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        if request.meta.get("dont_redirect"):
            return response
        target = safe_url_string(urljoin(request.url, location.decode("latin-1")))
        chain = {*request.meta.get("redirect_urls", ()), request.url}
        if target.split("#", 1)[0] in chain:
            raise RedirectLoop(f"redirect loop: {request.url} redirects to {target}")
        return response


@dataclass
class _HostTurn:
    out: int = 0
    """Requests to the host sent and not yet answered, by every crawler of the process."""
    next_at: float = 0.0
    """``time.monotonic()`` before which no further request goes to the host."""


_HOST_TURNS: dict[str, _HostTurn] = {}
_HOST_HELD = "sadec_host_turn"


class SharedHostMiddleware:
    """One request at a time per host across every crawler of the process, with
    ``DOWNLOAD_DELAY`` between them (``-a portals=``: each portal has its own crawler, and so
    its own download slots, but several sites can live on one host, ``/web/<site>``).

    Outermost of the middlewares (its ``process_request`` the last before the download, its
    ``process_response``/``process_exception`` the first after it), so that a turn is always
    handed back. Off (``NotConfigured``) for a crawl of one portal, where Scrapy's own slot
    does this.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.delay = settings.getfloat("DOWNLOAD_DELAY")
        self.at_once = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1))

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("SADEC_PORTAL"):
            raise NotConfigured("one portal: Scrapy's download slot keeps the host's pace")
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if not host:
            return None  # data: steps of a Wayback run
        turn = _HOST_TURNS.setdefault(host, _HostTurn())
        while True:
            now = time.monotonic()
            if turn.out < self.at_once and now >= turn.next_at:
                break
            await asyncio.sleep(min(0.05, max(0.001, turn.next_at - now)))
        turn.out += 1
        turn.next_at = now + self.delay
        request.meta[_HOST_HELD] = host
        return None

    def _release(self, request: Request) -> None:
        host = request.meta.pop(_HOST_HELD, None)
        if host is not None:
            turn = _HOST_TURNS[host]
            turn.out = max(0, turn.out - 1)

    def process_response(self, request: Request, response: Response):
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: BaseException):
        self._release(request)
        return None

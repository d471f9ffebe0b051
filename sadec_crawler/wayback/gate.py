"""The gate every request to the Internet Archive passes: its paces, its pauses, its probes.

The real service (issue 15's sources: the CDX server's README, the archive staff's answers in
edgi-govdata-archiving/wayback #137/#153 and wayback-machine-downloader #264/#267/#275) allows
about 30 index requests a minute per address and refuses playback after ~15 quick downloads;
over the limit it answers 429 **without** ``Retry-After``, and an address that keeps asking for
more than a minute after that is blocked at the firewall for an hour (connections refused or
reset), doubling on repeat. So, for the archive alone:

- **Paces.** Index (``/cdx/``) and playback (``/web/``) requests each keep their own interval
  (``SADEC_WAYBACK_CDX_PER_MINUTE``, ``SADEC_WAYBACK_PLAYBACK_PER_MINUTE``), and no more than
  ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests are out at once.
- **Pauses.** A 429 (that is not an archived page: no ``Memento-Datetime``) pauses *every*
  request to the archive for ``SADEC_WAYBACK_PAUSE`` seconds, doubled for each further episode
  in a row, and slows both paces for the rest of the run. So do refused or reset connections
  once ``SADEC_WAYBACK_BREAKER_FAILURES`` come in a row (the circuit breaker).
- **Probes.** After a pause exactly one request goes out; the others wait for its answer.
- **Stop.** After ``SADEC_WAYBACK_MAX_PAUSES`` episodes in a row the run stops cleanly
  (``wayback_rate_limited`` or ``wayback_unreachable``, exit status 75): what was stored stays,
  and the next run goes on from it.

The request a pause interrupted is asked for again afterwards, not counted as a retry: a block
costs time, never an article.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.error import (
    ConnectError,
    ConnectionDone,
    ConnectionLost,
    TCPTimedOutError,
    TimeoutError,  # noqa: A004 - Twisted's, not the builtin
)
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from ..middlewares import retry_after_seconds
from .cdx import CDX_PATH, host_of

logger = logging.getLogger(__name__)

RATE_LIMITED = "wayback_rate_limited"
"""``crawl_runs.finish_reason`` of a run stopped by 429s that kept coming."""
UNREACHABLE = "wayback_unreachable"
"""``crawl_runs.finish_reason`` of a run stopped by connections refused or reset (a block)."""
STOP_REASONS = (RATE_LIMITED, UNREACHABLE)
TRY_LATER_EXIT_STATUS = 75
"""EX_TEMPFAIL: the archive asked the run to go away; the next run goes on where it stopped."""

CONNECTION_FAILURES = (
    ConnectError,  # refused, and the other failures to connect
    ConnectionDone,
    ConnectionLost,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
    ResponseFailed,
    ResponseNeverReceived,
    TCPTimedOutError,
    TimeoutError,
)
"""What a firewall block looks like from here: no HTTP answer at all."""

_HELD = "sadec_gate_held"
_PROBE = "sadec_gate_probe"
_SENT_AT = "sadec_gate_sent_at"
_HTML_PAGES = "sadec_gate_index_html_pages"
_TICK = 0.25
"""Longest single sleep of a waiting request: a stop is noticed within it."""


class ArchiveStopped(IgnoreRequest):
    """The run is stopping because the archive keeps refusing it: the request is not sent, and
    is no error of its own (the run's ``finish_reason`` says why)."""


@dataclass
class GateState:
    """What the gate knows, for progress lines and ``crawl_runs``."""

    episodes: int = 0
    """Pauses so far in this run."""
    in_a_row: int = 0
    """Episodes since the archive last answered."""
    slowdown: float = 1.0
    """Factor on both paces (grows with each episode, up to ``MAX_SLOWDOWN``)."""
    paused_until: float = 0.0
    """``time.monotonic()`` before which no request goes out."""
    probing: bool = False
    probe_due: bool = False
    connection_failures: int = 0
    """Refused or reset connections since the archive last answered."""
    stopping: str | None = None


@dataclass
class SharedGate:
    """What every gate in a process towards one archive shares."""

    state: GateState
    next_at: dict[str, float] = field(default_factory=lambda: {"cdx": 0.0, "playback": 0.0})
    """``time.monotonic()`` before which no request of that kind goes."""
    out: int = 0
    """Requests past the gate without an answer yet."""
    crawlers: list = field(default_factory=list)


_SHARED: dict[str, SharedGate] = {}
"""Archive host → its gate, for this process."""

MAX_SLOWDOWN = 4.0
SLOWDOWN_STEP = 1.5


class ArchiveGate:
    """Downloader middleware for the web archive's requests (see the module docstring).

    Placed above every other middleware (its ``process_request`` is the last before the
    download slot, its ``process_response``/``process_exception`` the first after it), so that
    a request waiting here is not yet queued anywhere and every answer passes here first.
    Does nothing for the live source or for requests to anything but the archive.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.intervals = {
            "cdx": _interval(settings.getfloat("SADEC_WAYBACK_CDX_PER_MINUTE")),
            "playback": _interval(settings.getfloat("SADEC_WAYBACK_PLAYBACK_PER_MINUTE")),
        }
        self.pause = settings.getfloat("SADEC_WAYBACK_PAUSE")
        self.max_pauses = settings.getint("SADEC_WAYBACK_MAX_PAUSES")
        self.breaker_failures = settings.getint("SADEC_WAYBACK_BREAKER_FAILURES")
        self.at_once = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1))
        # One archive, one gate: the crawlers of several portals in one process (-a portals=)
        # share its paces and pauses, as the archive counts them per address, not per portal.
        self.shared = _SHARED.setdefault(
            host_of(settings.get("SADEC_WAYBACK_URL", "")), SharedGate(state=GateState())
        )
        self.shared.crawlers.append(crawler)
        self.state = self.shared.state
        self.next_at = self.shared.next_at

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.getfloat("SADEC_WAYBACK_PAUSE") < 0:
            raise NotConfigured("SADEC_WAYBACK_PAUSE < 0")
        gate = cls(crawler)
        crawler.sadec_gate = gate
        return gate

    # --- which requests --------------------------------------------------------------------
    def endpoint(self, request: Request) -> str | None:
        """``cdx`` or ``playback`` for a request to the archive in a Wayback run, else None."""
        wayback = getattr(self.crawler, "sadec_wayback", None)
        if wayback is None or host_of(request.url) != wayback.archive_host:
            return None
        return "cdx" if CDX_PATH in request.url.split("?", 1)[0] else "playback"

    # --- before the request ----------------------------------------------------------------
    async def process_request(self, request: Request) -> None:
        endpoint = self.endpoint(request)
        if endpoint is None:
            return None
        state = self.state
        while True:
            if state.stopping:
                raise ArchiveStopped(f"not sent: the run is stopping ({state.stopping})")
            now = time.monotonic()
            if now < state.paused_until:
                await _sleep(min(state.paused_until - now, _TICK))
                continue
            if state.probing or self.shared.out >= self.at_once:
                await _sleep(min(_TICK, self._shortest_interval() or _TICK))
                continue
            wait = self.next_at[endpoint] - now
            if wait > 0:
                await _sleep(min(wait, _TICK))
                continue
            break
        self.next_at[endpoint] = now + self.intervals[endpoint] * state.slowdown
        self.shared.out += 1
        request.meta[_HELD] = True
        request.meta[_SENT_AT] = now
        if state.probe_due:
            state.probe_due, state.probing = False, True
            request.meta[_PROBE] = True
            self.crawler.stats.inc_value("sadec/wayback/probes")
            logger.info("wayback: the pause is over; one probe: %s", request.url)
        self.crawler.stats.inc_value(f"sadec/wayback/{endpoint}_sent")
        return None

    def _shortest_interval(self) -> float:
        return min(self.intervals.values())

    # --- after it --------------------------------------------------------------------------
    def process_response(self, request: Request, response: Response):
        if not request.meta.pop(_HELD, False):
            return response
        probe = self._answered(request)
        limited = response.status == 429 and b"Memento-Datetime" not in response.headers
        if not limited and self._maintenance_page(request, response):
            tries = request.meta.get(_HTML_PAGES, 0)
            if tries < self.max_pauses:
                # The index is down for maintenance: it alone waits, longer each time.
                seconds = self.pause * 2**tries
                self.next_at["cdx"] = time.monotonic() + seconds
                self.crawler.stats.inc_value("sadec/wayback/index_html_pages")
                logger.warning(
                    "wayback: the index answered an HTML page, not rows; asked again in %s s",
                    f"{seconds:.3g}",
                )
                again = self._again(request)
                again.meta[_HTML_PAGES] = tries + 1
                return again
        if not limited:
            self.state.connection_failures = 0
            if probe or self.state.in_a_row:
                if self.state.in_a_row:
                    logger.info("wayback: the archive answers again (HTTP %d)", response.status)
                self.state.in_a_row = 0
            return response
        if request.meta.get(_SENT_AT, 0.0) >= self._episode_started:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            self._episode(f"HTTP 429 from {host_of(request.url)}", RATE_LIMITED, asked)
        return self._again(request)

    def process_exception(self, request: Request, exception: BaseException):
        if not request.meta.pop(_HELD, False):
            return None
        probe = self._answered(request)
        if not isinstance(exception, CONNECTION_FAILURES):
            return None
        self.state.connection_failures += 1
        if not probe and self.state.connection_failures < self.breaker_failures:
            return None  # a passing failure: Scrapy's retry (with backoff) takes it
        if request.meta.get(_SENT_AT, 0.0) >= self._episode_started or probe:
            why = f"{type(exception).__name__} from {host_of(request.url)} (blocked?)"
            self._episode(why, UNREACHABLE)
        return self._again(request)

    def _maintenance_page(self, request: Request, response: Response) -> bool:
        """A 200 from the index that is an HTML page (the real server's maintenance notice)."""
        if response.status != 200 or self.endpoint(request) != "cdx":
            return False
        content_type = response.headers.get("Content-Type", b"").lower()
        return b"html" in content_type or response.body.lstrip()[:1] == b"<"

    def _answered(self, request: Request) -> bool:
        self.shared.out = max(0, self.shared.out - 1)
        probe = bool(request.meta.pop(_PROBE, False))
        if probe:
            self.state.probing = False
        return probe

    _episode_started = 0.0

    def _episode(self, why: str, reason: str, asked: float | None = None) -> None:
        """Pause everything; after ``max_pauses`` in a row, stop the run."""
        state = self.state
        state.episodes += 1
        state.in_a_row += 1
        stats = self.crawler.stats
        stats.inc_value("sadec/wayback/pauses")
        if state.in_a_row > self.max_pauses:
            self._stop(why, reason)
            return
        # A Retry-After, when the archive sends one, may only lengthen the pause.
        seconds = max(self.pause * 2 ** (state.in_a_row - 1), asked or 0.0)
        now = time.monotonic()
        self._episode_started = now
        state.paused_until = now + seconds
        state.probe_due = True
        state.slowdown = min(MAX_SLOWDOWN, state.slowdown * SLOWDOWN_STEP)
        stats.set_value("sadec/wayback/slowdown", state.slowdown)
        logger.warning(
            "wayback: %s: no request to the archive for %s s (pause %d of at most %d in a "
            "row), then one probe; paces now %.1f× slower",
            why,
            f"{seconds:.3g}",
            state.in_a_row,
            self.max_pauses,
            state.slowdown,
        )

    def _stop(self, why: str, reason: str) -> None:
        state = self.state
        if state.stopping:
            return
        state.stopping = reason
        message = f"{why} after {self.max_pauses} pauses in a row; the next run goes on from here"
        logger.error(
            "wayback: %s after %d pauses in a row: the run stops here (%s); what it stored "
            "stays, and the next run goes on from it (docs/wayback.md, 'During a block')",
            why,
            self.max_pauses,
            reason,
        )
        for crawler in self.shared.crawlers:
            crawler.sadec_stop_message = message
            engine = crawler.engine
            if engine is not None and crawler.crawling:
                deferred_from_coro(engine.close_spider_async(reason=reason))

    def _again(self, request: Request) -> Request:
        """The interrupted request, asked for again after the pause (not a retry)."""
        self.crawler.stats.inc_value("sadec/wayback/requests_after_pause")
        meta = {k: v for k, v in request.meta.items() if k not in (_PROBE, _SENT_AT)}
        return request.replace(dont_filter=True, meta=meta)

    # --- for progress lines and crawl_runs --------------------------------------------------
    def next_request_at(self) -> dt.datetime:
        """When the next request to the archive may go (UTC): after the pause, at the pace."""
        moment = max(self.state.paused_until, min(self.next_at.values()))
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, moment - time.monotonic()))

    def seconds_left(self, done: int, left: int, elapsed: float) -> float | None:
        """Time the ``left`` captures should take: at the pace the run has kept so far, and
        never less than the playback pace allows; None before the first capture."""
        if done <= 0 or elapsed <= 0:
            return None
        per_capture = max(elapsed / done, self.intervals["playback"] * self.state.slowdown)
        return left * per_capture

    def describe(self) -> str:
        """The gate in a few words: paces and, during a pause, how long it still lasts."""
        state = self.state
        paces = ", ".join(
            f"{name} {60 / (interval * state.slowdown):.0f}/min" if interval else f"{name} free"
            for name, interval in self.intervals.items()
        )
        left = state.paused_until - time.monotonic()
        pause = f"; paused {left:.0f} s more" if left > 0 else ""
        return f"paces {paces}{pause}; {state.episodes} pauses"


def _interval(per_minute: float) -> float:
    """Seconds between requests for a pace of ``per_minute`` (0: no pace, a local archive)."""
    return 60.0 / per_minute if per_minute > 0 else 0.0


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds))

"""A replica of the Internet Archive's Wayback Machine holding captures of the replica portal.

It serves what the crawler's ``wayback`` source uses, after the public ``wayback-cdx-server``
README: the CDX index at ``/cdx/search/cdx`` (``url``, ``matchType``, ``output=json`` with a
header row, ``fl``, ``filter``, ``collapse``, ``from``, ``to``, ``limit``,
``showResumeKey``/``resumeKey``) and raw playback at ``/web/<timestamp>id_/<original URL>``
(the exact capture; any other timestamp is redirected to the nearest capture, as the real
service does).

The captures are made from a :class:`~replica.model.Site` in three states, one schedule for a
given site: state A captures the home page, every listing page, most articles (under every
route form the portal uses), their images and some attachments, and re-captures some articles
a day later with identical bytes; ``site.advance()`` then edits, publishes, removes and
re-files articles, and state B captures the changes (with a 404 for the removed article);
a second advance edits again and state C re-captures the edited articles. A few listed articles
are never captured, one only as a 404 and one only as a redirect. The ground truth (what a
crawler should archive from these captures) is kept per capture; see :meth:`expected_articles`,
:meth:`expected_versions` and :meth:`expected_errors`.

Building the schedule advances the Site twice: give the replica a fresh one.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import gzip
import hashlib
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

from replica import generations, media
from replica.app import App
from replica.faults import FaultConfig
from replica.http import BackgroundServer
from replica.model import ArticleTruth, Site, stable_fraction, stable_hex
from replica.pages import Pager

HOST = "sadec.dongthap.gov.vn"
CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
PLAYBACK = re.compile(r"^/web/(?P<timestamp>\d{1,14})(?P<flag>[a-z]{2}_)?/(?P<target>.+)$", re.S)
ROBOTS_TXT = b"User-agent: *\nDisallow:\n"
VIEW_COUNT = re.compile(rb"(\d+)( l\xc6\xb0\xe1\xbb\xa3t xem| Xem<)")
"""The view counter of an article page ("N lượt xem"; "N Xem" in the 6.2/7.0 metadata)."""
MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Wayback Machine</title></head><body><h1>Wayback "
    b"Machine</h1><p>The Wayback Machine is temporarily unavailable for maintenance. Please "
    b"try again later.</p></body></html>\n"
)
GATEWAY_TIMEOUT = b"<html><body><h1>504 Gateway Time-out</h1></body></html>\n"
REDESIGNED_STATES = {"A": "6.2", "B": "7.0", "C": "7.4"}
STATE_GAPS = {"A": timedelta(days=1), "B": timedelta(days=40), "C": timedelta(days=100)}
"""When each state is captured, after the site's clock: different months, so a crawler that
keeps one listing capture a month reads every state's listings."""


def surt_key(url: str) -> str:
    """The CDX ``urlkey`` of a URL: host reversed (``www.`` dropped), ``)``, path (a
    ``;jsessionid=`` kept, as the real index keeps it) and sorted query, lower case; scheme
    and port do not count, so http, https and www share one key."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = (parts.hostname or "").lower().removeprefix("www.")
    key = ",".join(reversed(host.split("."))) + ")" + (parts.path or "/")
    if parts.query:
        key += "?" + "&".join(sorted(parts.query.split("&")))
    return key.lower()


def timestamp_of(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def moment_of(timestamp: str) -> datetime:
    """A 1–14 digit timestamp as a moment; missing digits count from the start of the period."""
    padded = timestamp + "00000101000000"[len(timestamp) :]
    return datetime.strptime(padded, "%Y%m%d%H%M%S")


@dataclass
class StoredCapture:
    """One capture in the archive: a URL's answer at a moment.

    Image and attachment bodies are made on first use (``render``): drawing them is most of
    the cost of building a schedule, and most tests never fetch them.
    """

    timestamp: str
    original: str
    status: int
    mimetype: str
    location: str | None = None
    revisit: bool = False
    """Listed as a ``warc/revisit`` record (status ``-``): the archive's crawler found the
    bytes unchanged and stored a pointer to the earlier payload; playback serves that."""
    render: Callable[[], bytes] | None = field(default=None, repr=False)
    _body: bytes | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self.render() if self.render else b""
        return self._body

    @property
    def urlkey(self) -> str:
        return surt_key(self.original)

    @property
    def digest(self) -> str:
        """Base32 SHA-1 of the body, the archive's payload digest."""
        return base64.b32encode(hashlib.sha1(self.body).digest()).decode()

    def field(self, name: str) -> str:
        values = {
            "urlkey": self.urlkey,
            "timestamp": self.timestamp,
            "original": self.original,
            "mimetype": "warc/revisit" if self.revisit else self.mimetype,
            "statuscode": "-" if self.revisit else str(self.status),
            "digest": self.digest,
            "length": str(len(self.body)),
        }
        return values[name]


@dataclass
class ArchiveRequest:
    """One request as the archive saw it."""

    path: str
    status: int
    kind: str
    """``cdx``, ``playback``, ``robots`` or ``other``."""
    at: float
    """``time.monotonic()`` when it arrived."""


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class _ScheduleClock:
    """Hands out distinct capture timestamps, a few seconds apart, within one state."""

    def __init__(self, start: datetime):
        self.moment = start

    def next(self) -> str:
        self.moment += timedelta(seconds=7)
        return timestamp_of(self.moment)


class WaybackReplica(BackgroundServer):
    """Captures of a Site, served as the Wayback Machine serves them; use as a context manager.

    ``throttle_every=N`` answers every Nth request ``429`` with ``Retry-After: retry_after``.
    ``gzipped_bodies=N``: N article captures are played back still gzip-compressed, with no
    ``Content-Encoding`` header (seen from the real service's ``id_`` playback).
    ``failed_media=N``: N images or attachments are archived only as the portal's HTTP 503
    page (captured while it was overloaded), played back with that status and a
    ``Memento-Datetime``, as the real service plays archived errors.
    ``unplayable=N``: the newest capture of N articles is listed by the CDX server, but its
    ``id_`` playback answers 302 to the article's previous capture, as the real service does
    for captures it lists and cannot play (days earlier in recorded exchanges).

    The real service's rate limits and firewall (issue 15): ``rate_limits={"cdx": (30, 60.0),
    "playback": (15, 60.0)}`` answers ``429`` with an HTML body and **no** ``Retry-After`` to a
    request of that kind when that many already arrived in the last so many seconds (refused
    ones count: knocking on keeps a client limited). A client still over the limit
    ``block_after`` seconds after its first 429 is blocked for ``block_for`` seconds (doubled on
    each further block): every connection is then reset without an answer. ``block_at=N``
    starts such a block at the Nth index or playback request. Refused connections are logged
    with status 0.

    The index's paging and moods, as recorded for the real server: the resume key is the
    broken ``-+<timestamp>`` form whenever ``fl`` leaves out ``urlkey`` (#121: resuming with it
    starts over); ``empty_pages`` pages before filtering, so a page can be empty and still
    carry a key; ``stuck_paging`` answers every resumed page with the key it was given;
    ``prefix_timeout_days=D`` answers 504 to a prefix query whose window spans more than D
    days (#285); ``cdx_maintenance=N`` answers the first N index requests 200 with an HTML
    maintenance page. ``revisits`` lists identical re-captures as ``warc/revisit`` rows;
    ``view_counter`` makes every capture of an article show a different "N lượt xem".
    """

    thread_name = "wayback"

    def __init__(
        self,
        site: Site | None = None,
        *,
        host: str = HOST,
        port: int = 0,
        throttle_every: int = 0,
        retry_after: int = 1,
        eras=generations.ERAS,
        redesigns: bool = False,
        unplayable: int = 0,
        gzipped_bodies: int = 0,
        failed_media: int = 0,
        rate_limits: dict[str, tuple[int, float]] | None = None,
        block_after: float = 60.0,
        block_for: float = 3600.0,
        block_at: int = 0,
        empty_pages: bool = False,
        stuck_paging: bool = False,
        prefix_timeout_days: float = 0,
        cdx_maintenance: int = 0,
        revisits: bool = False,
        view_counter: bool = False,
    ):
        self.site = site or Site()
        self.empty_pages = empty_pages
        self.stuck_paging = stuck_paging
        self.prefix_timeout_days = prefix_timeout_days
        self.cdx_maintenance = cdx_maintenance
        self.view_counter = view_counter
        self.rate_limits = dict(rate_limits or {})
        self.block_after = block_after
        self.block_for = block_for
        self.block_at = block_at
        self.blocks: list[tuple[float, float]] = []
        """(start, end) of each block, ``time.monotonic()``."""
        self._first_refusal: float | None = None
        self.host = host
        self.throttle_every = throttle_every
        self.retry_after = retry_after
        self.requests: list[ArchiveRequest] = []
        self._log_lock = threading.Lock()
        super().__init__(host="127.0.0.1", port=port)
        self.captures: list[StoredCapture] = []
        self._by_key: dict[str, list[StoredCapture]] = {}
        self._states: dict[int, list[tuple[str, ArticleTruth]]] = {}
        self._missing: dict[int, str] = {}
        self._article_captures: dict[int, list[StoredCapture]] = {}
        self._failed_media_wanted = failed_media
        self.failed_media: list[str] = []
        """Paths of the files archived only as an HTTP 503 page."""
        self._unplayable: dict[tuple[str, str], str] = {}
        """(urlkey, timestamp) of a listed capture → the timestamp its playback redirects to."""
        self.unplayable_captures: dict[int, str] = {}
        """Asset id → timestamp of its capture that is listed but not playable."""
        self._removed: set[int] = set()
        self._slugs: dict[int, str] = {}
        self.state_days: dict[str, str] = {}
        """Day (``YYYY-MM-DD``) each state A, B, C was captured."""
        self.eras = eras
        """When the portal changed Liferay generation: each capture wears the markup of its
        day (``generations.ERAS`` unless a test moves the dates onto the schedule)."""
        self.redesigns = redesigns
        """Place the redesigns on the schedule: state A captured in 6.2, B in 7.0, C in 7.4
        (``eras`` becomes the first days of B and C), so one run meets every generation."""
        self._state = "A"
        self._apps = {g: App(self.site, FaultConfig(), g) for g in generations.GENERATIONS}
        self._app = self._apps[self.site.liferay]
        self.capture_generations: dict[str, str] = {}
        """Generation of each capture, by timestamp."""
        self._build()
        if revisits:
            self._mark_revisits()
        self._make_unplayable(unplayable)
        ranked = sorted(
            (c for captures in self._article_captures.values() for c in captures),
            key=lambda c: stable_fraction(self.site.seed, "gzipped", int(c.timestamp)),
        )
        self._gzipped = {(c.urlkey, c.timestamp) for c in ranked[:gzipped_bodies]}
        """Captures played back as gzip bytes without saying so."""
        self._sorted = sorted(self.captures, key=lambda c: (c.urlkey, c.timestamp))

    # ------------------------------------------------------------------ the capture schedule

    def _build(self) -> None:
        site = self.site
        start = site.clock
        listed = sorted(a.asset_id for a in site.articles.values() if a.listed and not a.special)
        ranked = sorted(listed, key=lambda i: stable_fraction(site.seed, "wayback-role", i))
        never, only_404, only_302 = set(ranked[:3]), ranked[3], ranked[4]
        unlisted = sorted(a.asset_id for a in site.articles.values() if not a.listed)
        self._roles = {i: "never" for i in never} | {only_404: "only_404", only_302: "only_302"}
        if unlisted:
            # Captured by url-title only: the crawler must open it to learn its asset id.
            self._roles[unlisted[0]] = "title-root"
        self._slugs = {asset_id: site.slug_of(a) for asset_id, a in site.articles.items()}

        clock = _ScheduleClock(start + STATE_GAPS["A"])
        self.state_days = {"A": clock.moment.date().isoformat()}
        self._capture_pages(clock, every_page=True, extra=("/gioi-thieu",))
        for asset_id in sorted(site.articles):
            role = self._roles.get(asset_id)
            if role == "never":
                continue
            if role == "only_404":
                self._capture_error(clock, asset_id, 404)
            elif role == "only_302":
                self._capture_error(clock, asset_id, 302)
            else:
                self._capture_article(clock, asset_id, role or self._form(asset_id, "A"))
        clock.moment += timedelta(days=1)
        for asset_id in sorted(self._states):
            if stable_fraction(site.seed, "wayback-again", asset_id) < 0.25:
                self._capture_article(clock, asset_id, self._first_form(asset_id))

        edited_b = self._advance_and_capture_b()
        self._advance_and_capture_c(edited_b)
        if self.redesigns:
            self.eras = tuple(
                (date.fromisoformat(self.state_days[state]), REDESIGNED_STATES[before])
                for before, state in (("A", "B"), ("B", "C"))
            )
        self._slugs.update({asset_id: site.slug_of(a) for asset_id, a in site.articles.items()})

    def _mark_revisits(self) -> None:
        """Each 200 capture whose bytes equal the previous capture of its URL: a revisit."""
        for captures in self._by_key.values():
            ordered = sorted(captures, key=lambda c: c.timestamp)
            for earlier, later in zip(ordered, ordered[1:], strict=False):
                if earlier.status == later.status == 200 and earlier.body == later.body:
                    later.revisit = True

    def _make_unplayable(self, count: int) -> None:
        """The newest capture of ``count`` articles captured at one URL with two contents."""
        candidates = [
            asset_id
            for asset_id, captures in sorted(self._article_captures.items())
            if len(captures) >= 2
            and captures[-1].original == captures[-2].original
            # Differing content: an identical re-capture is collapsed away by the index.
            and captures[-1].digest != captures[-2].digest
        ]
        ranked = sorted(candidates, key=lambda i: stable_fraction(self.site.seed, "unplayable", i))
        for asset_id in ranked[:count]:
            newest, previous = self._article_captures[asset_id][-2:][::-1]
            self._unplayable[(newest.urlkey, newest.timestamp)] = previous.timestamp
            self.unplayable_captures[asset_id] = newest.timestamp

    def _advance_and_capture_b(self) -> list[int]:
        """State B: one article removed (captured as a 404), edits, one re-filed, new ones."""
        site = self.site
        change = site.advance(seed=1, publish=3, edit=3, remove=1, recategorise=1)
        clock = _ScheduleClock(site.clock + STATE_GAPS["B"])
        self.state_days["B"] = clock.moment.date().isoformat()
        self._state = "B"
        self._capture_pages(clock, every_page=True)
        published = change["published"]
        # The newest one is listed but never captured.
        self._roles[published[-1]] = "never"
        again = set(change["edited"]) | set(change["recategorised"]) | set(published[:-1])
        again |= {i for i in self._states if stable_fraction(site.seed, "wayback-b", i) < 0.3}
        for asset_id in sorted(again - set(self._roles)):
            if asset_id in site.articles:
                self._capture_article(clock, asset_id, self._form(asset_id, "B"))
        for asset_id in change["removed"]:
            if asset_id in self._states:
                path = site.article_path(site.removed[asset_id])
                body = self._app.renderer.error(404, path).encode()
                self._add(clock.next(), path, 404, "text/html", body)
                self._removed.add(asset_id)
        return change["edited"]

    def _advance_and_capture_c(self, edited_b: list[int]) -> None:
        """State C: more edits, one of them to an article already edited in B (two versions)."""
        site = self.site
        change = site.advance(
            seed=self._overlapping_seed(edited_b), publish=0, edit=2, remove=0, recategorise=0
        )
        clock = _ScheduleClock(site.clock + STATE_GAPS["C"])
        self.state_days["C"] = clock.moment.date().isoformat()
        self._state = "C"
        self._capture_pages(clock, every_page=False)
        for asset_id in sorted((set(change["edited"]) | set(edited_b)) - set(self._roles)):
            if asset_id in site.articles:
                self._capture_article(clock, asset_id, "plain")

    def _overlapping_seed(self, edited_b: list[int]) -> int:
        """An advance seed whose edits touch an article edited in state B: replayed on a
        scratch copy of the site (advance() is deterministic), so the schedule stays fixed."""
        extra = sum(1 for a in self.site.articles.values() if a.origin == "generated")
        for seed in range(2, 60):
            scratch = Site(seed=self.site.seed, extra_articles=extra)
            scratch.advance(seed=1, publish=3, edit=3, remove=1, recategorise=1)
            trial = scratch.advance(seed=seed, publish=0, edit=2, remove=0, recategorise=0)
            if set(trial["edited"]) & set(edited_b):
                return seed
        return 2

    def _form(self, asset_id: int, state: str) -> str:
        """The route form an article was captured under: mostly the plain id form."""
        roll = stable_fraction(self.site.seed, "wayback-form", state, asset_id)
        for limit, form in (
            (0.50, "plain"),
            (0.58, "jsessionid"),
            (0.66, "redirect"),
            (0.72, "maximized"),
            (0.80, "title"),
            (0.85, "title-root"),
            (0.90, "inherit"),
        ):
            if roll < limit:
                return form
        return "http-redirect"

    def _first_form(self, asset_id: int) -> str:
        return self._roles.get(asset_id) or self._form(asset_id, "A")

    def _path(self, asset_id: int, form: str) -> str:
        site = self.site
        article = site.articles[asset_id]
        plain = site.article_path(article)
        instance = site.config["detail_instance"]
        paths = {
            "plain": plain,
            "http-redirect": plain,
            "jsessionid": f"{plain};jsessionid={stable_hex(site.seed, 'wb-session', asset_id)}",
            "redirect": f"{plain}?redirect={quote(site.category_of(article).url, safe='')}",
            "maximized": f"{plain}/maximized",
            "inherit": f"{plain}?inheritRedirect=false",
            "title": f"{site.detail_base}/content/{site.slug_of(article)}",
            "title-root": f"/-/asset_publisher/{instance}/content/{site.slug_of(article)}",
        }
        return paths[form]

    def _capture_article(self, clock: _ScheduleClock, asset_id: int, form: str) -> None:
        path = self._path(asset_id, form)
        if form == "http-redirect":
            # The archive often holds the http:// URL answering with a redirect to https://.
            target = f"https://{self.host}{path}"
            self._add(clock.next(), path, 302, "text/html", b"", location=target, scheme="http")
        generation = self.generation_on(clock)
        answer = self._apps[generation].handle("GET", path, {}, b"")
        if answer.status != 200:
            raise RuntimeError(f"replica answered {answer.status} for {path}")
        timestamp = clock.next()
        body = answer.body
        if self.view_counter:
            # The portal counts readers: each visit of the archive's crawler saw another figure.
            seen = len(self._article_captures.get(asset_id, ()))
            body = VIEW_COUNT.sub(lambda m: b"%d%s" % (int(m[1]) + 7 * seen + 1, m[2]), body)
        self._add(timestamp, path, 200, "text/html", body)
        self._article_captures.setdefault(asset_id, []).append(self.captures[-1])
        self.capture_generations[timestamp] = generation
        app = self._apps[generation]
        article = self.site.articles[asset_id]
        for number in range(2, app.renderer.article_page_count(article) + 1):
            # A multi-page article's later pages, captured just after its first.
            later = app.renderer.article_page_url(article, number)
            self._add(clock.next(), later, 200, "text/html", app.handle("GET", later, {}, b"").body)
        truth = next(t for t in self.site.truth(generation) if t.asset_id == asset_id)
        self._states.setdefault(asset_id, []).append((timestamp, truth))
        self._capture_media(clock, truth)

    def _capture_media(self, clock: _ScheduleClock, truth: ArticleTruth) -> None:
        """Images once (with the first capture of their page), about half the attachments."""
        wanted = [path for path, _ in truth.images]
        wanted += [
            path
            for path, _ in truth.attachments
            if stable_fraction(self.site.seed, "wayback-file", path) < 0.5
        ]
        for path in wanted:
            if surt_key(f"https://{self.host}{path}") in self._by_key:
                continue
            if len(self.failed_media) < self._failed_media_wanted:
                self.failed_media.append(path)
                self._add(clock.next(), path, 503, "text/html", b"<h1>Service Unavailable</h1>")
                continue
            found = self.site.media_by_uuid[urlsplit(path).path.rsplit("/", 1)[-1]]
            mimetype = media.content_type_for(found.file_name)
            self._add(clock.next(), path, 200, mimetype, render=self._renderer(path))

    def _renderer(self, path: str) -> Callable[[], bytes]:
        """The body of a file, drawn when first asked for."""
        return lambda: self._app.handle("GET", path, {}, b"").body

    def _capture_error(self, clock: _ScheduleClock, asset_id: int, status: int) -> None:
        """An article whose only capture is a 404 (a portal hiccup) or a redirect elsewhere."""
        path = self.site.article_path(self.site.articles[asset_id])
        if status == 404:
            body = self._app.renderer.error(404, path).encode()
            self._add(clock.next(), path, 404, "text/html", body)
        else:
            self._add(clock.next(), path, 302, "text/html", b"", location=f"https://{self.host}/")
        self._missing[asset_id] = f"http_{status}"

    def _capture_pages(self, clock: _ScheduleClock, every_page: bool, extra=()) -> None:
        """The home page and the listings: every page of each, or only their first pages."""
        generation = self.generation_on(clock)
        paths = ["/", *extra]
        for category in self.site.categories.values():
            members = self.site.listing(category.key)
            delta = category.page_size
            last = max(1, -(-len(members) // delta))
            paths.append(category.url)
            if every_page:
                pager = Pager(category, 1, last, len(members), delta, generation)
                paths += [pager.url(n) for n in range(2, last + 1)]
        for path in paths:
            answer = self._apps[generation].handle("GET", path, {}, b"")
            timestamp = clock.next()
            self._add(timestamp, path, answer.status, "text/html", answer.body)
            self.capture_generations[timestamp] = generation

    def generation_on(self, clock: _ScheduleClock) -> str:
        """The Liferay generation the portal wore at the schedule's moment."""
        if self.redesigns:
            return REDESIGNED_STATES[self._state]
        return generations.generation_on(clock.moment.date(), self.eras)

    def _add(
        self,
        timestamp: str,
        path: str,
        status: int,
        mimetype: str,
        body: bytes | None = None,
        location: str | None = None,
        scheme: str = "https",
        render: Callable[[], bytes] | None = None,
    ) -> None:
        capture = StoredCapture(
            timestamp=timestamp,
            original=f"{scheme}://{self.host}{path}",
            status=status,
            mimetype=mimetype.split(";")[0].strip(),
            location=location,
            render=render,
            _body=body,
        )
        self.captures.append(capture)
        self._by_key.setdefault(capture.urlkey, []).append(capture)

    def absorb(self, other: WaybackReplica) -> None:
        """Serve ``other``'s captures too (another portal's, on its own host): one archive
        holds every portal. Ground truth stays with each replica."""
        self.captures += other.captures
        for key, captures in other._by_key.items():
            self._by_key.setdefault(key, []).extend(captures)
        self._unplayable.update(other._unplayable)
        self._gzipped |= other._gzipped
        self._sorted = sorted(self.captures, key=lambda c: (c.urlkey, c.timestamp))

    # ------------------------------------------------------------------ ground truth

    def captured_ids(self) -> set[int]:
        """Articles with at least one 200 capture."""
        return set(self._states)

    def article_captures(self) -> dict[int, list[tuple[str, ArticleTruth]]]:
        """Every 200 capture of each article: (timestamp, what it showed), oldest first."""
        return {
            asset_id: sorted(states, key=lambda s: s[0])
            for asset_id, states in self._states.items()
        }

    def _playable_states(self) -> dict[int, list[tuple[str, ArticleTruth]]]:
        return {
            asset_id: [
                state
                for state in sorted(states, key=lambda s: s[0])
                if self.unplayable_captures.get(asset_id) != state[0]
            ]
            for asset_id, states in self._states.items()
        }

    def expected_articles(self) -> dict[int, ArticleTruth]:
        """What each captured article should be archived as: its newest playable capture's
        content (a capture that cannot be played back is never what an article shows)."""
        return {asset_id: states[-1][1] for asset_id, states in self._playable_states().items()}

    def expected_versions(self) -> dict[int, int]:
        """Earlier differing contents each captured article should keep in article_versions."""
        counts = {}
        for asset_id, states in self._playable_states().items():
            contents = [_content(truth) for _, truth in states]
            counts[asset_id] = sum(
                1 for a, b in zip(contents, contents[1:], strict=False) if a != b
            )
        return counts

    def expected_errors(self) -> dict[int, str]:
        """Listed articles without a usable capture (``no_capture``, ``http_404``,
        ``http_302``), and removed ones whose last capture is a 404 (``http_404``)."""
        errors = {i: "no_capture" for i, role in self._roles.items() if role == "never"}
        errors.update(self._missing)
        errors.update({i: "http_404" for i in self._removed})
        return errors

    def slug(self, asset_id: int) -> str:
        """The url-title of an article (removed ones included)."""
        return self._slugs[asset_id]

    def playback_requests(self) -> list[ArchiveRequest]:
        return [r for r in self.requests if r.kind == "playback"]

    # ------------------------------------------------------------------ the CDX server

    def cdx(self, query: dict[str, list[str]]) -> _Answer:
        url = (query.get("url") or [""])[0]
        if not url:
            return _Answer(400, b"url parameter required\n")
        match_type = (query.get("matchType") or ["exact"])[0]
        if url.endswith("*"):
            url, match_type = url.rstrip("*"), "prefix"
        if url.startswith("*."):
            url, match_type = url[2:], "domain"
        start, end = (query.get("from") or [""])[0], (query.get("to") or [""])[0]
        if self.prefix_timeout_days and match_type != "exact":
            span = moment_of(end or "2099") - moment_of(start or "1996")
            if span > timedelta(days=self.prefix_timeout_days):
                return _Answer(504, GATEWAY_TIMEOUT, "text/html")
        rows = self._select(surt_key(url), match_type)
        rows = _window(rows, start, end)
        filters, collapse = query.get("filter", []), query.get("collapse", [])
        try:
            if not self.empty_pages:
                rows = _collapsed(_filtered(rows, filters), collapse)
        except (re.error, KeyError) as error:
            return _Answer(400, f"bad filter: {error}\n".encode())
        resume = (query.get("resumeKey") or [""])[0]
        if resume:
            # resumeKey is "<urlkey> <timestamp>!" of the last row returned: go past it.
            key, _, timestamp = resume.rstrip("!").rpartition(" ")
            rows = [r for r in rows if (r.urlkey, r.timestamp) > (key, timestamp)]
        limit = int((query.get("limit") or ["0"])[0] or 0)
        more = False
        if limit > 0:
            more, rows = len(rows) > limit, rows[:limit]
        elif limit < 0:
            rows = rows[limit:]
        last = rows[-1] if rows else None
        if self.empty_pages:
            try:
                rows = _collapsed(_filtered(rows, filters), collapse)
            except (re.error, KeyError) as error:
                return _Answer(400, f"bad filter: {error}\n".encode())
        fields = (query.get("fl") or [",".join(CDX_FIELDS)])[0].split(",")
        if any(name not in CDX_FIELDS for name in fields):
            return _Answer(400, b"unknown field in fl\n")
        table = [[row.field(name) for name in fields] for row in rows]
        resume_key = None
        if more and (query.get("showResumeKey") or [""])[0] == "true":
            # Without urlkey in fl the real server builds the key from nothing: "-+<ts>".
            urlkey = last.urlkey if "urlkey" in fields else "-"
            resume_key = quote_plus(f"{urlkey} {last.timestamp}!")
            if self.stuck_paging and resume:
                resume_key = quote_plus(resume)
        if (query.get("output") or [""])[0] == "json":
            document = [fields, *table] if table else []
            if resume_key:
                document += [[], [resume_key]]
            return _Answer(200, json.dumps(document).encode(), "application/json")
        lines = [" ".join(row) for row in table]
        if resume_key:
            lines += ["", resume_key]
        return _Answer(200, ("\n".join(lines) + "\n").encode() if lines else b"")

    def _select(self, key: str, match_type: str) -> list[StoredCapture]:
        host = key.split(")", 1)[0]
        if match_type == "exact":
            return [c for c in self._sorted if c.urlkey == key]
        if match_type == "prefix":
            return [c for c in self._sorted if c.urlkey.startswith(key)]
        if match_type == "host":
            return [c for c in self._sorted if c.urlkey.split(")", 1)[0] == host]
        if match_type == "domain":
            return [
                c
                for c in self._sorted
                if (h := c.urlkey.split(")", 1)[0]) == host or h.startswith(host + ",")
            ]
        return []

    # ------------------------------------------------------------------ playback

    def playback(self, raw_path: str) -> _Answer:
        match = PLAYBACK.match(raw_path)
        if match is None:
            return _Answer(404, b"not a playback URL\n")
        target = re.sub(r"^(https?):/(?!/)", r"\1://", match["target"])
        flag = match["flag"] or ""
        captures = self._by_key.get(surt_key(target))
        if not captures:
            return _Answer(404, b"Wayback Machine has not archived that URL.\n", "text/html")
        wanted = match["timestamp"]
        exact = next((c for c in captures if c.timestamp == wanted), None)
        elsewhere = self._unplayable.get((surt_key(target), wanted))
        if exact is not None and elsewhere is not None:
            # Listed, not playable: the archive sends the reader to another moment.
            moved = dataclasses.replace(exact, timestamp=elsewhere)
            return _Answer(302, headers={"Location": _playback_path(moved, flag)})
        if exact is None:
            nearest = _nearest(captures, moment_of(wanted))
            return _Answer(302, headers={"Location": _playback_path(nearest, flag)})
        headers = {"Memento-Datetime": moment_of(exact.timestamp).strftime("%a, %d %b %Y %X GMT")}
        if exact.location:
            # A captured redirect points at its target's capture, nearest to this moment.
            headers["Location"] = f"/web/{exact.timestamp}{flag}/{exact.location}"
        content_type = exact.mimetype
        if content_type.startswith("text/"):
            content_type += "; charset=UTF-8"
        body = exact.body
        if (exact.urlkey, exact.timestamp) in self._gzipped:
            body = gzip.compress(body, mtime=0)  # and no Content-Encoding: the bytes as stored
        return _Answer(exact.status, body, content_type, headers)

    # ------------------------------------------------------------------ HTTP plumbing

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Called by the request handler of :mod:`replica.server` for every request."""
        parts = urlsplit(handler.path)
        if parts.path == "/cdx/search/cdx":
            kind = "cdx"
        elif parts.path.startswith("/web/"):
            kind = "playback"
        elif parts.path == "/robots.txt":
            kind = "robots"
        else:
            kind = "other"
        entry = ArchiveRequest(handler.path, 0, kind, time.monotonic())
        with self._log_lock:
            self.requests.append(entry)
            counted = sum(1 for r in self.requests if r.kind in ("cdx", "playback"))
            verdict = self._firewall(kind, entry.at, counted)
        if verdict == "blocked":
            _reset(handler)
            return
        if verdict == "limited":
            answer = _Answer(429, TOO_MANY_REQUESTS, "text/html; charset=utf-8")
        elif (
            kind in ("cdx", "playback")
            and self.throttle_every
            and counted % self.throttle_every == 0
        ):
            answer = _Answer(
                429, b"Too Many Requests\n", headers={"Retry-After": str(self.retry_after)}
            )
        elif kind == "cdx" and self.cdx_maintenance > 0:
            self.cdx_maintenance -= 1
            answer = _Answer(200, MAINTENANCE_PAGE, "text/html; charset=utf-8")
        elif kind == "cdx":
            answer = self.cdx(parse_qs(parts.query, keep_blank_values=True))
        elif kind == "playback":
            answer = self.playback(handler.path)
        elif kind == "robots":
            answer = _Answer(200, ROBOTS_TXT)
        else:
            answer = _Answer(404, b"not found\n")
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        entry.status = answer.status
        if method != "HEAD":
            handler.wfile.write(answer.body)

    def _firewall(self, kind: str, now: float, counted: int) -> str | None:
        """``blocked``, ``limited`` or None for a request arriving ``now`` (under the log lock)."""
        if kind not in ("cdx", "playback"):
            return None
        if self.blocks and now < self.blocks[-1][1]:
            return "blocked"
        if self.block_at and counted == self.block_at:
            self._block(now)
            return "blocked"
        limit = self.rate_limits.get(kind)
        if limit is None:
            return None
        most, seconds = limit
        recent = [r for r in self.requests[:-1] if r.kind == kind and now - r.at < seconds]
        if len(recent) < most:
            self._first_refusal = None
            return None
        if self._first_refusal is None:
            self._first_refusal = now
        elif now - self._first_refusal > self.block_after:
            self._block(now)
            return "blocked"
        return "limited"

    def _block(self, now: float) -> None:
        self.blocks.append((now, now + self.block_for * 2 ** len(self.blocks)))
        self._first_refusal = None

    def blocked_requests(self) -> list[ArchiveRequest]:
        """Requests that met the firewall (connection reset, no answer)."""
        return [r for r in self.requests if r.kind in ("cdx", "playback") and r.status == 0]


TOO_MANY_REQUESTS = (
    b"<html><head><title>429 Too Many Requests</title></head><body>"
    b"<h1>Too Many Requests</h1><p>We are limiting how often you can make requests.</p>"
    b"</body></html>\n"
)
"""The rate limiter's answer: HTML, and no ``Retry-After``."""


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection without an answer, with a TCP reset (a firewall's refusal)."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _content(truth: ArticleTruth) -> tuple:
    """The parts of an article whose change makes a new stored version (a label printed in
    other letters by a redesign is the same label)."""
    return (
        truth.title,
        truth.published_at,
        truth.category_raw.casefold(),
        truth.author,
        truth.unit,
        truth.summary,
        tuple(truth.must_contain),
        tuple(truth.images),
        tuple(truth.attachments),
    )


def _window(rows: list[StoredCapture], start: str, end: str) -> list[StoredCapture]:
    """``from``/``to``: inclusive, 1–14 digits, padded with the period's first/last moment."""
    low = start + "0" * (14 - len(start)) if start else ""
    high = end + "9" * (14 - len(end)) if end else ""
    return [
        r for r in rows if (not low or r.timestamp >= low) and (not high or r.timestamp <= high)
    ]


def _filtered(rows: list[StoredCapture], filters: list[str]) -> list[StoredCapture]:
    """``filter=[!]field:regex``, every filter applying; the regex must match the whole field."""
    for spec in filters:
        negate = spec.startswith("!")
        name, _, pattern = spec.lstrip("!").partition(":")
        regex = re.compile(pattern)
        rows = [r for r in rows if bool(regex.fullmatch(r.field(name))) != negate]
    return rows


def _collapsed(rows: list[StoredCapture], specs: list[str]) -> list[StoredCapture]:
    """``collapse=field[:N]``: drop a row whose field (first N characters) equals the
    previous row's, adjacent rows only."""
    for spec in specs:
        name, _, length = spec.partition(":")
        size = int(length) if length else None
        kept, previous = [], None
        for row in rows:
            value = row.field(name)[:size]
            if value != previous:
                kept.append(row)
            previous = value
        rows = kept
    return rows


def _nearest(captures: list[StoredCapture], moment: datetime) -> StoredCapture:
    """The capture closest in time, preferring 200s as the Wayback Machine does."""
    good = [c for c in captures if c.status == 200] or captures
    return min(good, key=lambda c: abs((moment_of(c.timestamp) - moment).total_seconds()))


def _playback_path(capture: StoredCapture, flag: str) -> str:
    return f"/web/{capture.timestamp}{flag}/{capture.original}"


def main(argv: list[str] | None = None) -> int:
    """``python -m replica.wayback --port 0``: the first stdout line is the archive's URL."""
    parser = argparse.ArgumentParser(prog="python -m replica.wayback", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="site seed")
    parser.add_argument("--extra-articles", type=int, default=0)
    parser.add_argument("--throttle-every", type=int, default=0, help="429 every Nth request")
    parser.add_argument(
        "--redesigns",
        action="store_true",
        help="captures change Liferay generation: 6.2, then 7.0, then 7.4",
    )
    arguments = parser.parse_args(argv)
    site = Site(seed=arguments.seed, extra_articles=arguments.extra_articles)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    replica = WaybackReplica(
        site,
        port=arguments.port,
        throttle_every=arguments.throttle_every,
        redesigns=arguments.redesigns,
    )
    with replica:
        print(replica.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

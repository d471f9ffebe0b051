"""The HTTP side: a threaded server on 127.0.0.1 that logs every request and injects faults."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from replica import faults as fault_kinds
from replica.app import App, Response
from replica.http import BackgroundServer
from replica.model import Site


@dataclass
class RequestLogEntry:
    """One request as the server saw it. ``status`` is 0 until the answer has been sent.

    ``served_ok`` is False when a fault spoiled the answer (error, timeout, truncation, soft 404);
    a malformed page still carries all its text, so it counts as served, with ``fault`` set.
    """

    method: str
    path_with_query: str
    status: int
    served_ok: bool
    headers: dict = field(default_factory=dict)
    fault: str | None = None
    started: float = 0.0
    """``time.monotonic()`` when the request arrived."""
    finished: float = 0.0
    """``time.monotonic()`` when its answer was ready and being sent (0 while it is being
    made): taken before the body is written, as a client cannot send its next request before
    it has the body, while a thread that noted the time after writing could be scheduled late
    and seem to overlap it."""


class ReplicaServer(BackgroundServer):
    """Serves a Site in a background thread; use as a context manager."""

    def __init__(
        self,
        site: Site,
        faults: fault_kinds.FaultConfig | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        liferay: str | None = None,
        mounts: dict[str, Site] | None = None,
    ):
        """``liferay``: the generation whose markup the pages wear (default: the site's).
        ``mounts``: other sites of the same Liferay served under a path of this host
        (``{"/web/phuong-x": ward_site}``), as Liferay serves every site at ``/web/<site>``."""
        self.site = site
        self.faults = faults or fault_kinds.FaultConfig()
        self.app = App(site, self.faults, liferay)
        self.mounts = {
            prefix.rstrip("/"): App(mounted, self.faults, liferay)
            for prefix, mounted in (mounts or {}).items()
        }
        self.requests: list[RequestLogEntry] = []
        self._log_lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        super().__init__(host, port)

    def started(self) -> None:
        self.app.port = self.port

    # ------------------------------------------------------------------ serving

    def _log(self, handler: BaseHTTPRequestHandler, method: str) -> tuple[RequestLogEntry, int]:
        entry = RequestLogEntry(method, handler.path, 0, True, dict(handler.headers.items()))
        entry.started = time.monotonic()
        with self._log_lock:
            self.requests.append(entry)
            attempt = self._attempts.get(handler.path, 0)
            self._attempts[handler.path] = attempt + 1
        return entry, attempt

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        entry, attempt = self._log(handler, method)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        app, prefix, path = self._app_for(handler.path)
        response = app.handle(method, path, dict(handler.headers.items()), body)
        if prefix:
            response = _under_prefix(response, prefix)
        fault = None
        if not handler.path.startswith("/__replica__/"):
            fault = self.faults.decide(handler.path, attempt, response.is_html)
        entry.fault = fault
        try:
            self._answer(handler, method, response, fault, attempt, entry)
            handler.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
        entry.finished = entry.finished or time.monotonic()

    def _app_for(self, raw_path: str):
        """(app, mount prefix or "", path within it) for a request path."""
        for prefix, app in self.mounts.items():
            if raw_path == prefix or raw_path.startswith((prefix + "/", prefix + "?")):
                return app, prefix, raw_path[len(prefix) :] or "/"
        return self.app, "", raw_path

    def _answer(self, handler, method, response: Response, fault, attempt, entry) -> None:
        if fault == fault_kinds.TIMEOUT:
            time.sleep(self.faults.timeout_seconds + 1.0)
        elif fault == fault_kinds.ERROR:
            status, retry_after = self.faults.error_details(handler.path, attempt)
            error_page = self.app.renderer.error(status, handler.path).encode()
            response = Response(
                status, error_page, headers={"Retry-After": "1"} if retry_after else {}
            )
        elif fault == fault_kinds.SOFT404:
            response = Response(200, self.app.renderer.error(404, handler.path, soft=True).encode())
        elif fault == fault_kinds.MALFORMED and response.status == 200:
            response = Response(
                response.status,
                fault_kinds.malform(response.body.decode()).encode(),
                response.content_type,
                response.headers,
            )
        truncate = fault == fault_kinds.TRUNCATE and len(response.body) > 1
        entry.served_ok = fault in (None, fault_kinds.MALFORMED) or (
            fault == fault_kinds.TRUNCATE and not truncate
        )
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.send_header("Liferay-Portal", self.app.server_header)
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if truncate:
            handler.send_header("Connection", "close")
        handler.end_headers()
        entry.status = response.status
        entry.finished = time.monotonic()
        if method == "HEAD" or response.status == 304:
            return
        if truncate:
            # Declared length, then half the bytes and a closed connection.
            handler.wfile.write(response.body[: len(response.body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(response.body)


# Liferay prefixes a site's page links with its /web/<site> path; the portal's servlets and
# resources (/o/ modules, /c/ portal actions, /combo, /documents/, /image/) stay at the root.
_SITE_LINK = re.compile(
    rb"(?P<attr>(?:href|src|action)=[\"'])(?P<path>/(?!/|o/|c/|combo|documents/|image/|web/))"
)


def _under_prefix(response: Response, prefix: str) -> Response:
    """A mounted site's answer with its own links under ``prefix``, as Liferay renders the
    pages of a site served at ``/web/<site>``."""
    headers = dict(response.headers)
    location = headers.get("Location")
    if location and location.startswith("/") and not location.startswith(("//", "/web/")):
        headers["Location"] = prefix + location
    body = response.body
    if response.is_html:
        body = _SITE_LINK.sub(lambda m: m["attr"] + prefix.encode() + m["path"], body)
    return dataclasses.replace(response, body=body, headers=headers)

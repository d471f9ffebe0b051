"""The HTTP plumbing both replicas share: a threaded server on a loopback address that hands
every request to its owner's ``serve(handler, method)``, run in a background thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """Hands GET, HEAD and POST to the server's owner; logs nothing (owners keep their own
    request logs) and names only Tomcat in the Server header, as the portal does."""

    protocol_version = "HTTP/1.1"
    server_version = "Apache-Coyote/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds

    def version_string(self) -> str:
        """Tomcat's header alone; the stdlib would append a Python version."""
        return self.server_version

    def do_GET(self) -> None:
        self.server.owner.serve(self, "GET")

    def do_HEAD(self) -> None:
        self.server.owner.serve(self, "HEAD")

    def do_POST(self) -> None:
        self.server.owner.serve(self, "POST")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        """Silence: the request log lives with the server's owner."""


class _ThreadedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class BackgroundServer:
    """A server on ``host:port`` (0 picks a free port) serving in a background thread; use as
    a context manager. Subclasses answer requests in :meth:`serve`."""

    thread_name = "replica"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host, self._requested_port = host, port
        self._httpd: _ThreadedServer | None = None

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self):
        self._httpd = _ThreadedServer((self._host, self._requested_port), QuietHandler)
        self._httpd.owner = self
        self.started()
        thread = threading.Thread(
            # A short poll keeps stop() quick; the default 0.5 s adds up over a test suite.
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{self.thread_name}-{self.port}",
        )
        thread.start()
        return self

    def started(self) -> None:
        """Called once the port is bound, before the first request is served."""

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._requested_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/"

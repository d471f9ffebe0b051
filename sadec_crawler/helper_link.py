"""The crawl's side of a socket to a helper process, read and written by the crawl's reactor.

A helper (the page worker) answers its requests one at a time, in the order they came. Talking
to it from a thread, one request after another, cost the reactor a wake-up a page and left
the helper idle between an answer and the next request: py-spy of a 564-article crawl of the
replica saw the crawl's thread spend 7% of its samples in Twisted's and asyncio's wake-up
calls, and the page worker wait in ``recv`` for a quarter of its own. Here every request is
written at once (the reactor buffers what the socket cannot take yet), the helper finds the
next one waiting, and each answer fires the oldest request's Deferred.

Frames are ``multiprocessing.connection.Connection``'s (a signed 4-byte big-endian length, or
-1 and an 8-byte length, then a pickle), so the helper reads them with that class.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection

HEADER = struct.Struct("!i")
LONG_HEADER = struct.Struct("!Q")
LONGEST_SHORT_FRAME = 0x7FFFFFFF

SEND_BUFFER = 4 << 20
"""Bytes asked of the kernel for the socket's send buffer (it grants at most
``net.core.wmem_max``, 208 KB on a stock kernel, and doubles what it grants). With Twisted's own
limits (128 KB sent a turn, the default buffer), the page worker had 22 or more requests
waiting for 70 % of a 564-article crawl of the replica and spent 60 % of a core: it waited for
the bytes of the page it was reading. With the buffer and a send limit to match, 8 or fewer
waited for 70 % of the crawl (a throwaway probe sampling the crawl's state every 5 ms)."""


class HelperGone(OSError):
    """The helper process ended, or stopped answering and was ended."""


def frame(message) -> bytes:
    """``message`` as ``Connection.send`` writes it."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > LONGEST_SHORT_FRAME:
        return HEADER.pack(-1) + LONG_HEADER.pack(len(data)) + data
    return HEADER.pack(len(data)) + data


def read_frames(buffer: bytearray) -> list:
    """The whole frames at the start of ``buffer``, unpickled, removed from it."""
    messages = []
    while len(buffer) >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer)
        start = HEADER.size
        if size == -1:
            if len(buffer) < HEADER.size + LONG_HEADER.size:
                break
            (size,) = LONG_HEADER.unpack_from(buffer, HEADER.size)
            start += LONG_HEADER.size
        if len(buffer) < start + size:
            break
        messages.append(pickle.loads(bytes(buffer[start : start + size])))
        del buffer[: start + size]
    return messages


class HelperLink:
    """Requests to a helper and their answers, in order, over ``sock`` (adopted by the reactor
    at the first request). ``timeout()`` gives the seconds one answer may take; past them
    ``end_helper`` is called and every waiting request fails with ``gone_error``."""

    def __init__(
        self,
        sock: socket.socket,
        name: str,
        timeout: Callable[[], float],
        end_helper: Callable[[], None],
        gone_error: type[HelperGone] = HelperGone,
    ):
        self._socket: socket.socket | None = sock
        self.name = name
        self._timeout = timeout
        self._end_helper = end_helper
        self._gone_error = gone_error
        self._transport = None
        self._waiting: deque = deque()
        self.gone: str | None = None
        """Why the helper is gone, once it is."""

    def ask(self, message):
        """A Deferred that fires with the helper's answer to ``message``."""
        from twisted.internet import defer, reactor  # the reactor Scrapy installed

        if self.gone is not None:
            return defer.fail(self._gone_error(self.gone))
        if self._transport is None:
            self._adopt()
        answer = defer.Deferred()
        seconds = self._timeout()
        timer = reactor.callLater(seconds, self._hung, seconds)
        self._waiting.append((answer, timer))
        self._transport.write(frame(message))
        return answer

    def tell(self, message) -> None:
        """Send ``message``, which the helper does not answer."""
        if self.gone is not None:
            raise self._gone_error(self.gone)
        if self._transport is not None:
            self._transport.write(frame(message))
            return
        try:
            self._socket.sendall(frame(message))
        except OSError as error:
            self.gone = f"the {self.name} process is gone: {error!r}"
            raise self._gone_error(self.gone) from error

    def exchange(self, message, timeout: float):
        """``message`` and its answer, waited for (before the reactor has the socket: a link
        closed unused, and the tests that ask the helper directly)."""
        if self._socket is None:
            raise self._gone_error(self.gone or f"the {self.name} link is in the reactor's hands")
        connection = Connection(os.dup(self._socket.fileno()))
        try:
            connection.send(message)
            if not connection.poll(timeout):
                self._end_helper()
                self.gone = f"the {self.name} gave no answer in {timeout:.0f} s"
                raise self._gone_error(self.gone)
            return connection.recv()
        except (EOFError, OSError) as error:
            if isinstance(error, HelperGone):
                raise
            self.gone = f"the {self.name} process is gone: {error!r}"
            raise self._gone_error(self.gone) from error
        finally:
            connection.close()

    @property
    def adopted(self) -> bool:
        """Whether the reactor owns the socket (the link's first request was made)."""
        return self._transport is not None

    def close(self) -> None:
        """Close the connection; requests still waiting fail."""
        if self._transport is not None:
            self._transport.loseConnection()
        elif self._socket is not None:
            self._socket.close()
            self._socket = None

    def _adopt(self) -> None:
        from twisted.internet import protocol, reactor

        link = self

        class Answers(protocol.Protocol):
            def __init__(self):
                self.buffer = bytearray()

            def dataReceived(self, data: bytes) -> None:
                self.buffer += data
                for message in read_frames(self.buffer):
                    link._answered(message)

            def connectionLost(self, reason=protocol.connectionDone) -> None:
                link._lost(f"the {link.name} process is gone: {reason.value!r}")

        class OneConnection(protocol.Factory):
            def buildProtocol(self, addr):
                return Answers()

        sock, self._socket = self._socket, None
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        try:
            # The reactor takes a duplicate of the descriptor; ours is closed.
            self._transport = reactor.adoptStreamConnection(
                sock.fileno(), socket.AF_UNIX, OneConnection()
            )
            # Twisted sends at most SEND_LIMIT (128 KB) a turn of the reactor: less than one
            # article page, so a helper waited for the rest of a page while the crawl's thread
            # ran other callbacks. The socket's whole buffer at once instead.
            self._transport.SEND_LIMIT = max(self._transport.SEND_LIMIT, granted // 2)
        finally:
            sock.close()

    def _answered(self, message) -> None:
        if not self._waiting:
            return  # an answer after its request was failed (the link was ended)
        answer, timer = self._waiting.popleft()
        if timer.active():
            timer.cancel()
        answer.callback(message)

    def _hung(self, seconds: float) -> None:
        # A helper that stopped answering must not stop the crawl: it is ended, and the
        # crawl does without it.
        self._end_helper()
        self._lost(f"the {self.name} gave no answer in {seconds:.0f} s")
        if self._transport is not None:
            self._transport.abortConnection()

    def _lost(self, why: str) -> None:
        if self.gone is None:
            self.gone = why
        while self._waiting:
            answer, timer = self._waiting.popleft()
            if timer.active():
                timer.cancel()
            answer.errback(self._gone_error(self.gone))


class HelperProcess:
    """A helper process: ``python -c code FD ARGS…`` over a socket pair, and its link.

    Not ``multiprocessing``, whose "spawn" runs the crawl's main script (the ``scrapy``
    console script: Scrapy and all) again in the child. The helper gets the crawl's import
    path, and ignores the interrupts the crawl handles itself (its own code sets that)."""

    def __init__(
        self,
        code: str,
        args: list[str],
        name: str,
        timeout: Callable[[], float],
        gone_error: type[HelperGone] = HelperGone,
    ):
        ours, theirs = socket.socketpair()
        # The crawl's own import path (Scrapy adds the project's folder to it at start-up).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(theirs.fileno()), *args],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.link = HelperLink(ours, name, timeout, self.kill, gone_error)
        self.finished = False
        self.close_answer = None
        """The helper's answer to ``("close", ())``, once it gave one."""
        self.close_error: HelperGone | None = None
        """Why the helper gave no answer to ``close``, if it did not."""

    async def finish(self) -> None:
        """Ask the helper to close through the reactor (once the reactor has the link), keep
        its answer, and end it."""
        from scrapy.utils.defer import maybe_deferred_to_future

        if not self.finished and self.link.adopted and self.link.gone is None:
            try:
                self.close_answer = await maybe_deferred_to_future(self.link.ask(("close", ())))
            except HelperGone as error:
                self.close_error = error
        self.finish_now()

    def finish_now(self, timeout: float = 30) -> None:
        """Ask the helper to close and wait for its answer when the reactor never had the
        link, then end it; a second call does nothing."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.close_answer is None and not self.link.adopted and self.link.gone is None:
                self.close_answer = self.link.exchange(("close", ()), timeout)
        except HelperGone as error:
            self.close_error = error
        finally:
            self.end()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def end(self) -> None:
        """Close the link, and wait for the process to end (killed if it takes 30 s)."""
        self.link.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

"""A minimal HTTP/1.1 server that replays recorded replica answers from memory.

``python -m bench.replay RECORDING [FALLBACK_URL]`` (a pickle of ``{path_with_query: (status,
headers, body)}``) prints its URL on the first line of stdout and serves until stdin closes or
SIGTERM; on exit it prints one JSON line: the paths asked for, in order, and those it did not
know. Unknown paths are fetched from ``FALLBACK_URL`` (the replica itself) and kept: which
url-title links a crawl follows depends on the order pages arrive in, so two full crawls of
the same site do not always make exactly the same requests.

The replica renders every page with Jinja behind one lock in a threaded stdlib server: fine
for tests, but at hundreds of pages a second that server, not the crawler, would be measured.
This one answers a known path with prebuilt bytes (keep-alive, ``Content-Length``), so a
fetch-only crawl runs at Scrapy's own speed. Conditional requests are not replayed: the crawl
benchmark runs full crawls into fresh databases, which send none.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import signal
import sys
from urllib.parse import urlsplit

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def prebuilt(recording: dict) -> dict[bytes, bytes]:
    answers = {}
    for path, (status, headers, body) in recording.items():
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        answers[path.encode("latin-1")] = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    return answers


class Replay(asyncio.Protocol):
    answers: dict[bytes, bytes] = {}
    log: list[str] = []
    unknown: list[str] = []
    fallback: tuple[str, int] | None = None

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            path = target.decode("latin-1")
            Replay.log.append(path)
            answer = Replay.answers.get(target)
            if answer is None:
                Replay.unknown.append(path)
                if Replay.fallback:
                    asyncio.ensure_future(self.relay(target))
                    continue
                answer = NOT_FOUND
            if method == b"HEAD":
                answer = answer.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            self.transport.write(answer)

    async def relay(self, target: bytes) -> None:
        host, port = Replay.fallback
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = await reader.read()
        writer.close()
        Replay.answers[target] = answer
        self.transport.write(answer)


async def serve(recording_path: str, fallback_url: str | None = None) -> None:
    with open(recording_path, "rb") as handle:
        Replay.answers = prebuilt(pickle.load(handle))
    if fallback_url:
        parts = urlsplit(fallback_url)
        Replay.fallback = (parts.hostname, parts.port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Replay, "127.0.0.1", 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/", flush=True)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.readline() or done.set())
    await done.wait()
    server.close()
    print(json.dumps({"requests": Replay.log, "unknown": Replay.unknown}), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:3]))

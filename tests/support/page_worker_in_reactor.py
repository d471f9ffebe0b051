"""The page worker asked as the crawl asks it: from Scrapy's asyncio reactor, many pages at once.

Run in a process of its own (a reactor cannot be installed twice in the test process); prints
one JSON object.

Usage: ``python -m tests.support.page_worker_in_reactor in-order|hung|one-turn PAGE_FILE…``

- ``in-order``: every page sent as a listing, all before the first answer; prints whether each
  answer equals :func:`extract_listing` of its own page.
- ``hung``: the worker stopped (SIGSTOP) with a one-second answer timeout; prints what each of
  three waiting requests raised and how the worker process ended.
- ``one-turn``: no worker; a :class:`HelperLink` over a socket pair whose other end the script
  reads; prints how many bytes a request of an article page's size puts in the socket, and in
  how many turns of the reactor they came.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

from scrapy.utils.reactor import install_reactor

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

from twisted.internet import defer, task  # noqa: E402 - after the reactor is chosen

from sadec_crawler import page_worker  # noqa: E402
from sadec_crawler.helper_link import HelperLink, frame  # noqa: E402
from sadec_crawler.pages import extract_listing  # noqa: E402

LISTING_URL = "https://sadec.dongthap.gov.vn/tin-tuc-su-kien"
BASE = "https://sadec.dongthap.gov.vn"


async def in_order(worker: page_worker.PageWorker, pages: list[str]) -> dict:
    answers = await asyncio.gather(
        *(worker.listing(html, LISTING_URL, BASE) for html in pages), return_exceptions=True
    )
    await worker.close_when_done()
    expected = [extract_listing(html, LISTING_URL, BASE) for html in pages]
    return {
        "same": [answer == truth for answer, truth in zip(answers, expected, strict=True)],
        "cpu_s": worker.cpu_s,
    }


async def hung(worker: page_worker.PageWorker, pages: list[str]) -> dict:
    page_worker.ANSWER_TIMEOUT = 1.0
    await asyncio.sleep(1)  # past its imports
    os.kill(worker.pid, signal.SIGSTOP)
    process = worker._process
    outcomes = await asyncio.gather(
        *(worker.listing(html, LISTING_URL, BASE) for html in pages[:3]), return_exceptions=True
    )
    returncode = process.wait(timeout=10)
    worker.close()
    return {
        "raised": [f"{type(o).__name__}: {o}" for o in outcomes],
        "returncode": returncode,
        "gone": worker.gone,
    }


async def one_turn(_, pages: list[str]) -> dict:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    link = HelperLink(ours, "test helper", lambda: 60.0, lambda: None)
    # Larger than Twisted's 128 KB a turn, smaller than what a stock kernel grants (208 KB).
    message = ("facts", ("x" * 200_000, "https://sadec.dongthap.gov.vn/-/a", "b"))
    asked = link.ask(message)
    asked.addErrback(lambda failure: None)  # never answered: failed when the link closes
    sizes = []
    while sum(sizes) < len(frame(message)) and len(sizes) < 50:
        await asyncio.sleep(0)
        arrived = 0
        try:
            while chunk := theirs.recv(1 << 20):
                arrived += len(chunk)
        except BlockingIOError:
            pass
        sizes.append(arrived)
    link.close()
    theirs.close()
    return {"frame": len(frame(message)), "arrivals": [size for size in sizes if size]}


def main(reactor, case: str, *paths: str):
    pages = [Path(path).read_text(encoding="utf-8") for path in paths]
    worker = page_worker.PageWorker() if case != "one-turn" else None
    run = {"in-order": in_order, "hung": hung, "one-turn": one_turn}[case]

    async def report():
        print(json.dumps(await run(worker, pages)))

    return defer.Deferred.fromFuture(asyncio.ensure_future(report()))


if __name__ == "__main__":
    task.react(main, sys.argv[1:])

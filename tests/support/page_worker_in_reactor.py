"""The page worker asked as the crawl asks it: from Scrapy's asyncio reactor, many pages at once.

Run in a process of its own (a reactor cannot be installed twice in the test process); prints
one JSON object.

Usage: ``python -m tests.support.page_worker_in_reactor in-order|hung PAGE_FILE…``

- ``in-order``: every page sent as a listing, all before the first answer; prints whether each
  answer equals :func:`extract_listing` of its own page.
- ``hung``: the worker stopped (SIGSTOP) with a one-second answer timeout; prints what each of
  three waiting requests raised and how the worker process ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from scrapy.utils.reactor import install_reactor

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

from twisted.internet import defer, task  # noqa: E402 - after the reactor is chosen

from sadec_crawler import page_worker  # noqa: E402
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


def main(reactor, case: str, *paths: str):
    pages = [Path(path).read_text(encoding="utf-8") for path in paths]
    worker = page_worker.PageWorker()
    run = {"in-order": in_order, "hung": hung}[case]

    async def report():
        print(json.dumps(await run(worker, pages)))

    return defer.Deferred.fromFuture(asyncio.ensure_future(report()))


if __name__ == "__main__":
    task.react(main, sys.argv[1:])

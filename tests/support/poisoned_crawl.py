"""``scrapy …`` with a parser bug planted: the page parsers raise on any page that holds the
text in ``SADEC_TEST_POISON``, as they would on markup never seen before. The isolation tests
run the real crawl through this script to check that such a page costs one recorded error and
never the run.

Usage: ``python tests/support/poisoned_crawl.py crawl sadec -s … -a …`` (Scrapy's own argv).
"""

from __future__ import annotations

import os
import sys

MARKER_VARIABLE = "SADEC_TEST_POISON"
PARSERS = ("extract_article", "extract_listing")


class PlantedParserBug(RuntimeError):
    """What the poisoned parsers raise."""


def poisoned(parse):
    """``parse`` (HTML first) raising :class:`PlantedParserBug` on pages with the marker."""
    marker = os.environ[MARKER_VARIABLE]

    def parse_or_raise(html, *args, **kwargs):
        if marker in html:
            raise PlantedParserBug(f"planted parser bug on a page holding {marker!r}")
        return parse(html, *args, **kwargs)

    return parse_or_raise


def plant() -> None:
    """Poison the page parsers wherever the crawl imported them, the page worker's process
    included."""
    from sadec_crawler import article, page_worker, pages
    from sadec_crawler.spiders import sadec
    from sadec_crawler.wayback import run as wayback

    planted = {name: poisoned(getattr(pages, name)) for name in PARSERS}
    for module in (pages, article, wayback, sadec):
        for name, parse in planted.items():
            if hasattr(module, name):
                setattr(module, name, parse)
    if "poisoned_crawl" not in page_worker.WORKER_CODE:
        page_worker.WORKER_CODE = (
            "from tests.support.poisoned_crawl import plant; plant(); " + page_worker.WORKER_CODE
        )


if __name__ == "__main__":
    plant()
    from scrapy.cmdline import execute

    execute(["scrapy", *sys.argv[1:]])

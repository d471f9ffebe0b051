"""How often Python's cyclic garbage collector runs during a crawl (``SADEC_GC_THRESHOLD``).

Each article page makes tens of thousands of short-lived objects (lxml element proxies, the
body's BeautifulSoup tree), all freed by reference counting once the article is built: none
of them is cyclic garbage (``tests/test_parsing.py`` holds the parsers to that). Python's
default first threshold (700 allocations) still started a collection several times a page,
each walking whatever was young at that moment: on the crawl benchmark's 706 pages, 0.21 to
0.31 s of CPU in 330–350 collections; with 10,000, 0.07 s in 17 (a collector callback timing
every collection, in a throwaway script).
"""

from __future__ import annotations

import gc

from scrapy import signals
from scrapy.exceptions import NotConfigured

DEFAULT_THRESHOLD = 10_000


def _collections() -> int:
    return sum(generation["collections"] for generation in gc.get_stats())


class CollectorThreshold:
    """Sets the collector's first threshold while the crawl runs; Python's is back after.
    The crawl's stats say which threshold ran (``sadec/gc/threshold``) and how many
    collections the crawl made (``sadec/gc/collections``)."""

    def __init__(self, threshold: int, stats=None):
        self.threshold = threshold
        self.stats = stats
        self.previous: tuple[int, int, int] | None = None
        self.collections_at_start = 0

    @classmethod
    def from_crawler(cls, crawler):
        threshold = crawler.settings.getint("SADEC_GC_THRESHOLD", DEFAULT_THRESHOLD)
        if threshold <= 0:
            raise NotConfigured("SADEC_GC_THRESHOLD is 0: Python's own collector thresholds")
        extension = cls(threshold, crawler.stats)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def engine_started(self) -> None:
        current = gc.get_threshold()
        if current[0] < self.threshold:  # several crawlers in one process: set once
            self.previous = current
            gc.set_threshold(self.threshold, *current[1:])
        self.collections_at_start = _collections()
        if self.stats is not None:
            self.stats.set_value("sadec/gc/threshold", gc.get_threshold()[0])

    def spider_closed(self) -> None:
        # Before Scrapy dumps the stats (engine_stopped comes after).
        if self.stats is not None:
            made = _collections() - self.collections_at_start
            self.stats.set_value("sadec/gc/collections", made)

    def engine_stopped(self) -> None:
        if self.previous is not None:
            gc.set_threshold(*self.previous)
            self.previous = None

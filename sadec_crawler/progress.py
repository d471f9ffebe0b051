"""A progress line in the Scrapy log while a crawl runs (``SADEC_PROGRESS_INTERVAL`` seconds)."""

from __future__ import annotations

import datetime as dt
import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

logger = logging.getLogger(__name__)


class CrawlReport:
    """Logs pages fetched, articles stored (new/changed/unchanged) and errors so far."""

    def __init__(self, crawler, interval: float):
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("SADEC_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured("SADEC_PROGRESS_INTERVAL is 0: no progress lines")
        report = cls(crawler, interval)
        crawler.signals.connect(report.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def spider_opened(self, spider):
        self.loop = task.LoopingCall(self.log_progress)
        self.loop.start(self.interval, now=False)

    def log_progress(self):
        stats = self.crawler.stats
        logger.info(
            "progress: %d requests, %d listing pages, %d article pages; articles %d new, "
            "%d changed, %d unchanged; %d errors; %d waiting",
            stats.get_value("downloader/request_count", 0),
            stats.get_value("sadec/pages/listing", 0),
            stats.get_value("sadec/pages/article", 0),
            stats.get_value("sadec/articles/new", 0),
            stats.get_value("sadec/articles/changed", 0),
            stats.get_value("sadec/articles/unchanged", 0),
            stats.get_value("sadec/errors", 0),
            stats.get_value("scheduler/enqueued", 0) - stats.get_value("scheduler/dequeued", 0),
        )
        line = wayback_progress(self.crawler)
        if line:
            logger.info("%s", line)

    def spider_closed(self, spider, reason):
        if self.loop and self.loop.running:
            self.loop.stop()


def wayback_progress(crawler) -> str | None:
    """A Wayback run's captures done and left, its paces and the time it should still take;
    None for other runs or before its plan is made."""
    gate = getattr(crawler, "sadec_gate", None)
    stats = crawler.stats
    planned = stats.get_value("sadec/wayback/captures_planned")
    if gate is None or planned is None or getattr(crawler, "sadec_wayback", None) is None:
        return None
    done = stats.get_value("sadec/wayback/captures_done", 0)
    left = max(0, planned - done)
    started = stats.get_value("start_time")
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds() if started else 0.0
    seconds = gate.seconds_left(done, left, elapsed)
    estimate = f"; about {_duration(seconds)} left" if seconds is not None else ""
    return f"wayback: {done} of {planned} captures done, {left} left; {gate.describe()}{estimate}"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"

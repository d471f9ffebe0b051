"""Validation pipeline: field coverage of the run, and loud warnings when selectors drift."""

from __future__ import annotations

import logging
from collections import Counter

from sadec_crawler.items import Article

logger = logging.getLogger(__name__)

COVERED_FIELDS = (
    "title",
    "published_at",
    "category",
    "author",
    "unit",
    "summary",
    "body_text",
    "images",
    "attachments",
)
"""Fields whose share of filled values is reported per run."""


def field_coverage(filled: Counter, total: int) -> dict[str, float]:
    """Share (0–1, 3 decimals) of articles with each field filled."""
    return {name: round(filled[name] / total, 3) if total else 0.0 for name in COVERED_FIELDS}


class ValidationPipeline:
    """Counts the filled fields of every stored article, for the run's coverage report.

    Articles without a title or body never get this far: the cleaning pipeline turns them into
    recorded errors.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.filled: Counter = Counter()
        self.total = 0

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.sadec_validation = pipeline
        return pipeline

    def process_item(self, item):
        if not isinstance(item, Article):
            return item
        self.total += 1
        for name in COVERED_FIELDS:
            if getattr(item, name):
                self.filled[name] += 1
        return item

    def coverage(self) -> dict[str, float]:
        return field_coverage(self.filled, self.total)

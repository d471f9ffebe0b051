"""Cleaning pipeline: a fetched article page becomes a clean :class:`Article`."""

from __future__ import annotations

import logging

from sadec_crawler.article import NotAnArticle, build_article
from sadec_crawler.items import ArticlePage, CrawlError

logger = logging.getLogger(__name__)


class ArticleCleaningPipeline:
    """Parses each :class:`ArticlePage` with the pure functions of ``sadec_crawler``.

    A page that has none of the article structure becomes a :class:`CrawlError`, never an
    empty article: that is how selector drift and soft 404s show up.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.base_url = crawler.settings.get("SADEC_BASE_URL").rstrip("/")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, ArticlePage):
            return item
        try:
            article = build_article(item, self.base_url)
        except NotAnArticle as error:
            logger.error("selector miss: %s", error)
            self.crawler.stats.inc_value("sadec/selector_miss")
            return CrawlError(item.fetched_url, "not_an_article", str(error))
        for problem in article.problems:
            self.crawler.stats.inc_value(f"sadec/problems/{problem}")
        return article

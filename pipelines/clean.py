"""Cleaning pipeline: a fetched article page becomes a clean :class:`Article`."""

from __future__ import annotations

import logging

from sadec_crawler import page_worker
from sadec_crawler.article import NotAnArticle, build_article
from sadec_crawler.items import Article, ArticlePage, CrawlError

logger = logging.getLogger(__name__)


class ArticleCleaningPipeline:
    """Parses each :class:`ArticlePage` with the pure functions of ``sadec_crawler``.

    A page that has none of the article structure becomes a :class:`CrawlError`, never an
    empty article: that is how selector drift and soft 404s show up. The page worker builds
    the article when the crawl has one (``SADEC_PAGE_WORKER``), this process otherwise.
    """

    def __init__(self, crawler, worker: page_worker.PageWorker | None):
        self.crawler = crawler
        self.base_url = crawler.settings.get("SADEC_BASE_URL").rstrip("/")
        self.worker = worker

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, page_worker.for_crawler(crawler))

    async def _build(self, item: ArticlePage) -> Article:
        if self.worker is not None and self.worker.gone is None:
            try:
                return await self.worker.build(item, self.base_url)
            except page_worker.PageWorkerGone:
                pass  # logged once by the worker; this page and the next are built here
        return build_article(item, self.base_url)

    async def process_item(self, item):
        if not isinstance(item, ArticlePage):
            return item
        try:
            article = await self._build(item)
        except NotAnArticle as error:
            logger.error("selector miss: %s", error)
            self.crawler.stats.inc_value("sadec/selector_miss")
            return CrawlError(item.fetched_url, "not_an_article", str(error))
        for problem in article.problems:
            self.crawler.stats.inc_value(f"sadec/problems/{problem}")
        return article

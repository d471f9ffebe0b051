"""Storage pipeline: articles into SQLite (``SADEC_DB_PATH``), one ``crawl_runs`` row a run."""

from __future__ import annotations

import json
import logging
from collections import Counter

from scrapy.exceptions import NotConfigured

from sadec_crawler.article import category_display
from sadec_crawler.items import Article, CrawlError, ListingEntry

from .store import (
    apply_listing_entry,
    fix_uppercase_categories,
    known_category_names,
    open_database,
    remember_category_name,
    upsert_article,
    utc_now,
)
from .validate import field_coverage

logger = logging.getLogger(__name__)


class SQLiteStoragePipeline:
    """Upserts articles, merges late listing entries, records errors and the run itself."""

    def __init__(self, crawler, db_path: str, coverage_drop: float):
        self.crawler = crawler
        self.db_path = db_path
        self.coverage_drop = coverage_drop
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.db = None
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler):
        db_path = crawler.settings.get("SADEC_DB_PATH")
        if not db_path:
            raise NotConfigured("SADEC_DB_PATH is empty: nothing to store into")
        pipeline = cls(crawler, db_path, crawler.settings.getfloat("SADEC_COVERAGE_DROP", 0.2))
        crawler.sadec_storage = pipeline
        return pipeline

    def open_spider(self, spider=None):
        self.db = open_database(self.db_path)
        self.category_names = known_category_names(self.db)
        spider = spider or self.crawler.spider
        with self.db.conn:
            self.run_id = (
                self.db["crawl_runs"]
                .insert(
                    {
                        "started_at": utc_now(),
                        "mode": getattr(spider, "mode", None),
                        "source": getattr(spider, "source", None),
                        "base_url": self.crawler.settings.get("SADEC_BASE_URL"),
                    }
                )
                .last_pk
            )
        logger.info("archiving into %s (run %s)", self.db_path, self.run_id)

    def process_item(self, item):
        if isinstance(item, Article):
            item.category = category_display(item.category_raw, self.category_names)
            outcome = upsert_article(self.db, item)
            self.outcomes[outcome] += 1
            self.crawler.stats.inc_value(f"sadec/articles/{outcome}")
            if (
                item.category
                and not item.category.isupper()
                and item.category_raw
                and not item.category_raw.isupper()
            ):
                remember_category_name(self.db, item.category)
                self.category_names[item.category.casefold()] = item.category
        elif isinstance(item, ListingEntry):
            if apply_listing_entry(self.db, item):
                self.crawler.stats.inc_value("sadec/articles/listing_merged")
        elif isinstance(item, CrawlError):
            self.errors[item.kind] += 1
            self.crawler.stats.inc_value("sadec/errors")
            with self.db.conn:
                self.db["crawl_errors"].insert(
                    {
                        "run_id": self.run_id,
                        "url": item.url,
                        "kind": item.kind,
                        "message": item.message,
                        "at": utc_now(),
                    }
                )
        return item

    def _previous_coverage(self) -> dict[str, float] | None:
        rows = self.db.query(
            "select field_coverage from crawl_runs where id < ? and field_coverage is not null "
            "and articles_seen > 0 order by id desc limit 1",
            [self.run_id],
        )
        row = next(rows, None)
        return json.loads(row["field_coverage"]) if row else None

    def drift_warnings(self, coverage: dict[str, float], seen: int) -> list[str]:
        """Fields whose coverage fell sharply against the previous run: selectors drifting."""
        previous = self._previous_coverage()
        if not previous or not seen:
            return []
        return [
            f"{name} {previous[name]:.0%} → {coverage.get(name, 0):.0%}"
            for name in previous
            if previous[name] - coverage.get(name, 0) > self.coverage_drop
        ]

    def close_spider(self, spider=None):
        fixed = fix_uppercase_categories(self.db)
        stats = self.crawler.stats.get_stats()
        validation = getattr(self.crawler, "sadec_validation", None)
        seen = sum(self.outcomes.values())
        coverage = validation.coverage() if validation else field_coverage(Counter(), 0)
        by_status = {
            key.rsplit("/", 1)[-1]: value
            for key, value in stats.items()
            if key.startswith("downloader/response_status_count/")
        }
        drift = self.drift_warnings(coverage, seen)
        for warning in drift:
            logger.warning("field coverage dropped: %s (selectors drifting?)", warning)
        pages = sum(v for k, v in stats.items() if k.startswith("sadec/pages/"))
        summary = {
            "finished_at": utc_now(),
            "requests": stats.get("downloader/request_count", 0),
            "responses_by_status": json.dumps(by_status, sort_keys=True),
            "pages": pages,
            "articles_seen": seen,
            "articles_new": self.outcomes["new"],
            "articles_changed": self.outcomes["changed"],
            "articles_unchanged": self.outcomes["unchanged"],
            "articles_gone": 0,
            "errors": sum(self.errors.values()),
            "field_coverage": json.dumps(coverage, sort_keys=True),
            "finish_reason": stats.get("finish_reason") or "finished",
            "message": "; ".join(f"coverage drop: {w}" for w in drift) or None,
        }
        with self.db.conn:
            self.db["crawl_runs"].update(self.run_id, summary)
        logger.info(
            "summary: %d pages, %d articles (%d new, %d changed, %d unchanged), %d errors%s, "
            "%d categories re-cased",
            pages,
            seen,
            self.outcomes["new"],
            self.outcomes["changed"],
            self.outcomes["unchanged"],
            summary["errors"],
            f" ({dict(self.errors)})" if self.errors else "",
            fixed,
        )
        logger.info(
            "field coverage: %s",
            ", ".join(f"{name} {share:.0%}" for name, share in coverage.items()),
        )
        self.db.close()

"""Storage pipeline: articles into SQLite (``SADEC_DB_PATH``), one ``crawl_runs`` row a run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import sqlite3
from collections import Counter
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from sadec_crawler import incremental
from sadec_crawler.items import (
    Article,
    ArticleGone,
    ArticleUnchanged,
    CrawlError,
    HandoffTaken,
    IndexPage,
    ListingEntry,
    PortalHandoff,
    SitePage,
    WaybackDiscovery,
)
from sadec_crawler.layout import CAPTURES, FILES, evidence_folder
from sadec_crawler.portals import document_group_ids, registry_for
from sadec_crawler.units import default_authority
from sadec_crawler.wayback.gate import STOP_REASONS, TRY_LATER_EXIT_STATUS

from .database import (
    apply_listing_entry,
    fix_uppercase_categories,
    known_category_names,
    known_spelling,
    mark_gone,
    mark_unchanged,
    open_database,
    record_folder,
    record_site_page,
    remember_category_name,
    upsert_article,
    utc_now,
)
from .ownership import group_owners, learn_group_ids, reassign_owners
from .portal_registry import sync_portals
from .unit_names import sync_units
from .validate import field_coverage

logger = logging.getLogger(__name__)


def is_finding(kind: str, source: str) -> bool:
    """Errors that describe the archived site rather than a failure of the run: reading web
    archive captures, an article with no capture or captured as a 404 is a finding to record,
    not a reason for cron to alarm (talking to the archive itself fails as ``wayback_*``)."""
    return source == "wayback" and (kind == "no_capture" or kind.startswith("http_"))


DRIFT_SAMPLE = 10
"""Articles a run must parse before its field coverage is compared with an earlier run's."""
DRIFT_NOISE_SIGMAS = 3
"""A drop in coverage counts only beyond this many standard deviations of sampling noise: ten
new articles of which one has an image, against 42% over the archive, is chance (the
``requests`` benchmark's run of 10 new articles was failed for it), not a broken selector."""


def coverage_drops(
    previous: dict[str, float] | None, coverage: dict[str, float], parsed: int, threshold: float
) -> list[str]:
    """Fields whose share of filled articles fell sharply from ``previous`` (an earlier run's
    coverage) to ``coverage`` (this run's, over ``parsed`` articles), as ``"name 90% → 0%"``.

    Small runs (a nightly run parses a handful of articles) count a drop only beyond
    ``threshold`` and beyond sampling noise, or for a field that was nearly always filled and
    is now never filled: that is what a broken selector looks like, whereas a few articles
    without images are not.
    """
    if not previous or not parsed:
        return []
    warnings = []
    for name, before in previous.items():
        if name.startswith("_"):
            continue
        now = coverage.get(name, 0)
        # The binomial spread of a share measured on ``parsed`` articles.
        noise = DRIFT_NOISE_SIGMAS * math.sqrt(before * (1 - before) / parsed)
        sharp_drop = parsed >= DRIFT_SAMPLE and before - now > max(threshold, noise)
        vanished = parsed >= 3 and before >= 0.9 and now == 0
        if sharp_drop or vanished:
            warnings.append(f"{name} {before:.0%} → {now:.0%}")
    return warnings


class SQLiteStoragePipeline:
    """Upserts articles, merges late listing entries, records errors and the run itself."""

    def __init__(self, crawler, db_path: str, coverage_drop: float):
        self.crawler = crawler
        self.db_path = db_path
        self.coverage_drop = coverage_drop
        settings = crawler.settings
        self.max_errors = settings.getint("SADEC_MAX_ERRORS", 0)
        self.stale_days = settings.getfloat("SADEC_STALE_DAYS", 45)
        self.now = incremental.parse_now(settings.get("SADEC_NOW"))
        self.base_url = (settings.get("SADEC_BASE_URL") or "").rstrip("/")
        self.registry = registry_for(settings)
        found = self.registry.for_url(self.base_url + "/")
        self.portal = settings.get("SADEC_PORTAL") or (found.key if found else None)
        """The registered portal this run archives (``articles.portal``); None for a site
        the registry does not name (a replica without SADEC_HOST_MAP)."""
        self.outcomes: Counter = Counter()
        self.errors: Counter = Counter()
        self.db = None
        self.run_id: int | None = None
        self.progress: task.LoopingCall | None = None
        self.home_error: CrawlError | None = None
        """The error recorded for the home page, if one was."""
        self.commit_interval = settings.getfloat("SADEC_COMMIT_INTERVAL", 1.0)
        self.committer: task.LoopingCall | None = None
        self.waiting_entries: dict[str, list[ListingEntry]] = {}
        """Listing entries that reached storage before their article (still being cleaned
        while the listing was read), by article URL: merged once the article is stored."""

    @classmethod
    def from_crawler(cls, crawler):
        db_path = crawler.settings.get("SADEC_DB_PATH")
        if not db_path:
            raise NotConfigured("SADEC_DB_PATH is empty: nothing to store into")
        pipeline = cls(crawler, db_path, crawler.settings.getfloat("SADEC_COVERAGE_DROP", 0.2))
        crawler.sadec_storage = pipeline
        crawler.signals.connect(pipeline.item_failed, signal=signals.item_error)
        crawler.signals.connect(pipeline.callback_failed, signal=signals.spider_error)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self, spider=None):
        self.db = open_database(self.db_path)
        with self.db.conn:
            # units.yml may have learnt aliases since the last run, portals.yml new portals.
            refiled = sync_units(self.db, default_authority())
            sync_portals(self.db, self.registry)
        self.group_owners = group_owners(self.db, self.registry)
        if refiled:
            logger.info("units: %d articles filed under a unit's canonical name", refiled)
        self.category_names = known_category_names(self.db)
        spider = spider or self.crawler.spider
        with self.db.conn:
            self.run_id = (
                self.db["crawl_runs"]
                .insert(
                    {
                        "started_at": utc_now(),
                        "mode": getattr(spider, "mode", None),
                        "requested_mode": getattr(spider, "requested_mode", None),
                        "source": getattr(spider, "source", None),
                        "base_url": self.crawler.settings.get("SADEC_BASE_URL"),
                        "portal": self.portal,
                    }
                )
                .last_pk
            )
        settings = self.crawler.settings
        for kind, setting in ((CAPTURES, "SADEC_WARC_DIR"), (FILES, "SADEC_FILES_DIR")):
            folder = evidence_folder(settings.get(setting, ""), self.db_path, kind)
            if folder is not None:
                record_folder(self.db, self.db_path, kind, folder)
        logger.info("archiving into %s (run %s)", self.db_path, self.run_id)
        interval = settings.getfloat("SADEC_PROGRESS_INTERVAL", 30.0)
        if interval > 0:
            self.progress = task.LoopingCall(self.record_progress)
            self.progress.start(interval, now=False)
        if self.commit_interval > 0:
            # Items are committed together, every SADEC_COMMIT_INTERVAL seconds and at the
            # end; each in a savepoint of its own, so a failing item undoes only itself. A
            # killed crawl loses at most that interval's items, which the next run fetches.
            self.db.conn.hold()
            self.committer = task.LoopingCall(self.commit_held_items)
            self.committer.start(self.commit_interval, now=False)

    def commit_held_items(self) -> None:
        """Commit the items stored since the last commit (SADEC_COMMIT_INTERVAL)."""
        if self.db is None or not self.db.conn.held:
            return
        try:
            self.db.conn.commit_held()
        except sqlite3.Error as error:
            # The interval's items are lost to this run (the next one fetches them again);
            # the run goes on, and its summary counts the failure.
            logger.error("storage: a commit failed, the last items are not stored: %s", error)
            self.errors["storage"] += 1
            self.crawler.stats.inc_value("sadec/errors")
            self.db.conn.rollback()
            self.db.conn.hold()

    def record_progress(self) -> None:
        """The run so far in its ``crawl_runs`` row, for an operator looking while it runs (a
        Wayback backfill can take days): requests, articles, errors and, for a Wayback run,
        captures planned, done and left, when the next request may go and the expected end."""
        if self.db is None or self.run_id is None:
            return
        stats = self.crawler.stats
        fields = {
            "progress_at": utc_now(),
            "requests": stats.get_value("downloader/request_count", 0),
            "articles_new": self.outcomes["new"],
            "articles_changed": self.outcomes["changed"],
            "articles_unchanged": self.outcomes["unchanged"],
            "errors": sum(self.errors.values()),
        }
        planned = stats.get_value("sadec/wayback/captures_planned")
        gate = getattr(self.crawler, "sadec_gate", None)
        if planned is not None and gate is not None:
            done = stats.get_value("sadec/wayback/captures_done", 0)
            left = max(0, planned - done)
            fields.update(captures_planned=planned, captures_done=done, captures_left=left)
            fields["next_request_at"] = iso_utc(gate.next_request_at())
            started = stats.get_value("start_time")
            now = dt.datetime.now(dt.UTC)
            elapsed = (now - started).total_seconds() if started else 0.0
            seconds = gate.seconds_left(done, left, elapsed)
            if seconds is not None:
                fields["finish_expected_at"] = iso_utc(now + dt.timedelta(seconds=seconds))
        try:
            with self.db.conn:
                self.db["crawl_runs"].update(self.run_id, fields)
        except sqlite3.Error as error:
            logger.warning("progress not recorded in crawl_runs: %s", error)

    def process_item(self, item):
        with self.db.conn.item():
            self._store(item)
        return item

    def _store(self, item) -> None:
        if isinstance(item, Article) and not self._in_window(item):
            # -a since/until: only articles published in the window are archived (a page
            # reached by a related link, or undated on its listing, is read to learn its date).
            self.crawler.stats.inc_value("sadec/articles/outside_window")
            return
        if isinstance(item, Article):
            # Derived once, by the parser; here only spelt as the archive already knows it.
            item.category = known_spelling(item.category, self.category_names)
            shown_url = item.url
            owner = self._owning_portal(item)
            outcome = upsert_article(self.db, item)
            if self.portal:
                self._record_showing(item.url, shown_url, owner, outcome)
            self.outcomes[outcome] += 1
            self.crawler.stats.inc_value(f"sadec/articles/{outcome}")
            for entry in self.waiting_entries.pop(shown_url, ()):
                # Under the URL the article was just stored at (its owner's, if moved).
                self._merge_listing_entry(dataclasses.replace(entry, url=item.url))
            if (
                item.category
                and not item.category.isupper()
                and item.category_raw
                and not item.category_raw.isupper()
                # A spelling already recorded is not written again (a commit an article).
                and self.category_names.get(item.category.casefold()) != item.category
            ):
                remember_category_name(self.db, item.category)
                self.category_names[item.category.casefold()] = item.category
        elif isinstance(item, ArticleUnchanged):
            if mark_unchanged(self.db, item.url):
                self.outcomes["unchanged"] += 1
                self.crawler.stats.inc_value("sadec/articles/unchanged")
        elif isinstance(item, ArticleGone):
            if mark_gone(self.db, item.url):
                self.outcomes["gone"] += 1
                self.crawler.stats.inc_value("sadec/articles/gone")
                logger.info("gone from the site (%s): %s", item.reason, item.url)
        elif isinstance(item, SitePage):
            record_site_page(self.db, item.url, item.kind)
        elif isinstance(item, IndexPage):
            with self.db.conn:
                self.db["wayback_index_pages"].insert(
                    {"run_id": self.run_id, "read_at": utc_now(), **dataclasses.asdict(item)}
                )
        elif isinstance(item, WaybackDiscovery):
            with self.db.conn:
                self.db["wayback_discoveries"].upsert(
                    {"run_id": self.run_id, "made_at": utc_now(), **dataclasses.asdict(item)},
                    pk="discovery_key",
                )
        elif isinstance(item, PortalHandoff):
            self._record_handoff(item)
        elif isinstance(item, HandoffTaken):
            with self.db.conn:
                self.db.execute(
                    "update portal_handoffs set handled_at = ?, handled_run_id = ? "
                    "where url = ? and to_portal = ? and handled_at is null",
                    [utc_now(), self.run_id, item.url, item.to_portal],
                )
        elif isinstance(item, ListingEntry):
            if self._merge_listing_entry(item) is None:
                self.waiting_entries.setdefault(item.url, []).append(item)
        elif isinstance(item, CrawlError):
            if item.url.rstrip("/") == self.base_url:
                self.home_error = item
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

    def _merge_listing_entry(self, entry: ListingEntry) -> bool | None:
        merged = apply_listing_entry(self.db, entry)
        if merged:
            self.crawler.stats.inc_value("sadec/articles/listing_merged")
        return merged

    def item_failed(self, item, response=None, failure=None, **kwargs):
        """An item that raised in a pipeline (a parser bug, a failed write) is an error of the
        run like a failed fetch: Scrapy only logs it, so the article would otherwise be lost
        while the run still exits 0."""
        url = getattr(item, "url", None) or getattr(response, "url", None)
        self._record_failure(url, "pipeline_error", failure)

    def callback_failed(self, failure, response=None, **kwargs):
        """A page whose parsing raised (a parser bug on markup never seen before): its articles
        and links are lost for this run, so it is an error of the run, not just a log line."""
        self._record_failure(getattr(response, "url", None), "spider_error", failure)

    def _record_failure(self, url: str | None, kind: str, failure) -> None:
        message = f"{failure.type.__name__}: {failure.value}" if failure else kind
        try:
            self.process_item(CrawlError(url or "unknown", kind, message[:300]))
        except sqlite3.Error as error:
            # Counted all the same (process_item counts before writing): the exit status knows.
            logger.error("could not record the failure of %s: %s", url, error)

    def _previous_coverage(self) -> dict[str, float] | None:
        """Coverage of the last run that parsed a representative sample of articles."""
        # Each portal against its own earlier runs: a ward's small portal is no sample of the
        # city's.
        rows = self.db.query(
            "select field_coverage from crawl_runs where id < ? and field_coverage is not null "
            "and (? is null or portal = ?) order by id desc limit 20",
            [self.run_id, self.portal, self.portal],
        )
        for row in rows:
            coverage = json.loads(row["field_coverage"])
            if coverage.get("_parsed", 0) >= DRIFT_SAMPLE:
                return coverage
        return None

    def _record_handoff(self, handoff: PortalHandoff) -> None:
        """Keep a link to another portal for that portal's crawl (``portal_handoffs``); one
        found again keeps its first finding, handled or not."""
        with self.db.conn:
            self.db.execute(
                "insert into portal_handoffs (url, to_portal, from_portal, kind, asset_id, "
                "found_on, found_at, found_run_id) values (?, ?, ?, ?, ?, ?, ?, ?) "
                "on conflict (url, to_portal) do nothing",
                [
                    handoff.url,
                    handoff.to_portal,
                    handoff.from_portal,
                    handoff.kind,
                    handoff.asset_id,
                    handoff.found_on,
                    utc_now(),
                    self.run_id,
                ],
            )
        self.crawler.stats.inc_value("sadec/handoffs/recorded")

    def _owning_portal(self, article: Article) -> str | None:
        """The portal an article belongs to, its URL made that portal's when another portal
        shows it (the province re-posting a ward's news): the portal whose group id its files
        carry (``/documents/<groupId>/``; registered, or learnt from the portals' pages by
        :mod:`pipelines.ownership`), else the portal that archived it first (asset ids come
        from the system's one counter), else this run's. Articles first stored under the wrong
        portal move to their owner at the end of the run that learns its group."""
        if not self.portal:
            return None
        registry = self.registry
        urls = [image.url for image in article.images]
        urls += [attachment.url for attachment in article.attachments]
        owner = next(
            (
                registry.get(key)
                for group in document_group_ids(urls)
                if (key := self.group_owners.get(group)) is not None
            ),
            None,
        )
        path = urlsplit(article.url).path
        own_prefix = urlsplit(self.base_url).path.rstrip("/")
        if own_prefix and path.startswith(own_prefix + "/"):
            path = path[len(own_prefix) :]  # a /web/<site> portal showing another's article
        if owner is not None and owner.key != self.portal:
            article.url = owner.base_url + path
            return owner.key
        if owner is None:
            archived = self.db.execute(
                "select url, portal from articles where asset_id = ? and url != ? "
                "and portal is not null and portal != ? limit 1",
                [article.asset_id, article.url, self.portal],
            ).fetchone()
            if archived is not None:
                article.url = archived[0]
                return archived[1]
        return self.portal

    def _record_showing(self, url: str, shown_url: str, owner: str | None, outcome: str) -> None:
        now = utc_now()
        with self.db.conn:
            if outcome == "new":
                self.db.execute(
                    "update articles set portal = ? where url = ? and portal is null",
                    [owner or self.portal, url],
                )
            self.db.execute(
                "insert into article_portals (article_url, portal, shown_url, first_seen_at, "
                "last_seen_at) values (?, ?, ?, ?, ?) on conflict (article_url, portal) do "
                "update set last_seen_at = excluded.last_seen_at, shown_url = excluded.shown_url",
                [url, self.portal, shown_url, now, now],
            )

    def _settle_owners(self) -> None:
        """Learn each portal's group id from what the archive now holds, and move articles
        stored under a portal that is not their owner (pipelines.ownership)."""
        try:
            with self.db.conn:
                if not self.db.conn.in_transaction:
                    self.db.execute("begin")
                learnt = learn_group_ids(self.db, utc_now())
                moved = reassign_owners(self.db, self.registry)
        except sqlite3.Error as error:
            logger.error("ownership not settled: %s", error)
            return
        if learnt.get(self.portal):
            logger.info(
                "portal %s: group id %d learnt from its pages", self.portal, learnt[self.portal]
            )
        if moved:
            logger.info("ownership: %d articles moved to the portal that owns them", moved)

    def drift_warnings(self, coverage: dict[str, float], parsed: int) -> list[str]:
        """Fields whose coverage fell sharply against an earlier run: selectors drifting."""
        return coverage_drops(self._previous_coverage(), coverage, parsed, self.coverage_drop)

    def failures(self, stats: dict, drift: list[str]) -> list[str]:
        """Reasons this run should count as failed for cron (empty when it did its job)."""
        reasons = []
        if not stats.get("sadec/pages/home"):
            reasons.append(f"the home page could not be read: {self._why_no_home(stats)}")
        elif not stats.get("sadec/pages/listing") and self.crawler.spider.source == "live":
            reasons.append("no listing found from the home page (menu selectors drifting?)")
        listed_new = stats.get("sadec/listing/entries_new", 0)
        stored = self.outcomes["new"] + self.outcomes["changed"]
        if listed_new and not stored:
            reasons.append(f"listings showed {listed_new} new articles but none was archived")
        reasons += [f"field coverage dropped: {warning}" for warning in drift]
        source = getattr(self.crawler.spider, "source", "live")
        failed = Counter(
            {kind: n for kind, n in self.errors.items() if not is_finding(kind, source)}
        )
        if sum(failed.values()) > self.max_errors:
            kinds = ", ".join(f"{kind} ×{n}" for kind, n in failed.most_common())
            reasons.append(f"{sum(failed.values())} errors ({kinds})")
        reason = stats.get("finish_reason")
        if reason and reason != "finished":
            reasons.append(f"the crawl stopped early ({reason})")
        return reasons

    def _why_no_home(self, stats: dict) -> str:
        """Why the home page was not read, recorded as an error of the run when nothing
        recorded it yet (a refusal by robots.txt or the off-site rule is no failed fetch)."""
        if self.home_error is not None:
            return f"{self.home_error.kind} ({self.home_error.message})"
        if self.crawler.spider.source != "live":
            return "no capture of it was read"
        if stats.get("robotstxt/forbidden"):
            kind, message = "robots_forbidden", "robots.txt forbids it (Disallow)"
        elif stats.get("offsite/filtered"):
            kind, message = "offsite_redirect", "it redirects to another host, never followed"
        else:
            kind, message = "home_unread", "no answer was read (see the log)"
        self.process_item(CrawlError(self.base_url + "/", kind, message))
        return message

    def _in_window(self, article: Article) -> bool:
        spider = self.crawler.spider
        if article.source == "wayback":
            return True  # there the window selects when captures were made, not publication
        since, until = getattr(spider, "since", None), getattr(spider, "until", None)
        return incremental.within_window(article.published_at, since, until)

    def close_spider(self, spider=None):
        if self.committer is not None and self.committer.running:
            self.committer.stop()
        if self.db.conn.held:
            try:
                self.db.conn.release()
            except sqlite3.Error as error:
                logger.error("storage: the last commit failed, its items are not stored: %s", error)
                self.errors["storage"] += 1
                self.crawler.stats.inc_value("sadec/errors")
                self.db.conn.rollback()
        if self.progress is not None and self.progress.running:
            self.progress.stop()
        self.record_progress()  # the captures' last figures, then the summary below
        if self.portal:
            self._settle_owners()
        fixed = fix_uppercase_categories(self.db)
        stats = self.crawler.stats.get_stats()
        validation = getattr(self.crawler, "sadec_validation", None)
        seen = self.outcomes["new"] + self.outcomes["changed"] + self.outcomes["unchanged"]
        coverage = validation.coverage() if validation else field_coverage(Counter(), 0)
        by_status = {
            key.rsplit("/", 1)[-1]: value
            for key, value in stats.items()
            if key.startswith("downloader/response_status_count/")
        }
        drift = self.drift_warnings(coverage, validation.total if validation else 0)
        for warning in drift:
            logger.warning("field coverage dropped: %s (selectors drifting?)", warning)
        failures = self.failures(stats, drift)
        # Only the newest date is needed: loading the whole archive state here (every article)
        # made the end of a 20,000-article crawl its memory peak.
        newest = self.db.execute(
            "select max(published_at) from articles where ? is null or portal = ?",
            [self.portal, self.portal],
        ).fetchone()[0]
        state = incremental.ArchiveState(newest_published=newest)
        stale = incremental.stale_warning(state, self.now, self.stale_days)
        if stale:
            logger.warning("stale archive: %s", stale)
        pages = sum(v for k, v in stats.items() if k.startswith("sadec/pages/"))
        exit_status = 1 if failures else 0
        summary = {
            "finished_at": utc_now(),
            "requests": stats.get("downloader/request_count", 0),
            "responses_by_status": json.dumps(by_status, sort_keys=True),
            "pages": pages,
            "articles_seen": seen,
            "articles_new": self.outcomes["new"],
            "articles_changed": self.outcomes["changed"],
            "articles_unchanged": self.outcomes["unchanged"],
            "articles_gone": self.outcomes["gone"],
            "articles_listed_new": stats.get("sadec/listing/entries_new", 0),
            "errors": sum(self.errors.values()),
            "field_coverage": json.dumps({**coverage, "_parsed": validation.total}, sort_keys=True)
            if validation and validation.total
            else None,
            "finish_reason": stats.get("finish_reason") or "finished",
            "exit_status": exit_status,
            "message": "; ".join(failures + ([f"stale: {stale}"] if stale else [])) or None,
        }
        with self.db.conn:
            self.db["crawl_runs"].update(self.run_id, summary)
        self.crawler.sadec_exit_status = exit_status
        self.crawler.sadec_exit_message = summary["message"]
        logger.info(
            "summary: %d requests, %d pages, %d articles (%d new, %d changed, %d unchanged, "
            "%d gone), %d errors%s, %d categories re-cased",
            summary["requests"],
            pages,
            seen,
            self.outcomes["new"],
            self.outcomes["changed"],
            self.outcomes["unchanged"],
            self.outcomes["gone"],
            summary["errors"],
            f" ({dict(self.errors)})" if self.errors else "",
            fixed,
        )
        parsed = validation.total if validation else 0
        if parsed:
            logger.info(
                "field coverage: %s (%d articles parsed)",
                ", ".join(f"{name} {share:.0%}" for name, share in coverage.items()),
                parsed,
            )
        else:
            # 0% of nothing would read as every selector broken.
            logger.info("field coverage: no article parsed this run (none new or changed)")
        if failures:
            logger.error("run %s failed: %s", self.run_id, "; ".join(failures))
        self.db.close()

    def spider_closed(self, spider, reason: str) -> None:
        """Scrapy tells why the spider closed only after the pipelines have: a run stopped
        early (SIGTERM, Ctrl-C, a CLOSESPIDER_* limit) is recorded as such, exits non-zero,
        and the next run walks everything, so nothing it did not reach is skipped for good."""
        if reason == "finished" or self.run_id is None:
            return
        why = f"the crawl stopped early ({reason})"
        exit_status = 1
        if reason in STOP_REASONS:
            # The web archive asked the run to go away: a pause for cron, not a failure to fix.
            why = f"{why}: {getattr(self.crawler, 'sadec_stop_message', reason)}"
            exit_status = TRY_LATER_EXIT_STATUS
        db = open_database(self.db_path)
        try:
            run = db["crawl_runs"].get(self.run_id)
            message = "; ".join(filter(None, [run.get("message"), why]))
            with db.conn:
                db["crawl_runs"].update(
                    self.run_id,
                    {"finish_reason": reason, "exit_status": exit_status, "message": message},
                )
        finally:
            db.close()
        self.crawler.sadec_exit_status = exit_status
        self.crawler.sadec_exit_message = message
        logger.error("run %s failed: %s", self.run_id, why)


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

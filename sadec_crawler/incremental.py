"""Planning an incremental run from what the archive already holds.

A nightly run should cost the portal a handful of requests: walk each listing only until it
reaches articles already archived (plus a small overlap), re-fetch the articles published
within a short re-check window (late edits are most common in the first days), and re-validate a
rotating slice of older articles so that every article is checked again within a period.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class KnownArticle:
    """An archived article, as far as planning needs it."""

    url: str
    asset_id: int
    published_at: str | None
    last_crawled_at: str | None
    gone_at: str | None
    etag: str | None
    last_modified: str | None
    title: str | None
    listing_url: str | None = None
    url_title: str | None = None


@dataclass
class ArchiveState:
    """What the database says before a run starts."""

    articles: dict[int, KnownArticle] = field(default_factory=dict)
    last_full_run_completed: bool = False
    """A ``full`` run has finished cleanly at some point and no run was cut short since."""
    newest_published: str | None = None
    other_pages: set[str] = field(default_factory=set)
    """Pages discovery found to hold no listing, skipped by incremental runs."""

    @property
    def empty(self) -> bool:
        return not self.articles


def load_archive_state(db_path: str | Path, base_url: str | None = None) -> ArchiveState:
    """Read the archive's articles and run history; an absent database is an empty archive.
    With ``base_url`` (a crawl of several portals into one archive), only that portal's
    articles and runs: each portal keeps its own incremental state."""
    path = Path(db_path)
    if not path.exists():
        return ArchiveState()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        if "articles" not in tables:
            return ArchiveState()
        columns = {r[1] for r in conn.execute("pragma table_info(articles)")}
        etag = "http_etag" if "http_etag" in columns else "null"
        modified = "http_last_modified" if "http_last_modified" in columns else "null"
        listing = "listing_url" if "listing_url" in columns else "null"
        url_title = "url_title" if "url_title" in columns else "null"
        state = ArchiveState()
        prefix = base_url.rstrip("/") + "/" if base_url else ""
        for row in conn.execute(
            f"select url, asset_id, published_at, last_crawled_at, gone_at, {etag} as etag, "
            f"{modified} as last_modified, title, {listing} as listing_url, "
            f"{url_title} as url_title from articles where substr(url, 1, ?) = ?",
            [len(prefix), prefix],
        ):
            state.articles[row["asset_id"]] = KnownArticle(**dict(row))
        state.newest_published = max(
            (a.published_at for a in state.articles.values() if a.published_at), default=None
        )
        if "site_pages" in tables:
            state.other_pages = {
                row["url"] for row in conn.execute("select url from site_pages where kind='other'")
            }
        # Web-archive runs read captures, not the live site: they neither complete a live walk
        # nor leave one unfinished.
        runs = conn.execute(
            "select mode, finish_reason, exit_status from crawl_runs "
            "where coalesce(source, 'live') = 'live' and (? = '' or rtrim(base_url, '/') = ?) "
            "order by id",
            [prefix, prefix.rstrip("/")],
        ).fetchall()
        completed = False
        for run in runs:
            if run["finish_reason"] != "finished":
                completed = False  # cut short: what it skipped is unknown
            elif run["mode"] == "full":
                completed = True
        state.last_full_run_completed = completed
        return state
    finally:
        conn.close()


def parse_now(value: str | None) -> dt.datetime:
    """The run's clock: ``SADEC_NOW`` (ISO date or date-time, for tests) or the real time."""
    if not value:
        return dt.datetime.now(dt.UTC)
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _published_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def recheck_window(state: ArchiveState, now: dt.datetime, days: float) -> list[KnownArticle]:
    """Archived articles published within ``days`` before ``now`` (late edits happen there)."""
    since = (now - dt.timedelta(days=days)).date()
    return [
        article
        for article in state.articles.values()
        if not article.gone_at
        and (published := _published_date(article.published_at)) is not None
        and since <= published <= now.date()
    ]


def rotation_slice(
    state: ArchiveState, period_days: float, count: int | None = None, exclude=()
) -> list[KnownArticle]:
    """The least recently checked articles: ``count`` of them, or enough that a daily run
    checks every article again within ``period_days``."""
    candidates = [
        a for a in state.articles.values() if not a.gone_at and a.asset_id not in set(exclude)
    ]
    if count is None:
        count = math.ceil(len(candidates) / period_days) if period_days > 0 else 0
    candidates.sort(key=lambda a: (a.last_crawled_at or "", a.asset_id))
    return candidates[: max(count, 0)]


def within_window(published: str | None, since: dt.date | None, until: dt.date | None) -> bool:
    """Whether a date falls in the ``-a since=… -a until=…`` window (undated: yes)."""
    day = _published_date(published)
    if day is None:
        return True
    return (since is None or day >= since) and (until is None or day <= until)


def stale_warning(state: ArchiveState, now: dt.datetime, stale_days: float) -> str | None:
    """A sentence when the newest archived article is older than ``stale_days``."""
    newest = _published_date(state.newest_published)
    if newest is None or stale_days <= 0:
        return None
    age = (now.date() - newest).days
    if age > stale_days:
        return f"nothing new for {age} days (newest article {newest.isoformat()})"
    return None


@dataclass
class RunPlan:
    """What one run does, decided from the archive before the first request."""

    archive: ArchiveState
    now: dt.datetime
    mode: str
    """``full`` when asked, or when no full walk of the live site has completed yet."""
    conditional: bool
    """Whether archived articles are asked for with ``If-None-Match``/``If-Modified-Since``."""
    recheck_ids: set[int] = field(default_factory=set)
    """Archived articles re-fetched this run: the recent ones and a slice of the rotation."""
    notes: list[str] = field(default_factory=list)
    """What the plan decided, for the log."""


def plan_run(settings, requested_mode: str) -> RunPlan:
    """The incremental policy: walk everything until a full run has completed; after that,
    re-check what was published in the last ``SADEC_RECHECK_DAYS`` and a rotating slice of
    the rest (all of it within ``SADEC_REVALIDATE_DAYS``, or ``SADEC_REVALIDATE_COUNT`` a
    run)."""
    db_path = settings.get("SADEC_DB_PATH")
    portal_base = settings.get("SADEC_BASE_URL") if settings.get("SADEC_PORTAL") else None
    archive = load_archive_state(db_path, portal_base)
    plan = RunPlan(
        archive=archive,
        now=parse_now(settings.get("SADEC_NOW")),
        mode=requested_mode,
        conditional=settings.getbool("SADEC_CONDITIONAL_REQUESTS", True),
    )
    if plan.mode == "incremental" and not archive.last_full_run_completed:
        plan.notes.append(
            f"no completed full run in {db_path} yet (or the last run was cut short): "
            "this run walks everything"
        )
        plan.mode = "full"
    if archive.articles and not archive.last_full_run_completed:
        # A cut-short run may have stored a page without following its links (related
        # blocks are the only way to some unlisted articles): a 304 would hide them for good.
        plan.conditional = False
    if plan.mode != "incremental":
        return plan
    recheck = recheck_window(archive, plan.now, settings.getfloat("SADEC_RECHECK_DAYS", 3))
    count = settings.getint("SADEC_REVALIDATE_COUNT", -1)
    rotation = rotation_slice(
        archive,
        settings.getfloat("SADEC_REVALIDATE_DAYS", 30),
        None if count < 0 else count,
        exclude={a.asset_id for a in recheck},
    )
    plan.recheck_ids = {a.asset_id for a in recheck + rotation}
    plan.notes.append(
        f"incremental run: {len(archive.articles)} archived articles; re-checking "
        f"{len(recheck)} recent and {len(rotation)} by rotation"
    )
    return plan

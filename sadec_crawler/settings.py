"""Scrapy settings for the Sa Đéc archive.

Defaults are polite to a slow provincial government server (site-spec §5: other crawlers of
these portals use 20–25 s timeouts and about 1 s between requests). Override any of them with
``-s NAME=VALUE``; the tests do so to crawl the local replica quickly.
"""

BOT_NAME = "sadec_crawler"
SPIDER_MODULES = ["sadec_crawler.spiders"]
NEWSPIDER_MODULE = "sadec_crawler.spiders"

# --- What to crawl and where to store it ----------------------------------------------------
SADEC_BASE_URL = "https://sadec.dongthap.gov.vn"
# The registered portal (sadec_crawler/portals.yml) this run archives; set for each portal by
# `-a portals=…`; empty: the portal SADEC_BASE_URL is on, if registered.
SADEC_PORTAL = ""
# The registry of portals; empty: sadec_crawler/portals.yml.
SADEC_PORTALS_FILE = ""
SADEC_DB_PATH = "archive.db"
# Fetch the portal's pages from elsewhere, keeping the portal's URLs in the archive:
# "https://sadec.dongthap.gov.vn=http://127.0.0.1:8765" (the demo's replica). Empty: none.
SADEC_HOST_MAP = ""
# Folder of WARC captures; empty means "captures/ beside the database", "off" writes none.
SADEC_WARC_DIR = ""
# A new WARC file starts once the current one passes this size (bytes).
SADEC_WARC_MAX_BYTES = 100_000_000
# gzip level of each WARC record (1-9): 1-3 by ISA-L (python-isal), 4-9 by zlib. 3: files
# about 17 % larger than zlib's level 9 on portal pages, in a thirteenth of its time.
SADEC_WARC_GZIP_LEVEL = 3
# Folder of downloaded images and attachments (by SHA-256); empty means "files/ beside the
# database", "off" downloads none.
SADEC_FILES_DIR = ""
# Larger images or attachments are not downloaded (recorded as fetch_error "too_large").
SADEC_FILE_MAXSIZE = 50 * 1024 * 1024
# The web archive `-a source=wayback` reads (CDX index and `id_` playback); see docs/wayback.md.
SADEC_WAYBACK_URL = "https://web.archive.org"
# Rows per CDX index request (paged with resume keys; small pages fail less under load), and
# pages per query at most (a server that never stops paging cannot hold a run).
SADEC_WAYBACK_CDX_LIMIT = 1000
SADEC_WAYBACK_CDX_MAX_PAGES = 1000
# One capture of each listing page is read per period of this many timestamp digits (6: a month).
SADEC_WAYBACK_LISTING_PERIOD = 6
# Articles archived at once (each one's captures in order); 0 = per-host concurrency + 1.
SADEC_WAYBACK_WORKERS = 0
# The Internet Archive's limits (docs/wayback.md): index requests a minute (it allows about 30)
# and playback requests a minute (users it did not block settled on one every 2-3 s); 0: no pace.
SADEC_WAYBACK_CDX_PER_MINUTE = 20
SADEC_WAYBACK_PLAYBACK_PER_MINUTE = 24
# After a 429 (or a block) no request to the archive for this many seconds, doubled for each
# further pause in a row; after SADEC_WAYBACK_MAX_PAUSES in a row the run stops (exit 75).
SADEC_WAYBACK_PAUSE = 60.0
SADEC_WAYBACK_MAX_PAUSES = 5
# Refused or reset connections in a row that count as a block (the circuit breaker).
SADEC_WAYBACK_BREAKER_FAILURES = 3
# Seconds an index query may take (prefix queries are slow under load).
SADEC_WAYBACK_CDX_TIMEOUT = 120
SADEC_CONTACT_URL = "https://github.com/sadec-archive/sadec-archive"
# A progress line every this many seconds.
SADEC_PROGRESS_INTERVAL = 30.0
# Allocations between two runs of the cyclic garbage collector (0 = Python's default, 700).
SADEC_GC_THRESHOLD = 10_000
# Who parses listing and article pages and cleans articles: "process" (a process of its own,
# on another core than Scrapy's) or "off" (the crawl's own thread).
SADEC_PAGE_WORKER = "process"
# Stored items are committed together every this many seconds (0: each item on its own); a
# killed crawl loses at most that many seconds of items, which the next run fetches again.
SADEC_COMMIT_INTERVAL = 1.0
# Warn when a field's coverage falls by more than this share against the previous run.
SADEC_COVERAGE_DROP = 0.2

# --- Incremental runs (the default mode; `-a mode=full` walks everything) -----------------
# Re-fetch articles published within this many days: late edits happen in the first days.
SADEC_RECHECK_DAYS = 3
# Re-validate older articles on a rotation so each is checked again within this many days
# (assuming one run a day); SADEC_REVALIDATE_COUNT >= 0 fixes the slice size instead.
SADEC_REVALIDATE_DAYS = 90
SADEC_REVALIDATE_COUNT = -1
# Listing pages of already-archived articles walked past before an incremental run stops.
SADEC_LISTING_OVERLAP = 1
# Ask for archived articles with If-None-Match / If-Modified-Since (304 when unchanged).
# Off makes every re-check download and re-parse the page.
SADEC_CONDITIONAL_REQUESTS = True
# A run with more errors than this exits non-zero (after retries).
SADEC_MAX_ERRORS = 0
# Warn when the newest archived article is older than this many days.
SADEC_STALE_DAYS = 45
# The run's clock, ISO date or date-time (tests freeze it); empty means now.
SADEC_NOW = ""

# --- Run bounds: a site that never ends cannot hold a run forever ---------------------------
# Pages read of one listing at most (and never past the last page its pager states).
SADEC_MAX_LISTING_PAGES = 1000
# Article links followed from one page at most (a news page has dozens).
SADEC_MAX_LINKS_PER_PAGE = 2000
# Responses and wall time per run (Scrapy's CloseSpider): past either the run ends, is recorded
# as stopped early, exits 1, and the next run walks everything. A full first crawl of the
# portal at one request a second takes about a day.
CLOSESPIDER_PAGECOUNT = 300_000
CLOSESPIDER_TIMEOUT = 3 * 24 * 3600
# --- Politeness ----------------------------------------------------------------------------
USER_AGENT = f"sadec-archive/0.1 (research archive of Sa Dec city news; +{SADEC_CONTACT_URL})"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
# A Wayback run's steps between captures, and the step that takes the links other portals
# handed to this one, fetch nothing (data: URLs): no delay for them.
DOWNLOAD_SLOTS = {"sadec-steps": {"delay": 0, "concurrency": 8, "randomize_delay": False}}
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 25
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# A news page is a few hundred KB; anything far larger is not a page we want.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = False
# Items processed at once per response. Scrapy starts that many asyncio workers for every
# response's output, even when it yields one item: at the default 100 that cost more than
# fetching a 180 KB page. A response here yields at most a handful of items.
CONCURRENT_ITEMS = 8
# No remote console of any kind listens during a crawl (cron runs need none): neither the
# telnet console nor Scrapy 2.19's remote-control HTTP server.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Listings before articles, so an article usually arrives with its listing entry (date, summary).
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
# Scrapy's duplicate filter, its fingerprints packed: 20 bytes a request instead of ~130.
DUPEFILTER_CLASS = "sadec_crawler.dupefilter.CompactDupeFilter"

# Scrapy's HTTP download, with the origins of SADEC_HOST_MAP fetched from their mapped address.
DOWNLOAD_HANDLERS = {
    "http": "sadec_crawler.hostmap.HostMapDownloadHandler",
    "https": "sadec_crawler.hostmap.HostMapDownloadHandler",
}
# Closer to the downloader than retry (550), decompression (590) and redirects (600): the
# WARC writer sees every response as transferred, 3xx and 5xx included.
DOWNLOADER_MIDDLEWARES = {
    # Before the off-site filter (50) and robots.txt (100): with -a source=wayback, requests
    # for the portal (images, attachments) become requests for the archive's copies.
    "sadec_crawler.wayback.middleware.WaybackMiddleware": 40,
    # Scrapy's off-site filter lets retried requests (dont_filter) follow redirects to other
    # hosts; this one, in its place, does not.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "sadec_crawler.middlewares.StayOnSiteMiddleware": 50,
    # Just below Scrapy's retry (550), so it sees 429/5xx first and waits before retrying.
    "sadec_crawler.middlewares.RetryAfterMiddleware": 555,
    # Above both retries: an archived 5xx/429 page (Memento-Datetime) is no error to retry.
    "sadec_crawler.wayback.middleware.MementoMiddleware": 580,
    # Just above Scrapy's redirects (600): a redirect loop becomes a recorded error, not a
    # request silently dropped as a duplicate.
    "sadec_crawler.middlewares.RedirectLoopMiddleware": 610,
    "sadec_crawler.warc.WarcWriterMiddleware": 950,
    # The network's edge: with SADEC_REPLAY_WARC_DIR (sadec rebuild) the captures answer.
    "sadec_crawler.warc_replay.WarcReplayMiddleware": 960,
    # Outermost, so that nothing queues behind it: the web archive's paces, pauses and probes.
    "sadec_crawler.wayback.gate.ArchiveGate": 990,
    # With -a portals=: one request at a time per host across the portals' crawlers.
    "sadec_crawler.middlewares.SharedHostMiddleware": 995,
}
# Longest wait a Retry-After header can impose (seconds); backoff base for the web archive
# (SADEC_RETRY_BACKOFF × 2^retries seconds after an error).
SADEC_RETRY_AFTER_MAX = 300.0
SADEC_RETRY_BACKOFF = 2.0

ITEM_PIPELINES = {
    "pipelines.clean.ArticleCleaningPipeline": 300,
    "pipelines.files.FilesPipeline": 350,
    "pipelines.storage.SQLiteStoragePipeline": 500,
    # After storage: coverage counts what was stored (a listing date kept from an earlier run
    # included), not only what this fetch of the page showed.
    "pipelines.validate.ValidationPipeline": 600,
}
EXTENSIONS = {
    "scrapy.extensions.logstats.LogStats": None,
    # Scrapy's remote console listens on a port during every crawl; cron runs need none.
    "scrapy.extensions.telnet.TelnetConsole": None,
    "sadec_crawler.progress.CrawlReport": 500,
    # The cyclic collector less often: parsing leaves it nothing to find (collector.py).
    "sadec_crawler.collector.CollectorThreshold": 0,
}

FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

# `scrapy crawl` that exits non-zero when a run failed in a way cron should report.
COMMANDS_MODULE = "sadec_crawler.commands"

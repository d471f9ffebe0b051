"""``scrapy crawl`` with an exit status cron can act on.

Scrapy's own command exits 0 whenever the spider started, even when the run archived nothing or
every request failed. This one exits with the status the storage pipeline decided at the end of
the run (``crawl_runs.exit_status``), after saying why in one log line.
"""

from __future__ import annotations

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError


class Command(ScrapyCrawlCommand):
    def run(self, args, opts) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name: scrapy crawl sadec")
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        else:
            self.exitcode = getattr(crawler, "sadec_exit_status", 0)

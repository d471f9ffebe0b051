"""``scrapy crawl`` fit for cron: one writer at a time, and an exit status that means something.

Scrapy's own command exits 0 whenever the spider started, even when the run archived nothing or
every request failed. This one exits with the status the storage pipeline decided at the end of
the run (``crawl_runs.exit_status``, after a one-line reason in the log), and refuses to start
while another crawl holds the database's lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError

from sadec_crawler.config import config_problems
from sadec_crawler.portals import registry_for

LOCKED_EXIT_STATUS = 75
"""EX_TEMPFAIL: another run is writing; cron may simply try again next time."""


PORTAL_PRIORITY = 50
"""Settings priority of what ``-a portals=`` sets for each portal's crawler."""

USAGE_EXIT_STATUS = 2
"""A bad setting or spider argument: nothing was started."""


def _one_line(error: BaseException) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, OSError)) and not isinstance(error, UnicodeError):
        return message
    return f"{type(error).__name__}: {message}"


def _keep_startup_error(running, errors: list[BaseException]) -> None:
    """Collect the exception ending ``running`` (an asyncio task or a Deferred, as Scrapy's
    crawl returns), so it is told once, in one line, instead of as a traceback of an
    exception "never retrieved"."""
    if hasattr(running, "add_done_callback"):

        def done(task):
            if not task.cancelled() and task.exception() is not None:
                errors.append(task.exception())

        running.add_done_callback(done)
    elif hasattr(running, "addErrback"):

        def failed(failure):
            errors.append(failure.value)

        running.addErrback(failed)


class _WithoutTraceback(logging.Filter):
    """Keeps a record's message, drops its traceback: for loggers whose errors are network
    failures already said in the message (robots.txt of an unreachable host printed two
    chained tracebacks for one refused connection)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


class DatabaseLocked(RuntimeError):
    """Another crawl is writing to the same database."""


def acquire_lock(db_path: str | Path):
    """Hold ``<db>.lock`` for the life of the returned file object (released by the OS even
    when the process is killed, so a crashed run never blocks the next one)."""
    # On the resolved path: two names of one database (a symlink, ``./``) are one lock.
    lock_path = Path(f"{Path(db_path).resolve()}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the whole crawl
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DatabaseLocked(
            f"another crawl (pid {holder}) is writing to {db_path}; not starting a second one"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class Command(ScrapyCrawlCommand):
    def _start_portals(self, name, portals, spargs, startup_errors) -> list[tuple]:
        """One crawler per portal in this process: each its own host, download slot, robots.txt,
        incremental state and ``crawl_runs`` row, all into one database, crawled at once."""
        spidercls = self.crawler_process.spider_loader.load(name)
        crawlers = []
        for portal in portals:
            settings = self.settings.copy()
            settings.frozen = False
            # Above "cmdline" (40): the process merges its own settings into each crawler,
            # and would put back the -s SADEC_BASE_URL it was started with.
            settings.set("SADEC_BASE_URL", portal.base_url, priority=PORTAL_PRIORITY)
            settings.set("SADEC_PORTAL", portal.key, priority=PORTAL_PRIORITY)
            if len(portals) > 1:
                # The crawlers share one database, each through its own connection: a
                # transaction held open by one (group commit) would keep the others' writes
                # waiting on the one reactor thread, and they would fail as "database is locked".
                settings.set("SADEC_COMMIT_INTERVAL", 0, priority=PORTAL_PRIORITY)
            if not portal.verified:
                logging.getLogger(__name__).warning(
                    "portal %s (%s) is unverified: only listed in %s",
                    portal.key,
                    portal.base_url,
                    portal.source or "an unchecked source",
                )
            crawler = Crawler(spidercls, settings)
            errors: list[BaseException] = []
            _keep_startup_error(self.crawler_process.crawl(crawler, **spargs), errors)
            crawlers.append((portal, crawler, errors))
            startup_errors.extend(errors)
        return crawlers

    def _portals_exit_status(self, name, crawlers) -> int:
        """0 when every portal's run did its job; else one line per portal that did not, and
        1 (or 75 when every failure was a web archive asking the runs to wait)."""
        failures = []
        for portal, crawler, errors in crawlers:
            status = getattr(crawler, "sadec_exit_status", None)
            if errors and not status:
                status, why = USAGE_EXIT_STATUS, _one_line(errors[0])
            elif status is None:
                status, why = 1, "the run was not recorded as finished (see the log above)"
            else:
                why = getattr(crawler, "sadec_exit_message", None) or "see crawl_runs"
            if status:
                failures.append(status)
                print(
                    f"scrapy crawl {name}: portal {portal.key} ({portal.base_url}) failed: {why}",
                    file=sys.stderr,
                )
        if not failures:
            return 0
        return failures[0] if len(set(failures)) == 1 else 1

    def run(self, args, opts) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name: scrapy crawl sadec")
        problems = config_problems(self.settings)
        if problems:
            for problem in problems:
                print(f"scrapy crawl {args[0]}: {problem}", file=sys.stderr)
            self.exitcode = USAGE_EXIT_STATUS
            return
        db_path = self.settings.get("SADEC_DB_PATH")
        try:
            lock = acquire_lock(db_path) if db_path else None
        except DatabaseLocked as error:
            print(f"scrapy crawl {args[0]}: {error}", file=sys.stderr)
            self.exitcode = LOCKED_EXIT_STATUS
            return
        logging.getLogger("scrapy.downloadermiddlewares.robotstxt").addFilter(_WithoutTraceback())
        startup_errors: list[BaseException] = []
        portals_named = opts.spargs.pop("portals", None)
        try:
            portals = registry_for(self.settings).resolve(portals_named) if portals_named else []
        except ValueError as error:
            print(f"scrapy crawl {args[0]}: {error}", file=sys.stderr)
            self.exitcode = USAGE_EXIT_STATUS
            if lock:
                lock.close()
            return
        try:
            if portals:
                crawlers = self._start_portals(args[0], portals, opts.spargs, startup_errors)
                self.crawler_process.start()
            else:
                crawler = self._create_crawler(args[0])
                running = self.crawler_process.crawl(crawler, **opts.spargs)
                _keep_startup_error(running, startup_errors)
                self.crawler_process.start()
        finally:
            if lock:
                lock.close()
        if portals:
            self.exitcode = self._portals_exit_status(args[0], crawlers)
            return
        if startup_errors and not getattr(crawler, "sadec_exit_status", None):
            # A spider argument or a component's setting refused at start: its message is the
            # whole story (the components word their errors for the operator).
            error = startup_errors[0]
            print(f"scrapy crawl {args[0]}: {_one_line(error)}", file=sys.stderr)
            self.exitcode = USAGE_EXIT_STATUS if isinstance(error, ValueError) else 1
        elif self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif hasattr(crawler, "sadec_storage") and not hasattr(crawler, "sadec_exit_status"):
            # The storage pipeline never said how the run went (it could not close it: a full
            # disk, a database gone): a run that cannot say it succeeded did not.
            print(
                f"scrapy crawl {args[0]}: the run was not recorded as finished (see the log above)",
                file=sys.stderr,
            )
            self.exitcode = 1
        else:
            self.exitcode = getattr(crawler, "sadec_exit_status", 0)

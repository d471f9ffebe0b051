"""Running ``scrapy crawl sadec`` as a subprocess: used by ``sadec demo``, the tests and the
benchmarks, so all of them run exactly the command an operator runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOCAL_SITE_SETTINGS = {
    # The replica is on this machine: politeness towards it only slows the tests down.
    "DOWNLOAD_DELAY": "0",
    "DOWNLOAD_DELAY_JITTER": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "8",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "DOWNLOAD_TIMEOUT": "10",
    "SADEC_PROGRESS_INTERVAL": "5",
    # The replica of the web archive is local too: no pace, short pauses after a 429.
    "SADEC_WAYBACK_CDX_PER_MINUTE": "0",
    "SADEC_WAYBACK_PLAYBACK_PER_MINUTE": "0",
    "SADEC_WAYBACK_PAUSE": "1",
}


def crawl_command(
    base_url: str,
    db_path: str | Path,
    *,
    settings: dict[str, str] | None = None,
    spider_args: dict[str, str] | None = None,
    local: bool = True,
) -> list[str]:
    """The argv of ``scrapy crawl sadec`` for a site and a database."""
    merged = {**(LOCAL_SITE_SETTINGS if local else {}), **(settings or {})}
    merged.update(SADEC_BASE_URL=base_url.rstrip("/"), SADEC_DB_PATH=str(db_path))
    argv = [sys.executable, "-m", "scrapy", "crawl", "sadec"]
    for name, value in merged.items():
        argv += ["-s", f"{name}={value}"]
    for name, value in (spider_args or {}).items():
        argv += ["-a", f"{name}={value}"]
    return argv


def crawl_env() -> dict[str, str]:
    """Environment that finds the Scrapy project from any working directory."""
    env = dict(os.environ)
    env["SCRAPY_SETTINGS_MODULE"] = "sadec_crawler.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def run_crawl(
    base_url: str, db_path: str | Path, *, capture: bool = True, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    """Run one crawl to completion; output captured unless ``capture`` is False."""
    return subprocess.run(
        crawl_command(base_url, db_path, **kwargs),
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )

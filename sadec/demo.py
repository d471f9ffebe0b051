"""``sadec demo``: crawl the bundled offline replica of the portal, then serve the result."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .local import PROJECT_ROOT, crawl_command, crawl_env

PORTAL_URL = "https://sadec.dongthap.gov.vn"
"""What the demo's articles are called: the portal's URLs, served by the replica."""

# What a newcomer wants to see of the crawl: progress, the summary, and anything that went wrong.
_SHOWN = re.compile(
    r"^\d{4}-\d\d-\d\d .*(\[(sadec_crawler\.progress|pipelines\.storage)\]|WARNING|ERROR|CRITICAL)"
)


def run_demo(db_path: Path, *, serve: bool = True, port: int = 8001) -> int:
    from replica import ReplicaServer, Site

    db_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = db_path.with_name("crawl.log")
    with ReplicaServer(Site(seed=0)) as server, open(log_path, "w", encoding="utf-8") as log:
        print(f"Offline replica of the Sa Đéc portal at {server.url}", flush=True)
        print(f"Crawling it into {db_path} with `scrapy crawl sadec` (log: {log_path}) …")
        # The portal's own URLs, fetched from the replica wherever it listens this time: a
        # second demo into the same database is an incremental run of the same archive.
        settings = {
            "SADEC_HOST_MAP": f"{PORTAL_URL}={server.url.rstrip('/')}",
            # The replica's news is years old by design: no staleness warning about it.
            "SADEC_STALE_DAYS": "100000",
        }
        process = subprocess.Popen(
            crawl_command(PORTAL_URL, db_path, settings=settings),
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in process.stderr:
            log.write(line)
            if _SHOWN.search(line):
                print("  " + line.split("] ", 1)[-1].rstrip(), flush=True)
        status = process.wait()
    if status != 0:
        print(f"sadec demo: the crawl failed (exit status {status}); see {log_path}")
        return status
    print(f"\nArchive written to {db_path}, captures and files beside it.")
    if not serve:
        print(f"Serve it with: sadec serve {db_path}")
        return 0
    from serving.server import serve as serve_database

    return serve_database(db_path, port=port, host="127.0.0.1")

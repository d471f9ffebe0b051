"""``sadec demo``: crawl the bundled offline replica of the portal, then serve the result."""

from __future__ import annotations

from pathlib import Path

from .local import run_crawl


def run_demo(db_path: Path, *, serve: bool = True, port: int = 8001) -> int:
    from replica import ReplicaServer, Site

    db_path.parent.mkdir(parents=True, exist_ok=True)
    with ReplicaServer(Site(seed=0)) as server:
        print(f"Offline replica of the Sa Đéc portal at {server.url}", flush=True)
        print(f"Crawling it into {db_path} with `scrapy crawl sadec` …", flush=True)
        result = run_crawl(server.url, db_path, capture=False)
    if result.returncode != 0:
        print(f"sadec demo: the crawl failed (exit status {result.returncode})")
        return result.returncode
    print(f"\nArchive written to {db_path}.")
    if not serve:
        print(f"Serve it with: .venv/bin/sadec serve {db_path}")
        return 0
    from serving.server import serve as serve_database

    return serve_database(db_path, port=port, host="127.0.0.1")

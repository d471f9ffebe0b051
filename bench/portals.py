"""Crawl throughput over several portals at the polite default, against one portal alone.

Each portal is a replica server of its own (its own articles: ``Site(id_offset=…)``), its host
mapped to it with ``SADEC_HOST_MAP``, crawled by ``scrapy crawl sadec -a portals=…`` with the
project's polite settings untouched (``DOWNLOAD_DELAY`` 1 s with jitter, AutoThrottle, one
request at a time per host), WARC and files off (the same work in both variants):

- **one host**: ``-a portals=sadec``;
- **five hosts**: ``-a portals=sadec,sadec-p1,sadec-p2,sadec-p3,sadec-tanphudong``, one
  process, the hosts' delays overlapping.

Throughput is responses per second of wall time. Politeness is checked from the servers'
own logs: on each host, no request starts before the previous one was answered, and none
follows it sooner than the least delay the jitter allows.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from replica import ReplicaServer, Site
from sadec.local import crawl_command
from sadec_crawler.portals import default_registry

from . import common

NAME = "portals"
HELP = "crawl throughput over 5 portals vs 1 at the polite default, responses/s"
QUICK_ARGS = ["--repetitions", "1"]
FIVE = ("sadec", "sadec-p1", "sadec-p2", "sadec-p3", "sadec-tanphudong")
GOAL = 4.0
"""Issue 17: five hosts at least 4× one host's throughput."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repetitions", type=int, default=1)


def sites() -> dict[str, Site]:
    return {
        key: Site(seed=index, id_offset=index * 100_000_000, group_id=1_000_000 + index)
        for index, key in enumerate(FIVE)
    }


def crawl(keys: tuple[str, ...], folder: Path) -> tuple[float, int, dict[str, list]]:
    """One crawl of ``keys``; (seconds, responses, each host's request log)."""
    registry = default_registry()
    servers = {key: ReplicaServer(site) for key, site in sites().items() if key in keys}
    for server in servers.values():
        server.start()
    try:
        host_map = ",".join(
            f"{registry.get(key).base_url}={server.url.rstrip('/')}"
            for key, server in servers.items()
        )
        argv = crawl_command(
            registry.get("sadec").base_url,
            folder / "archive.db",
            settings={
                "SADEC_HOST_MAP": host_map,
                "SADEC_WARC_DIR": "off",
                "SADEC_FILES_DIR": "off",
                "SADEC_PROGRESS_INTERVAL": "0",
            },
            spider_args={"portals": ",".join(keys), "mode": "full"},
            local=False,  # the polite defaults, as an operator runs it
        )
        elapsed = common.run_process(argv)["wall_s"]
    finally:
        for server in servers.values():
            server.stop()
    logs = {key: list(server.requests) for key, server in servers.items()}
    return elapsed, sum(len(log) for log in logs.values()), logs


def politeness(logs: dict[str, list]) -> tuple[int, float]:
    """(requests that overlapped another on the same host, least gap between two requests on
    one host in seconds)."""
    overlaps, least = 0, float("inf")
    for log in logs.values():
        timed = sorted((r.started, r.finished) for r in log if r.finished)
        for (start, end), (next_start, _) in zip(timed, timed[1:], strict=False):
            overlaps += next_start < end - 0.002
            least = min(least, next_start - start)
    return overlaps, least


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sadec-bench-portals-"))
    variants = {"one host": FIVE[:1], "five hosts": FIVE}
    timings: dict[str, list[float]] = {name: [] for name in variants}
    responses: dict[str, int] = {}
    checks: dict[str, tuple[int, float]] = {}
    try:
        for rep, name in common.interleaved(list(variants), args.repetitions):
            folder = work / f"{name.replace(' ', '-')}-{rep}"
            folder.mkdir()
            common.progress(f"portals: {name}, repetition {rep + 1}")
            elapsed, count, logs = crawl(variants[name], folder)
            timings[name].append(elapsed)
            responses[name] = count
            checks[name] = politeness(logs)
            common.progress(f"  {name}: {count} responses in {elapsed:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rates = {name: [responses[name] / t for t in values] for name, values in timings.items()}
    ratios = [f / o for f, o in zip(rates["five hosts"], rates["one host"], strict=True)]
    ratio = common.median(ratios)
    common.table(
        ["variant", "responses", "seconds", "responses/s", "ratio", "overlaps", "least gap s"],
        [
            (
                name,
                responses[name],
                common.median(timings[name]),
                common.median(rates[name]),
                f"{ratio:.2f}×" if name == "five hosts" else "1.00×",
                checks[name][0],
                round(checks[name][1], 2),
            )
            for name in variants
        ],
        f"Portals at the polite default: 5 hosts against 1, {args.repetitions} repetition(s)",
    )
    met = ratio >= GOAL and all(overlaps == 0 for overlaps, _ in checks.values())
    return {
        "params": {"repetitions": args.repetitions, "portals": list(FIVE)},
        "seconds": {name: [round(t, 1) for t in values] for name, values in timings.items()},
        "responses": responses,
        "responses_per_s": {name: [round(r, 2) for r in values] for name, values in rates.items()},
        "politeness": {
            name: {"overlapping_requests": o, "least_gap_s": round(g, 3)}
            for name, (o, g) in checks.items()
        },
        "ratio_per_rep": [round(r, 3) for r in ratios],
        "ratio": round(ratio, 3),
        "goal": {"ratio_at_least": GOAL, "met": met},
    }

"""``python -m replica``: serve the replica until SIGINT/SIGTERM.

The first line on stdout is the base URL (flushed at once), so a test or a shell script can start
the replica on ``--port 0`` and read where it landed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from replica import FaultConfig, ReplicaServer, Site
from replica.generations import DEFAULT, GENERATIONS


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m replica", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="site seed (links, generated text)")
    parser.add_argument(
        "--extra-articles", type=int, default=0, help="add N generated articles for scale runs"
    )
    parser.add_argument(
        "--liferay",
        choices=GENERATIONS,
        default=DEFAULT,
        help="the Liferay generation whose stock markup the pages wear (default %(default)s)",
    )
    faults = parser.add_argument_group("faults (all off by default)")
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--fault-rate", type=float, default=0.0, help="500/503 answers")
    faults.add_argument("--timeout-rate", type=float, default=0.0, help="answers that stall")
    faults.add_argument(
        "--timeout-seconds", type=float, default=3.0, help="client timeout the stalls must exceed"
    )
    faults.add_argument("--truncate-rate", type=float, default=0.0, help="bodies cut short")
    faults.add_argument("--soft404", type=float, default=0.0, help="rate of 200 error pages")
    faults.add_argument(
        "--soft404-path",
        action="append",
        default=[],
        help="path always answered with a soft 404 (repeatable)",
    )
    faults.add_argument("--malformed-rate", type=float, default=0.0, help="broken markup")
    faults.add_argument("--redirect-loop", action="store_true", help="link into A→B→A")
    faults.add_argument(
        "--offsite-redirect",
        nargs="?",
        const=True,
        default=False,
        metavar="HOST",
        help="link redirecting off-site (default 127.0.0.2)",
    )
    faults.add_argument("--huge-page", metavar="PATH", default=None, help="serve a huge page here")
    faults.add_argument("--huge-page-mb", type=float, default=5.0)
    return parser.parse_args(argv)


def fault_config_from(arguments: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        seed=arguments.fault_seed,
        error_rate=arguments.fault_rate,
        timeout_rate=arguments.timeout_rate,
        timeout_seconds=arguments.timeout_seconds,
        truncate_rate=arguments.truncate_rate,
        soft404_rate=arguments.soft404,
        soft404_paths=tuple(arguments.soft404_path),
        malformed_rate=arguments.malformed_rate,
        redirect_loop=arguments.redirect_loop,
        offsite_redirect=arguments.offsite_redirect,
        huge_page_path=arguments.huge_page,
        huge_page_mb=arguments.huge_page_mb,
    )


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    site = Site(
        seed=arguments.seed, extra_articles=arguments.extra_articles, liferay=arguments.liferay
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ReplicaServer(site, faults=fault_config_from(arguments), port=arguments.port) as server:
        print(server.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

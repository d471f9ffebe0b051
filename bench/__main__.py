"""``python -m bench [all|crawl|parse|requests|search|memory|report] [options]``."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time

from . import common, crawl, memory, parse, portals, rebuild, report, requests_per_run, search

BENCHMARKS = {
    module.NAME: module
    for module in (crawl, parse, rebuild, requests_per_run, search, memory, portals)
}


class _Tee(io.TextIOBase):
    """stdout that also keeps what was written: the printed tables and conclusions go into
    the results file as they were printed, and from there into docs/benchmarks.md."""

    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="benchmark", required=True)
    every = commands.add_parser("all", help="every benchmark in turn, default options")
    every.add_argument("--quick", action="store_true", help="smaller sizes, one repetition")
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
    commands.add_parser("report", help=report.HELP, description=report.__doc__)
    args = parser.parse_args(argv)
    if args.benchmark == "report":
        return report.main()
    chosen = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    failed = []
    for name in chosen:
        module = BENCHMARKS[name]
        if args.benchmark == "all":
            sub = commands.choices[name]
            module_args = sub.parse_args(module.QUICK_ARGS if args.quick else [])
        else:
            module_args = args
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        # Other work on the machine moves every figure: the load is part of the record.
        load = [round(x, 2) for x in os.getloadavg()]
        tee = _Tee(sys.stdout)
        with contextlib.redirect_stdout(tee):
            payload = module.run(module_args)
        payload["printed"] = tee.kept.getvalue().strip("\n")
        payload["load_average_at_start"] = load
        payload["duration_s"] = round(time.perf_counter() - started, 1)
        # Quick runs never replace the figures docs/benchmarks.md quotes.
        quick = args.benchmark == "all" and args.quick
        common.write_results(f"{name}-quick" if quick else name, payload)
        if not payload.get("goal", {}).get("met", True):
            failed.append(name)
    if failed:
        print(f"\ngoals missed: {', '.join(failed)}", file=sys.stderr)
    if not (args.benchmark == "all" and args.quick):
        report.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())

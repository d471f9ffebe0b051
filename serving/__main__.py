"""``python -m serving [DB] [--port N] [--host H] [--allow-robots] [--allow-sql] [--immutable]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving", description="Serve the Sa Đéc archive with Datasette."
    )
    parser.add_argument("db", nargs="?", default="archive.db")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--allow-robots",
        action="store_true",
        default=None,
        help="let search engines index the site (default: robots.txt disallows everything; "
        "SADEC_ALLOW_ROBOTS=1 does the same as this flag)",
    )
    parser.add_argument(
        "--allow-sql",
        action="store_true",
        default=None,
        help="let every visitor run arbitrary SQL (?sql=); for trusted readers only "
        "(default: canned queries and the search pages only; SADEC_ALLOW_SQL=1 does the same)",
    )
    parser.add_argument(
        "--immutable",
        action="store_true",
        help="treat the database as a finished snapshot (faster; never while a crawl writes)",
    )
    args = parser.parse_args(argv)
    try:
        return serve(
            Path(args.db),
            port=args.port,
            host=args.host,
            allow_robots=args.allow_robots,
            immutable=args.immutable,
            allow_sql=args.allow_sql,
        )
    except (OSError, ValueError) as error:
        print(f"python -m serving: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

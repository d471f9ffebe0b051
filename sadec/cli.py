"""The ``sadec`` command: everything that is not the crawl itself (``scrapy crawl sadec``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DB = "archive.db"


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.db), serve=not args.no_serve, port=args.port)


def _cmd_serve(args: argparse.Namespace) -> int:
    from serving.server import serve

    return serve(Path(args.db), port=args.port, host=args.host, allow_sql=args.allow_sql or None)


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from .rebuild import rebuild

    return rebuild(Path(args.warc_dir), Path(args.new_db))


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    return verify(Path(args.db))


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    return export(Path(args.db), Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sadec",
        description="Archive of Sa Đéc city news. The crawl itself is `scrapy crawl sadec`.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="crawl the bundled offline replica, then serve it")
    demo.add_argument(
        "--db", default="demo/archive.db", help="database to write (default: %(default)s)"
    )
    demo.add_argument(
        "--port", type=int, default=8001, help="Datasette port (default: %(default)s)"
    )
    demo.add_argument("--no-serve", action="store_true", help="stop after the crawl")
    demo.set_defaults(func=_cmd_demo)

    serve = commands.add_parser("serve", help="serve a database with Datasette")
    serve.add_argument("db", nargs="?", default=DEFAULT_DB)
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--allow-sql",
        action="store_true",
        help="let every visitor run arbitrary SQL (?sql=); trusted readers only "
        "(default off; SADEC_ALLOW_SQL=1 does the same)",
    )
    serve.set_defaults(func=_cmd_serve)

    rebuild = commands.add_parser("rebuild", help="re-parse WARC captures into a new database")
    rebuild.add_argument("warc_dir")
    rebuild.add_argument("new_db")
    rebuild.set_defaults(func=_cmd_rebuild)

    verify = commands.add_parser("verify", help="fixity check of captures and files")
    verify.add_argument("db", nargs="?", default=DEFAULT_DB)
    verify.set_defaults(func=_cmd_verify)

    export = commands.add_parser("export", help="write a self-contained, verifiable bundle")
    export.add_argument("db", nargs="?", default=DEFAULT_DB)
    export.add_argument("out")
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as error:
        print(f"sadec {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

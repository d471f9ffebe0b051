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
        description="Archive of Sa Đéc city news. The crawl itself is `scrapy crawl sadec`; "
        "these commands show, rebuild, check and hand on what it archived.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )

    demo = command(
        "demo",
        "crawl the bundled offline replica, then serve it",
        "Start the offline replica of the portal, crawl it into a database (incremental when "
        "the database exists: run it as often as you like) and serve the result with the "
        "reading room.",
    )
    demo.add_argument("--db", default="demo/archive.db", help="database to write")
    demo.add_argument("--port", type=int, default=8001, help="reading room port")
    demo.add_argument("--no-serve", action="store_true", help="stop after the crawl")
    demo.set_defaults(func=_cmd_demo)

    serve = command(
        "serve",
        "serve a database with Datasette",
        "Serve an archive database with the reading room (search, articles, charts, feed), "
        "read-only, on 127.0.0.1 unless told otherwise. The address is printed once it "
        "answers.",
    )
    serve.add_argument("db", nargs="?", default=DEFAULT_DB, help="the archive database")
    serve.add_argument("--port", type=int, default=8001, help="port (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--allow-sql",
        action="store_true",
        help="let every visitor run arbitrary SQL (?sql=); trusted readers only "
        "(SADEC_ALLOW_SQL=1 does the same)",
    )
    serve.set_defaults(func=_cmd_serve)

    rebuild = command(
        "rebuild",
        "re-parse WARC captures into a new database",
        "Replay every crawl captured in a folder of WARC files through the crawler on "
        "Scrapy's engine, into a new database. Exit 0 when everything was replayed, 1 when "
        "captures were damaged or a run could not be replayed, 2 on a usage error.",
    )
    rebuild.add_argument("warc_dir", help="folder of .warc.gz files (a crawl's captures/)")
    rebuild.add_argument("new_db", help="database to create (must not exist)")
    rebuild.set_defaults(func=_cmd_rebuild)

    verify = command(
        "verify",
        "fixity check of captures and files",
        "Re-hash every WARC record and stored file an archive points at and compare them "
        "with the database (read-only). Exit 0 when all match, 1 with the mismatches listed.",
    )
    verify.add_argument("db", nargs="?", default=DEFAULT_DB, help="the archive database")
    verify.set_defaults(func=_cmd_verify)

    export = command(
        "export",
        "write a self-contained, verifiable bundle",
        "Copy an archive (database, WARC captures, stored files) into a new folder, or a "
        ".tar.gz when OUT ends so, with a SHA-256 manifest and a README; the bundle is "
        "verified before the command returns.",
    )
    export.add_argument("db", nargs="?", default=DEFAULT_DB, help="the archive database")
    export.add_argument("out", help="folder or .tar.gz to create (must not exist)")
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as error:
        print(f"sadec {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Start the reading room: Datasette with the project's metadata, settings and plugin.

``sadec serve [DB] [--port N] [--host H]`` calls :func:`serve`; ``python -m serving`` does the
same with a few more options (see :mod:`serving.__main__`). Tests start the real server as a
subprocess with :func:`server_command`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from sadec_crawler.layout import archive_problem

MAX_REQUEST_HEAD_BYTES = 256 * 1024
"""The longest request line and headers the server reads (browsers send URLs up to 64–100 KB);
what the reader does with a long search is its own to say (``serving.search``)."""

SERVING = Path(__file__).parent
METADATA = SERVING / "metadata.yml"
DICTIONARY = SERVING / "dictionary.yml"
DATABASE_NAME = "archive"
"""URL name of the served database (``/archive/articles``), whatever the file is called."""

SETTINGS = {
    # Researchers write their own SQL: long enough for real work, short enough to keep the
    # server responsive for everyone else.
    "sql_time_limit_ms": 3000,
    "max_returned_rows": 1000,
    "facet_time_limit_ms": 800,
    # Suggesting facets costs one query per column on every table page.
    "suggest_facets": False,
    "default_page_size": 50,
    "allow_download": False,
    "truncate_cells_html": 0,
    "default_cache_ttl": 60,
}


def load_dictionary() -> dict:
    """Table name → ``{"columns": {column: description}}`` (``serving/dictionary.yml``)."""
    return yaml.safe_load(DICTIONARY.read_text(encoding="utf-8"))["tables"]


def load_metadata(allow_robots: bool = False, allow_sql: bool = False) -> dict:
    """The metadata of ``serving/metadata.yml``, with the operator's robots and SQL choices.

    Arbitrary SQL (``?sql=``) is off unless ``allow_sql``: one query can hold a worker past any
    time limit (a Python function or one huge step is not interruptible), so a public archive
    offers the canned queries and the search pages instead (red-team finding 2)."""
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    metadata["allow_sql"] = bool(allow_sql)
    metadata.setdefault("plugins", {}).setdefault("sadec", {})["allow_robots"] = allow_robots
    return metadata


def build_datasette(
    db_path: Path, *, allow_robots: bool = False, immutable: bool = False, allow_sql: bool = False
):
    """A configured :class:`datasette.app.Datasette` serving ``db_path`` as ``archive``
    (:class:`ValueError` when it is not an archive of this project).

    The database is opened read-only (``mode=ro``, or ``immutable=1`` for a snapshot nobody
    writes to any more: faster, but wrong if a crawl is still writing).
    """
    from datasette.app import Datasette
    from datasette.database import Database

    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(
            f"no database at {db_path}: crawl first (scrapy crawl sadec) or try `sadec demo`"
        )
    problem = archive_problem(db_path)
    if problem:
        raise ValueError(problem)
    files_dir = archived_files_folder(db_path)
    ds = Datasette(
        files=[],
        metadata=load_metadata(allow_robots, allow_sql),
        settings=SETTINGS,
        template_dir=str(SERVING / "templates"),
        static_mounts=[(FILES_MOUNT, str(files_dir))] if files_dir else [],
    )
    ds.add_database(
        Database(ds, path=str(db_path.resolve()), is_mutable=not immutable), name=DATABASE_NAME
    )
    if "_memory" in ds.databases:
        # Datasette adds an in-memory database when given no files; it has no place here.
        ds.remove_database("_memory")
    return ds


FILES_MOUNT = "archived-files"
"""URL prefix under which the archive's own copies of images and attachments are served."""


def archived_files_folder(db_path: Path) -> Path | None:
    """The folder of downloaded images and attachments of this database, if it has one."""
    import sqlite3

    from sadec_crawler.layout import folder_candidates

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        candidates = folder_candidates(conn, db_path, "files")
    finally:
        conn.close()
    return next((folder for folder in candidates if folder.is_dir()), None)


def robots_from_env() -> bool:
    """The operator may let crawlers in with ``SADEC_ALLOW_ROBOTS=1``."""
    return os.environ.get("SADEC_ALLOW_ROBOTS", "").lower() in ("1", "true", "yes")


def sql_from_env() -> bool:
    """The operator may allow arbitrary SQL with ``SADEC_ALLOW_SQL=1`` (trusted readers only)."""
    return os.environ.get("SADEC_ALLOW_SQL", "").lower() in ("1", "true", "yes")


def serve(
    db_path: Path,
    port: int = 8001,
    host: str = "127.0.0.1",
    *,
    allow_robots: bool | None = None,
    immutable: bool = False,
    allow_sql: bool | None = None,
) -> int:
    """Serve ``db_path`` until interrupted; returns an exit status.

    Raises :class:`FileNotFoundError` when the database does not exist, :class:`ValueError`
    when it is not an archive of this project (the CLI prints either in one line).
    """
    import uvicorn

    if allow_robots is None:
        allow_robots = robots_from_env()
    if allow_sql is None:
        allow_sql = sql_from_env()
    ds = build_datasette(
        db_path, allow_robots=allow_robots, immutable=immutable, allow_sql=allow_sql
    )

    async def run() -> None:
        await ds.invoke_startup()
        config = uvicorn.Config(
            ds.app(),
            host=host,
            port=port,
            log_level="warning",
            # h11 refuses an incomplete request past 16 KB: a long search URL read in pieces
            # got "Invalid HTTP request received." instead of the reader's own reason.
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(_serve_or_fail(server, host, port))
        # The address is announced once the socket is bound (and with the port the system
        # chose for --port 0), never before: a URL that refuses connections helps nobody.
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            shown_host = f"[{host}]" if ":" in host else host
            print(
                f"Sa Đéc reading room: http://{shown_host}:{bound}/  (Ctrl+C to stop)", flush=True
            )
        await serving

    asyncio.run(run())
    return 0


async def _serve_or_fail(server, host: str, port: int) -> None:
    """``server.serve()``; uvicorn ends the process (``SystemExit``) when it cannot bind: that
    becomes an ``OSError`` the command line tells in one line."""
    try:
        await server.serve()
    except SystemExit:
        if server.started:
            raise
        raise OSError(
            f"could not listen on {host}:{port} (in use, or not an address here)"
        ) from None


def server_command(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    *,
    allow_robots: bool = False,
    allow_sql: bool = False,
) -> list[str]:
    """Argument list that starts the real server in a subprocess (used by the tests)."""
    command = [sys.executable, "-m", "serving", str(db_path), "--port", str(port), "--host", host]
    if allow_robots:
        command.append("--allow-robots")
    if allow_sql:
        command.append("--allow-sql")
    return command

"""Where an archive's evidence lives, and how stored files are named.

An archive is a database plus two folders: ``captures/`` (WARC files, see
:mod:`sadec_crawler.warc`) and ``files/`` (images and attachments named by their SHA-256, see
:mod:`pipelines.files`), by default beside the database. The folders a crawl used are recorded
in the ``archive_folders`` table (:func:`pipelines.database.record_folder`), relative to the
database when inside its folder, so that a moved or exported archive still finds its evidence.
Pure functions: nothing here writes.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

OFF = "off"
CAPTURES, FILES = "captures", "files"
WARC_PATTERNS = ("*.warc.gz", "*.warc")


# --- Folders ---------------------------------------------------------------------------------
def evidence_folder(
    setting: str | None, db_path: str | Path | None, default_name: str
) -> Path | None:
    """The folder a ``SADEC_WARC_DIR``/``SADEC_FILES_DIR`` value names: None for ``off``,
    ``<default_name>/`` beside the database for "", else the value itself."""
    value = (setting or "").strip()
    if value.lower() == OFF:
        return None
    if value:
        return Path(value)
    base = Path(db_path).parent if db_path else Path(".")
    return base / default_name


ARCHIVE_TABLES = ("articles", "crawl_runs")
"""Tables every archive this project writes has (``pipelines.migrations``)."""


def archive_problem(db_path: Path) -> str | None:
    """Why ``db_path`` is not an archive of this project (missing, not a file, not SQLite, no
    ``articles``), in one sentence; None when it is one. Read-only."""
    db_path = Path(db_path)
    if not db_path.exists():
        return f"no database at {db_path}"
    if not db_path.is_file():
        return f"{db_path} is not a database file"
    with db_path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            return f"{db_path} is not a SQLite database"
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("select name from sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as error:
        return f"{db_path} cannot be read as a database ({error})"
    missing = [name for name in ARCHIVE_TABLES if name not in tables]
    if missing:
        return f"{db_path} is not an archive made by this project (no {missing[0]} table)"
    return None


def folder_candidates(conn: sqlite3.Connection, db_path: Path, kind: str) -> list[Path]:
    """Folders that may hold this database's ``kind``: those recorded (latest first), then the
    default beside the database."""
    home = db_path.resolve().parent
    recorded: list[str] = []
    # A database from before the archive_folders migration has only the defaults.
    with contextlib.suppress(sqlite3.OperationalError):
        recorded = [
            row[0]
            for row in conn.execute(
                "select path from archive_folders where kind = ? order by last_used_at desc",
                [kind],
            )
        ]
    candidates = []
    for path in [*recorded, kind]:
        folder = home / path  # an absolute ``path`` replaces ``home``
        if folder not in candidates:
            candidates.append(folder)
    return candidates


def locate(candidates: list[Path], relative: str) -> Path | None:
    """The first existing ``relative`` file among the candidate folders (never outside them)."""
    for folder in candidates:
        try:
            path = inside(folder, relative)
        except ValueError:
            return None
        if path.is_file():
            return path
    return None


# --- Stored files ------------------------------------------------------------------------------
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Only Python's built-in table: the system's mime.types differ between machines, and
# ``sadec rebuild`` must derive the same stored path as the crawl did.
_MIME = mimetypes.MimeTypes(filenames=())
_PREFERRED = {"image/jpeg": ".jpg", "image/pjpeg": ".jpg", "text/plain": ".txt"}


RASTER_IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/pjpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/x-ms-bmp",
        "image/tiff",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)
"""Image types a browser renders as pixels only: no script, no markup."""
_INERT_TYPES = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/pdf",
        "application/msword",
        "application/rtf",
        "application/zip",
        "application/x-zip-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/x-7z-compressed",
        "application/gzip",
        "application/x-tar",
        "application/octet-stream",
    }
)


def _known_extension(ext: str) -> bool:
    return ext in _MIME.types_map[True] or ext in _MIME.types_map[False]


def _inert_extension(ext: str) -> bool:
    """Whether a file named with ``ext`` is served as something a browser cannot run: raster
    images, audio, video, plain text, PDF, office documents, archives. SVG, HTML, XML and
    JavaScript are not (red-team finding 3: an ``<img>`` pointing at an ``.svg``, stored and
    served under its own extension from the reading room's address, ran script)."""
    mime = _MIME.types_map[True].get(ext) or _MIME.types_map[False].get(ext) or ""
    if mime.endswith(("+xml", "/xml")) or any(
        word in mime for word in ("html", "script", "svg", "flash", "xsl")
    ):
        return False
    return (
        mime in RASTER_IMAGE_TYPES
        or mime in _INERT_TYPES
        or mime.startswith(("audio/", "video/", "application/vnd."))
    )


def safe_extension(url: str, content_type: str | None = None) -> str:
    """A short, harmless extension for a stored file (``.jpg``, ``.pdf``…) or "".

    Taken from the URL's last two path segments (the portal puts the file's title before its
    uuid), percent-decoded, when it is a known type; else from the ``Content-Type``. Never a
    path: only ``.`` and 1–8 ASCII letters or digits, lower-cased. Never an extension a browser
    could run (``.svg``, ``.html``, ``.xml``, ``.js``…): such files are stored with none.
    """
    segments = [s for s in urlsplit(url).path.split("/") if s][-2:]
    for segment in reversed(segments):
        name = unquote_plus(segment).replace("\\", "/").rsplit("/", 1)[-1]
        match = _EXTENSION.search(name)
        if match and _known_extension(f".{match[1].lower()}"):
            extension = f".{match[1].lower()}"
            return extension if _inert_extension(extension) else ""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    guessed = _PREFERRED.get(mime) or (_MIME.guess_extension(mime) if mime else None)
    if guessed and _EXTENSION.fullmatch(guessed) and _inert_extension(guessed.lower()):
        return guessed.lower()
    return ""


def content_path(sha256: str, extension: str = "") -> str:
    """Path of a stored file relative to the files folder: ``sha256/ab/<sha256><ext>``."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a hex SHA-256: {sha256!r}")
    if extension and not _EXTENSION.fullmatch(extension):
        raise ValueError(f"not a safe extension: {extension!r}")
    return f"sha256/{sha256[:2]}/{sha256}{extension}"


def inside(folder: Path, relative: str) -> Path:
    """``folder / relative``, refusing anything that would land outside ``folder``."""
    base = folder.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or path == base:
        raise ValueError(f"{relative!r} is not a path inside {folder}")
    return path

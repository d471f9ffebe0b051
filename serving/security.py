"""Render-time defences: re-sanitising article HTML and the Content-Security-Policy headers.

The crawler already sanitises ``body_html`` with nh3, but the database may have been written by
an older crawler, edited by hand or restored from elsewhere, so the reading room cleans it again
and, should anything slip through, forbids the browser to run scripts it did not expect.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import datasette
import nh3

from sadec_crawler.sanitise import sanitise


def clean_article_html(body_html: str | None) -> str:
    """Article HTML reduced, again, to the archive's one sanitiser policy
    (:mod:`sadec_crawler.sanitise`): no script, style, event handler, form, frame or non-http(s)
    URL; links open without handing the archive's address to the target."""
    return sanitise(body_html or "")


_CONTENT_PATH = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?")


def safe_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL a reader may follow, else None (the value is
    then shown as text, not linked). The crawler stores only such URLs; a hand-edited or
    restored database may hold ``javascript:`` or worse (red-team finding 10)."""
    text = (url or "").strip()
    if not text or any(ord(c) < 32 or c in '<>"\\ ' for c in text):
        return None
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        return None
    return text


def safe_stored_path(stored_path: str | None) -> str | None:
    """A stored file's path as the crawler writes it (``sha256/ab/<sha256>.ext``), else None:
    anything else in that column was not written by the crawler and is never pasted into a
    page or a URL."""
    text = stored_path or ""
    return text if _CONTENT_PATH.fullmatch(text) else None


def clean_snippet_html(snippet: str | None) -> str:
    """A search snippet may only carry ``<mark>``: anything else is escaped by nh3."""
    return nh3.clean(snippet or "", tags={"mark"}, attributes={})


def _sha256_source(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def datasette_inline_script_hashes() -> tuple[list[str], list[str]]:
    """CSP hashes of the inline scripts in Datasette's own templates.

    Returns ``(menu, all)``: the hash of the menu-closing script every page carries (through
    ``base.html``) and the hashes of every inline script. Computed from the installed templates
    so that a Datasette upgrade inside the pinned range keeps working.
    """
    templates = Path(datasette.__file__).parent / "templates"
    menu: list[str] = []
    every: list[str] = []
    for path in sorted(templates.glob("*.html")):
        for script in _INLINE_SCRIPT.findall(path.read_text(encoding="utf-8")):
            # table.html fills in one setting; both of its values are harmless constants.
            variants = [
                script.replace("{{ datasette_allow_facet }}", value) for value in ("true", "false")
            ]
            for variant in dict.fromkeys(variants):
                if "{{" in variant or "{%" in variant:
                    continue
                every.append(_sha256_source(variant))
                if path.name == "_close_open_menus.html":
                    menu.append(_sha256_source(variant))
    return menu, every


def content_security_policy(script_sources: list[str]) -> str:
    """A CSP allowing only the given script sources (no inline script, no eval, no plugins).

    Images may come from the portal (article pictures are linked, not copied); styles may be
    inline because Datasette's pages use ``style`` attributes, which cannot run code.
    """
    scripts = " ".join(script_sources) or "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: http: https:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-src 'none'",
            "frame-ancestors 'none'",
        ]
    )

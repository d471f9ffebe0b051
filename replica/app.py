"""Request routing: maps a method and a raw request path to a complete response.

Pure with respect to HTTP plumbing (no sockets here), so faults and logging stay in server.py.
Routes follow docs/site-spec.md §2; the README has the full table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from replica import dates, faults, generations, media
from replica.model import Article, Category, Site
from replica.pages import Renderer

STATIC_DIR = Path(__file__).parent / "static"
HTML_TYPE = "text/html;charset=UTF-8"
JSESSIONID = re.compile(r";jsessionid=[^/?]*", re.IGNORECASE)
ARTICLE_ROUTE = re.compile(
    r"^(?:/chi-tiet-bai-viet)?/-/asset_publisher/(?P<instance>[A-Za-z0-9]+)/content/"
    r"(?:id/(?P<asset_id>\d+)|(?P<slug>[a-z0-9][a-z0-9-]*))(?:/maximized)?/?$"
)
DOCUMENT_ROUTE = re.compile(
    r"^/documents/(?P<group>\d+)/(?P<folder>\d+)/[^/]+/(?P<uuid>[0-9a-f-]{36})$"
)
STATIC_PAGES = (
    "/gioi-thieu",
    "/lien-he",
    "/so-do-site",
    "/van-ban",
    "/kinh-te",
    "/kinh-te/quy-hoach",
    "/c/portal/login",
)
ROBOTS_TXT = """User-agent: *
Disallow: /c/
Disallow: /api/
Disallow: /group/
Disallow: /__replica__/
Allow: /
Crawl-delay: 1
"""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = HTML_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_html(self) -> bool:
        return self.content_type.startswith("text/html")


def http_date(moment: datetime) -> str:
    """RFC 7231 date of a portal-local (UTC+7) moment."""
    return format_datetime(moment.replace(tzinfo=dates.VIETNAM_TZ).astimezone(UTC), usegmt=True)


def truth_as_json(site: Site) -> bytes:
    return json.dumps([dataclasses.asdict(t) for t in site.truth()], ensure_ascii=False).encode()


class App:
    """The portal's router. ``fault_config`` only adds the links and routes faults need."""

    def __init__(self, site: Site, fault_config: faults.FaultConfig, liferay: str | None = None):
        self.site = site
        self.faults = fault_config
        self.renderer = Renderer(site, liferay)
        self.generation = self.renderer.generation
        self.server_header = generations.SERVER_HEADERS[self.generation]
        self.port = 0
        self._thumbnail = media.make_png("placeholder-thumbnail")

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = JSESSIONID.sub("", parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if path.startswith("/__replica__/"):
            return self._control(method, path, body)
        if method == "POST":
            return self._not_found(raw_path, status=405)
        with self.site.lock:
            return self._route(path, query, raw_path, headers)

    def _route(self, path: str, query: dict, raw_path: str, headers: dict) -> Response:
        if path == "/robots.txt":
            return Response(200, ROBOTS_TXT.encode(), "text/plain;charset=UTF-8")
        if path.startswith("/o/sadec-theme/"):
            return self._theme_file(path, raw_path)
        if path.startswith("/documents/"):
            return self._document(path, query, raw_path)
        fault_response = self._fault_route(path)
        if fault_response is not None:
            return fault_response
        path = unquote(path)
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        if path in ("", "/"):
            html = self.renderer.home(self.faults.page_links(), self.faults.page_links())
            return Response(200, html.encode())
        for category in self.site.categories.values():
            if path == category.url:
                return self._listing(category, query)
        if path in STATIC_PAGES:
            extra = self.faults.document_links() if path == "/van-ban" else []
            return Response(200, self.renderer.static_page(path, extra).encode())
        match = ARTICLE_ROUTE.match(path)
        if match and match["instance"] == self.site.config["detail_instance"]:
            article = self._find_article(match)
            if article is not None:
                return self._article(article, headers, self._page_number(article, query))
        return self._not_found(raw_path)

    # ------------------------------------------------------------------ pages

    def _find_article(self, match: re.Match) -> Article | None:
        if match["asset_id"]:
            return self.site.articles.get(int(match["asset_id"]))
        asset_id = self.site.slugs().get(match["slug"])
        return self.site.articles.get(asset_id) if asset_id else None

    def _listing(self, category: Category, query: dict) -> Response:
        delta = category.page_size
        portlet_id = category.portlet_for(self.generation)
        delta_values = query.get(f"_{portlet_id}_delta")
        if delta_values and delta_values[0].isdigit() and 1 <= int(delta_values[0]) <= 200:
            delta = int(delta_values[0])
        total = len(self.site.listing(category.key))
        last = max(1, -(-total // delta))
        page = 1
        cur_values = query.get(f"_{portlet_id}_cur")
        if cur_values is not None:
            # Past the end, below 1 or not a number: Liferay answers with the last page again.
            value = cur_values[0].strip()
            page = int(value) if value.isdigit() and 1 <= int(value) <= last else last
        return Response(200, self.renderer.listing(category, page, delta).encode())

    def _page_number(self, article: Article, query: dict) -> int:
        """The ``<ns>page`` asked for, clamped to the article's pages as Liferay does."""
        values = [v for name, v in query.items() if name.endswith("_page")]
        value = values[0][0].strip() if values else "1"
        last = self.renderer.article_page_count(article)
        return min(max(int(value), 1), last) if value.isdigit() else 1

    def _article(self, article: Article, headers: dict, page_number: int = 1) -> Response:
        html = self.renderer.article(article, page_number).encode()
        etag = '"' + hashlib.sha1(html).hexdigest()[:20] + '"'
        modified = article.modified or article.moment
        response_headers = {
            "ETag": etag,
            "Last-Modified": http_date(modified),
            "Cache-Control": "private, no-cache",
        }
        if self._not_modified(headers, etag, modified):
            return Response(304, b"", HTML_TYPE, response_headers)
        return Response(200, html, HTML_TYPE, response_headers)

    @staticmethod
    def _not_modified(headers: dict, etag: str, modified: datetime) -> bool:
        """RFC 7232: If-None-Match wins over If-Modified-Since when both are sent."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if "if-none-match" in lowered:
            tags = [t.strip().removeprefix("W/") for t in lowered["if-none-match"].split(",")]
            return etag in tags or "*" in tags
        if "if-modified-since" in lowered:
            try:
                since = parsedate_to_datetime(lowered["if-modified-since"])
            except (TypeError, ValueError):
                return False
            local = modified.replace(tzinfo=dates.VIETNAM_TZ, microsecond=0)
            return since is not None and since.tzinfo is not None and local <= since
        return False

    def _document(self, path: str, query: dict, raw_path: str) -> Response:
        match = DOCUMENT_ROUTE.match(path)
        found = self.site.media_by_uuid.get(match["uuid"]) if match else None
        if found is None or int(match["group"]) != self.site.group_id:
            return self._not_found(raw_path)
        data = media.make_file(found.file_name, found.seed)
        headers = {"ETag": f'"{found.uuid}"', "Cache-Control": "max-age=315360000, public"}
        if query.get("download") == ["true"]:
            headers["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
        return Response(200, data, media.content_type_for(found.file_name), headers)

    def _theme_file(self, path: str, raw_path: str) -> Response:
        name = path.removeprefix("/o/sadec-theme/")
        if name in ("images/no-thumbnail.png", "images/favicon.png"):
            return Response(200, self._thumbnail, "image/png")
        if name == "css/main.css":
            css = (STATIC_DIR / "main.css").read_bytes()
            return Response(200, css, "text/css;charset=UTF-8")
        return self._not_found(raw_path)

    def _not_found(self, raw_path: str, status: int = 404) -> Response:
        return Response(status, self.renderer.error(404, raw_path).encode())

    # ------------------------------------------------------------------ faults and control

    def _fault_route(self, path: str) -> Response | None:
        """Routes that exist only while a fault is switched on (redirect loop, off-site, huge)."""
        if self.faults.redirect_loop and path in (faults.LOOP_PATH_A, faults.LOOP_PATH_B):
            target = faults.LOOP_PATH_B if path == faults.LOOP_PATH_A else faults.LOOP_PATH_A
            return Response(302, b"", HTML_TYPE, {"Location": target})
        offsite = self.faults.offsite_target(self.port)
        if offsite and path == faults.OFFSITE_PATH:
            return Response(302, b"", HTML_TYPE, {"Location": offsite})
        if self.faults.huge_page_path and path == self.faults.huge_page_path:
            size = int(self.faults.huge_page_mb * 1024 * 1024)
            return Response(200, self.renderer.huge_page(size))
        return None

    def _control(self, method: str, path: str, body: bytes) -> Response:
        """Test hooks, disallowed in robots.txt and linked from nowhere."""
        if method in ("GET", "HEAD") and path == "/__replica__/truth.json":
            return Response(200, truth_as_json(self.site), "application/json")
        if method == "POST" and path == "/__replica__/advance":
            try:
                arguments = json.loads(body or b"{}")
                change = self.site.advance(**arguments)
            except (TypeError, ValueError) as error:
                message = json.dumps({"error": str(error)}).encode()
                return Response(400, message, "application/json")
            return Response(
                200, json.dumps(change, ensure_ascii=False).encode(), "application/json"
            )
        return Response(404, b'{"error": "unknown control endpoint"}', "application/json")

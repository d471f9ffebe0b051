"""Where the portal's pages are fetched from, apart from what they are called.

``SADEC_HOST_MAP="https://sadec.dongthap.gov.vn=http://127.0.0.1:8765"`` makes every request for
the portal's origin go to the other one, like ``curl --resolve``: the crawl, its items, its
WARC records and the archive see only the portal's own URLs, so an article's identity does not
depend on where it was fetched from (the demo's replica on a new port each run once made every
stored URL point at a dead port). The mapping is recorded with the crawl's settings in each
WARC file's ``warcinfo`` record, so the captures say where the bytes really came from.

Implemented as the download handler of ``http`` and ``https``: Scrapy's own HTTP handler does
the transfer to the mapped address, and the response is handed back under the requested URL.
Without a mapping it passes every request through unchanged.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.utils.misc import build_from_crawler


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_host_map(text: str | None) -> dict[str, str]:
    """``origin=target[,origin=target…]`` as ``{origin: target}``; raises ``ValueError`` with
    the part that is not an ``http(s)://host[:port]`` pair."""
    mapping: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in (text or "").split(","))):
        origin, sep, target = part.partition("=")
        pair = [origin.strip().rstrip("/"), target.strip().rstrip("/")]
        for url in pair:
            parts = urlsplit(url)
            if not sep or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"SADEC_HOST_MAP part {part!r}: expected https://portal-host=http://host:port"
                )
            if parts.path or parts.query:
                raise ValueError(f"SADEC_HOST_MAP part {part!r}: origins only, no paths")
        mapping[_origin(pair[0])] = _origin(pair[1])
    return mapping


def mapped_url(url: str, mapping: dict[str, str]) -> str | None:
    """``url`` with its origin replaced by the mapped one, or None when it is not mapped."""
    origin = _origin(url)
    target = mapping.get(origin)
    return None if target is None else target + url[len(origin) :]


class HostMapDownloadHandler(BaseDownloadHandler):
    """Scrapy's HTTP download handler, with the origins of ``SADEC_HOST_MAP`` fetched elsewhere."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.mapping = parse_host_map(crawler.settings.get("SADEC_HOST_MAP"))
        self.reverse = {target: origin for origin, target in self.mapping.items()}
        self.http = build_from_crawler(HTTP11DownloadHandler, crawler)

    async def download_request(self, request):
        target = mapped_url(request.url, self.mapping)
        if target is None:
            return await self.http.download_request(request)
        response = await self.http.download_request(request.replace(url=target))
        headers = response.headers.copy()
        location = headers.get(b"Location")
        if location:
            # An absolute redirect to the mapped host names the portal again.
            back = mapped_url(location.decode("latin-1"), self.reverse)
            if back is not None:
                headers[b"Location"] = back.encode("latin-1")
        return response.replace(url=request.url, headers=headers, request=request)

    async def close(self) -> None:
        await self.http.close()

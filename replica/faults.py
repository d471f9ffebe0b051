"""Network and server misbehaviour the crawler must survive (all off by default).

A fault is decided from (seed, path with query, attempt number) only, so a run is reproducible
and a retry of a failed request can succeed: the second attempt draws a different number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from replica.model import stable_fraction

ERROR = "error"
TIMEOUT = "timeout"
TRUNCATE = "truncate"
SOFT404 = "soft404"
MALFORMED = "malformed"

# Paths that exist only to carry the redirect faults; linked from the home page when enabled.
LOOP_PATH_A = "/tin-luu-tru"
LOOP_PATH_B = "/tin-luu-tru/trang-2"
OFFSITE_PATH = "/lien-ket/dich-vu-cong-truc-tuyen"


@dataclass
class FaultConfig:
    """Rates are probabilities per request; they are stacked on one draw, so they add up."""

    seed: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 3.0
    truncate_rate: float = 0.0
    soft404_rate: float = 0.0
    soft404_paths: tuple[str, ...] = field(default_factory=tuple)
    malformed_rate: float = 0.0
    redirect_loop: bool = False
    offsite_redirect: bool | str = False
    huge_page_path: str | None = None
    huge_page_mb: float = 5.0

    def decide(self, path_with_query: str, attempt: int, is_html: bool) -> str | None:
        """The fault for this attempt at this URL, or None to serve it correctly."""
        path = path_with_query.split("?", 1)[0]
        if path in self.soft404_paths or path_with_query in self.soft404_paths:
            return SOFT404 if is_html else None
        roll = stable_fraction(self.seed, "fault", path_with_query, attempt)
        for name, rate in (
            (ERROR, self.error_rate),
            (TIMEOUT, self.timeout_rate),
            (TRUNCATE, self.truncate_rate),
            (SOFT404, self.soft404_rate if is_html else 0.0),
            (MALFORMED, self.malformed_rate if is_html else 0.0),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None

    def error_details(self, path_with_query: str, attempt: int) -> tuple[int, bool]:
        """Status (500 or 503) and whether to add ``Retry-After: 1`` (half of the errors)."""
        roll = stable_fraction(self.seed, "error-kind", path_with_query, attempt)
        status = 503 if roll < 0.5 else 500
        retry_after = (roll * 4) % 1 < 0.5
        return status, retry_after

    def offsite_target(self, port: int) -> str | None:
        """Where the off-site redirect points: a given URL/host or another loopback host."""
        if not self.offsite_redirect:
            return None
        if isinstance(self.offsite_redirect, str):
            target = self.offsite_redirect
            return target if "://" in target else f"http://{target}/"
        return f"http://127.0.0.2:{port}/"

    def page_links(self) -> list[dict]:
        """Links the site shows only while the corresponding fault is switched on."""
        links = []
        if self.redirect_loop:
            links.append({"label": "Tin lưu trữ", "url": LOOP_PATH_A})
        if self.offsite_redirect:
            links.append({"label": "Dịch vụ công trực tuyến", "url": OFFSITE_PATH})
        return links

    def document_links(self) -> list[dict]:
        if self.huge_page_path:
            return [{"label": "Tổng hợp văn bản lưu trữ", "url": self.huge_page_path}]
        return []


def malform(html: str) -> str:
    """Break the markup the way sloppy templates do, keeping every piece of text."""
    html = html.replace("</html>", "")
    html = html.replace("</ul>", "", 1)
    html = html.replace('<section id="content">', '</div></div><section id="content">', 1)
    return html.replace("</p>", "", 3)

"""Scope: the crawl stays on its site and within its size limits.

A second host (127.0.0.2: Scrapy's off-site filter compares host names, so another port on
127.0.0.1 would count as the same site) is linked from the menu, the home page and an article
body, and the portal redirects to it, the first time after an error so that the redirect comes
on a retried request: it must receive nothing. A 40 MB page (with Content-Length) and an
endless one (without) are recorded as errors, with the crawl's memory far below their size.
"""

from __future__ import annotations

import http.client
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from replica import FaultConfig, ReplicaServer, Site
from replica import faults as fault_kinds
from sadec.local import PROJECT_ROOT, crawl_command, crawl_env
from tests.reliability import article_rows, duplicates, query, record, truth_mismatches

OTHER_HOST = "127.0.0.2"
HUGE_PAGE = "/kinh-te/quy-hoach"
HUGE_PAGE_MB = 40
ENDLESS_PAGE = "/lien-he"
ENDLESS_MB = 300
"""The endless page stops here (the crawler must have given up long before)."""
CHUNK = 64 * 1024
ERROR_RATE = 0.05


class OtherHost(http.server.ThreadingHTTPServer):
    """A server on another host name that notes every request it gets."""

    daemon_threads = True

    def __init__(self):
        self.received: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N802, N805 - stdlib name; the server is `self`
                self.received.append(handler.path)
                handler.send_response(200)
                handler.send_header("Content-Type", "text/html")
                handler.send_header("Content-Length", "2")
                handler.end_headers()
                handler.wfile.write(b"ok")

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__((OTHER_HOST, 0), Handler)

    @property
    def url(self) -> str:
        return f"http://{OTHER_HOST}:{self.server_address[1]}"


class SizeProxy(http.server.ThreadingHTTPServer):
    """Forwards to the replica as it is (status, headers, body streamed; redirects not
    followed), except ``ENDLESS_PAGE``: a page with no Content-Length that does not end."""

    daemon_threads = True

    def __init__(self, upstream_port: int):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # bodies end when the connection closes

            def do_GET(handler):  # noqa: N802, N805
                try:
                    if handler.path == ENDLESS_PAGE:
                        self.endless(handler)
                    else:
                        self.forward(handler, upstream_port)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler hung up: what a size limit does

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @staticmethod
    def endless(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.end_headers()
        handler.wfile.write(b"<html><body><table>")
        row = b"<tr><td>V\xc4\x83n b\xe1\xba\xa3n l\xc6\xb0u tr\xe1\xbb\xaf</td></tr>\n"
        chunk = row * (CHUNK // len(row))
        for _ in range(ENDLESS_MB * 1024 * 1024 // len(chunk)):
            handler.wfile.write(chunk)

    @staticmethod
    def forward(handler, port: int) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        upstream.request("GET", handler.path, headers=headers)
        response = upstream.getresponse()
        handler.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                handler.send_header(name, value)
        handler.end_headers()
        while chunk := response.read(CHUNK):
            handler.wfile.write(chunk)
        upstream.close()


def start(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return thread


def peak_rss_mb(pid: int) -> float | None:
    """The process's own high-water resident memory (``VmHWM``), in MB; None once it is gone.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's resident size across fork and
    exec into it, so a child of a large test process would look large."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run_measured(argv: list[str], log: Path) -> tuple[int, str, float]:
    """Run a crawl; (exit status, log, peak resident memory in MB of that one process)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=crawl_env(), stdout=subprocess.DEVNULL, stderr=out
        )
    peak = 0.0
    while process.poll() is None:
        # VmHWM only grows: polling misses at most the last few milliseconds of the run.
        peak = max(peak, peak_rss_mb(process.pid) or 0.0)
        time.sleep(0.02)
    return process.returncode, log.read_text(), peak


def offsite_seed() -> int:
    """A fault seed under which the page that redirects off-site first fails with a 5xx and
    then redirects: the redirect then comes on a retried (``dont_filter``) request."""
    for seed in range(1000):
        config = FaultConfig(seed=seed, error_rate=ERROR_RATE)
        first, second = (config.decide(fault_kinds.OFFSITE_PATH, n, True) for n in (0, 1))
        if first == fault_kinds.ERROR and second is None:
            return seed
    raise AssertionError("no such seed")


def hostile_to_scope(site: Site, other: str) -> int:
    """Links to the other host in the menu, among the home page's web links, and in an
    article body (an article-shaped URL); returns how many were added."""
    site.config["menu"].append({"label": "Tin tức tỉnh", "url": f"{other}/tin-tuc-su-kien"})
    site.config["offsite_links"].append({"label": "Cổng tỉnh", "url": f"{other}/"})
    detail = f"{other}/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/12784194"
    site.add_article(
        {
            "asset_id": 99000101,
            "title": "Sa Đéc liên kết cổng thông tin với các đơn vị trong tỉnh",
            "date": "2019-05-06",
            "body": [
                "Ngày 06/5/2019, thành phố Sa Đéc kết nối cổng thông tin điện tử với các đơn vị "
                "trong tỉnh để chia sẻ tin bài.",
                {
                    "raw": f'<p>Xem thêm <a href="{detail}">bài viết trên cổng tỉnh</a> và '
                    f'<a href="{other}/tin-tuc-su-kien?p=2">danh sách tin</a>.</p>'
                },
                "Các đơn vị cập nhật tin bài hằng tuần theo hướng dẫn của thành phố.",
            ],
            "byline": None,
            "page": {},
        },
        "tin-tuc-su-kien",
    )
    return 4


@pytest.fixture(scope="module")
def scoped_crawl(tmp_path_factory):
    root = tmp_path_factory.mktemp("scope")
    other = OtherHost()
    start(other)
    site = Site(seed=0)
    offered = hostile_to_scope(site, other.url) + 1  # and the off-site redirect
    faults = FaultConfig(
        seed=offsite_seed(),
        error_rate=ERROR_RATE,
        offsite_redirect=f"{OTHER_HOST}:{other.server_address[1]}",
        huge_page_path=HUGE_PAGE,
        huge_page_mb=HUGE_PAGE_MB,
    )
    with ReplicaServer(site, faults=faults) as replica:
        proxy = SizeProxy(replica.port)
        start(proxy)
        base = f"http://127.0.0.1:{proxy.server_address[1]}"
        # The project's own size limits (DOWNLOAD_MAXSIZE 16 MB) and retries.
        argv = crawl_command(base, root / "archive.db")
        status, log, peak = run_measured(argv, root / "crawl.log")
        requests = list(replica.requests)
        proxy.shutdown()
    other.shutdown()
    return {
        "site": site,
        "root": root,
        "status": status,
        "log": log,
        "peak_rss_mb": peak,
        "other": other.received,
        "offered": offered,
        "requests": requests,
    }


def test_the_other_host_receives_nothing(scoped_crawl):
    assert scoped_crawl["other"] == []
    redirects = [
        e for e in scoped_crawl["requests"] if e.path_with_query == fault_kinds.OFFSITE_PATH
    ]
    assert [e.fault for e in redirects][:2] == [fault_kinds.ERROR, None], "no retried redirect"
    assert [e.status for e in redirects][-1] == 302


def test_the_crawl_completes_and_archives_the_site(scoped_crawl):
    site, root = scoped_crawl["site"], scoped_crawl["root"]
    truth = {t.asset_id: t for t in site.truth()}
    rows = article_rows(root / "archive.db")
    assert sorted(rows) == sorted(truth)
    wrong = {a: truth_mismatches(truth[a], rows[a]) for a in truth}
    assert {a: w for a, w in wrong.items() if w} == {}
    (run,) = query(root / "archive.db", "select * from crawl_runs")
    assert run["finish_reason"] == "finished"


def test_huge_and_endless_pages_are_errors_and_memory_stays_bounded(scoped_crawl):
    errors = query(scoped_crawl["root"] / "archive.db", "select url, kind from crawl_errors")
    kinds = {e["url"].split("/", 3)[-1]: e["kind"] for e in errors}
    assert kinds.get(HUGE_PAGE[1:]) == "too_large", errors
    assert kinds.get(ENDLESS_PAGE[1:]) == "too_large", errors
    # Errors above SADEC_MAX_ERRORS (0 by default) fail the run, with the reason in the log.
    assert scoped_crawl["status"] == 1
    assert "2 errors (too_large ×2)" in scoped_crawl["log"]
    peak = scoped_crawl["peak_rss_mb"]
    assert peak < HUGE_PAGE_MB * 5 and peak < ENDLESS_MB / 1.5, peak
    record(
        "scope",
        scenario="scope: another host, huge and endless pages",
        offsite_links_offered=scoped_crawl["offered"],
        offsite_requests_received=len(scoped_crawl["other"]),
        huge_page_bytes=HUGE_PAGE_MB * 1024 * 1024,
        maxsize_bytes=16 * 1024 * 1024,
        huge_page_error=kinds[HUGE_PAGE[1:]],
        streamed_page_error=kinds[ENDLESS_PAGE[1:]],
        peak_rss_mb=round(peak, 1),
        expected=len(scoped_crawl["site"].truth()),
        archived=len(article_rows(scoped_crawl["root"] / "archive.db")),
        lost=0,
        duplicated=duplicates(scoped_crawl["root"] / "archive.db"),
        errors_recorded=len(errors),
    )


def test_memory_is_measured_per_process(tmp_path):
    """``run_measured`` reads the peak of that one process, not of the test process (larger)
    or of earlier children."""
    code = "import time; b = bytearray(120 * 1024 * 1024); b[::4096] = b'x' * 30720; time.sleep(1)"
    status, _, peak = run_measured([sys.executable, "-c", code], tmp_path / "big.log")
    assert status == 0 and 120 < peak < 250, peak
    small = "import time; time.sleep(1)"
    status, _, peak = run_measured([sys.executable, "-c", small], tmp_path / "small.log")
    assert status == 0 and peak < 60, peak


# --- Run bounds (red-team finding 7) ---------------------------------------------------------
PORTLET = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_Tb7Xy9Qw2Er4"


class EndlessListings(http.server.ThreadingHTTPServer):
    """A portal whose listing never ends: page N links to page N+1 and lists five articles no
    page listed before. ``/thong-bao`` says nothing of its size; ``/thong-bao-khac`` states
    three pages in its results line but links on regardless. ``/lien-ket`` links 5,000
    articles at once. Article pages answer a minimal Asset Publisher display page."""

    daemon_threads = True

    def __init__(self):
        outer = self
        self.listing_pages: dict[str, set[int]] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path == "/":
                    body = outer.home()
                elif path in ("/thong-bao", "/thong-bao-khac"):
                    number = int(query.rpartition("_cur=")[2] or 1) if "_cur=" in query else 1
                    outer.listing_pages.setdefault(path, set()).add(number)
                    body = outer.listing(path, number)
                elif path == "/lien-ket":
                    body = outer.listing(path, 1, links=5000)
                elif "/content/id/" in path:
                    body = outer.article(int(path.rpartition("/")[2]))
                else:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)

    @staticmethod
    def home() -> str:
        menu = "".join(
            f'<li><a href="{path}">{path}</a></li>'
            for path in ("/thong-bao", "/thong-bao-khac", "/lien-ket")
        )
        return f"<!DOCTYPE html><html><body><nav><ul>{menu}</ul></nav></body></html>"

    @staticmethod
    def listing(path: str, number: int, links: int = 5) -> str:
        first = 30_000_000 + {"/thong-bao": 0, "/thong-bao-khac": 1_000_000}.get(path, 2_000_000)
        ids = [first + number * 5 + k for k in range(links)]
        rows = "".join(
            f'<tr><td class="title-column"><span class="asset-anchor" id="{asset_id}"></span>'
            f'<a href="/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/{asset_id}">'
            f'Tin {asset_id}</a></td><td class="metadata-column">01/10/2021</td></tr>'
            for asset_id in ids
        )
        stated = (
            f'<div class="pagination-results">Hiển thị {number * 5 - 4} - {number * 5} của 15 '
            "kết quả.</div>"
            if path == "/thong-bao-khac"
            else ""
        )
        pager = (
            f'<div class="pagination-bar">{stated}<ul class="pagination">'
            f'<li><a href="{path}?p_p_id={PORTLET}&amp;_{PORTLET}_cur={number + 1}">›</a></li>'
            "</ul></div>"
            if links == 5
            else ""
        )
        return (
            f'<!DOCTYPE html><html><body><div class="portlet-boundary" id="p_p_id_{PORTLET}_">'
            f'<table class="table table-list"><tbody>{rows}</tbody></table>{pager}'
            "</div></body></html>"
        )

    @staticmethod
    def article(asset_id: int) -> str:
        return (
            f"<!DOCTYPE html><html><head><title>Tin {asset_id}</title></head><body>"
            f'<div class="asset-full-content"><span class="asset-anchor" id="{asset_id}"></span>'
            f'<h3 class="asset-title">Tin {asset_id}</h3><div class="asset-content">'
            f"<p>Nội dung của tin {asset_id}, Sa Đéc, ngày 01/10/2021.</p></div></div>"
            "</body></html>"
        )


def test_a_listing_that_never_ends_and_a_page_of_thousands_of_links_are_bounded(tmp_path):
    server = EndlessListings()
    start(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    result = subprocess.run(
        crawl_command(
            base,
            tmp_path / "archive.db",
            settings={"SADEC_MAX_LISTING_PAGES": "40", "SADEC_MAX_LINKS_PER_PAGE": "300"},
            spider_args={"mode": "full"},
        ),
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    server.shutdown()
    pages = server.listing_pages
    assert max(pages["/thong-bao"]) == 40, "bounded by SADEC_MAX_LISTING_PAGES"
    assert max(pages["/thong-bao-khac"]) == 3, "bounded by the pager's own last page"
    db = tmp_path / "archive.db"
    bounds = query(db, "select url, message from crawl_errors where kind = 'run_bound'")
    assert len(bounds) == 3, bounds
    messages = " | ".join(row["message"] for row in bounds)
    assert "SADEC_MAX_LISTING_PAGES=40" in messages
    assert "its pager states 3 pages" in messages
    assert "5000 article links on one page" in messages
    archived = query(db, "select count(*) as n from articles")[0]["n"]
    assert archived == 40 * 5 + 3 * 5 + 300
    assert result.returncode == 1, "a bounded run is not a complete one"
    assert "run_bound" in result.stdout + result.stderr
    record(
        "red-team",
        case_7=(
            f"endless pagination stopped at 40 pages (SADEC_MAX_LISTING_PAGES) and at the "
            f"pager's stated 3; a page of 5,000 links followed 300; {archived} articles, "
            f"3 run_bound errors, exit {result.returncode}, {elapsed:.0f} s"
        ),
    )

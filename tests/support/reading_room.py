"""Test helpers for the reading room: a small sample archive and a real server in a subprocess.

Used by the serving, browser, incremental and concurrency tests and by the search benchmark;
kept with the tests, as the reading room itself never writes an archive.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from pipelines.database import open_database, upsert_article
from sadec_crawler.items import Article, AttachmentRef, ImageRef
from serving.server import server_command

BASE = "https://sadec.dongthap.gov.vn/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id"
DOCS = "https://sadec.dongthap.gov.vn/documents/481527/0"

SAMPLE_ID = 10000001
HOA_EXACT_ID = 10000002
HOA_OTHER_ID = 10000003
HOSTILE_ID = 10000004

HOSTILE_HTML = (
    "<p>Bài viết thử nghiệm an toàn.</p>"
    "<img src=x onerror=\"window.__pwned=1;document.title='pwned';alert(1)\">"
    "<script>window.__pwned=2;document.title='pwned';alert(2)</script>"
    '<p onclick="alert(3)">Nhấn vào đây</p>'
    '<a href="javascript:alert(4)">liên kết</a>'
    '<iframe src="https://example.com/"></iframe>'
    "<svg><script>window.__pwned=3</script></svg>"
    "<style>body{display:none}</style>"
)


def _article(
    asset_id: int, title: str, published_at: str, body_paragraphs: list[str], **fields
) -> Article:
    body_html = fields.pop("body_html", None) or "".join(f"<p>{p}</p>" for p in body_paragraphs)
    defaults = dict(
        published_at_raw=published_at[:10],
        published_at_source="listing",
        category="Tin tức - Sự kiện",
        category_raw="SD_TIN TỨC - SỰ KIỆN",
        author=None,
        unit=None,
        byline=None,
        summary=None,
        fetched_url=f"{BASE}/{asset_id}",
        http_status=200,
    )
    defaults.update(fields)
    return Article(
        url=f"{BASE}/{asset_id}",
        asset_id=asset_id,
        title=title,
        published_at=published_at,
        body_text="\n\n".join(body_paragraphs),
        body_html=body_html,
        **defaults,
    )


def sample_articles() -> list[Article]:
    """The sample archive: the articles the tests name, plus fillers for facets and ranking."""
    sample_body = [
        "Sáng ngày 19/3/2021, UBND thành phố Sa Đéc tổ chức Hội nghị triển khai công tác cải "
        "cách hành chính năm 2021.",
        "Tham dự có lãnh đạo Sở Nội vụ tỉnh Đồng Tháp cùng các phòng, ban, đơn vị thành phố.",
        "Thành phố cam kết đẩy mạnh cải cách hành chính, nâng cao chỉ số hài lòng của người dân.",
    ]
    sample_html = (
        f"<p>{sample_body[0]}</p>"
        f'<p><img src="{DOCS}/hoi-nghi.jpg?t=1616112000000" alt="Quang cảnh hội nghị"></p>'
        "<p>Quang cảnh hội nghị (Ảnh: Minh Khoa)</p>"
        f"<p>{sample_body[1]}</p>"
        "<table><tr><th>Chỉ số</th><th>Năm 2020</th></tr><tr><td>PAR Index</td><td>85,2</td></tr>"
        "</table>"
        f"<p>{sample_body[2]}</p>"
    )
    articles = [
        _article(
            SAMPLE_ID,
            "Thành phố Sa Đéc: Cam kết thực hiện công tác cải cách hành chính năm 2021",
            "2021-03-19",
            sample_body,
            body_html=sample_html,
            category="Cải cách hành chính",
            category_raw="SD_CẢI CÁCH HÀNH CHÍNH",
            author="Minh Khoa",
            unit="Phòng Nội vụ",
            byline="Minh Khoa - Phòng Nội vụ",
            summary="Thành phố Sa Đéc tổ chức hội nghị triển khai công tác cải cách hành chính.",
            images=[
                ImageRef(
                    f"{DOCS}/hoi-nghi.jpg?t=1616112000000",
                    "Quang cảnh hội nghị (Ảnh: Minh Khoa)",
                    "Quang cảnh hội nghị",
                ),
                ImageRef(f"{DOCS}/dai-bieu.jpg?t=1616112000000", "Đại biểu phát biểu", None),
            ],
            attachments=[
                AttachmentRef(f"{DOCS}/ke-hoach.pdf", "Kế hoạch CCHC 2021.pdf", "Kế hoạch"),
            ],
        ),
        _article(
            HOA_EXACT_ID,
            "Lễ ký kết hòa giải cơ sở tại phường 1",
            "2022-05-10T08:30:00+07:00",
            ["Công tác hòa giải ở cơ sở được phường 1 quan tâm thực hiện."],
            category="Phổ biến giáo dục pháp luật",
            unit="Phòng Tư pháp",
            author="Thanh Tâm",
        ),
        _article(
            HOA_OTHER_ID,
            "Làng hoa Sa Đéc vào mùa Tết",
            "2022-01-20",
            ["Nông dân làng hoa tất bật chăm sóc hoa kiểng phục vụ Tết Nguyên đán."],
            unit="Phòng Kinh tế",
            author="Thanh Tâm",
        ),
        _article(
            HOSTILE_ID,
            "Bài viết có mã độc thử nghiệm",
            "2020-07-01",
            ["Bài viết thử nghiệm an toàn.", "Nhấn vào đây"],
            body_html=HOSTILE_HTML,
            category="Thông báo",
        ),
    ]
    # Fillers: a spread of months and units so facets and charts have something to count, and
    # articles that mention the search words only in their bodies (ranking must put titles first).
    for i in range(12):
        articles.append(
            _article(
                10000100 + i,
                f"Thông tin hoạt động số {i + 1} của các phường",
                f"202{1 + i % 3}-{1 + i % 12:02d}-{10 + i:02d}",
                [
                    f"Nội dung hoạt động {i + 1}.",
                    "Đoàn công tác thăm Sa Đéc." if i % 3 == 0 else "Không có gì thêm.",
                ],
                category="Tin tức - Sự kiện" if i % 2 else "Văn hóa - Xã hội",
                unit=["Phòng Văn hóa và Thông tin", "Phòng Nội vụ", None][i % 3],
            )
        )
    return articles


def build_sample_db(path: Path) -> Path:
    """Write the sample archive to ``path`` through the storage layer (as a crawl would).

    The hostile article's HTML goes in as-is, as if an old or careless writer had stored it,
    to prove the reading room sanitises at render time.
    """
    db = open_database(path)
    for article in sample_articles():
        upsert_article(db, article, now="2024-06-01T10:00:00Z")
    with db.conn:
        db["articles"].update(f"{BASE}/{HOSTILE_ID}", {"body_html": HOSTILE_HTML})
        db["crawl_runs"].insert(
            {
                "started_at": "2024-06-01T09:00:00Z",
                "finished_at": "2024-06-01T10:05:00Z",
                "mode": "full",
                "source": "live",
                "articles_seen": 16,
                "articles_new": 16,
                "errors": 0,
                "finish_reason": "finished",
            }
        )
    db.conn.close()
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(db_path: Path, timeout: float = 20.0, **options) -> Iterator[str]:
    """Run the real reading room (``python -m serving``) on a free port; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        server_command(db_path, port, **options),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{process.stdout.read()}")
            try:
                if httpx.get(base + "/-/versions.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not answer on {base} within {timeout}s")
            time.sleep(0.1)
        yield base
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen, grace: float = 10) -> None:
    """Terminate a server started for a test; kill it if it has not exited within ``grace``."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_demo_without_serving(db_path: Path) -> subprocess.CompletedProcess:
    """``sadec demo --no-serve --db DB``, as a newcomer runs it (output captured)."""
    from sadec.local import PROJECT_ROOT, crawl_env

    return subprocess.run(
        [sys.executable, "-m", "sadec", "demo", "--no-serve", "--db", str(db_path)],
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )

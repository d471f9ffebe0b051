"""A synthetic archive for the search benchmark: N articles of Vietnamese government news in
the project's own schema (``pipelines.database.open_database``, every migration), in bulk.

Texts are assembled from the replica's vocabulary (topics, wards, offices, people) and a few
hundred sentence frames weighted like real news (a handful of phrases in most articles, most
in few), 400–900 words an article, so that common terms hit about half the archive and rare
ones a fraction of a percent. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

from pipelines.database import open_database
from replica.generator import OFFICES, PEOPLE, TOPICS, WARDS
from sadec_crawler.textnorm import fold

BASE = "https://sadec.dongthap.gov.vn/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id"
CATEGORIES = [
    "Tin tức - Sự kiện",
    "Cải cách hành chính",
    "Tin kinh tế",
    "Văn hóa - Xã hội",
    "Xây dựng Đảng",
    "Giáo dục - Y tế",
    "Quốc phòng - An ninh",
    "Nông nghiệp - Nông thôn",
    "Thông báo",
    "Phổ biến giáo dục pháp luật",
]
# (weight, sentence): weights fall off so that a few frames are in most articles.
FRAMES = [
    (40, "Tham dự có lãnh đạo Ủy ban nhân dân thành phố Sa Đéc cùng đại diện các phòng, ban."),
    (30, "Phát biểu tại buổi làm việc, đồng chí {person} ghi nhận kết quả đạt được của {actor}."),
    (28, "Thời gian tới, {actor} tiếp tục tăng cường công tác tuyên truyền đến người dân."),
    (25, "Qua đó góp phần thực hiện thắng lợi nhiệm vụ phát triển kinh tế - xã hội năm {year}."),
    (
        22,
        "Theo báo cáo, trong năm {year} {actor} đã tổ chức {num} cuộc tuyên truyền với hơn {num2}"
        " lượt người tham dự.",
    ),
    (20, "Hội nghị đã thông qua kế hoạch thực hiện nhiệm vụ trọng tâm của {actor}."),
    (18, "Các đại biểu tập trung thảo luận, đóng góp nhiều ý kiến thiết thực."),
    (
        16,
        "Dịp này, {actor} đã trao giấy khen cho {num} tập thể và {num2} cá nhân có thành tích xuất"
        " sắc.",
    ),
    (14, "Kết quả, tỷ lệ hồ sơ giải quyết đúng hạn đạt {pct}%, không có hồ sơ trễ hạn."),
    (12, "Người dân {ward} phấn khởi trước những đổi thay của quê hương."),
    (12, "Công tác cải cách hành chính tiếp tục được quan tâm chỉ đạo thực hiện."),
    (10, "Nhân dịp này, đoàn đã thăm hỏi và tặng {num} phần quà cho các hộ gia đình khó khăn."),
    (10, "Mô hình {product} mang lại thu nhập ổn định cho nông dân trên địa bàn."),
    (9, "Lực lượng công an và dân quân tự vệ phối hợp giữ vững an ninh trật tự tại {ward}."),
    (8, "Trung tâm Y tế thành phố triển khai chiến dịch phòng, chống dịch bệnh tại {ward}."),
    (8, "Ngành giáo dục tổ chức tập huấn chuyên môn cho {num} giáo viên các cấp học."),
    (7, "Đường {street} được nâng cấp, mở rộng, góp phần chỉnh trang đô thị."),
    (6, "Làng hoa Sa Đéc đón hàng nghìn lượt khách tham quan, mua sắm hoa kiểng."),
    (5, "Ban chỉ đạo yêu cầu các ngành rà soát, hoàn thiện hồ sơ trước ngày {day}/{month}/{year}."),
    (5, "Hội Nông dân vận động hội viên tham gia sản xuất theo tiêu chuẩn VietGAP."),
    (4, "Câu lạc bộ {club} sinh hoạt định kỳ, thu hút đông đảo hội viên tham gia."),
    (3, "Dự án {project} được triển khai theo đúng tiến độ đề ra."),
    (2, "Đoàn kiểm tra của tỉnh Đồng Tháp làm việc tại {ward} về công tác {topic}."),
    (1, "Sản phẩm {rare} của cơ sở {person} được công nhận đạt chuẩn OCOP ba sao."),
]
STREETS = [
    "Hùng Vương",
    "Nguyễn Sinh Sắc",
    "Trần Hưng Đạo",
    "Lê Lợi",
    "Nguyễn Huệ",
    "Phạm Hữu Lầu",
    "Đào Duy Từ",
    "Lý Thường Kiệt",
    "Nguyễn Tất Thành",
    "Trần Thị Nhượng",
    "ĐT 848",
    "Cao Thắng",
]
PRODUCTS = [
    "trồng hoa kiểng",
    "nuôi cá tra",
    "trồng quýt hồng",
    "trồng mai vàng",
    "trồng xoài cát Chu",
    "làm bột hủ tiếu",
    "nuôi lươn không bùn",
    "trồng rau an toàn",
    "trồng sen",
    "làm bánh phồng",
]
CLUBS = ["dưỡng sinh", "thơ ca", "đờn ca tài tử", "cờ tướng", "cầu lông", "võ cổ truyền"]
PROJECTS = [
    "kè sông Tiền",
    "khu dân cư phường 4",
    "cầu Sa Đéc 2",
    "trường tiểu học Tân Quy Đông",
    "chợ Sa Đéc",
    "công viên Sa Đéc",
]
# Rare words: each in a fraction of a percent of the archive.
RARE = [
    "mứt gừng Tân Khánh",
    "nem Lai Vung",
    "bánh pía Sa Đéc",
    "chuối ép Tân Phú",
    "khô cá lóc",
    "tương hột Hòa Thành",
    "rượu nếp than",
    "trà mãng cầu",
    "mắm cá linh",
    "cốm dẹp Tân Quy",
    "kẹo dừa sáp",
    "gạo huyết rồng",
    "lạp xưởng tươi",
    "nước mắm cá cơm",
    "bánh tráng phơi sương",
]


_FRAME_TEXTS = [frame for _, frame in FRAMES]
_ACTOR, _YEAR = "\x01", "\x02"
_FRAME_WEIGHTS = [weight for weight, _ in FRAMES]


def _sentence(rng: random.Random, actor: str, year: int, frame: str) -> str:
    topic = rng.choice(rng.choice(list(TOPICS.values())))[0]
    return frame.format(
        person=rng.choice(PEOPLE),
        actor=actor,
        year=year,
        num=rng.randint(2, 60),
        num2=rng.randint(100, 5000),
        pct=rng.randint(90, 100),
        ward=rng.choice(WARDS),
        product=rng.choice(PRODUCTS),
        street=rng.choice(STREETS),
        day=rng.randint(1, 28),
        month=rng.randint(1, 12),
        club=rng.choice(CLUBS),
        project=rng.choice(PROJECTS),
        topic=topic,
        rare=rng.choice(RARE),
    )


def sentence_pool(rng: random.Random, size: int = 40_000) -> list[str]:
    frames = rng.choices(_FRAME_TEXTS, _FRAME_WEIGHTS, k=size)
    return [_sentence(rng, _ACTOR, _YEAR, frame) for frame in frames]


def article_row(rng: random.Random, asset_id: int, moment: dt.datetime, pool: list[str]) -> dict:
    category_index = rng.randrange(len(CATEGORIES))
    topics = list(TOPICS.values())[category_index % len(TOPICS)]
    topic, detail = rng.choice(topics)
    actor = rng.choice(["Ủy ban nhân dân " + rng.choice(WARDS), rng.choice(OFFICES) + " thành phố"])
    title = f"{actor[:1].upper()}{actor[1:]} {topic} năm {moment.year}"
    opening = (
        f"Ngày {moment.day}/{moment.month}/{moment.year}, {actor} {topic} tại "
        f"{rng.choice(WARDS)}, thành phố Sa Đéc."
    )
    paragraphs = [opening, detail]
    words = sum(len(p.split()) for p in paragraphs)
    target = rng.randint(400, 900)
    while words < target:
        # Sentences come from a pool drawn once per archive (weighted frames, random slots);
        # the article's own actor and year go in here.
        paragraph = " ".join(rng.choices(pool, k=rng.randint(2, 4)))
        paragraph = paragraph.replace(_ACTOR, actor).replace(_YEAR, str(moment.year))
        paragraphs.append(paragraph)
        words += len(paragraph.split())
    author = rng.choice(PEOPLE) if rng.random() < 0.75 else None
    unit = rng.choice(OFFICES) if rng.random() < 0.65 else None
    byline = " - ".join(filter(None, [f"Tin: {author}" if author else None, unit])) or None
    if byline:
        paragraphs.append(byline)
    body_text = "\n\n".join(paragraphs)
    timed = rng.random() < 0.3
    published = moment.strftime("%Y-%m-%dT%H:%M:00+07:00") if timed else moment.strftime("%Y-%m-%d")
    category = CATEGORIES[category_index]
    url = f"{BASE}/{asset_id}"
    return {
        "url": url,
        "asset_id": asset_id,
        "title": title,
        "published_at": published,
        "published_at_raw": moment.strftime("%d/%m/%Y"),
        "published_at_source": "listing",
        "category": category,
        "category_raw": f"SD_{category}",
        "author": author,
        "unit": unit,
        "byline": byline,
        "summary": paragraphs[0] + " " + paragraphs[1] if rng.random() < 0.8 else None,
        "body_text": body_text,
        "body_html": "".join(f"<p>{p}</p>" for p in paragraphs),
        "image_count": rng.choice([0, 0, 1, 1, 2, 3]),
        "attachment_count": rng.choice([0, 0, 0, 0, 1]),
        "content_hash": hashlib.sha256(url.encode()).hexdigest(),
        "fetched_url": url,
        "http_status": 200,
        "source": "live",
        "first_seen_at": "2025-01-01T00:00:00Z",
        "last_crawled_at": "2025-01-01T00:00:00Z",
        "last_changed_at": "2025-01-01T00:00:00Z",
    }


def build(path: Path, articles: int, seed: int = 0, chunk: int = 2000) -> dict:
    """Write the archive to ``path`` (replaced); returns sizes for the record."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = open_database(path)
    rng = random.Random(seed)
    pool = sentence_pool(rng)
    start = dt.datetime(2010, 1, 1, 7, 0)
    span = (dt.datetime(2025, 6, 30) - start).total_seconds()
    conn = db.conn
    columns = None
    for first in range(0, articles, chunk):
        rows = []
        for n in range(first, min(first + chunk, articles)):
            moment = start + dt.timedelta(seconds=int(span * (n + rng.random()) / articles))
            rows.append(article_row(rng, 10_000_000 + n, moment, pool))
        if columns is None:
            columns = list(rows[0])
        with conn:
            conn.executemany(
                f"insert into articles ({', '.join(columns)}) "
                f"values ({', '.join('?' for _ in columns)})",
                [[row[c] for c in columns] for row in rows],
            )
            for table, transform in (("articles_fts", fold), ("articles_fts_exact", str)):
                conn.executemany(
                    f"insert into {table} (rowid, title, summary, body_text) values (?, ?, ?, ?)",
                    [
                        (
                            row["asset_id"],
                            transform(row["title"]),
                            transform(row["summary"] or ""),
                            transform(row["body_text"]),
                        )
                        for row in rows
                    ],
                )
    with conn:
        conn.execute(
            "insert into crawl_runs (started_at, finished_at, mode, source, articles_seen, "
            "articles_new, errors, finish_reason) values "
            "('2025-01-01T00:00:00Z', '2025-01-01T06:00:00Z', 'full', 'live', ?, ?, 0, "
            "'finished')",
            [articles, articles],
        )
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return {"articles": articles, "size_mb": round(path.stat().st_size / 2**20, 1)}

"""Deterministic synthetic articles for scale runs (``extra_articles``) and for ``advance()``.

The output is a dict in exactly the corpus JSON schema (see replica/README.md), so generated
articles go through the same loader and the same templates as the hand-written ones and carry
the same markup variants: date lines, bylines, images, tables, attachments, headings.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from replica import dates

WARDS = [
    "phường 1",
    "phường 2",
    "phường 3",
    "phường 4",
    "phường An Hòa",
    "phường Tân Quy Đông",
    "xã Tân Khánh Đông",
    "xã Tân Quy Tây",
    "xã Tân Phú Đông",
]
OFFICES = [
    "Phòng Nội vụ",
    "Phòng Văn hóa và Thông tin",
    "Phòng Kinh tế",
    "Phòng Tài nguyên và Môi trường",
    "Phòng Tài chính - Kế hoạch",
    "Phòng Giáo dục và Đào tạo",
    "Phòng Quản lý đô thị",
    "Phòng Lao động - Thương binh và Xã hội",
    "Trung tâm Văn hóa - Thể thao",
    "Văn phòng HĐND và UBND thành phố",
    "Trung tâm Y tế thành phố",
]
PEOPLE = [
    "Minh Tâm",
    "Ngọc Hân",
    "Hữu Phước",
    "Thanh Hà",
    "Hoàng Nhi",
    "Lê Thảo",
    "Thế Vũ",
    "Kim Ngân",
    "Quốc Bảo",
    "Thanh Tùng",
    "Hồng Nhung",
    "Phương Thảo",
    "Minh Khang",
    "Thanh Trúc",
    "Bảo Trâm",
]

TOPICS = {
    "tin-tuc-su-kien": [
        (
            "tổ chức Ngày hội Đại đoàn kết toàn dân tộc",
            "Ngày hội diễn ra trong không khí vui tươi, "
            "đầm ấm; nhân dân đã đóng góp kinh phí chỉnh trang hẻm và lắp đèn chiếu sáng.",
        ),
        (
            "tổ chức hội nghị tiếp xúc cử tri",
            "Cử tri kiến nghị nhiều nội dung về đất đai, hạ tầng "
            "giao thông nông thôn và giá vật tư nông nghiệp.",
        ),
        (
            "ra quân vệ sinh môi trường",
            "Hàng trăm đoàn viên, hội viên tham gia thu gom rác thải, "
            "khơi thông cống rãnh và trồng cây xanh dọc các tuyến đường.",
        ),
        (
            "diễn tập phòng cháy, chữa cháy và cứu nạn, cứu hộ",
            "Qua diễn tập giúp nâng cao khả năng "
            "phối hợp giữa các lực lượng và ý thức phòng cháy, chữa cháy của người dân.",
        ),
        (
            "tổ chức sơ kết công tác quốc phòng - an ninh",
            "Tình hình an ninh chính trị, trật tự an "
            "toàn xã hội trên địa bàn được giữ vững, không để xảy ra tình huống đột xuất.",
        ),
    ],
    "cai-cach-hanh-chinh": [
        (
            "kiểm tra công tác cải cách hành chính",
            "Đoàn kiểm tra ghi nhận đơn vị đã niêm yết công "
            "khai đầy đủ thủ tục hành chính, không có hồ sơ giải quyết trễ hạn.",
        ),
        (
            "triển khai dịch vụ công trực tuyến toàn trình",
            "Tỷ lệ hồ sơ nộp trực tuyến tiếp tục tăng; "
            "tổ công nghệ số cộng đồng hỗ trợ người dân thao tác trên điện thoại.",
        ),
        (
            "tổ chức đối thoại với người dân về thủ tục hành chính",
            "Các ý kiến của người dân được "
            "lãnh đạo đơn vị tiếp thu, giải đáp trực tiếp tại buổi đối thoại.",
        ),
        (
            "tập huấn số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
            "Học viên được hướng dẫn quy trình số hóa, ký số và lưu trữ hồ sơ điện tử.",
        ),
    ],
    "tin-kinh-te": [
        (
            "hỗ trợ nông dân chuyển đổi cơ cấu cây trồng",
            "Nhiều hộ chuyển từ trồng lúa sang trồng "
            "hoa kiểng, rau màu, cho thu nhập cao gấp hai đến ba lần.",
        ),
        (
            "kết nối tiêu thụ sản phẩm OCOP",
            "Các chủ thể đã ký kết biên bản ghi nhớ hợp tác tiêu thụ "
            "hủ tiếu, bột gạo và các sản phẩm từ hoa kiểng.",
        ),
        (
            "đánh giá tình hình thu ngân sách",
            "Thu ngân sách trên địa bàn đạt khá so với dự toán; "
            "công tác chống thất thu thuế được tăng cường.",
        ),
        (
            "triển khai mô hình sản xuất hoa kiểng công nghệ cao",
            "Mô hình ứng dụng nhà màng, tưới "
            "nhỏ giọt giúp tiết kiệm chi phí và nâng cao chất lượng sản phẩm.",
        ),
    ],
    "van-hoa-xa-hoi": [
        (
            "tổ chức hội thi văn nghệ quần chúng",
            "Hội thi thu hút nhiều đội tham gia với các tiết mục "
            "ca ngợi quê hương, đất nước và con người Sa Đéc.",
        ),
        (
            "trao quà cho hộ nghèo và gia đình chính sách",
            "Mỗi phần quà gồm tiền mặt và nhu yếu phẩm, góp phần giúp các hộ ổn định cuộc sống.",
        ),
        (
            "tổ chức giải thể thao phong trào",
            "Giải góp phần đẩy mạnh phong trào toàn dân rèn luyện "
            "thân thể theo gương Bác Hồ vĩ đại.",
        ),
        (
            "phát triển du lịch gắn với Làng hoa Sa Đéc",
            "Lượng khách tham quan tăng, nhiều nhà vườn "
            "đầu tư dịch vụ trải nghiệm, chụp ảnh và bán hoa tại chỗ.",
        ),
    ],
    "xay-dung-dang": [
        (
            "tổ chức học tập, quán triệt nghị quyết của Đảng",
            "Cán bộ, đảng viên được quán triệt những nội dung cơ bản, cốt lõi của nghị quyết.",
        ),
        (
            "trao Huy hiệu Đảng cho đảng viên",
            "Các đảng viên được nhận Huy hiệu Đảng là những tấm "
            "gương sáng về tinh thần trách nhiệm và đạo đức cách mạng.",
        ),
        (
            "sơ kết công tác kiểm tra, giám sát",
            "Công tác kiểm tra, giám sát được thực hiện đúng "
            "quy định, góp phần nâng cao năng lực lãnh đạo của tổ chức đảng.",
        ),
    ],
    "giao-duc-y-te": [
        (
            "triển khai tiêm chủng mở rộng",
            "Trạm y tế bố trí đủ nhân lực và vắc xin, bảo đảm an toàn "
            "tiêm chủng cho trẻ em trên địa bàn.",
        ),
        (
            "tổng kết năm học",
            "Tỷ lệ học sinh lên lớp và tốt nghiệp đạt trên 98%; nhiều học sinh "
            "đạt giải trong các kỳ thi học sinh giỏi cấp tỉnh.",
        ),
    ],
}

CLOSINGS = [
    "Thời gian tới, đơn vị tiếp tục tăng cường công tác tuyên truyền để người dân hiểu và đồng "
    "tình hưởng ứng.",
    "Lãnh đạo thành phố đề nghị các cơ quan, đơn vị phối hợp chặt chẽ, triển khai thực hiện đạt "
    "hiệu quả.",
    "Dịp này, Ban tổ chức khen thưởng các tập thể, cá nhân có thành tích xuất sắc.",
    "Kết quả đạt được góp phần hoàn thành các chỉ tiêu kinh tế - xã hội của thành phố.",
]
CAPTIONS = [
    "Quang cảnh buổi làm việc",
    "Các đại biểu dự hội nghị",
    "Lãnh đạo thành phố phát biểu",
    "Quang cảnh buổi lễ",
    "Người dân tham gia hưởng ứng",
]
DATE_LINE_FORMS = ["da_xuat_ban", "dmy", "dang_ngay", "ngay_thang_nam", "dmy_mixed", "dmy_spaced"]
TIMED_DATE_LINE_FORMS = sorted(dates.TIMED_FORMATS)


def _byline(rng: random.Random) -> dict | None:
    """One of the byline forms of docs/site-spec.md §4, with the author/unit the rules give."""
    person, office = rng.choice(PEOPLE), rng.choice(OFFICES)
    form = rng.randrange(8)
    if form == 0:
        return None
    if form == 1:
        return {
            "text": f"{person}, {office.lower()[:1]}{office[1:]}",
            "author": person,
            "unit": f"{office.lower()[:1]}{office[1:]}",
        }
    if form == 2:
        return {"text": f"Tin, ảnh: {person}", "author": person, "unit": None}
    if form == 3:
        photographer = rng.choice(PEOPLE)
        return {"text": f"Tin: {person} - Ảnh: {photographer}", "author": person, "unit": None}
    if form == 4:
        return {"text": f"{person} ({office})", "author": person, "unit": office}
    if form == 5:
        return {"text": f"Nguồn: {office}", "author": None, "unit": office}
    if form == 6:
        return {"text": f"Tác giả: {person}, {office}", "author": person, "unit": office}
    return {"text": f"Tin, ảnh: {person} ({office})", "author": person, "unit": office}


def _opening(moment: datetime, timed: bool, actor: str, topic: str, rng: random.Random) -> str:
    """First paragraph: it names the article's own day, as every article of the portal does."""
    part_of_day = "Chiều" if timed and moment.hour >= 12 else rng.choice(["Sáng", "Ngày", "Sáng"])
    day_text = rng.choice(
        [
            f"{moment.day}/{moment.month}/{moment.year}",
            f"{moment.day:02d}/{moment.month:02d}/{moment.year}",
        ]
    )
    ward = rng.choice(WARDS)
    return (
        f"{part_of_day} ngày {day_text}, {actor} {topic} tại {ward}, thành phố Sa Đéc. "
        f"Tham dự có đại diện lãnh đạo {rng.choice(OFFICES)} và các đơn vị có liên quan."
    )


def generate(
    rng: random.Random,
    asset_id: int,
    category: dict,
    moment: datetime,
    timed: bool,
) -> dict:
    """One article in the corpus JSON schema, drawn from ``rng`` (caller owns the seeding)."""
    topic, detail = rng.choice(TOPICS[category["key"]])
    actor = rng.choice(["Ủy ban nhân dân " + rng.choice(WARDS), rng.choice(OFFICES) + " thành phố"])
    title = f"{actor[:1].upper()}{actor[1:]} {topic} năm {moment.year}"
    if rng.random() < 0.5:
        title += f" (đợt {rng.randint(1, 4)})"
    body: list = [_opening(moment, timed, actor, topic, rng), detail]
    if rng.random() < 0.45:
        caption = rng.choice(CAPTIONS)
        if rng.random() < 0.3:
            caption += f" (Ảnh: {rng.choice(PEOPLE)})"
        body.insert(
            1,
            {
                "img": f"IMG_{asset_id % 10000:04d}.jpg",
                "caption": caption if rng.random() < 0.9 else None,
                "t_days": rng.choice([0, 0, 0, -1, 2]),
            },
        )
    if rng.random() < 0.12:
        body.append(
            {
                "table": [
                    ["Nội dung", "Kết quả"],
                    ["Số lượt tham gia", str(rng.randint(50, 900))],
                    ["Tỷ lệ hoàn thành", f"{rng.randint(80, 100)}%"],
                ],
                "header": True,
            }
        )
    if rng.random() < 0.12:
        stem = f"Ke-hoach-so-{rng.randint(10, 250)}-{moment.year}"
        extension = rng.choice([".pdf", ".pdf", ".doc", ".docx"])
        body.append(
            {
                "files": [
                    {
                        "file": stem + extension,
                        "title": stem.replace("-", " ") + extension,
                        "download": rng.random() < 0.5,
                    }
                ]
            }
        )
    body.append(rng.choice(CLOSINGS))
    if rng.random() < 0.05:
        body[-1] = body[-1].replace(" ", "\u00a0", 1)

    page: dict = {}
    listing_date = category.get("listing_date") or {}
    needs_timed_line = timed and not listing_date.get("timed")
    if needs_timed_line:
        page["date_line"] = rng.choice(TIMED_DATE_LINE_FORMS)
    elif rng.random() < 0.3:
        page["date_line"] = rng.choice(TIMED_DATE_LINE_FORMS if timed else DATE_LINE_FORMS)
    if "date_line" in page and rng.random() < 0.5:
        page["views"] = rng.randint(20, 3000)
    heading_roll = rng.random()
    if heading_roll < 0.1:
        page["heading"] = "title-detail"
    elif heading_roll < 0.2:
        page["heading"] = "article-title"
    if rng.random() < 0.15:
        page["label_case"] = "upper"
    if rng.random() < 0.2:
        page["related"] = "stock"
    if rng.random() < 0.15:
        page["bare_title"] = True
    byline = _byline(rng)
    if byline is not None:
        byline["style"] = rng.choice(["strong", "em"])
    return {
        "asset_id": asset_id,
        "title": title,
        "date": moment.isoformat(timespec="seconds") if timed else moment.date().isoformat(),
        "body": body,
        "byline": byline,
        "page": page,
    }


def random_moment(rng: random.Random, start: datetime, end: datetime) -> tuple[datetime, bool]:
    """A moment between start and end; about a third of them carry a visible time of day."""
    span_days = max((end - start).days, 1)
    day = start + timedelta(days=rng.randrange(span_days))
    if rng.random() < 0.33:
        return day.replace(
            hour=rng.randint(6, 21), minute=rng.randrange(60), second=rng.randrange(60)
        ), True
    return day.replace(hour=0, minute=0, second=0), False

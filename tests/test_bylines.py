"""Bylines in every form site-spec §3–4 documents."""

import pytest

from sadec_crawler.bylines import is_byline_text, parse_byline

FORMS = [
    ("Thế Vũ, phòng Nội vụ thành phố Sa Đéc", "Thế Vũ", "phòng Nội vụ thành phố Sa Đéc"),
    ("Tin, ảnh: Minh Tâm", "Minh Tâm", None),
    ("Tin và ảnh: Minh Tâm", "Minh Tâm", None),
    ("Tin: Ngọc Hân - Ảnh: Hữu Phước", "Ngọc Hân", None),
    ("Hoàng Nhi (Phòng VH-TT)", "Hoàng Nhi", "Phòng VH-TT"),
    (
        "Nguồn: Trung tâm Văn hóa - Thể thao thành phố",
        None,
        "Trung tâm Văn hóa - Thể thao thành phố",
    ),
    (
        "Tác giả: Lê Thảo, Văn phòng HĐND và UBND thành phố",
        "Lê Thảo",
        "Văn phòng HĐND và UBND thành phố",
    ),
    ("Tin, ảnh: Thanh Hà (Phòng Kinh tế)", "Thanh Hà", "Phòng Kinh tế"),
    ("Phòng Văn hóa và Thông tin", None, "Phòng Văn hóa và Thông tin"),
    ("Thế Vũ - Phòng Nội vụ", "Thế Vũ", "Phòng Nội vụ"),
    ("Thế\u00a0Vũ,\u200b phòng Nội vụ.", "Thế Vũ", "phòng Nội vụ"),
]


@pytest.mark.parametrize(("text", "author", "unit"), FORMS)
def test_author_and_unit(text, author, unit):
    byline = parse_byline(text)
    assert (byline.author, byline.unit) == (author, unit)


def test_photo_credit_is_kept_apart():
    assert parse_byline("Tin: Ngọc Hân - Ảnh: Hữu Phước").photo == "Hữu Phước"


@pytest.mark.parametrize(
    ("text", "emphasised", "right", "expected"),
    [
        ("Thế Vũ, phòng Nội vụ thành phố Sa Đéc", False, True, True),
        ("Thế Vũ, phòng Nội vụ thành phố Sa Đéc", True, False, True),
        ("Thế Vũ, phòng Nội vụ thành phố Sa Đéc", False, False, False),
        ("Tin, ảnh: Minh Tâm", False, False, True),
        ("Nguồn: Báo Đồng Tháp", False, False, True),
        (
            "Hội nghị kết thúc lúc 11 giờ cùng ngày, các đại biểu thống nhất cao với kế hoạch.",
            True,
            True,
            False,
        ),
        ("kết thúc hội nghị", False, True, False),
    ],
)
def test_byline_or_ordinary_paragraph(text, emphasised, right, expected):
    assert is_byline_text(text, emphasised=emphasised, right_aligned=right) is expected

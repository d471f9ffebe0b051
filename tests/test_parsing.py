"""Parsers on saved pages of each documented variant (pure: no crawl, no network).

Cleaning is checked with must-contain / must-not-contain tables, as trafilatura's tests do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sadec_crawler.article import build_article, category_display
from sadec_crawler.items import ArticlePage, ListingEntry
from sadec_crawler.pages import _portlet_of, article_body, extract_listing, parse_html

PAGES = Path(__file__).parent / "pages"
BASE = "https://sadec.dongthap.gov.vn"
CANONICAL = BASE + "/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/"


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def listing(name: str, path: str):
    return extract_listing(page(name), BASE + path, BASE)


def article(name: str, asset_id: int, listing_entry: ListingEntry | None = None):
    fetched = CANONICAL + str(asset_id)
    return build_article(
        ArticlePage(
            url=fetched,
            asset_id=asset_id,
            fetched_url=fetched,
            http_status=200,
            fetched_at="2026-01-01T00:00:00Z",
            html=page(name),
            listing=listing_entry,
        ),
        BASE,
    )


# --- Listings --------------------------------------------------------------------------------
def test_abstracts_entries_with_date_and_summary():
    result = listing("listing_abstracts_lexicon.html", "/tin-tuc-su-kien")
    assert [(e.asset_id, e.date_raw) for e in result.entries] == [
        (9312345, "Đã xuất bản 19/03/2021"),
        (9312400, "Đã xuất bản 5/1/2023"),
    ]
    assert result.entries[0].url == CANONICAL + "9312345"
    assert result.entries[0].summary.startswith("Ủy ban nhân dân thành phố Sa Đéc tổ chức")
    assert result.entries[1].summary.startswith("Làng hoa Sa Đéc đón")


def test_lexicon_pagination_includes_the_dropdown_pages():
    result = listing("listing_abstracts_lexicon.html", "/tin-tuc-su-kien")
    pages = sorted(int(url.rsplit("=", 1)[1]) for url in result.page_links)
    assert pages == [2, 3, 4, 5, 6, 7, 8]


def test_title_list_with_legacy_pager():
    result = listing(
        "listing_titlelist_legacy.html",
        "/thong-bao?p_p_id=101_INSTANCE_Xy12Ab34Cd56&_101_INSTANCE_Xy12Ab34Cd56_cur=3",
    )
    assert [(e.asset_id, e.date_raw) for e in result.entries] == [
        (9400001, "Đăng ngày 17 - 05 - 2024"),
        (9400002, "15:55 | 10/07/2023"),
        (0, "10/07/2023 08:15 CH"),
    ]
    assert sorted(int(u.rsplit("=", 1)[1]) for u in result.page_links) == [1, 2, 4, 9]


def test_table_list_entries():
    result = listing("listing_table.html", "/van-ban")
    assert [(e.asset_id, e.title, e.date_raw) for e in result.entries] == [
        (9500001, "Công khai ngân sách năm 2022", "Cập nhật ngày: 24/04/2015 05:21:36"),
        (9500002, "Báo cáo kinh tế - xã hội quý I", "ngày 05 tháng 4 năm 2023"),
    ]
    assert result.page_links == []


def test_duplicated_cards_make_one_entry_each():
    result = listing("listing_cards_duplicated.html", "/van-hoa-xa-hoi")
    assert [(e.asset_id, e.title, e.date_raw) for e in result.entries] == [
        (9600001, "Ra quân chiến dịch Mùa hè xanh năm 2022", "19 - 06 - 2022"),
        (9600002, "Hội thi văn nghệ quần chúng", "02/09/2022"),
    ]
    assert result.entries[0].summary.startswith("Đoàn Thanh niên thành phố Sa Đéc")


# --- Articles: one test per field ------------------------------------------------------------
@pytest.fixture(scope="module")
def stock():
    return article("article_stock.html", 9312400)


@pytest.fixture(scope="module")
def custom_nfd():
    return article("article_custom_nfd.html", 9700001)


def test_title(stock, custom_nfd):
    assert stock.title == "Lễ hội hoa Sa Đéc 2023 thu hút du khách"
    assert custom_nfd.title == "Phường 2 ra mắt mô hình dân vận khéo"


def test_date_line_with_time(stock):
    assert (stock.published_at, stock.published_at_source) == (
        "2023-01-10T08:15:00+07:00",
        "date_line",
    )
    assert stock.published_at_raw == "10/01/2023 08:15 SA"


def test_listing_date_outranks_the_page():
    entry = ListingEntry(
        CANONICAL + "9312400",
        9312400,
        BASE,
        date_raw="10/01/2023",
        summary="Tóm tắt bài viết về lễ hội hoa",
    )
    result = article("article_stock.html", 9312400, entry)
    assert (result.published_at, result.published_at_source) == (
        "2023-01-10T08:15:00+07:00",
        "listing",
    )
    assert result.summary == "Tóm tắt bài viết về lễ hội hoa"


def test_body_date_when_no_date_line(custom_nfd):
    assert (custom_nfd.published_at, custom_nfd.published_at_source) == ("2022-08-02", "body")


def test_category(stock, custom_nfd):
    assert (stock.category, stock.category_raw) == ("Văn hóa - Xã hội", "SD_Văn hóa - Xã hội")
    assert (custom_nfd.category, custom_nfd.category_raw) == ("Xây dựng đảng", "SD_XÂY DỰNG ĐẢNG")


def test_uppercase_category_takes_a_known_spelling():
    assert (
        category_display("SD_XÂY DỰNG ĐẢNG", {"xây dựng đảng": "Xây dựng Đảng"}) == "Xây dựng Đảng"
    )


def test_author_and_unit(stock, custom_nfd):
    assert (stock.author, stock.unit) == ("Minh Tâm", None)
    assert (custom_nfd.author, custom_nfd.unit_raw) == ("Hoàng Nhi", "Phòng VH-TT")
    assert custom_nfd.unit == "Phòng Văn hóa và Thông tin", "filed under the office's name"


def test_images_and_captions(stock):
    assert [(i.url, i.caption, i.alt) for i in stock.images] == [
        (
            BASE
            + "/documents/481527/0/Le+khai+mac+2023.jpg/"
            + "5f0c1d1e-aaaa-bbbb-cccc-000000000001?t=1672900000000",
            "Đại biểu cắt băng khai mạc lễ hội (Ảnh: Hữu Phước)",
            "Lễ khai mạc",
        )
    ]


def test_attachments(stock):
    assert [(a.filename, a.link_text) for a in stock.attachments] == [
        ("Kế hoạch lễ hội.pdf", "Kế hoạch lễ hội")
    ]
    assert stock.attachments[0].url.startswith(BASE + "/documents/481527/12345/")


MUST_CONTAIN = {
    "stock": [
        "Ngày 05/01/2023, tại Làng hoa Sa Đéc",
        "Đại biểu cắt băng khai mạc lễ hội",
        "Lượt khách | 120.000",
        "Tin, ảnh: Minh Tâm",
    ],
    "custom_nfd": ["Chiều ngày 2/8/2022, Đảng ủy Phường 2", "Hoàng Nhi (Phòng VH-TT)"],
}
MUST_NOT_CONTAIN = [
    "Xuất bản thông tin",
    "null ",
    "Chi tiết bài viết",
    "Có thể bạn quan tâm",
    "Bản quyền",
    "Trang chủ",
    "lượt xem",
    "document.title",
    "alert(",
    "\u00a0",
    "\u200b",
    "&nbsp;",
    "Thành phố Sa Đéc: Cam kết",
]


@pytest.mark.parametrize("name", ["stock", "custom_nfd"])
def test_body_text_must_and_must_not(name, request):
    result = request.getfixturevalue(name)
    for snippet in MUST_CONTAIN[name]:
        assert snippet in result.body_text
    for snippet in MUST_NOT_CONTAIN:
        assert snippet not in result.body_text
    assert "\n\n" in result.body_text


@pytest.mark.parametrize("name", ["stock", "custom_nfd"])
def test_body_html_is_safe_and_absolute(name, request):
    html = request.getfixturevalue(name).body_html
    for bad in ("<script", "onerror", "javascript:", "document.title", "style=", "&nbsp;"):
        assert bad not in html
    assert 'src="/' not in html and 'href="/' not in html


def test_nfd_page_is_stored_nfc(custom_nfd):
    import unicodedata

    for value in (custom_nfd.title, custom_nfd.body_text, custom_nfd.author, custom_nfd.unit):
        assert unicodedata.is_normalized("NFC", value)


# --- A legacy-looking template: markup the selectors only know by structure --------------------
@pytest.fixture(scope="module")
def legacy():
    return article("article_variant_legacy.html", 9800001)


def test_title_from_null_header_when_no_title_element(legacy):
    assert legacy.title == "Kế hoạch số 45 ngày 12/5/2019 về phát triển du lịch"


def test_date_line_in_unknown_markup_before_the_body(legacy):
    assert (legacy.published_at, legacy.published_at_source) == (
        "2019-05-13T15:55:00+07:00",
        "date_line",
    )
    assert legacy.published_at_raw == "Ngày đăng: 15:55 | 13/05/2019"


def test_category_label_without_a_link(legacy):
    assert (legacy.category, legacy.category_raw) == ("Kinh tế", "SD_KINH TẾ")


def test_caption_in_an_image_table_and_servlet_image(legacy):
    assert [(i.url, i.caption) for i in legacy.images] == [
        (
            BASE + "/image/journal/article?img_id=1234567&t=1557700000000",
            "Du khách tham quan làng hoa Tân Quy Đông",
        ),
    ]


def test_legacy_get_file_attachment(legacy):
    assert [(a.filename, a.url) for a in legacy.attachments] == [
        ("Kế hoạch 45.pdf", BASE + "/c/document_library/get_file?uuid=2f1c&groupId=481527")
    ]


def test_source_byline(legacy):
    assert (legacy.author, legacy.unit, legacy.byline) == (
        None,
        "Phòng Văn hóa và Thông tin",
        "Nguồn: Phòng Văn hóa và Thông tin",
    )


def test_site_name_is_stripped_from_html_title_only_when_present():
    from sadec_crawler.pages import _strip_site_name

    assert _strip_site_name("Văn hóa - Xã hội - Cổng thông tin điện tử Thành phố Sa Đéc") == (
        "Văn hóa - Xã hội"
    )
    assert _strip_site_name("Hội thi văn nghệ - Thể thao") == "Hội thi văn nghệ - Thể thao"


# --- Liferay 6.2 and 7.0/7.1 stock markup (docs/site-spec.md §8) --------------------------------
@pytest.fixture(scope="module")
def stock_62():
    """6.2: header outside the content, id only in div.asset-content, metadata after the body,
    category as a path, byline pushed right with no-break spaces."""
    return article("article_62_stock.html", 5123456)


@pytest.fixture(scope="module")
def template_70():
    """7.0: div.h2 header with a "null" back link, the site's web-content template printing
    its own heading, category, title, date line and related list inside the body wrapper."""
    return article("article_70_template.html", 13377001)


def test_generation_titles_come_from_the_header(stock_62, template_70):
    assert stock_62.title == "Hội thao công nhân viên chức thành phố năm 2017"
    # Longer than the 80 characters a template's header lines usually stay within.
    assert template_70.title == (
        "Thành phố Sa Đéc sơ kết công tác dân vận 6 tháng đầu năm 2020, triển khai nhiệm vụ "
        "6 tháng cuối năm"
    )


def test_generation_asset_ids_from_the_asset_content_id():
    from sadec_crawler.pages import asset_id_of, parse_html

    assert asset_id_of(parse_html(page("article_62_stock.html"))) == 5123456
    assert asset_id_of(parse_html(page("article_70_template.html"))) == 13377001
    assert asset_id_of(parse_html(page("article_stock.html"))) == 9312400


def test_generation_dates_after_the_body(stock_62, template_70):
    # 6.2 prints the day only, after the body; the sidebar's "Đã xuất bản" is another article's.
    assert (stock_62.published_at, stock_62.published_at_raw) == ("2017-04-24", "24/04/2017")
    # 7.0 metadata gives the day; the template's own line the same day with its time.
    assert (template_70.published_at, template_70.published_at_raw) == (
        "2020-07-08T14:20:05+07:00",
        "Cập nhật ngày: 08/07/2020 14:20:05",
    )


def test_generation_categories(stock_62, template_70):
    # "Chuyên mục: SD_Văn hóa - Xã hội » SD_Văn hóa - Thể thao": the leaf of the path.
    assert (stock_62.category, stock_62.category_raw) == (
        "Văn hóa - Thể thao",
        "SD_Văn hóa - Thể thao",
    )
    assert (template_70.category, template_70.category_raw) == (
        "Xây dựng Đảng",
        "SD_Xây dựng Đảng",
    )


def test_category_from_keywords_when_no_summary_is_printed():
    import re

    summary = re.compile(
        r'<span class="metadata-entry metadata-categories">.*?</span>\s*</span>', re.S
    )
    html, removed = summary.subn("", page("article_62_stock.html"))
    assert removed == 1
    fetched = CANONICAL + "5123456"
    result = build_article(
        ArticlePage(fetched, 5123456, fetched, 200, "2026-01-01T00:00Z", html), BASE
    )
    assert (result.category, result.category_raw) == ("Văn hóa - Thể thao", "SD_Văn hóa - Thể thao")


def test_generation_bylines(stock_62, template_70):
    assert (stock_62.author, stock_62.unit) == ("Ngọc Hân", "Liên đoàn Lao động thành phố")
    assert (template_70.author, template_70.unit) == ("Hoàng Yến", "Ban Dân vận Thành ủy")


def test_generation_bodies_first_and_last_paragraph(stock_62, template_70):
    paragraphs = stock_62.body_text.split("\n\n")
    assert paragraphs[0].startswith("Sáng ngày 22/4/2017, Liên đoàn Lao động")
    assert paragraphs[-1] == "Ngọc Hân, Liên đoàn Lao động thành phố"
    paragraphs = template_70.body_text.split("\n\n")
    assert paragraphs[0].startswith("Chiều ngày 08/7/2020, Ban Dân vận Thành ủy Sa Đéc")
    assert paragraphs[-1] == "Hoàng Yến (Ban Dân vận Thành ủy)"
    assert [i.caption for i in stock_62.images] == ["Các vận động viên tranh tài môn kéo co"]


GENERATION_CHROME = [
    "Xuất bản thông tin",
    "null",
    "Quay lại",
    "Chi tiết bài viết",
    "SD_",
    "Có thể bạn quan tâm",
    "Các tài sản liên quan",
    "Hội nghị báo cáo viên",
    "Giải bóng đá thiếu niên",
    "Cập nhật ngày",
    "Ngày xuất bản",
    "Xem",
    "In ",
]


@pytest.mark.parametrize("name", ["stock_62", "template_70"])
def test_generation_body_leaves_out_the_chrome(name, request):
    result = request.getfixturevalue(name)
    for snippet in GENERATION_CHROME:
        assert snippet not in result.body_text, snippet
        assert snippet not in result.body_html, snippet
    assert not result.body_html.startswith("<div"), "template wrappers are not content"


def test_abstracts_62_with_read_more_links_and_classic_pager():
    result = listing("listing_abstracts_62.html", "/van-hoa-the-thao")
    assert [(e.asset_id, e.title, e.date_raw) for e in result.entries] == [
        (0, "Hội thao công nhân viên chức thành phố năm 2017", "24/04/2017"),
        (5123001, "Giải bóng đá thiếu niên 2017", "20/03/2017"),
    ]
    assert result.entries[1].summary.startswith("Giải bóng đá thiếu niên thành phố Sa Đéc")
    assert "Chi tiết" not in result.entries[0].summary
    assert sorted(int(u.rsplit("=", 1)[1]) for u in result.page_links) == [2, 3]
    assert result.errors == []


def test_table_70_with_lexicon_pager_without_item_classes():
    result = listing("listing_table_70.html", "/thong-bao")
    assert [(e.asset_id, e.title, e.date_raw) for e in result.entries] == [
        (14200001, "Thông báo lịch tiếp công dân tháng 10/2021", "01/10/2021"),
        (0, "Thông báo tuyển dụng viên chức năm 2021", "15/09/2021"),
    ]
    assert sorted(int(u.rsplit("=", 1)[1]) for u in result.page_links) == [2, 3, 4, 5, 6, 7]


def test_html_title_loses_page_site_and_company():
    from sadec_crawler.pages import _strip_site_name

    assert (
        _strip_site_name(
            "Sa Đéc tổng kết năm 2021 - Chi tiết bài viết - Thành phố Sa Đéc - Cổng thông tin "
            "điện tử Đồng Tháp"
        )
        == "Sa Đéc tổng kết năm 2021"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "/-/asset_publisher/1mOzUrGkrdAE/content/thong-bao-2021/481527",
            ("1mOzUrGkrdAE", None, "thong-bao-2021", 481527),
        ),
        (
            "/-/asset_publisher/1mOzUrGkrdAE/content/thong-bao-2021/maximized",
            ("1mOzUrGkrdAE", None, "thong-bao-2021", None),
        ),
        (
            "/p/-/asset_publisher/20155_1mOzUrGkrdAE/content/id/13377001",
            ("1mOzUrGkrdAE", 13377001, None, None),
        ),
        ("/-/asset_publisher/1mOzUrGkrdAE/document/id/13377002", None),
        ("/-/asset_publisher/1mOzUrGkrdAE/rss", None),
    ],
)
def test_article_route_forms(url, expected):
    from sadec_crawler.urls import parse_article_link

    link = parse_article_link(BASE + url)
    got = None if link is None else (link.instance, link.asset_id, link.url_title, link.group_id)
    assert got == expected


@pytest.mark.parametrize(
    ("name", "url", "last_page"),
    [
        # 6.2 page selector "Các trang trên cổng 1 của 3".
        ("listing_abstracts_62.html", "https://sadec.dongthap.gov.vn/tin-tuc", 3),
        # 7.0 results line "Showing 1 to 2 of 14 entries." on page 1: 2 a page, 7 pages.
        ("listing_table_70.html", "https://sadec.dongthap.gov.vn/thong-bao", 7),
        # 7.2+ "Hiển thị 1 - 2 trong 16 kết quả.": 8 pages.
        ("listing_abstracts_lexicon.html", "https://sadec.dongthap.gov.vn/tin-tuc", 8),
        # Pagers that state no size (the legacy title list).
        ("listing_titlelist_legacy.html", "https://sadec.dongthap.gov.vn/tin-tuc", None),
    ],
)
def test_the_last_page_a_pager_states(name, url, last_page):
    assert extract_listing(page(name), url, "https://sadec.dongthap.gov.vn").last_page == last_page


def test_a_later_page_of_a_results_line_gives_the_same_last_page():
    from sadec_crawler.pages import pager_last_page, parse_html

    bar = '<div class="pagination-bar"><p class="pagination-results">{}</p></div>'
    assert pager_last_page(parse_html(bar.format("Hiển thị 21 - 23 của 23 kết quả.")), 3) == 3
    assert pager_last_page(parse_html(bar.format("Hiển thị 11 - 20 của 1.250 kết quả.")), 2) == 125


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("article_*.html")))
def test_a_page_parses_the_same_from_its_utf8_body_as_from_its_text(name):
    from lxml import etree

    from sadec_crawler.pages import parse_html

    text = page(name)
    from_text = etree.tostring(parse_html(text, read_only=True).root, encoding="unicode")
    from_body = etree.tostring(parse_html(text.encode(), read_only=True).root, encoding="unicode")
    assert from_body == from_text
    # A page that declares another charset is still read as the bytes it is.
    declared = text.replace("<head>", '<head><meta charset="windows-1252">', 1).encode()
    body_text = parse_html(text, read_only=True).css("body ::text").getall()
    assert parse_html(declared, read_only=True).css("body ::text").getall() == body_text


def test_invalid_utf8_in_a_body_costs_one_character_not_the_page():
    from sadec_crawler.pages import parse_html

    body = "<p>Sa Đéc</p><p>x\ufffdy</p><p>Tân Quy</p>".encode().replace("\ufffd".encode(), b"\xff")
    assert parse_html(body, read_only=True).css("p::text").getall() == [
        "Sa Đéc",
        "x\ufffdy",
        "Tân Quy",
    ]


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("article_*.html")))
def test_a_body_cleaned_from_the_parsed_page_equals_one_cleaned_from_its_html(name):
    from sadec_crawler.body import clean_body
    from sadec_crawler.pages import extract_article

    extract = extract_article(page(name), CANONICAL + "1", BASE)
    from_html = clean_body(extract.body_html, CANONICAL + "1", extract.title)
    from_node = clean_body(extract.body_html, CANONICAL + "1", extract.title, extract.body_node)
    assert from_node == from_html
    assert from_node.text and from_node.html


def test_the_class_precheck_never_hides_a_match():
    """``_may_match`` may say yes wrongly, never no: over every element of every saved page as
    a scope, each selector list it guards finds nothing wherever it says no."""
    from sadec_crawler import selectors
    from sadec_crawler.pages import _may_match, parse_html

    guarded = (
        selectors.ARTICLE_DATE_LINE,
        selectors.LISTING_ENTRY_DATE,
        selectors.LISTING_ENTRY_SUMMARY,
    )
    said_no = said_yes = 0
    for path in sorted(PAGES.glob("*.html")):
        document = parse_html(path.read_text(encoding="utf-8"), read_only=True)
        for scope in document.css("body, body *"):
            for queries in guarded:
                if _may_match(scope, queries):
                    said_yes += 1
                else:
                    said_no += 1
                    assert not any(scope.css(query) for query in queries), (path.name, queries)
    assert said_no > 500 and said_yes > 100  # both answers were put to the test


def test_the_page_class_precheck_never_hides_a_match():
    """A page that lacks a class a selector requires (``_query_classes``) has no match for
    it: checked for every CSS selector of ``selectors.py`` on every saved page, and on
    selectors that combine, group and negate classes."""
    import cssselect

    from sadec_crawler import selectors
    from sadec_crawler.pages import _page_classes, _query_classes, parse_html

    queries = {
        query
        for value in vars(selectors).values()
        for query in (value if isinstance(value, tuple) else (value,))
        if isinstance(query, str) and "." in query
    }
    queries |= {".a .b.c, .a.d", "div:not(.asset-full-content) p", "li.x > a.y ~ span"}
    assert _query_classes(".a .b.c, .a.d") == {"a"}
    assert _query_classes("div:not(.hide) p.intro") == {"intro"}
    skipped = 0
    for path in sorted(PAGES.glob("*.html")):
        page = parse_html(path.read_text(encoding="utf-8"), read_only=True)
        present = _page_classes(page)
        for query in sorted(queries):
            try:
                required = _query_classes(query)
            except cssselect.SelectorError:
                continue  # a pattern or a text of selectors.py, not a CSS selector
            if not required <= present:
                skipped += 1
                assert not page.css(query), (path.name, query)
    assert skipped > 50  # the precheck said no often enough to be put to the test


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ("<h3>Sa Đéc triển khai</h3>", True),
        ("<h3>\n   Sa Đéc triển khai</h3>", True),
        ("<p>Hôm nay Sa Đéc triển khai</p>", False),
        ("<p>x</p> Sa Đéc triển khai", True),
        ("Sa Đéc triển khai", False),
        ("<p>Hôm nay Sa Đéc triển khai</p><b> Sa Đéc triển khai</b>", True),
    ],
)
def test_a_title_opening_an_element_is_told_from_one_inside_a_sentence(html, found):
    import re

    from sadec_crawler.pages import _opens_an_element

    assert _opens_an_element(html, "Sa Đéc triển khai") is found
    assert (re.search(">\\s*" + re.escape("Sa Đéc triển khai"), html) is not None) is found


def test_parsing_leaves_the_garbage_collector_as_it_found_it():
    import gc

    from sadec_crawler.article import NotAnArticle

    assert gc.isenabled()
    assert article("article_stock.html", 9312400).title
    assert gc.isenabled()
    broken = ArticlePage(
        url=CANONICAL + "1",
        asset_id=1,
        fetched_url=CANONICAL + "1",
        http_status=200,
        fetched_at="2026-01-01T00:00:00Z",
        html="<html><body><p>no article here</p></body></html>",
    )
    with pytest.raises(NotAnArticle):
        build_article(broken, BASE)
    assert gc.isenabled()
    gc.disable()
    try:
        article("article_stock.html", 9312400)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "name",
    [
        "article_stock.html",
        "article_62_stock.html",
        "article_70_template.html",
        "article_custom_nfd.html",
        "article_variant_legacy.html",
    ],
)
def test_parsing_leaves_no_garbage_for_the_cyclic_collector(name):
    """Everything one article's parsing builds (the page's lxml tree, the body's
    BeautifulSoup tree) is freed when the article is returned, by reference counting alone:
    a cycle left behind keeps a whole page alive until the collector runs, and costs every
    collection a walk of it."""
    import gc

    gc.collect()
    gc.disable()
    try:
        assert article(name, 9312400).title
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "name",
    [
        "listing_abstracts_62.html",
        "listing_abstracts_lexicon.html",
        "listing_cards_duplicated.html",
        "listing_table.html",
        "listing_table_70.html",
        "listing_titlelist_legacy.html",
    ],
)
def test_reading_a_listing_leaves_no_garbage_for_the_cyclic_collector(name):
    import gc

    from sadec_crawler.pages import extract_listing

    gc.collect()
    gc.disable()
    try:
        assert extract_listing(page(name), BASE + "/tin-tuc", BASE).entries
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_the_collector_threshold_is_set_for_a_crawl_and_given_back_after():
    import gc

    from scrapy.exceptions import NotConfigured
    from scrapy.utils.test import get_crawler

    from sadec_crawler.collector import CollectorThreshold

    before = gc.get_threshold()
    extension = CollectorThreshold.from_crawler(get_crawler(settings_dict={}))
    extension.engine_started()
    try:
        assert gc.get_threshold() == (10_000, *before[1:])
    finally:
        extension.engine_stopped()
    assert gc.get_threshold() == before
    with pytest.raises(NotConfigured):
        CollectorThreshold.from_crawler(get_crawler(settings_dict={"SADEC_GC_THRESHOLD": "0"}))


def test_the_portlet_of_a_body_is_its_outermost_matching_ancestor():
    """Liferay nests a portlet's boundary and its content in elements of one kind: the
    article's fields are searched in the outermost, which holds the header as well."""
    html = (
        '<html><body><section class="portlet" id="outer"><div class="h2">header</div>'
        '<section class="portlet" id="inner"><div class="asset-full-content">'
        '<div class="journal-content-article"><p>text</p></div></div></section></section>'
        "</body></html>"
    )
    page = parse_html(html, read_only=True)
    assert _portlet_of(article_body(page), page).root.get("id") == "outer"

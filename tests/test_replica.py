"""The replica serves every form and variant docs/site-spec.md describes, as the brief states."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

from replica import FaultConfig, ReplicaServer, Site
from replica.model import clean_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "replica" / "corpus" / "sample_000_fec1c17d3eb0cf44.txt"
SAMPLE_ID = 9312345
NFD_ID = 11634666
HOSTILE_ID = 7224222
DETAIL = "chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/"
LEXICON_NS = "_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_"


@dataclass
class Fetched:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def tree(self):
        return lxml.html.fromstring(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, headers: dict | None = None, timeout: float = 10) -> Fetched:
    """GET without following redirects; HTTP errors come back as ordinary results."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Fetched(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def portal():
    """Read-only tests share one server; tests that change the site use ``replica``."""
    site = Site()
    with ReplicaServer(site) as server:
        yield server


def listing_ids(server: ReplicaServer, url: str) -> list[int]:
    """Asset ids linked from the listing portlet, in order, duplicates kept."""
    page = fetch(urljoin(server.url, url))
    ids = []
    for link in page.tree.cssselect("div.portlet-body a[href]"):
        asset_id = asset_id_of(server, link.get("href"))
        if asset_id is not None:
            ids.append(asset_id)
    return ids


def asset_id_of(server: ReplicaServer, href: str) -> int | None:
    """Resolve any article link form to its asset id (url-title links need a fetch)."""
    path = urlsplit(href).path
    if "/asset_publisher/1mOzUrGkrdAE/content/" not in path:
        return None
    page = fetch(urljoin(server.url, href))
    return int(page.tree.cssselect("span.asset-anchor")[0].get("id"))


def body_text(tree) -> str:
    body = tree.cssselect("div.journal-content-article")[0]
    for element in body.cssselect("script, style"):
        element.drop_tree()
    return clean_text(body.text_content())


# ---------------------------------------------------------------------- home page and menu


def test_home_page_has_banner_menu_dropdown_offsite_links_and_footer(portal):
    page = fetch(portal.url)
    assert page.status == 200
    tree = page.tree
    assert "Cổng thông tin điện tử" in page.text and "Thành phố Sa Đéc" in page.text
    menu = {a.get("href") for a in tree.cssselect("#navigation a")}
    assert {
        "/tin-tuc-su-kien",
        "/cai-cach-hanh-chinh",
        "/kinh-te/tin-kinh-te",
        "/van-hoa-xa-hoi",
        "/xay-dung-dang",
        "/giao-duc-y-te",
        "/gioi-thieu",
        "/lien-he",
        "/van-ban",
    } <= menu
    dropdown = [a.get("href") for a in tree.cssselect("#navigation ul.dropdown-menu a")]
    assert "/kinh-te/tin-kinh-te" in dropdown
    hrefs = {a.get("href") for a in tree.cssselect("a")}
    assert "https://dongthap.gov.vn/" in hrefs and "https://chinhphu.vn/" in hrefs
    assert "/so-do-site" in hrefs
    assert "Bản quyền thuộc UBND thành phố Sa Đéc" in tree.cssselect("#footer")[0].text_content()
    latest = [a.get("href") for a in tree.cssselect(".home-news a")]
    assert len({asset_id_of(portal, h) for h in latest}) == 6


def test_irrelevant_pages_have_no_asset_publisher(portal):
    for path in ("gioi-thieu", "lien-he", "so-do-site", "van-ban", "kinh-te"):
        page = fetch(portal.url + path)
        assert page.status == 200
        assert "AssetPublisherPortlet" not in page.text and "101_INSTANCE" not in page.text


# ---------------------------------------------------------------------- listings


def test_listings_use_the_portlet_wrapper(portal):
    page = fetch(portal.url + "tin-tuc-su-kien")
    wrapper = page.tree.cssselect(f"div#p_p_id_{LEXICON_NS[1:]}tKv8NqpWd3Lx_")[0]
    title = wrapper.cssselect("section.portlet div.portlet-content h2.portlet-title-text")[0]
    assert title.text_content() == "Xuất bản thông tin"


def test_abstracts_listing_with_and_without_date_info(portal):
    with_dates = fetch(portal.url + "tin-tuc-su-kien").tree
    entries = with_dates.cssselect("div.asset-abstract")
    assert len(entries) == 4
    first = entries[0]
    assert first.cssselect("h4.component-title a.asset-title")[0].get("href")
    assert first.cssselect("span.asset-anchor")[0].get("id").isdigit()
    date = first.cssselect("div.metadata-author .asset-user-info span.date-info")[0]
    assert date.text_content().startswith("Đã xuất bản ")
    label = first.cssselect("div.asset-categories span.taglib-asset-categories-summary a.label")
    assert label[0].text_content() == "SD_Tin tức - Sự kiện"

    without_dates = fetch(portal.url + "kinh-te/tin-kinh-te").tree
    assert without_dates.cssselect("div.asset-abstract")
    assert not without_dates.cssselect("span.date-info")
    assert without_dates.cssselect("a.label")[0].text_content() == "SD_Tin kinh tế"


def test_card_title_list_and_table_listings(portal):
    cards = fetch(portal.url + "cai-cach-hanh-chinh").tree
    card = cards.cssselect("div.news-item")[0]
    assert card.cssselect("img") and card.cssselect("h3.news-title a")
    assert card.cssselect(".news-date") and card.cssselect(".news-summary")
    titles = fetch(portal.url + "xay-dung-dang").tree
    item = titles.cssselect("ul.list-group > li.list-group-item")[0]
    assert item.cssselect("p.list-group-title a") and item.cssselect("p.list-group-subtitle")
    table = fetch(portal.url + "giao-duc-y-te").tree
    assert len(table.cssselect("table.table-list td.table-title a")) == 4


def test_one_listing_renders_every_card_twice(portal):
    tree = fetch(portal.url + "van-hoa-xa-hoi").tree
    desktop = tree.cssselect("div.news-item.d-none.d-md-block")
    mobile = tree.cssselect("div.news-item.d-md-none")
    assert len(desktop) == len(mobile) == 5
    desktop_titles = [c.cssselect("h3.news-title")[0].text_content() for c in desktop]
    assert desktop_titles == [c.cssselect("h3.news-title")[0].text_content() for c in mobile]


def test_listing_is_newest_first_and_every_listed_article_is_reachable(portal):
    site = portal.site
    seen: set[int] = set()
    for category in site.categories.values():
        ids = [a.asset_id for a in site.listing(category.key)]
        dated = [site.articles[i].sort_key for i in ids]
        assert dated == sorted(dated, reverse=True)
        seen |= set(ids)
    listed = {t.asset_id for t in site.truth() if t.listed}
    assert seen == listed
    assert len([t for t in site.truth() if not t.listed]) >= 2


# ---------------------------------------------------------------------- pagination


def test_lexicon_pagination_shows_first_neighbours_last_and_a_dropdown(portal):
    tree = fetch(portal.url + "tin-tuc-su-kien").tree
    bar = tree.cssselect("div.pagination-bar ul.pagination")[0]
    visible = [
        a.text_content().replace("Trang", "").strip()
        for a in bar.cssselect("li.page-item:not(.dropdown) > a.page-link")
    ]
    assert visible[1:-1] == ["1", "2", "6"]
    assert bar.cssselect("li.page-item.active a")[0].text_content().endswith("1")
    assert bar.cssselect("li.page-item.disabled")  # no previous page
    hidden = [a.text_content() for a in bar.cssselect("li.dropdown a.dropdown-icon")]
    assert hidden == ["3", "4", "5"]
    href = bar.cssselect("li.dropdown a.dropdown-icon")[0].get("href")
    for parameter in (
        "p_p_id=com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_"
        "INSTANCE_tKv8NqpWd3Lx",
        "p_p_lifecycle=0",
        "p_p_state=normal",
        "p_p_mode=view",
        f"{LEXICON_NS}tKv8NqpWd3Lx_delta=4",
        "p_r_p_resetCur=false",
        f"{LEXICON_NS}tKv8NqpWd3Lx_cur=3",
    ):
        assert parameter in href
    middle = fetch(urljoin(portal.url, href)).tree
    shown = [
        a.text_content().replace("Trang", "").strip()
        for a in middle.cssselect("ul.pagination li.page-item:not(.dropdown) a")
    ][1:-1]
    assert shown == ["1", "2", "3", "4", "6"]


def test_walking_all_lexicon_pages_yields_each_article_once(portal):
    ids: list[int] = []
    for number in range(1, 7):
        ids += listing_ids(portal, f"tin-tuc-su-kien?{LEXICON_NS}tKv8NqpWd3Lx_cur={number}")
    expected = [a.asset_id for a in portal.site.listing("tin-tuc-su-kien")]
    assert ids == expected and len(expected) == 22


def test_legacy_pagination_buttons(portal):
    first = fetch(portal.url + "kinh-te/tin-kinh-te").tree
    buttons = first.cssselect("div.taglib-page-iterator ul.lfr-pagination-buttons.pager li")
    # Words of Liferay's Language_vi.properties (first, previous, next, last).
    assert [b.text_content().strip() for b in buttons] == [
        "← Đầu tiên",
        "Trước",
        "Tiếp theo",
        "Cuối cùng →",
    ]
    assert [("disabled" in (b.get("class") or "")) for b in buttons] == [True, True, False, False]
    # Disabled buttons lead nowhere (page_iterator/start.jsp), never to a page 0.
    assert [b.cssselect("a")[0].get("href") for b in buttons[:2]] == ["javascript:;"] * 2
    next_href = buttons[2].cssselect("a")[0].get("href")
    assert "p_p_id=101_INSTANCE_wP4sJd8KfR1e" in next_href
    assert "_101_INSTANCE_wP4sJd8KfR1e_cur=2" in next_href
    last = fetch(urljoin(portal.url, buttons[3].cssselect("a")[0].get("href"))).tree
    last_buttons = last.cssselect("ul.lfr-pagination-buttons li")
    assert [("disabled" in (b.get("class") or "")) for b in last_buttons] == [
        False,
        False,
        True,
        True,
    ]


def test_cur_past_end_below_one_or_garbage_returns_the_last_page(portal):
    parameter = f"{LEXICON_NS}tKv8NqpWd3Lx_cur"
    last = listing_ids(portal, f"tin-tuc-su-kien?{parameter}=6")
    assert last
    for value in ("7", "99", "0", "-3", "abc", ""):
        assert listing_ids(portal, f"tin-tuc-su-kien?{parameter}={value}") == last
    legacy_last = listing_ids(portal, "kinh-te/tin-kinh-te?_101_INSTANCE_wP4sJd8KfR1e_cur=3")
    assert listing_ids(portal, "kinh-te/tin-kinh-te?_101_INSTANCE_wP4sJd8KfR1e_cur=50") == (
        legacy_last
    )


def test_short_and_long_page_parameters_agree(portal):
    short = listing_ids(portal, f"tin-tuc-su-kien?{LEXICON_NS}tKv8NqpWd3Lx_cur=2")
    long = listing_ids(
        portal,
        "tin-tuc-su-kien?p_p_id=com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_"
        f"INSTANCE_tKv8NqpWd3Lx&p_p_lifecycle=0&p_p_state=normal&p_p_mode=view&{LEXICON_NS}"
        f"tKv8NqpWd3Lx_delta=4&p_r_p_resetCur=false&{LEXICON_NS}tKv8NqpWd3Lx_cur=2",
    )
    assert short == long and len(short) == 4


def test_small_category_has_no_pagination(portal):
    text = fetch(portal.url + "giao-duc-y-te").text
    assert "pagination" not in text and "taglib-page-iterator" not in text


# ---------------------------------------------------------------------- article pages


def test_every_url_form_serves_the_same_article(portal):
    site = portal.site
    slug = site.slug_of(site.articles[SAMPLE_ID])
    base = portal.url + DETAIL + str(SAMPLE_ID)
    listing = "%2Fcai-cach-hanh-chinh"
    forms = [
        base,
        base + "?inheritRedirect=false",
        base + "?redirect=" + listing,
        base + f"?{LEXICON_NS}1mOzUrGkrdAE_redirect=" + listing,
        base + ";jsessionid=0123456789ABCDEF0123456789ABCDEF",
        base + "/maximized",
        portal.url + "chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/" + slug,
        portal.url + "-/asset_publisher/1mOzUrGkrdAE/content/" + slug,
    ]
    bodies = set()
    for url in forms:
        page = fetch(url)
        assert page.status == 200, url
        assert page.tree.cssselect("span.asset-anchor")[0].get("id") == str(SAMPLE_ID)
        bodies.add(lxml.html.tostring(page.tree.cssselect("div.journal-content-article")[0]))
    assert len(bodies) == 1
    assert slug == "thanh-pho-sa-dec-cam-ket-thuc-hien-cong-tac-cai-cach-hanh-chinh-nam-2021"


def test_listing_and_related_links_use_several_url_forms(portal):
    hrefs = []
    for category in portal.site.categories.values():
        hrefs += [
            a.get("href")
            for a in fetch(portal.url + category.url[1:]).tree.cssselect(
                "div.portlet-body a[href*='asset_publisher']"
            )
        ]
    for article_id in list(portal.site.articles)[:40]:
        tree = fetch(portal.url + DETAIL + str(article_id)).tree
        hrefs += [a.get("href") for a in tree.cssselect(".related-news a, .asset-related-assets a")]
    assert any(h.endswith("inheritRedirect=false") for h in hrefs)
    assert any("?redirect=" in h for h in hrefs)
    assert any("_redirect=" in h and "?redirect" not in h for h in hrefs)
    assert any(";jsessionid=" in h for h in hrefs)
    assert any(h.endswith("/maximized") for h in hrefs)
    assert any("/content/id/" not in h for h in hrefs)
    plain = [h for h in hrefs if h.split("/")[-1].isdigit()]
    assert len(plain) > len(hrefs) / 2


def test_sample_article_is_served_verbatim(portal):
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").split("\n") if line]
    page = fetch(portal.url + DETAIL + str(SAMPLE_ID))
    tree = page.tree
    assert tree.cssselect("h2.portlet-title-text")[0].text_content() == lines[0]
    assert tree.cssselect(".news-detail-header")[0].text_content().strip() == lines[1]
    label = tree.cssselect("span.taglib-asset-categories-summary > a")[0]
    assert "text-uppercase" in label.get("class")
    detail = tree.cssselect(".detail-label")[0].text_content()
    assert f"{detail} {label.text_content().upper()}" == lines[2]
    assert tree.cssselect("div.asset-full-content span.asset-title")[0].text_content() == lines[3]
    paragraphs = [
        p.text_content()
        for p in tree.cssselect("div.journal-content-article p")
        if p.text_content().strip()
    ]
    assert paragraphs == lines[4:9]
    assert tree.cssselect(".related-news-title")[0].text_content().strip() == lines[9]
    assert not tree.cssselect("span.date-info")
    byline = tree.cssselect("div.journal-content-article p")[-1]
    # Pushed right by a run of no-break spaces in a justified paragraph, no emphasis.
    assert byline.get("style") == "text-align: justify;" and not byline.cssselect("strong, em")
    assert byline.text_content().startswith("\u00a0" * 60)
    assert tree.findtext(".//title") == (f"{lines[3]} - Cổng thông tin điện tử Thành phố Sa Đéc")


def test_sample_truth(portal):
    truth = {t.asset_id: t for t in portal.site.truth()}[SAMPLE_ID]
    assert truth.published_at == "2021-03-19" and truth.published_at_raw == "19/03/2021"
    assert (truth.author, truth.unit) == ("Thế Vũ", "phòng Nội vụ thành phố Sa Đéc")
    assert truth.category == "Cải cách hành chính"
    assert truth.category_raw == "SD_Cải cách hành chính"
    assert truth.images[0][1] == "Quang cảnh buổi làm việc"
    assert not truth.has_date_line and truth.listed and not truth.nfd


def test_nfd_article_is_decomposed_in_html_and_truth_is_nfc(portal):
    page = fetch(portal.url + DETAIL + str(NFD_ID))
    truth = {t.asset_id: t for t in portal.site.truth()}[NFD_ID]
    assert truth.nfd and unicodedata.is_normalized("NFC", truth.title)
    assert unicodedata.normalize("NFD", truth.title) in page.text
    assert truth.title not in page.text
    heading = page.tree.cssselect("div.asset-full-content")[0].text_content()
    assert unicodedata.normalize("NFC", heading).count(truth.title) >= 1


def test_truth_agrees_with_every_served_page(portal):
    """The ground truth is what a careful reading of the served pages gives."""
    listing_text = {
        c.key: "".join(fetch(portal.url + c.url[1:] + f"?{c.namespace}delta=200").text)
        for c in portal.site.categories.values()
    }
    for truth in portal.site.truth():
        page = fetch(portal.url + truth.url[1:])
        assert page.status == 200
        tree = page.tree
        # A multi-page article's later pages hold the rest of its text, files and byline.
        later = [
            fetch(urljoin(portal.url, a.get("href"))).tree
            for a in tree.cssselect("a.journal-article-page-number")
        ]
        last = later[-1] if later else tree
        text = " ".join(body_text(t) for t in [tree, *later])
        for snippet in truth.must_contain:
            assert snippet in text, (truth.asset_id, snippet)
        for forbidden in truth.must_not_contain:
            assert forbidden not in text, (truth.asset_id, forbidden)
        sources = [
            img.get("src")
            for t in [tree, *later]
            for img in t.cssselect("div.journal-content-article img")
        ]
        assert [path for path, _ in truth.images] == [
            s for s in sources if s.startswith("/documents/")
        ]
        links = [
            (a.get("href"), a.text_content())
            for t in [tree, *later]
            for a in t.cssselect("div.journal-content-article a[href^='/documents/']")
        ]
        assert links == [tuple(pair) for pair in truth.attachments]
        category_key = next(
            k for k, c in portal.site.categories.items() if c.name == truth.category
        )
        raw_sources = (listing_text[category_key] if truth.listed else "") + page.text
        assert truth.published_at_raw in unicodedata.normalize("NFC", raw_sources)
        assert truth.has_date_line == bool(tree.cssselect("span.date-info"))
        if "T" in truth.published_at:
            hour = truth.published_at[11:16]
            hour12 = f"{int(hour[:2]) % 12 or 12:02d}{hour[2:]}"
            assert hour in raw_sources or hour12 in raw_sources
        label = tree.cssselect("span.taglib-asset-categories-summary > a")[0].text_content()
        assert label == truth.category_raw
        last_paragraph = clean_text(
            last.cssselect("div.journal-content-article > p")[-1].text_content()
        )
        for name in (truth.author, truth.unit):
            if name:
                assert name in last_paragraph
        assert truth.title == clean_text(
            tree.cssselect("span.asset-title, h1.title-detail, h3.article-title")[0].text_content()
        )


def test_hostile_article_keeps_its_markup_and_truth_forbids_the_script(portal):
    page = fetch(portal.url + DETAIL + str(HOSTILE_ID))
    body = page.tree.cssselect("div.journal-content-article")[0]
    html = lxml.html.tostring(body, encoding="unicode")
    assert body.cssselect("script") and body.cssselect("iframe")
    assert "onerror=" in html and "javascript:alert" in html and "expression(" in html
    truth = {t.asset_id: t for t in portal.site.truth()}[HOSTILE_ID]
    assert "hostile-script-marker" in truth.must_not_contain


def test_bylines_cover_every_form(portal):
    texts = [t.must_contain[-1] for t in portal.site.truth() if t.author or t.unit]
    for prefix in ("Tin, ảnh: ", "Tin: ", "Nguồn: ", "Tác giả: "):
        assert sum(text.startswith(prefix) for text in texts) >= 2, prefix
    assert sum(1 for t in portal.site.truth() if not t.author and not t.unit) >= 3


def test_dates_show_every_form_of_the_spec(portal):
    pages = "".join(fetch(portal.url + DETAIL + str(t.asset_id)).text for t in portal.site.truth())
    pages += "".join(fetch(portal.url + c.url[1:]).text for c in portal.site.categories.values())
    for pattern in (
        r"Đã xuất bản \d\d/\d\d/\d{4}<",
        r"Cập nhật ngày: \d\d/\d\d/\d{4} \d\d:\d\d:\d\d<",
        r"Đăng ngày \d\d - \d\d - \d{4}<",
        r">\d\d:\d\d \| \d\d/\d\d/\d{4}<",
        r">\d\d/\d\d/\d{4} \d\d:\d\d CH<",
        r">\d\d/\d\d/\d{4} \d\d:\d\d SA<",
        r">ngày \d\d tháng \d{1,2} năm \d{4}<",
        r">\d\d - \d\d - \d{4}<",
        r">\d\d-\d\d-\d{4}<",
        r">\d\d/\d\d/\d{4}<",
        r">\d{1,2}/\d/\d{4}<|>\d/\d{1,2}/\d{4}<",
    ):
        assert re.search(pattern, pages), pattern


# ---------------------------------------------------------------------- other resources


def test_robots_txt(portal):
    page = fetch(portal.url + "robots.txt")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/plain")
    for line in ("Disallow: /c/", "Disallow: /api/", "Disallow: /__replica__/", "Crawl-delay:"):
        assert line in page.text


def test_documents_have_real_bytes_and_content_types(portal):
    by_extension = {}
    for truth in portal.site.truth():
        for path, name in truth.attachments:
            by_extension.setdefault(name.rsplit(".", 1)[1], path)
        for path, _ in truth.images:
            by_extension.setdefault(path.split("/")[4].rsplit(".", 1)[1].lower(), path)
    expected = {
        "pdf": ("application/pdf", b"%PDF-"),
        "doc": ("application/msword", b"\xd0\xcf\x11\xe0"),
        "docx": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04",
        ),
        "jpg": ("image/jpeg", b"\xff\xd8\xff"),
        "png": ("image/png", b"\x89PNG"),
    }
    assert set(expected) <= set(by_extension)
    for extension, (content_type, magic) in expected.items():
        page = fetch(urljoin(portal.url, by_extension[extension]))
        assert page.status == 200
        assert page.headers["Content-Type"] == content_type
        assert page.body.startswith(magic)
    downloads = [p for t in portal.site.truth() for p, _ in t.attachments if "download=true" in p]
    assert fetch(urljoin(portal.url, downloads[0])).headers["Content-Disposition"]


def test_unknown_paths_answer_404_with_a_portal_error_page(portal):
    for path in (
        "khong-co-trang-nay",
        DETAIL + "1234567",
        "documents/481527/0/x.pdf/00000000-0000-0000-0000-000000000000",
        "-/asset_publisher/1mOzUrGkrdAE/content/khong-co-bai-nay",
    ):
        page = fetch(portal.url + path)
        assert page.status == 404
        assert "Không tìm thấy" in page.text and "Cổng thông tin điện tử" in page.text


def test_conditional_requests(replica):
    url = replica.url + DETAIL + str(SAMPLE_ID)
    first = fetch(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag and modified
    assert fetch(url, {"If-None-Match": etag}).status == 304
    assert fetch(url, {"If-Modified-Since": modified}).status == 304
    assert fetch(url, {"If-None-Match": '"other"'}).status == 200
    assert fetch(url, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status == 200
    change = replica.site.advance(seed=5, publish=0, edit=2, remove=0, recategorise=0)
    edited = replica.url + DETAIL + str(change["edited"][0])
    before = fetch(edited)  # already edited; compare against a fresh site's tag
    with ReplicaServer(Site()) as untouched:
        original = fetch(untouched.url + DETAIL + str(change["edited"][0]))
    assert before.headers["ETag"] != original.headers["ETag"]
    assert before.headers["Last-Modified"] != original.headers["Last-Modified"]
    assert fetch(edited, {"If-None-Match": original.headers["ETag"]}).status == 200


# ---------------------------------------------------------------------- advance()


def test_advance_is_deterministic():
    first, second = Site(), Site()
    assert first.advance(seed=3) == second.advance(seed=3)
    assert first.truth() == second.truth()
    assert Site().advance(seed=4) != Site().advance(seed=3)


def test_advance_effects(replica):
    site = replica.site
    newest_before = max(t.published_at[:10] for t in site.truth())
    change = site.advance(seed=1, publish=3, edit=2, remove=1, recategorise=1)
    assert len(change["published"]) == 3 and len(change["edited"]) == 2
    assert len(change["removed"]) == 1 and len(change["recategorised"]) == 1
    truth = {t.asset_id: t for t in site.truth()}
    for asset_id in change["published"]:
        assert truth[asset_id].published_at[:10] > newest_before
        category = next(c for c in site.categories.values() if c.name == truth[asset_id].category)
        assert asset_id in listing_ids(replica, category.url[1:])[:6]
    removed = change["removed"][0]
    assert removed not in truth
    assert fetch(replica.url + DETAIL + str(removed)).status == 404
    for category in site.categories.values():
        assert removed not in [a.asset_id for a in site.listing(category.key)]
    ages = sorted(truth[i].published_at for i in change["edited"])
    assert ages[0][:4] < ages[1][:4] or ages[0] < ages[1]
    for asset_id in change["edited"]:
        page_text = body_text(fetch(replica.url + DETAIL + str(asset_id)).tree)
        assert "Đến nay, các đơn vị đã triển khai thực hiện" in page_text
        assert truth[asset_id].must_contain[-1] in page_text
    moved = str(change["recategorised"][0])
    target = site.categories[change["moves"][moved]["to"]]
    assert truth[int(moved)].category == target.name
    label = (
        fetch(replica.url + DETAIL + moved)
        .tree.cssselect("span.taglib-asset-categories-summary > a")[0]
        .text_content()
    )
    assert label.upper() == target.label.upper()


def test_control_endpoints_drive_a_replica_from_outside(replica):
    truth = json.loads(fetch(replica.url + "__replica__/truth.json").body)
    assert len(truth) == 64 and {"asset_id", "must_contain", "nfd"} <= set(truth[0])
    request = urllib.request.Request(
        replica.url + "__replica__/advance",
        data=json.dumps({"seed": 2, "publish": 2}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        change = json.loads(response.read())
    assert len(change["published"]) == 2
    assert len(json.loads(fetch(replica.url + "__replica__/truth.json").body)) == 64 + 2 - 1
    home = fetch(replica.url).text
    assert "__replica__" not in home


def test_extra_articles_are_generated_deterministically():
    first = Site(seed=7, extra_articles=1000)
    second = Site(seed=7, extra_articles=1000)
    assert len(first.truth()) == 1064
    assert first.truth() == second.truth()
    years = {t.published_at[:4] for t in first.truth()}
    assert {"2015", "2020", "2025"} <= years
    with ReplicaServer(first) as server:
        generated = next(t for t in first.truth() if t.asset_id >= 30_000_000)
        page = fetch(server.url + generated.url[1:])
        assert page.status == 200
        text = body_text(page.tree)
        assert all(snippet in text for snippet in generated.must_contain)


# ---------------------------------------------------------------------- faults


def test_errors_are_deterministic_and_retries_can_succeed():
    config = FaultConfig(seed=1, error_rate=0.5)
    with ReplicaServer(Site(), faults=config) as server:
        statuses = {}
        for number in range(30):
            url = server.url + f"tin-tuc-su-kien?{LEXICON_NS}tKv8NqpWd3Lx_cur={number}"
            page = fetch(url)
            statuses[number] = page.status
            if page.status in (500, 503):
                for _ in range(10):
                    if fetch(url).status == 200:
                        break
                else:
                    pytest.fail("a retry never succeeded")
        assert {500, 503} & set(statuses.values()) and 200 in statuses.values()
        failed = [e for e in server.requests if e.status in (500, 503)]
        assert failed and not any(e.served_ok for e in failed)
        assert any(e.served_ok for e in server.requests)
    with ReplicaServer(Site(), faults=FaultConfig(seed=1, error_rate=1.0)) as server:
        answers = [fetch(server.url + f"gioi-thieu?x={n}") for n in range(20)]
        retry_after = [a.headers.get("Retry-After") for a in answers]
        assert "1" in retry_after and None in retry_after
    with ReplicaServer(Site(), faults=config) as again:
        replay = {
            n: fetch(again.url + f"tin-tuc-su-kien?{LEXICON_NS}tKv8NqpWd3Lx_cur={n}").status
            for n in range(30)
        }
    assert replay == statuses


def test_soft_404_pages_answer_200_with_an_error_page():
    soft = FaultConfig(soft404_paths=("/xay-dung-dang",))
    with ReplicaServer(Site(), faults=soft) as server:
        page = fetch(server.url + "xay-dung-dang")
        assert page.status == 200 and "Trang không tồn tại" in page.text
        assert server.requests[-1].served_ok is False
        assert fetch(server.url + "van-hoa-xa-hoi").status == 200


def test_truncated_bodies_end_before_their_content_length():
    truncating = ReplicaServer(Site(), faults=FaultConfig(truncate_rate=1.0))
    with truncating as server, pytest.raises(http.client.IncompleteRead):
        fetch(server.url)
    assert truncating.requests[-1].served_ok is False


def test_stalled_answers_outlast_the_client_timeout():
    stalling = ReplicaServer(Site(), faults=FaultConfig(timeout_rate=1.0, timeout_seconds=0.2))
    with stalling as server, pytest.raises((TimeoutError, urllib.error.URLError)):
        fetch(server.url + "robots.txt", timeout=0.2)


def test_malformed_pages_keep_their_text():
    with ReplicaServer(Site(), faults=FaultConfig(malformed_rate=1.0)) as server:
        page = fetch(server.url + DETAIL + str(SAMPLE_ID))
        assert page.status == 200 and "</html>" not in page.text
        assert "Sáng ngày 19/3/2021" in page.text
        assert server.requests[-1].fault == "malformed"


def test_redirect_loop_offsite_redirect_and_huge_page():
    config = FaultConfig(
        redirect_loop=True,
        offsite_redirect=True,
        huge_page_path="/van-ban/tong-hop",
        huge_page_mb=1,
    )
    with ReplicaServer(Site(), faults=config) as server:
        home = fetch(server.url)
        hrefs = {a.get("href") for a in home.tree.cssselect("a")}
        assert "/tin-luu-tru" in hrefs and "/lien-ket/dich-vu-cong-truc-tuyen" in hrefs
        first = fetch(server.url + "tin-luu-tru")
        second = fetch(urljoin(server.url, first.headers["Location"]))
        assert first.status == second.status == 302
        assert urljoin(server.url, second.headers["Location"]) == server.url + "tin-luu-tru"
        offsite = fetch(server.url + "lien-ket/dich-vu-cong-truc-tuyen")
        assert offsite.status == 302
        assert offsite.headers["Location"] == f"http://127.0.0.2:{server.port}/"
        assert "/van-ban/tong-hop" in fetch(server.url + "van-ban").text
        assert len(fetch(server.url + "van-ban/tong-hop").body) >= 1024 * 1024
    with ReplicaServer(Site()) as server:
        assert fetch(server.url + "tin-luu-tru").status == 404


def test_request_log_records_method_path_status_and_headers(replica):
    fetch(replica.url + "robots.txt", {"User-Agent": "sadec-test"})
    entry = replica.requests[-1]
    assert (entry.method, entry.path_with_query, entry.status) == ("GET", "/robots.txt", 200)
    assert entry.served_ok and entry.headers["User-Agent"] == "sadec-test"


# ---------------------------------------------------------------------- command line


def test_command_line_prints_the_url_first():
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--port", "0", "--seed", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert fetch(url + "robots.txt").status == 200
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# ---------------------------------------------------------------------- Liferay generations
@pytest.fixture(scope="module", params=["6.2", "7.0"])
def classic(request):
    """The same site in 6.2 or 7.0/7.1 stock markup (docs/site-spec.md §8)."""
    with ReplicaServer(Site(liferay=request.param)) as server:
        yield server


def test_classic_article_pages_wear_their_generation(classic):
    generation = classic.site.liferay
    page = fetch(classic.url + DETAIL + str(SAMPLE_ID))
    assert page.headers["Liferay-Portal"].startswith(
        {
            "6.2": "Liferay Portal Community Edition 6.2",
            "7.0": "Liferay Community Edition Portal 7.0",
        }[generation]
    )
    tree = page.tree
    assert not tree.cssselect("span.asset-anchor"), "6.2/7.0 full content prints no anchor"
    content = tree.cssselect("div.asset-full-content div.asset-content")[0]
    assert content.get("id").endswith(f"_INSTANCE_1mOzUrGkrdAE_{SAMPLE_ID}")
    header = tree.cssselect(
        "div.taglib-header h3.header-title > span, div.h2 > span:not(.header-back-to)"
    )
    assert header and not tree.cssselect(
        "div.asset-full-content .taglib-header, div.asset-full-content div.h2"
    )
    metadata = tree.cssselect(".metadata-publish-date")[0]
    assert metadata.text_content().strip() == "19/03/2021"
    body = tree.cssselect("div.journal-content-article")[0]
    elements = list(tree.iter())
    assert body not in metadata.iterancestors() and elements.index(metadata) > elements.index(body)
    # 6.2 sets the page subtitle, 7.0 the page title (asset_html_metadata.jsp), site-spec §8.
    suffix = {
        "6.2": " - Chi tiết bài viết - Cổng thông tin điện tử Đồng Tháp",
        "7.0": " - Thành phố Sa Đéc - Cổng thông tin điện tử Đồng Tháp",
    }[generation]
    title = "Thành phố Sa Đéc: Cam kết thực hiện công tác cải cách hành chính năm 2021"
    assert tree.findtext(".//title") == title + suffix


def test_sample_article_in_70_reads_as_the_real_page():
    """The sample's text is a 7.0/7.1 page's: the header's "null", then the web-content
    template's heading, category, title, body and related list."""
    lines = [
        line.strip() for line in SAMPLE.read_text(encoding="utf-8").split("\n") if line.strip()
    ]
    with ReplicaServer(Site(liferay="7.0")) as server:
        tree = fetch(server.url + DETAIL + str(SAMPLE_ID)).tree
    portlet = tree.cssselect("section.portlet")[0]
    for element in portlet.cssselect("script, style, dl.taglib-asset-metadata, div.asset-ratings"):
        element.drop_tree()
    for element in portlet.cssselect(".text-uppercase"):  # as the browser shows it
        element.text = (element.text or "").upper()
    flat = clean_text(" ".join(portlet.itertext()))
    position = 0
    for line in lines:  # every line of the real page, in its order
        found = flat.find(clean_text(line), position)
        assert found >= position, (line, flat[position : position + 200])
        position = found + len(clean_text(line))


def test_classic_listings_and_pagers(classic):
    generation = classic.site.liferay
    tree = fetch(classic.url + "kinh-te/tin-kinh-te").tree
    assert tree.cssselect(
        "div.asset-abstract h3.asset-title"
        if generation == "6.2"
        else "div.asset-abstract h4.asset-title"
    )
    assert bool(tree.cssselect("div.asset-more")) == (generation == "6.2")
    buttons = tree.cssselect("div.taglib-page-iterator ul.lfr-pagination-buttons li a")
    assert [a.get("href") for a in buttons[:2]] == ["javascript:;"] * 2
    simple = fetch(classic.url + "xay-dung-dang").tree
    assert not simple.cssselect("div.taglib-page-iterator")
    assert [a.text_content() for a in simple.cssselect("ul.lfr-pagination-buttons li a")] == [
        "Trước",
        "Tiếp theo",
    ]
    if generation == "7.0":
        lexicon = fetch(classic.url + "tin-tuc-su-kien").tree
        assert lexicon.cssselect("ul.pagination li a") and not lexicon.cssselect(
            ".page-item, .page-link"
        )


def test_generations_share_their_ground_truth_but_raw_date_and_label_case():
    truths = {g: {t.asset_id: t for t in Site(liferay=g).truth()} for g in ("6.2", "7.0", "7.4")}
    for asset_id, modern in truths["7.4"].items():
        for generation in ("6.2", "7.0"):
            old = truths[generation][asset_id]
            assert (old.title, old.published_at, old.author, old.unit, old.summary) == (
                modern.title,
                modern.published_at,
                modern.author,
                modern.unit,
                modern.summary,
            )
            assert old.category_raw.casefold() == modern.category_raw.casefold()


def test_command_line_serves_a_generation():
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--port", "0", "--liferay", "6.2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        page = fetch(url + DETAIL + str(SAMPLE_ID))
        assert page.headers["Liferay-Portal"].startswith("Liferay Portal Community Edition 6.2")
        assert page.tree.cssselect("div.taglib-header")
    finally:
        process.terminate()
        process.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, "-m", "replica", "--liferay", "8.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr

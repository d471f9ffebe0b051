"""Simple selectors matched in Python (``sadec_crawler.simple_selectors``): parsel's matches,
in parsel's order, for every selector of the selectors module, on every generation's pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from replica import Site
from replica.app import App
from replica.faults import FaultConfig
from sadec_crawler import selectors as css
from sadec_crawler.pages import _portlet_of, article_body, parse_html
from sadec_crawler.simple_selectors import class_index, compounds, select

SAVED_PAGES = sorted((Path(__file__).parent / "pages").glob("*.html"))


def every_selector() -> list[str]:
    """Each CSS selector the selectors module holds, alone or in a tuple."""
    found = []
    for value in vars(css).values():
        for query in value if isinstance(value, tuple) else (value,):
            if isinstance(query, str) and (query[:1].isalpha() or query[:1] in ".[#*"):
                found.append(query)
    return found


SIMPLE = [query for query in every_selector() if compounds(query) is not None]


def replica_pages(generation: str, articles: int = 6) -> list[str]:
    """Article and listing pages of the replica as ``generation`` renders them."""
    site = Site(liferay=generation)
    app = App(site, FaultConfig(), generation)
    urls = [truth.url for truth in site.truth(generation)[:articles]]
    urls += [category.url for category in list(site.categories.values())[:2]]
    return [app.handle("GET", url, {}, b"").body.decode("utf-8") for url in urls]


@pytest.fixture(scope="module", params=["6.2", "7.0", "7.4"])
def pages(request) -> list[str]:
    return replica_pages(request.param)


def roots(selection) -> list:
    return [node.root for node in selection]


def test_the_article_selectors_are_simple_enough_to_be_matched_here():
    assert len(SIMPLE) >= 20
    for query in (*css.ARTICLE_TITLE, *css.ARTICLE_HEADER, *css.ARTICLE_BODY):
        assert compounds(query) is not None, query


def test_every_simple_selector_matches_what_parsel_matches(pages):
    compared = matched = 0
    for html in pages + [path.read_text(encoding="utf-8") for path in SAVED_PAGES]:
        page = parse_html(html, read_only=True)
        portlet = _portlet_of(article_body(page), page)
        for scope in (page, portlet):
            for query in SIMPLE:
                expected = roots(scope.css(query))
                assert roots(select(scope, query)) == expected, query
                compared += 1
                matched += bool(expected)
    assert compared > 1000 and matched > 100  # the pages hold what the selectors look for


def test_a_page_whose_classes_are_indexed_answers_class_only_selectors_the_same():
    page = parse_html(replica_pages("7.0", articles=1)[0], read_only=True)
    class_index(page)  # the whole page indexed: class-only selectors are answered from it
    for query in SIMPLE:
        assert roots(select(page, query)) == roots(page.css(query)), query


MARKUP = """<html><body><div id="scope" class="portlet">
  <div class="a"><div class="b  a"><p class="c">one</p></div></div>
  <div class="b"><span class="c">two</span></div>
  <div class="a&#9;x"><span class="x&#10;c">three</span></div>
  <div class="a"><span class="C">four</span><span class="c&#160;d">five</span></div>
  <div class="a a"><b class="c c">six</b></div>
</div><p class="c">outside the scope</p></body></html>"""


@pytest.mark.parametrize(
    "query",
    [".c", ".a .c", "div.a .c", ".a .b .c", ".b.a .c", "div.b span.c", "span", "div p.c",
     ".x", ".x.c", ".C", ".d", "div.portlet .a", "*.a", ".a *", "p"],
)  # fmt: skip
def test_class_names_are_split_and_matched_as_parsel_does(query):
    """Tabs and line ends split class names (XPath's normalize-space), a no-break space does
    not; names are case-sensitive; a repeated name matches once; the scope's own element can
    match, and nothing outside it does."""
    page = parse_html(MARKUP, read_only=True)
    scope = page.css("#scope")[0]
    assert roots(select(scope, query)) == roots(scope.css(query))
    assert roots(select(page, query)) == roots(page.css(query))


@pytest.mark.parametrize(
    "query", ["div > p", "a::attr(href)", "p::text", ".a, .b", "[id]", "div:not(.a)", "#scope"]
)
def test_other_selectors_are_left_to_parsel(query):
    page = parse_html(MARKUP, read_only=True)
    assert compounds(query) is None
    assert roots(select(page, query)) == roots(page.css(query))

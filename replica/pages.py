"""HTML for every kind of page: view models built from the Site, rendered by Jinja2 templates."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from replica import boilerplate, dates, generations
from replica.model import (
    ASSET_PUBLISHER_PORTLET,
    Article,
    Category,
    Site,
    paragraph_text,
    stable_fraction,
    stable_hex,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
PLACEHOLDER_THUMBNAIL = "/o/sadec-theme/images/no-thumbnail.png"
HOME_PORTLET_INSTANCE = "hMe7LtNw2Xq4"


def body_text(text: str) -> Markup:
    """Escape body text but keep no-break spaces visible as &nbsp;, as the editor wrote them."""
    return Markup(str(escape(text)).replace("\u00a0", "&nbsp;"))


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["body_text"] = body_text
    return environment


@dataclass
class Pager:
    """Page arithmetic plus the item list a Liferay page iterator shows."""

    category: Category
    current: int
    last: int
    total: int
    delta: int
    generation: str = generations.DEFAULT

    @property
    def first_item(self) -> int:
        return (self.current - 1) * self.delta + 1 if self.total else 0

    @property
    def last_item(self) -> int:
        return min(self.current * self.delta, self.total)

    @property
    def portlet_id(self) -> str:
        return self.category.portlet_for(self.generation)

    @property
    def kind(self) -> str:
        """``lexicon``, ``lexicon-70``, ``classic`` or ``simple`` (generations.pager_kind)."""
        simple = self.category.classic_pager == "simple"
        return generations.pager_kind(self.generation, self.category.pagination, simple)

    def url(self, number: int) -> str:
        """Page link with Liferay's parameter set; only ``_cur`` changes between links. The 6.2
        portlet (``101_INSTANCE_…``) links carry the short set, 7.x the long one."""
        portlet_id = self.portlet_id
        if portlet_id.startswith(generations.LEGACY_PORTLET):
            query = {"p_p_id": portlet_id, f"_{portlet_id}_cur": number}
        else:
            query = {
                "p_p_id": portlet_id,
                "p_p_lifecycle": 0,
                "p_p_state": "normal",
                "p_p_mode": "view",
                f"_{portlet_id}_delta": self.delta,
                "p_r_p_resetCur": "false",
                f"_{portlet_id}_cur": number,
            }
        return f"{self.category.url}?{urlencode(query)}"

    @property
    def nearby(self) -> list[int]:
        """Pages the classic page selector lists: up to 10 either side of the current one
        (``maxPages`` of the page_iterator taglib)."""
        return [n for n in range(self.current - 10, self.current + 11) if 1 <= n <= self.last]

    @property
    def items(self) -> list[dict]:
        """With more than 5 pages: first, current±1, last; the gaps go into "..." dropdowns."""
        if self.last <= 5:
            return [{"kind": "page", "number": n} for n in range(1, self.last + 1)]
        shown = sorted(
            {1, self.last, self.current - 1, self.current, self.current + 1}
            & set(range(1, self.last + 1))
        )
        items: list[dict] = []
        previous = 0
        for number in shown:
            if number - previous > 1:
                items.append({"kind": "more", "numbers": self._hidden(previous + 1, number)})
            items.append({"kind": "page", "number": number})
            previous = number
        return items

    @staticmethod
    def _hidden(start: int, stop: int, keep: int = 10) -> list[int]:
        """Pages of one "..." gap; huge gaps (scale runs) keep only ``keep`` pages at each end.

        Listing thousands of pages in every dropdown would make each listing page of a
        20,000-article replica weigh half a megabyte; the next/previous links still reach all.
        """
        numbers = list(range(start, stop))
        if len(numbers) <= 2 * keep:
            return numbers
        return numbers[:keep] + numbers[-keep:]


class Renderer:
    """Turns Site state into HTML strings; holds no state of its own besides the templates."""

    def __init__(self, site: Site, generation: str | None = None):
        self.site = site
        self.generation = generations.check(generation or site.liferay)
        self.environment = make_environment()
        config = site.config
        self.common = {
            "generation": self.generation,
            "site_name": config["site_name"],
            "province_line": config["province_line"],
            "menu": config["menu"],
            "footer": config["footer"],
            "footer_extra_links": [],
            "active_url": None,
            # Scripts, styles and widgets every portal page carries (~170 KB, see boilerplate).
            "chrome": boilerplate.chrome(),
        }

    def _render(self, template: str, **context) -> str:
        merged = {**self.common, **context}
        return self.environment.get_template(template).render(**merged)

    def _text(self, article: Article, text: str) -> str:
        """Article-owned text, decomposed (NFD) for the article stored that way (spec §4)."""
        return unicodedata.normalize("NFD", text) if article.page.get("nfd") else text

    def _thumbnail(self, article: Article) -> str | None:
        for index, block in enumerate(article.body):
            if isinstance(block, dict) and "img" in block:
                return self.site.media_for_block(article, index)[0].path
        return None

    def category_href(self, category: Category) -> str:
        """Category label link: 6.2 used a numbered public render parameter, 7.x a plain one."""
        if category.pagination == "legacy" or self.generation == "6.2":
            return f"{category.url}?p_r_p_564233524_categoryId={category.category_id}"
        return f"{category.url}?p_r_p_categoryId={category.category_id}"

    # ------------------------------------------------------------------ pages

    def home(self, fault_links: list[dict], footer_links: list[dict]) -> str:
        entries = []
        for article in self.site.latest(6):
            entries.append(
                {
                    "href": self.site.article_link(article, "home"),
                    "title": self._text(article, article.title),
                    "summary": self._text(article, self.site.summary(article)),
                    "thumbnail": self._thumbnail(article) or PLACEHOLDER_THUMBNAIL,
                }
            )
        return self._render(
            "home.html",
            latest=entries,
            latest_portlet_id=ASSET_PUBLISHER_PORTLET + HOME_PORTLET_INSTANCE,
            categories=list(self.site.categories.values()),
            offsite_links=self.site.config["offsite_links"],
            fault_links=fault_links,
            footer_extra_links=footer_links,
            active_url="/",
        )

    def listing(self, category: Category, page: int, delta: int) -> str:
        members = self.site.listing(category.key)
        last = max(1, -(-len(members) // delta))
        page = min(max(page, 1), last)
        chosen = members[(page - 1) * delta : page * delta]
        paging = Pager(category, page, last, len(members), delta, self.generation)
        back_url = category.url if page == 1 else paging.url(page)
        entries = [self._listing_entry(article, category, back_url) for article in chosen]
        return self._render(
            "listing.html",
            category=category,
            portlet_id=category.portlet_for(self.generation),
            entries=entries,
            pager=paging if len(members) > delta else None,
            active_url=category.url,
        )

    def _listing_entry(self, article: Article, category: Category, back_url: str) -> dict:
        if self.generation == "7.4":
            form = category.listing_form(article.timed)
        else:
            form = self.site.classic_listing_form(category, article.timed)
        thumbnail = self._thumbnail(article)
        return {
            "asset_id": article.asset_id,
            "href": self.site.article_link(article, f"list:{category.key}", back_url),
            "href_mobile": self.site.article_link(article, f"mobile:{category.key}", back_url),
            "title": self._text(article, article.title),
            "summary": self._text(article, self.site.summary(article)),
            "date_text": dates.render(form, article.moment) if form else None,
            "thumbnail": thumbnail or PLACEHOLDER_THUMBNAIL,
            "has_image": thumbnail is not None,
            "category_href": self.category_href(category),
        }

    def article_page_count(self, article: Article) -> int:
        """Pages of a web content split by page breaks (``<!-- pagebreak -->`` in Liferay)."""
        return len(article.page.get("page_breaks", [])) + 1

    def article_page_url(self, article: Article, number: int) -> str:
        """Link to page ``number`` of a multi-page article: the journal page iterator's
        ``<ns>page`` parameter (not ``_cur``), site-spec §8."""
        portlet = generations.portlet_prefix(self.generation) + self.site.config["detail_instance"]
        return f"{self.site.article_path(article)}?_{portlet}_page={number}"

    def article(self, article: Article, page_number: int = 1) -> str:
        category = self.site.category_of(article)
        page = article.page
        label = category.label
        view = {
            "asset_id": article.asset_id,
            "journal_article_id": article.asset_id - 3,  # JournalArticle ids sit just below
            "title": self._text(article, article.title),
            "bare_title": page.get("bare_title", False),
            "heading": page.get("heading", "asset-title"),
            "label_upper": page.get("label_case") == "upper",
            "category_label": label.upper() if page.get("label_case") == "upper" else label,
            "category_href": self.category_href(category),
            "date_line": dates.render(page["date_line"], article.moment)
            if page.get("date_line")
            else None,
            "views": page.get("views"),
            "blocks": self._page_blocks(article, page_number),
            "article_pages": [
                {"number": n, "href": self.article_page_url(article, n)}
                for n in range(1, self.article_page_count(article) + 1)
            ]
            if self.article_page_count(article) > 1
            else [],
            "page_number": page_number,
            "related_style": page.get("related", "custom"),
            "related": [
                {
                    "href": self.site.article_link(
                        other, f"related:{article.asset_id}", self.site.article_path(article)
                    ),
                    "title": self._text(other, other.title),
                    "date_text": dates.render("dmy", other.moment),
                }
                for other in self.site.related(article)
            ],
        }
        instance = self.site.config["detail_instance"]
        if self.generation == "7.4":
            detail_portlet_id = ASSET_PUBLISHER_PORTLET + instance
            return self._render(
                "article.html",
                view=view,
                detail_portlet_id=detail_portlet_id,
                namespace=f"_{detail_portlet_id}_",
            )
        detail_portlet_id = generations.portlet_prefix(self.generation) + instance
        view.update(self._classic_view(article, category))
        return self._render(
            "article_classic.html",
            view=view,
            detail_portlet_id=detail_portlet_id,
            namespace=f"_{detail_portlet_id}_",
        )

    def _classic_view(self, article: Article, category: Category) -> dict:
        """What a 6.2/7.0 article page adds: the site's web-content template (on some
        articles), the stock metadata after the body, page keywords, the back link."""
        site = self.site
        form = site.classic_date_form(article)
        parent = next(
            (
                item["label"]
                for item in self.site.config["menu"]
                if any(child["url"] == category.url for child in item.get("children", []))
            ),
            None,
        )
        label = category.label
        upper = article.page.get("label_case") == "upper"
        return {
            "template": site.classic_template(article),
            "template_label": label.upper() if upper else label,
            "template_date": dates.render(form, article.moment) if form else None,
            "category_path": f"SD_{parent} » {label}" if parent else label,
            "keywords_only": site.classic_keywords_only(article),
            "keywords": label,
            "publish_date": dates.render("dmy", article.moment),
            "view_count": 40 + int(stable_fraction(site.seed, "views", article.asset_id) * 900),
            "back_url": category.url,
            "site_short": site.config["site_name_short"],
        }

    def _page_blocks(self, article: Article, page_number: int) -> list[dict]:
        """The blocks of one page of the article (all of them for a single-page one); the
        byline closes the last page."""
        blocks = self._blocks(article)
        starts = [0, *article.page.get("page_breaks", []), len(blocks)]
        if page_number == len(starts) - 1:
            return blocks[starts[page_number - 1] :]
        return blocks[starts[page_number - 1] : starts[page_number]]

    def _blocks(self, article: Article) -> list[dict]:
        """Template-ready body blocks; the byline is appended as the last paragraph."""
        blocks: list[dict] = []
        for index, block in enumerate(article.body):
            text = paragraph_text(block)
            if text is not None:
                align = block.get("align", "justify") if isinstance(block, dict) else "justify"
                blocks.append({"kind": "p", "text": self._text(article, text), "align": align})
            elif "img" in block:
                caption = block.get("caption")
                blocks.append(
                    {
                        "kind": "img",
                        "src": self.site.media_for_block(article, index)[0].path,
                        "caption": self._text(article, caption) if caption else None,
                    }
                )
            elif "table" in block:
                rows = [
                    {
                        "header": block.get("header", False) and row_index == 0,
                        "cells": [self._text(article, cell) for cell in row],
                    }
                    for row_index, row in enumerate(block["table"])
                ]
                blocks.append({"kind": "table", "rows": rows})
            elif "files" in block:
                files = [
                    {"href": m.path, "name": m.file_name}
                    for m in self.site.media_for_block(article, index)
                ]
                blocks.append({"kind": "files", "files": files})
            elif "raw" in block:
                blocks.append({"kind": "raw", "html": self._text(article, block["raw"])})
        if article.byline:
            indent = "\u00a0" * article.byline.get("indent", 0)
            text = f"{indent} {article.byline['text']}" if indent else article.byline["text"]
            # "pushed": right-aligned by the no-break spaces alone, in a justified paragraph
            # with no emphasis (the sample page's byline, site-spec §3 item 7).
            style = article.byline.get("style")
            tag = style if style in ("em", "pushed") else "strong"
            blocks.append({"kind": "byline", "text": self._text(article, text), "tag": tag})
        return blocks

    def static_page(self, path: str, extra_links: list[dict]) -> str:
        """Pages without an asset publisher: introduction, contact, site map, documents."""
        config = self.site.config
        context: dict = {
            "paragraphs": [],
            "site_map": None,
            "documents": None,
            "extra_links": extra_links,
            "active_url": path,
        }
        if path == "/so-do-site":
            context.update(page_title="Sơ đồ site", site_map=config["menu"])
        elif path == "/van-ban":
            context.update(
                page_title="Văn bản",
                paragraphs=["Danh mục văn bản chỉ đạo, điều hành của Ủy ban nhân dân thành phố."],
                documents=config["documents_page"],
            )
        else:
            page = config["pages"][path]
            context.update(page_title=page["title"], paragraphs=page["paragraphs"])
        context["portlet_suffix"] = stable_hex("page", path, length=12)
        return self._render("page.html", **context)

    def error(self, status: int, requested: str, soft: bool = False) -> str:
        if soft or status == 404:
            heading = "Trang không tồn tại" if soft else "Không tìm thấy"
            message = (
                "Trang bạn yêu cầu không tồn tại hoặc đã bị xóa."
                if soft
                else "Không tìm thấy tài nguyên được yêu cầu."
            )
        else:
            heading = "Lỗi hệ thống"
            message = "Đã xảy ra lỗi trong quá trình xử lý yêu cầu. Vui lòng thử lại sau."
        return self._render("error.html", heading=heading, message=message, requested=requested)

    def huge_page(self, size_bytes: int) -> bytes:
        """A page of roughly ``size_bytes``: a documents table that goes on and on."""
        head = self._render(
            "page.html",
            page_title="Tổng hợp văn bản",
            paragraphs=[],
            site_map=None,
            documents=None,
            extra_links=[],
            portlet_suffix="HugePage0001",
            active_url=None,
        )
        row = "<p>Danh mục văn bản lưu trữ của Ủy ban nhân dân thành phố Sa Đéc.</p>\n"
        marker = "</div>\n"
        cut = head.index(marker)
        repeats = max(1, (size_bytes - len(head)) // len(row.encode("utf-8")))
        return (head[:cut] + row * repeats + head[cut:]).encode("utf-8")

"""The replica's content: categories, articles, their links and files, and the ground truth.

``Site`` owns all mutable state behind one lock; the HTTP layer only reads through it. Every
choice that is not in the corpus data (link forms, jsessionids, file ids) is derived from a hash of
stable inputs, so two sites built with the same arguments serve byte-identical pages.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

from replica import dates, generations, generator

CORPUS_DIR = Path(__file__).parent / "corpus"
ASSET_PUBLISHER_PORTLET = "com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet_INSTANCE_"
INVISIBLE_CHARACTERS = re.compile("[\u200b\ufeff]")
FOOTER_MARKER = "Bản quyền thuộc UBND thành phố Sa Đéc"


@dataclass
class ArticleTruth:
    """What a perfect crawler should store for one published article (NFC text throughout)."""

    asset_id: int
    url: str
    title: str
    published_at: str
    published_at_raw: str
    category: str
    category_raw: str
    author: str | None
    unit: str | None
    summary: str | None
    images: list[tuple[str, str | None]]
    attachments: list[tuple[str, str]]
    must_contain: list[str]
    must_not_contain: list[str]
    listed: bool
    has_date_line: bool
    nfd: bool


@dataclass
class Category:
    """One news category: its listing page, its listing markup and its pagination flavour."""

    key: str
    name: str
    category_id: int
    url: str
    instance_id: str
    style: str  # "cards" | "abstracts" | "titles" | "table"
    date_info: bool
    duplicate: bool
    pagination: str  # "lexicon" (Liferay 7) | "legacy" (Liferay 6.2)
    page_size: int
    listing_date: dict | None
    generated: bool
    classic_pager: str = "regular"
    """The 6.2/7.0 page iterator type: ``regular`` (page selector, first/last) or ``simple``."""

    @property
    def label(self) -> str:
        """Stored category name: the per-unit ``SD_`` prefix comes from the real sample page."""
        return f"SD_{self.name}"

    @property
    def portlet_id(self) -> str:
        """The portlet id in the 7.4 replica (6.2-style ``101_INSTANCE_`` on legacy ones)."""
        return self.portlet_for(generations.DEFAULT)

    def portlet_for(self, generation: str) -> str:
        """The listing's portlet id in a Liferay generation."""
        legacy = self.pagination == "legacy"
        return generations.portlet_prefix(generation, legacy) + self.instance_id

    @property
    def namespace(self) -> str:
        """Liferay's portlet namespace: the portlet id between underscores."""
        return f"_{self.portlet_id}_"

    def listing_form(self, timed: bool) -> str | None:
        """Date form this listing prints for an article, None when the listing shows no dates."""
        if not self.date_info or not self.listing_date:
            return None
        if timed and self.listing_date.get("timed"):
            return self.listing_date["timed"]
        return self.listing_date["plain"]

    @property
    def shows_summary(self) -> bool:
        return self.style in ("cards", "abstracts")


@dataclass
class MediaFile:
    """A file under /documents/<group>/<folder>/<title>/<uuid>: an image or an attachment."""

    path: str  # exactly as written in src/href, with the ?t= query (and &download=true)
    file_name: str
    uuid: str
    seed: str


@dataclass
class Article:
    asset_id: int
    title: str
    category_key: str
    moment: datetime
    timed: bool
    body: list
    byline: dict | None
    summary_override: str | None
    page: dict
    origin: str
    revision: int = 0
    modified: datetime | None = None
    media_by_block: dict[int, list[MediaFile]] = field(default_factory=dict)

    @property
    def listed(self) -> bool:
        return self.page.get("listed", True)

    @property
    def special(self) -> bool:
        """Articles the tests pin down; advance() never edits, removes or moves them."""
        page = self.page
        return bool(page.get("sample") or page.get("nfd") or page.get("hostile")) or not self.listed

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.moment, self.asset_id)


def clean_text(text: str) -> str:
    """NFC, zero-width characters dropped, no-break spaces as spaces, whitespace collapsed."""
    text = INVISIBLE_CHARACTERS.sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.replace("\u00a0", " ").split())


def snippet(text: str, limit: int = 60) -> str | None:
    """A verbatim piece of ``text`` free of no-break/zero-width characters, cut on a word end."""
    text = unicodedata.normalize("NFC", text)
    for piece in re.split("[\u00a0\u200b\ufeff]+", text):
        piece = " ".join(piece.split())
        if len(piece) < 15 and piece != text.strip():
            continue
        if len(piece) > limit:
            cut = piece.rfind(" ", 0, limit)
            piece = piece[: cut if cut > 20 else limit].rstrip(" ,;:")
        if piece:
            return piece
    return None


def slugify(title: str) -> str:
    """Liferay's url-title: lowercase ASCII, đ folded to d, runs of other characters to '-'."""
    folded = unicodedata.normalize("NFD", title.replace("đ", "d").replace("Đ", "D"))
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by its inputs (unlike hash(), stable across processes)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def stable_hex(*parts: object, length: int = 32) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).hexdigest()[:length].upper()


def paragraph_text(block: object) -> str | None:
    """Text of a plain paragraph block (a string or {"p": …}), None for other blocks."""
    if isinstance(block, str):
        return block
    if isinstance(block, dict) and "p" in block:
        return block["p"]
    return None


class Site:
    """The whole portal: corpus plus generated articles, listings, links, files and truth."""

    def __init__(
        self,
        seed: int = 0,
        extra_articles: int = 0,
        corpus_dir: Path = CORPUS_DIR,
        liferay: str = generations.DEFAULT,
        id_offset: int = 0,
        group_id: int | None = None,
    ):
        """``id_offset`` and ``group_id`` make another portal of the same Liferay system (a
        ward's): its asset ids come from the system's one counter, so they differ from the
        city's (every id shifted by the offset), and its files live under its own group."""
        self.seed = seed
        self.id_offset = id_offset
        self.liferay = generations.check(liferay)
        """The Liferay generation whose stock markup the pages wear (``6.2``, ``7.0``, ``7.4``)."""
        self.lock = threading.RLock()
        self.config = json.loads((corpus_dir / "site.json").read_text(encoding="utf-8"))
        self.categories: dict[str, Category] = {
            entry["key"]: Category(**entry) for entry in self.config["categories"]
        }
        self.group_id: int = group_id or self.config["group_id"]
        self.detail_base = (
            f"{self.config['detail_page']}/-/asset_publisher/{self.config['detail_instance']}"
        )
        self.articles: dict[int, Article] = {}
        self.removed: dict[int, Article] = {}
        self.media_by_uuid: dict[str, MediaFile] = {}
        self._generation = 0
        self._version = 0
        self._cache: dict[str, object] = {}
        self._load_corpus(corpus_dir)
        self._add_generated(extra_articles)
        newest = max(article.moment for article in self.articles.values())
        self.clock = newest.replace(hour=0, minute=0, second=0) + timedelta(days=1, hours=9)

    # ------------------------------------------------------------------ loading

    def _load_corpus(self, corpus_dir: Path) -> None:
        for path in sorted(corpus_dir.glob("articles-*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            for entry in data["articles"]:
                self._add(self._article_from_entry(entry, data["category"], "corpus"))

    def add_article(self, entry: dict, category_key: str) -> None:
        """Publish one more article written in the corpus format (tests add hostile ones this
        way without changing the corpus every other test compares with). Same checks as the
        corpus: its own day in the first paragraph, its time shown somewhere."""
        with self.lock:
            self._add(self._article_from_entry(entry, category_key, "corpus"))

    def repost(self, article: Article) -> None:
        """Show another portal's article here too, as the province re-posts its units' news:
        the same asset id (one counter for the whole system) and the same files, kept under
        the group of the portal that wrote it."""
        with self.lock:
            if article.asset_id in self.articles:
                raise ValueError(f"duplicate asset id {article.asset_id}")
            for files in article.media_by_block.values():
                for media in files:
                    self.media_by_uuid[media.uuid] = media
            self.articles[article.asset_id] = article
            self._invalidate()

    def _add_generated(self, count: int) -> None:
        """Scale articles: ids from 30,000,000 up, dates over 2015-2025, listed categories only."""
        rng = random.Random(f"extra:{self.seed}")
        pool = [c for c in self.categories.values() if c.generated]
        start, end = datetime(2015, 1, 1), datetime(2025, 6, 30)
        for index in range(count):
            category = pool[index % len(pool)]
            moment, timed = generator.random_moment(rng, start, end)
            entry = generator.generate(rng, 30_000_000 + index * 7, vars(category), moment, timed)
            self._add(self._article_from_entry(entry, category.key, "generated"))

    def _article_from_entry(self, entry: dict, category_key: str, origin: str) -> Article:
        moment, timed = dates.parse_corpus_date(entry["date"])
        article = Article(
            asset_id=entry["asset_id"] + self.id_offset,
            title=entry["title"],
            category_key=category_key,
            moment=moment,
            timed=timed,
            body=entry["body"],
            byline=entry.get("byline"),
            summary_override=entry.get("summary"),
            page=dict(entry.get("page", {})),
            origin=origin,
        )
        article.modified = moment if timed else moment.replace(hour=8)
        category = self.categories[category_key]
        if origin != "corpus" and timed and not self.time_visible(article, category):
            # Generated moments carry seconds; drop them where no shown form prints seconds.
            article.moment = article.moment.replace(second=0)
        if timed and not self.time_visible(article, category):
            raise ValueError(f"article {article.asset_id}: its time is shown nowhere")
        self._check_body_date(article)
        return article

    def _check_body_date(self, article: Article) -> None:
        """Every article names its own day first in its first paragraph (brief and §4)."""
        found = dates.first_body_date(paragraph_text(article.body[0]) or "")
        if found is None or found[1] != article.moment.date():
            raise ValueError(f"article {article.asset_id}: first paragraph lacks its own date")

    def time_visible(self, article: Article, category: Category) -> bool:
        """True if the article's time (with seconds when non-zero) shows on a page."""
        forms = {article.page.get("date_line"), category.listing_form(article.timed)}
        if not article.listed:
            forms.discard(category.listing_form(article.timed))
        shown = forms & dates.TIMED_FORMATS
        if article.moment.second:
            return "cap_nhat" in shown
        return bool(shown)

    def _add(self, article: Article) -> None:
        if article.asset_id in self.articles:
            raise ValueError(f"duplicate asset id {article.asset_id}")
        for index, media in self._media_for(article):
            article.media_by_block.setdefault(index, []).append(media)
            self.media_by_uuid[media.uuid] = media
        self.articles[article.asset_id] = article
        self._invalidate()

    def _invalidate(self) -> None:
        self._version += 1
        self._cache.clear()

    # ------------------------------------------------------------------ files

    def _media_for(self, article: Article):
        """(block index, MediaFile) for every image and attachment, with Liferay-shaped paths."""
        folder = (
            0 if article.asset_id % 4 == 0 else 10_000_000 + (article.moment.year - 2015) * 3701
        )
        for index, block in enumerate(article.body):
            if not isinstance(block, dict):
                continue
            if "img" in block:
                yield (
                    index,
                    self._media(
                        article, folder, index, block["img"], block.get("t_days", 0), False
                    ),
                )
            for file_index, attachment in enumerate(block.get("files", [])):
                yield (
                    index,
                    self._media(
                        article,
                        folder,
                        index * 10 + file_index,
                        attachment.get("title", attachment["file"]),
                        0,
                        attachment.get("download", False),
                        shown_name=attachment["file"],
                    ),
                )

    def _media(self, article, folder, index, title, t_days, download, shown_name=None):
        file_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sadec/{article.asset_id}/{index}/{title}"))
        uploaded = article.moment.replace(hour=7, minute=0, second=0) + timedelta(
            days=t_days, minutes=article.asset_id % 180
        )
        millis = int(uploaded.replace(tzinfo=dates.VIETNAM_TZ).timestamp() * 1000)
        path = f"/documents/{self.group_id}/{folder}/{quote_plus(title)}/{file_uuid}?t={millis}"
        if download:
            path += "&download=true"
        return MediaFile(
            path=path,
            file_name=shown_name or title,
            uuid=file_uuid,
            seed=f"{article.asset_id}/{index}",
        )

    def media_for_block(self, article: Article, index: int) -> list[MediaFile]:
        """The MediaFile(s) of body block ``index`` (one image, or the block's attachments)."""
        return article.media_by_block.get(index, [])

    # ------------------------------------------------------------------ views of the state

    def category_of(self, article: Article) -> Category:
        return self.categories[article.category_key]

    def listing(self, category_key: str) -> list[Article]:
        """Listed articles of a category, newest first (cached until the next change)."""
        key = f"listing:{category_key}"
        if key not in self._cache:
            members = [
                a for a in self.articles.values() if a.category_key == category_key and a.listed
            ]
            self._cache[key] = sorted(members, key=lambda a: a.sort_key, reverse=True)
        return self._cache[key]

    def latest(self, count: int = 6) -> list[Article]:
        """Newest listed articles over all categories (the home page block)."""
        key = f"latest:{count}"
        if key not in self._cache:
            everything = [a for a in self.articles.values() if a.listed]
            self._cache[key] = sorted(everything, key=lambda a: a.sort_key, reverse=True)[:count]
        return self._cache[key]

    def slugs(self) -> dict[str, int]:
        """url-title → asset id; clashes get -1, -2 … in id order, as Liferay numbers them."""
        if "slugs" not in self._cache:
            table: dict[str, int] = {}
            for article in sorted(self.articles.values(), key=lambda a: a.asset_id):
                base = slugify(article.title) or str(article.asset_id)
                slug, counter = base, 0
                while slug in table:
                    counter += 1
                    slug = f"{base}-{counter}"
                table[slug] = article.asset_id
            self._cache["slugs"] = table
            self._cache["slug_of"] = {v: k for k, v in table.items()}
        return self._cache["slugs"]

    def slug_of(self, article: Article) -> str:
        self.slugs()
        return self._cache["slug_of"][article.asset_id]

    def _unlisted_links(self) -> dict[int, list[int]]:
        """Listed article id → unlisted articles that name it in their ``related_from``."""
        if "unlisted_links" not in self._cache:
            links: dict[int, list[int]] = {}
            for article in self.articles.values():
                for source in article.page.get("related_from", []):
                    links.setdefault(source + self.id_offset, []).append(article.asset_id)
            self._cache["unlisted_links"] = links
        return self._cache["unlisted_links"]

    def related(self, article: Article) -> list[Article]:
        """3-5 articles: neighbours by date in the category, plus unlisted ones hooked here."""
        members = self.listing(article.category_key)
        index_key = f"index:{article.category_key}"
        if index_key not in self._cache:
            self._cache[index_key] = {a.asset_id: i for i, a in enumerate(members)}
        position = self._cache[index_key].get(article.asset_id)
        if position is None:  # unlisted: place it where its date would sort
            position = sum(1 for a in members if a.sort_key > article.sort_key)

        def others(chunk: list[Article]) -> list[Article]:
            return [a for a in chunk if a.asset_id != article.asset_id]

        start = max(0, position - 2)
        window = others(members[start : start + 5])[:4]
        if len(window) < 4:
            window = others(members[:5])[:4] if position < 2 else others(members[-5:])[-4:]
        extras = [
            self.articles[i]
            for i in self._unlisted_links().get(article.asset_id, [])
            if i in self.articles
        ]
        return (extras + window)[:5]

    # ------------------------------------------------------------------ links

    def article_path(self, article: Article) -> str:
        return f"{self.detail_base}/content/id/{article.asset_id}"

    def article_link(self, article: Article, context: str, back_url: str = "/") -> str:
        """An href for the article in one of the route forms Liferay pages use (spec §2).

        Most links are the plain id form; the rest are spread by a stable hash of the article
        and the place the link appears, so every form occurs on listings and related blocks.
        """
        plain = self.article_path(article)
        roll = stable_fraction(self.seed, "link", context, article.asset_id)
        if roll < 0.6:
            return plain
        if roll < 0.67:
            return plain + "?inheritRedirect=false"
        if roll < 0.74:
            return plain + "?redirect=" + quote(back_url, safe="")
        if roll < 0.81:
            parameter = f"_{ASSET_PUBLISHER_PORTLET}{self.config['detail_instance']}_redirect"
            return f"{plain}?{parameter}={quote(back_url, safe='')}"
        if roll < 0.87:
            return plain + ";jsessionid=" + stable_hex(self.seed, "session", context)
        if roll < 0.91:
            return plain + "/maximized"
        if roll < 0.96:
            return f"{self.detail_base}/content/{self.slug_of(article)}"
        return (
            f"/-/asset_publisher/{self.config['detail_instance']}/content/{self.slug_of(article)}"
        )

    # ------------------------------------------------------------------ text views

    def summary(self, article: Article) -> str:
        """Listing summary: the stored abstract, else the first paragraph cut near 200 chars."""
        if article.summary_override:
            return clean_text(article.summary_override)
        text = clean_text(paragraph_text(article.body[0]) or "")
        if len(text) <= 220:
            return text
        cut = text.rfind(" ", 0, 200)
        return text[:cut].rstrip(" ,;:") + "..."

    def body_strings(self, article: Article) -> dict[str, list[str]]:
        """Body text by kind (paragraphs, captions, cells) for truth snippets."""
        paragraphs, captions, cells = [], [], []
        for block in article.body:
            text = paragraph_text(block)
            if text is not None:
                paragraphs.append(text)
            elif isinstance(block, dict) and block.get("caption"):
                captions.append(block["caption"])
            elif isinstance(block, dict) and "table" in block:
                cells.extend(cell for row in block["table"] for cell in row)
        return {"paragraphs": paragraphs, "captions": captions, "cells": cells}

    # ------------------------------------------------------------------ truth

    def truth(self, generation: str | None = None) -> list[ArticleTruth]:
        """Ground truth for every currently published article, newest first, as the pages of
        ``generation`` (default: the site's) show it. The generations agree on every field but
        ``published_at_raw`` and the letter case of ``category_raw``: the stock markup of 6.2
        and 7.0 prints dates and labels its own way."""
        generation = generations.check(generation or self.liferay)
        with self.lock:
            key = f"truth:{generation}"
            if key not in self._cache:
                ordered = sorted(self.articles.values(), key=lambda a: a.sort_key, reverse=True)
                self._cache[key] = [self._truth_for(a, generation) for a in ordered]
            return list(self._cache[key])

    # ------------------------------------------------------------------ classic (6.2/7.0) pages

    def classic_template(self, article: Article) -> bool:
        """Whether a 6.2/7.0 page shows the article through the site's web-content template
        that prints "Chi tiết bài viết", the category, the title, a date line and the related
        list inside the body wrapper (the sample page, and every article whose date line or
        time the 7.4 pages show: the template is what prints them there)."""
        page = article.page
        return bool(
            page.get("sample")
            or page.get("date_line")
            or article.timed
            or stable_fraction(self.seed, "classic-template", article.asset_id) < 0.25
        )

    def classic_date_form(self, article: Article) -> str | None:
        """The date form the web-content template prints, None when it prints none."""
        if not self.classic_template(article):
            return None
        form = article.page.get("date_line")
        if form is None and article.timed:
            form = self.category_of(article).listing_form(True)
        if article.timed and article.moment.second:
            form = "cap_nhat"  # the one form that shows seconds, as the 7.4 pages do somewhere
        return form

    def classic_keywords_only(self, article: Article) -> bool:
        """A 6.2/7.0 page whose category is in ``<meta name="keywords">`` only."""
        return not self.classic_template(article) and (
            stable_fraction(self.seed, "keywords-only", article.asset_id) < 0.2
        )

    @staticmethod
    def classic_listing_form(category: Category, timed: bool) -> str | None:
        """What a 6.2/7.0 listing prints: the card template its own forms, the stock displays
        the short date of ``asset_metadata`` (``dd/MM/yyyy`` for vi_VN)."""
        if category.style == "cards":
            return category.listing_form(timed)
        return "dmy" if category.date_info and category.listing_date else None

    def _raw_date(self, article: Article, generation: str) -> str:
        """The date text a perfect crawler records for ``article`` on ``generation``'s pages."""
        category = self.category_of(article)
        if generation == "7.4":
            listing_form = category.listing_form(article.timed) if article.listed else None
            page_form = article.page.get("date_line")
        else:
            listing_form = (
                self.classic_listing_form(category, article.timed) if article.listed else None
            )
            # The stock metadata prints the day; the template's date line wins when it also
            # gives the time.
            page_form = self.classic_date_form(article)
            if page_form not in dates.TIMED_FORMATS:
                page_form = "dmy"
        if listing_form:
            return dates.render(listing_form, article.moment)
        if page_form:
            return dates.render(page_form, article.moment)
        return dates.first_body_date(paragraph_text(article.body[0]))[0]

    def category_label_shown(self, article: Article, generation: str) -> str:
        """The category label a crawler reads from the article page: upper case where the 7.4
        page writes it so; 6.2/7.0 stock summaries (and page keywords) print it as stored."""
        label = self.category_of(article).label
        upper = article.page.get("label_case") == "upper" and generation == "7.4"
        return label.upper() if upper else label

    def _truth_for(self, article: Article, generation: str) -> ArticleTruth:
        category = self.category_of(article)
        date_line = article.page.get("date_line")
        raw = self._raw_date(article, generation)
        category_raw = self.category_label_shown(article, generation)
        strings = self.body_strings(article)
        must_contain = [s for s in (snippet(strings["paragraphs"][0]),) if s]
        if len(strings["paragraphs"]) > 1:
            must_contain.append(snippet(strings["paragraphs"][-1]) or "")
        must_contain += [clean_text(c) for c in strings["captions"][:1]]
        must_contain += [clean_text(c) for c in strings["cells"][:1]]
        if article.byline:
            must_contain.append(clean_text(article.byline["text"]))
        for edit in article.page.get("edits", []):
            must_contain.append(edit)
        body_plain = clean_text(" ".join(strings["paragraphs"] + strings["captions"]))
        related_titles = [r.title for r in self.related(article) if r.title not in body_plain]
        must_not_contain = (
            [
                "Xuất bản thông tin",
                "null ",
                "Chi tiết bài viết",
                "Có thể bạn quan tâm",
                "Giới thiệu",
                FOOTER_MARKER,
            ]
            + related_titles[:1]
            + list(article.page.get("hostile", []))
        )
        images, attachments = [], []
        for index, block in enumerate(article.body):
            if isinstance(block, dict) and "img" in block:
                media = self.media_for_block(article, index)[0]
                caption = clean_text(block["caption"]) if block.get("caption") else None
                images.append((media.path, caption))
            if isinstance(block, dict) and "files" in block:
                attachments += [(m.path, m.file_name) for m in self.media_for_block(article, index)]
        byline = article.byline or {}
        return ArticleTruth(
            asset_id=article.asset_id,
            url=self.article_path(article),
            title=clean_text(article.title),
            published_at=dates.iso(article.moment, article.timed),
            published_at_raw=raw,
            category=category.name,
            category_raw=category_raw,
            author=byline.get("author"),
            unit=byline.get("unit"),
            summary=self.summary(article) if article.listed and category.shows_summary else None,
            images=images,
            attachments=attachments,
            must_contain=[m for m in must_contain if m],
            must_not_contain=must_not_contain,
            listed=article.listed,
            has_date_line=bool(date_line),
            nfd=bool(article.page.get("nfd")),
        )

    # ------------------------------------------------------------------ changes

    def advance(
        self, seed: int = 1, publish: int = 3, edit: int = 2, remove: int = 1, recategorise: int = 1
    ) -> dict:
        """Simulate the portal moving on: new, edited, removed and re-filed articles.

        Deterministic for a given site seed, advance seed and number of earlier advances.
        Pinned articles (the sample, the NFD and hostile ones, unlisted ones) are never touched.
        """
        with self.lock:
            rng = random.Random(f"advance:{self.seed}:{seed}:{self._generation}")
            self._generation += 1
            published = self._publish(rng, publish)
            untouchable = set(published)
            edited = self._edit(rng, edit, untouchable)
            untouchable |= set(edited)
            removed = self._remove(rng, remove, untouchable)
            untouchable |= set(removed)
            moves = self._recategorise(rng, recategorise, untouchable)
            self.clock += timedelta(hours=1)
            self._invalidate()
            return {
                "seed": seed,
                "published": published,
                "edited": edited,
                "removed": removed,
                "recategorised": [int(k) for k in moves],
                "moves": moves,
            }

    def _publish(self, rng: random.Random, count: int) -> list[int]:
        pool = [c for c in self.categories.values() if c.generated]
        next_id = max(max(self.articles), max(self.removed, default=0))
        newest = max(a.moment for a in self.articles.values())
        new_ids = []
        for offset in range(count):
            next_id += rng.randint(40, 900)
            day = newest.replace(hour=0, minute=0, second=0) + timedelta(days=offset + 1)
            timed = rng.random() < 0.5
            moment = (
                day.replace(hour=rng.randint(7, 17), minute=rng.randrange(60)) if timed else day
            )
            category = rng.choice(pool)
            entry = generator.generate(rng, next_id, vars(category), moment, timed)
            self._add(self._article_from_entry(entry, category.key, "published"))
            new_ids.append(next_id)
            self.clock = max(self.clock, moment + timedelta(hours=1))
        return new_ids

    def _edit(self, rng: random.Random, count: int, untouchable: set[int]) -> list[int]:
        candidates = sorted(
            (a for a in self.articles.values() if not a.special and a.asset_id not in untouchable),
            key=lambda a: a.sort_key,
        )
        chosen: list[Article] = []
        if count >= 2 and len(candidates) >= 2:
            third = max(1, len(candidates) // 3)
            chosen = [rng.choice(candidates[:third]), rng.choice(candidates[-third:])]
        remaining = [a for a in candidates if a not in chosen]
        chosen += rng.sample(remaining, min(len(remaining), count - len(chosen)))
        for article in chosen:
            sentence = (
                f"Đến nay, các đơn vị đã triển khai thực hiện đạt {rng.randint(60, 99)}% "
                f"kế hoạch đề ra (cập nhật lần {article.revision + 1})."
            )
            self._append_sentence(article, sentence)
            article.revision += 1
            article.modified = self.clock + timedelta(minutes=len(article.page["edits"]))
        return [a.asset_id for a in chosen]

    @staticmethod
    def _append_sentence(article: Article, sentence: str) -> None:
        """Edits add a sentence to the last text paragraph, so the byline stays last."""
        body = list(article.body)
        for index in range(len(body) - 1, -1, -1):
            text = paragraph_text(body[index])
            if text is not None and index > 0:
                body[index] = text + " " + sentence
                break
        else:
            body.append(sentence)
        article.body = body
        article.page["edits"] = article.page.get("edits", []) + [sentence]

    def _remove(self, rng: random.Random, count: int, untouchable: set[int]) -> list[int]:
        candidates = sorted(
            a.asset_id
            for a in self.articles.values()
            if not a.special and a.asset_id not in untouchable
        )
        chosen = rng.sample(candidates, min(count, len(candidates)))
        for asset_id in chosen:
            self.removed[asset_id] = self.articles.pop(asset_id)
        return chosen

    def _recategorise(self, rng: random.Random, count: int, untouchable: set[int]) -> dict:
        candidates = sorted(
            a.asset_id
            for a in self.articles.values()
            if not a.special and a.asset_id not in untouchable
        )
        rng.shuffle(candidates)
        moves: dict[str, dict[str, str]] = {}
        for asset_id in candidates:
            if len(moves) >= count:
                break
            article = self.articles[asset_id]
            targets = [
                c
                for c in self.categories.values()
                if c.generated and c.key != article.category_key and self.time_visible(article, c)
            ]
            if not targets:
                continue
            target = rng.choice(targets)
            moves[str(asset_id)] = {"from": article.category_key, "to": target.key}
            article.category_key = target.key
            article.revision += 1
            article.modified = self.clock
        return moves

"""Cleaning an article body with BeautifulSoup over lxml, sanitising it with nh3.

Input: the outer HTML of ``div.journal-content-article`` (site-spec §3 item 6). Output: safe
body HTML, readable text, images with captions, attachments and the byline.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.builder import HTMLTreeBuilder, LXMLTreeBuilder
from lxml import etree

from . import selectors as css
from .bylines import Byline, is_byline_text, parse_byline
from .dates import parse_date
from .items import AttachmentRef, ImageRef
from .pages import may_hold_template
from .sanitise import SAFE_URL_SCHEMES, sanitise
from .textnorm import CONTROL_CHARACTERS, clean_inline, nfc
from .urls import absolute, is_document

_BLOCK_TAGS = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "blockquote",
    "figure",
    "figcaption",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "pre",
    "center",
    "dl",
    "dt",
    "dd",
    "address",
    "caption",
    "hr",
}
_INVISIBLE_OR_CONTROL = re.compile(
    "[\u200b\u200c\u200d\u2060\ufeff\u00ad" + CONTROL_CHARACTERS.pattern[1:-1] + "]"
)
"""Zero-width characters and soft hyphens pasted from Word, and C0/C1 controls."""


@dataclass
class CleanBody:
    """A cleaned body and what was read from it."""

    html: str
    text: str
    images: list[ImageRef] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)
    byline_text: str | None = None
    byline: Byline | None = None


def _alignment(tag: Tag) -> str | None:
    style = (tag.get("style") or "").replace(" ", "").lower()
    align = (tag.get("align") or "").lower()
    classes = " ".join(tag.get("class") or [])
    for value in ("center", "right"):
        if f"text-align:{value}" in style or align == value or f"text-{value}" in classes:
            return value
    return None


def _ancestor(node, names) -> Tag | None:
    """The nearest ancestor named in ``names`` (``find_parent`` without its filter's cost)."""
    return next((parent for parent in node.parents if parent.name in names), None)


def _emphasised(tag: Tag) -> bool:
    """All of the block's text sits inside bold or italic elements."""
    texts = [s for s in tag.descendants if isinstance(s, NavigableString) and s.strip()]
    emphasis = {"strong", "b", "em", "i"}
    return bool(texts) and all(
        (parent := _ancestor(s, emphasis)) is not None and tag in parent.parents for s in texts
    )


def _italic(tag: Tag) -> bool:
    texts = [s for s in tag.find_all(string=True) if s.strip()]
    return bool(texts) and all(s.find_parent(["em", "i"]) is not None for s in texts)


def _text(tag: Tag) -> str:
    return clean_inline(tag.get_text(""))


_NESTING_BLOCKS = frozenset(_BLOCK_TAGS - {"hr"})
_DROP_TAGS = frozenset(css.BODY_DROP_TAGS)


def _text_if_short(tag: Tag, limit: int) -> str | None:
    """``_text(tag)`` when it is at most ``limit`` characters, else None, without reading the
    whole subtree: asked of every element of a body, the full text made this quadratic."""
    parts, visible = [], 0
    for string in tag.strings:
        parts.append(string)
        visible += len("".join(string.split()))
        if visible > limit:
            return None
    text = clean_inline("".join(parts))
    return text if len(text) <= limit else None


def _tags(root: Tag) -> list[Tag]:
    """Elements under ``root`` in document order (``find_all(True)`` without the cost of a
    BeautifulSoup filter)."""
    return [node for node in root.descendants if isinstance(node, Tag)]


def _contains(tag: Tag, names) -> bool:
    """Whether an element named in ``names`` is under ``tag`` (a cheap ``tag.find(names)``)."""
    return any(isinstance(node, Tag) and node.name in names for node in tag.descendants)


def _leaf_blocks(root: Tag) -> list[Tag]:
    """Block elements with no block inside, outside tables, in reading order."""
    tags = _tags(root)
    # One pass marks every element that holds a block; calling find() per element costs a
    # BeautifulSoup filter each time, which made this the slowest step of cleaning.
    holders: set[int] = set()
    for tag in tags:
        if tag.name in _NESTING_BLOCKS:
            parent = tag.parent
            while parent is not None and id(parent) not in holders:
                holders.add(id(parent))
                parent = parent.parent
    return [
        tag
        for tag in tags
        if tag.name in _BLOCK_TAGS
        and tag.name not in ("table", "hr")
        and id(tag) not in holders
        and not any(parent.name == "table" for parent in tag.parents)
    ]


def _block_of(tag: Tag, root: Tag) -> Tag:
    block = tag
    while block.parent is not None and block.parent is not root and block.name not in _BLOCK_TAGS:
        block = block.parent
    return block


def _next_block(block: Tag) -> Tag | None:
    for sibling in block.next_siblings:
        if isinstance(sibling, Tag):
            return sibling
        if isinstance(sibling, NavigableString) and sibling.strip():
            return None
    return None


def _first_descendant(tag: Tag, name: str) -> Tag | None:
    """``tag.find(name)`` without the cost of a BeautifulSoup filter."""
    return next((n for n in tag.descendants if isinstance(n, Tag) and n.name == name), None)


def _caption_for(img: Tag, root: Tag) -> Tag | None:
    figure = _ancestor(img, ("figure",))
    caption = _first_descendant(figure, "figcaption") if figure is not None else None
    if caption is not None:
        return caption
    cell = _ancestor(img, ("td", "th"))
    if cell is not None and not _text(cell):
        # Image tables: the photo in one row, its caption in the next.
        row = _ancestor(cell, ("tr",))
        following = row.find_next_sibling("tr") if row is not None else None
        if following is not None and not _contains(following, ("img",)):
            text = _text(following)
            if text and len(text) <= css.CAPTION_MAX_CHARS:
                return following
    block = _block_of(img, root)
    if block is not img:
        text = _text_if_short(block, css.CAPTION_MAX_CHARS)
        if text:
            # <p><img><br><em>caption</em></p>: the caption shares the image's paragraph.
            return block
    candidate = _next_block(block)
    if candidate is None or _contains(candidate, ("img",)):
        return None
    text = _text_if_short(candidate, css.CAPTION_MAX_CHARS)
    if not text:
        return None
    if (
        _italic(candidate)
        or _alignment(candidate) == "center"
        or "caption" in str(candidate.get("class"))
    ):
        return candidate
    return None


def _plausible_image(url: str) -> bool:
    """Images live in Documents & Media (``/documents/``) or Liferay's image servlet
    (``/image/…?img_id=``), or at least end like an image; anything else (``src="x"``) is a
    broken or planted reference, not a picture of the article."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    path = parts.path.lower()
    return (
        is_document(url)
        or path.startswith("/image/")
        or "img_id=" in parts.query
        or path.endswith(css.IMAGE_SUFFIXES)
    )


def _attachment_name(url: str, link_text: str) -> str | None:
    """The file name if ``url`` points at a document file, else None."""
    if css.LEGACY_FILE_LINK in urlsplit(url).path and link_text:
        return link_text  # Liferay 6.2's get_file links carry no file name
    segments = [unquote_plus(s) for s in urlsplit(url).path.split("/") if s]
    lowered_text = link_text.lower()
    for segment in reversed(segments):
        if segment.lower().endswith(css.ATTACHMENT_SUFFIXES):
            return link_text if lowered_text.endswith(css.ATTACHMENT_SUFFIXES) else segment
    if lowered_text.endswith(css.ATTACHMENT_SUFFIXES):
        return link_text
    return None


def _block_holders(root: Tag) -> set[int]:
    """Ids of the elements under ``root`` (and of ``root``) that hold a block element."""
    holders: set[int] = set()
    for tag in _tags(root):
        if tag.name in _BLOCK_TAGS:
            parent = tag.parent
            while parent is not None and id(parent) not in holders:
                holders.add(id(parent))
                parent = parent.parent
    return holders


def _paragraphs(node: Tag, holders: set[int] | None = None) -> list[str]:
    """Readable text of a node: one entry per paragraph, table rows as ``cell | cell``."""
    if holders is None:
        holders = _block_holders(node)
    out: list[str] = []
    inline: list[str] = []

    def flush() -> None:
        text = clean_inline("".join(inline))
        if text:
            out.append(text)
        inline.clear()

    # A walk with a stack of the blocks entered, not a recursion: a body nested a thousand
    # elements deep (a pasted document can be) ran out of Python's stack and lost the article.
    # A block's text starts and ends a paragraph, as the text around it does.
    entered = [iter(node.children)]
    while entered:
        child = next(entered[-1], None)
        if child is None:
            entered.pop()
            flush()
        elif isinstance(child, Comment):
            continue
        elif isinstance(child, NavigableString):
            inline.append(str(child))
        elif child.name == "br":
            inline.append(" ")
        elif child.name == "table":
            flush()
            for row in child.find_all("tr"):
                cells = [_text(cell) for cell in row.find_all(["td", "th"])]
                row_text = " | ".join(cell for cell in cells if cell)
                if row_text:
                    out.append(row_text)
        elif child.name in _BLOCK_TAGS or id(child) in holders:
            flush()
            entered.append(iter(child.children))
        else:
            inline.append(child.get_text(""))
    return out


class ParsedElementTreeBuilder(HTMLTreeBuilder):
    """A BeautifulSoup tree builder whose markup is an element lxml has already parsed (the
    body node of a page the selectors read): the tree BeautifulSoup builds is the one it
    would build from that element's HTML, without serialising it and parsing it a second
    time (0.39 → 0.28 ms a replica article body). Text and attribute values are made NFC,
    as the text path does with the HTML before parsing it."""

    NAME = "sadec-lxml-element"
    features = [NAME]

    def prepare_markup(self, markup, *args, **kwargs):
        yield markup, None, None, False

    def feed(self, markup: etree._Element) -> None:
        soup = self.soup
        start, end, data = soup.handle_starttag, soup.handle_endtag, soup.handle_data
        # A walk, not a recursion: a hostile body may nest deeper than Python's stack.
        events = etree.iterwalk(markup, events=("start", "end", "comment", "pi"))
        for event, node in events:
            if event == "start":
                start(node.tag, None, None, {name: nfc(value) for name, value in node.items()})
                if node.text:
                    data(nfc(node.text))
                continue
            if event == "end":
                end(node.tag)
            # Comments and processing instructions are dropped; the text after them stays.
            if node.tail and node is not markup:
                data(nfc(node.tail))
        soup.endData()


_BUILDERS = threading.local()


def _soup(markup: str | etree._Element) -> BeautifulSoup:
    """``BeautifulSoup(html, "lxml")``, or the same tree from an element lxml has parsed,
    with one tree builder of each kind per thread: looking the builder up by name and
    making a new one is an eighth of the parse of a typical article body."""
    kind = "text" if isinstance(markup, str) else "element"
    builder = getattr(_BUILDERS, kind, None)
    if builder is None:
        builder = LXMLTreeBuilder() if kind == "text" else ParsedElementTreeBuilder()
        setattr(_BUILDERS, kind, builder)
    return BeautifulSoup(markup, builder=builder)


_PUSHED_RIGHT = re.compile(r"^[\s\u00a0]*(?:\u00a0[\s\u00a0]*){5}")
"""A paragraph led by a run of no-break spaces: editors push a byline to the right so, in a
justified paragraph with no alignment style (the sample page's byline, site-spec §3 item 7)."""


def _starts_with_any(text: str, prefixes: tuple[str, ...]) -> str | None:
    folded = text.casefold()
    return next((p for p in prefixes if folded.startswith(p.casefold())), None)


def _text_starts_with(tag: Tag, prefix: str) -> bool:
    """``_text(tag).startswith(prefix)``, reading only as much of the text as it takes."""
    parts: list[str] = []
    for string in tag.strings:
        parts.append(string)
        text = clean_inline("".join(parts))
        if len(text) > len(prefix):
            return text.startswith(prefix)
    return clean_inline("".join(parts)).startswith(prefix)


def _related_block(node: Tag, root: Tag) -> Tag:
    """The largest element around a related-list heading that is still the related list."""
    heading = _text(node)
    block = node
    while block.parent is not None and block.parent is not root:
        if not _text_starts_with(block.parent, heading):
            break
        block = block.parent
    return block


def _drop_template_chrome(root: Tag, title: str | None) -> None:
    """What a web-content template prints inside the body wrapper around the article (7.0/7.1,
    site-spec §8): the "Chi tiết bài viết" line with the category, the title repeated as a
    heading, and the related list with everything after it. Only before the first long
    paragraph (header) or as a short heading (related list), so body text is never lost."""
    header: list[Tag] = []
    for tag in _leaf_blocks(root):
        text = _text(tag)
        if (len(text) > 80 and text != title) or _contains(tag, ("img",)):
            break  # the article's text has begun
        header.append(tag)
    chrome = [
        tag
        for tag in header
        if _starts_with_any(_text(tag), css.ARTICLE_HEADER_NOISE_PREFIXES)
        or (title and _text(tag) == title)
    ]
    if chrome:
        # The template's date line sits among its header: a short block that is a date.
        chrome += [tag for tag in header if len(_text(tag)) <= 60 and parse_date(_text(tag))]
    for tag in chrome:
        if tag.parent is not None:
            tag.decompose()
    for tag in _tags(root):
        if tag.parent is None or tag.name not in _BLOCK_TAGS and tag.name not in ("span", "a"):
            continue
        text = _text_if_short(tag, 42)
        if text is None:
            continue
        text = text.rstrip(" :")
        if not _starts_with_any(text, css.RELATED_BLOCK_TITLES) or len(text) > 40:
            continue
        if text.casefold() not in {t.casefold() for t in css.RELATED_BLOCK_TITLES}:
            continue
        block = _block_of(tag, root) if tag.name in ("span", "a") else tag
        block = _related_block(block, root)
        for sibling in list(block.next_siblings):
            if isinstance(sibling, Tag):
                sibling.decompose()
            elif isinstance(sibling, NavigableString):
                sibling.extract()
        block.decompose()
        break


_RAW_TEXT_TAGS = frozenset(("script", "style"))
"""Whose text BeautifulSoup writes out as it is (its ``cdata_containing_tags`` for HTML)."""


def _escaped(text: str) -> str:
    """Text or an attribute's value as BeautifulSoup's ``minimal`` formatter writes it."""
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _attribute(name: str, value) -> str:
    if value is None:
        return " " + name
    if not isinstance(value, str):
        value = " ".join(value) if isinstance(value, list | tuple) else str(value)
    value = _escaped(value)
    quote = '"'
    if '"' in value:
        if "'" in value:
            value = value.replace('"', "&quot;")
        else:
            quote = "'"
    return f" {name}={quote}{value}{quote}"


def _inner_html(root: Tag) -> str:
    """``root.decode_contents()``, character for character, in a fifth of the time (0.33 →
    0.06 ms a body, the same output for all 1,701 bodies of ``python -m bench parse``):
    BeautifulSoup runs a formatter and an event stream for every node, which a body only
    headed for the sanitiser does not need. A walk with a stack, as deep bodies exist."""
    out: list[str] = []
    walking = [(iter(root.contents), "")]
    while walking:
        node = next(walking[-1][0], None)
        if node is None:
            out.append(walking.pop()[1])
        elif isinstance(node, Tag):
            name = f"{node.prefix}:{node.name}" if node.prefix else node.name
            attributes = "".join(_attribute(k, v) for k, v in sorted(node.attrs.items()))
            if node.hidden:
                walking.append((iter(node.contents), ""))
            elif node.is_empty_element:
                out.append(f"<{name}{attributes}/>")
            else:
                out.append(f"<{name}{attributes}>")
                walking.append((iter(node.contents), f"</{name}>"))
        elif type(node) is NavigableString:
            raw = node.parent is not None and node.parent.name in _RAW_TEXT_TAGS
            out.append(str(node) if raw else _escaped(str(node)))
        else:
            out.append(node.output_ready("minimal"))  # comments, CDATA, doctypes: rare
    return "".join(out)


def _unwrapped(root: Tag) -> Tag:
    """The innermost wrapper that holds the whole body: templates nest the text in divs of
    their own, which say nothing about the article (and differ between redesigns)."""
    while True:
        children = [
            c for c in root.children if not (isinstance(c, NavigableString) and not c.strip())
        ]
        if len(children) != 1 or not isinstance(children[0], Tag):
            return root
        if children[0].name not in ("div", "section", "article"):
            return root
        root = children[0]


def clean_body(
    fragment_html: str,
    page_url: str,
    title: str | None = None,
    node: etree._Element | None = None,
) -> CleanBody:
    """Clean the body node of an article page (pure: HTML in, :class:`CleanBody` out).

    ``title``: the article's title, so that a template that repeats it inside the body wrapper
    does not make it the first paragraph. ``node``: the body element ``fragment_html`` was
    serialised from, when the page is already parsed (the same result, faster)."""
    fragment_html = nfc(fragment_html)
    soup = _soup(fragment_html if node is None else node)
    root = (
        next((t for t in _tags(soup) if css.BODY_CLASS in (t.get("class") or ())), None)
        or soup.body
        or soup
    )
    # Plain walks of the tree instead of find_all(): each find_all() builds BeautifulSoup
    # filters, which cost more than the walk itself on a body of a few KB.
    for tag in [t for t in _tags(root) if t.name in _DROP_TAGS]:
        if tag.parent is not None:  # not inside a tag already dropped
            tag.decompose()
    for comment in [n for n in root.descendants if isinstance(n, Comment)]:
        comment.extract()
    if may_hold_template(fragment_html, title):
        _drop_template_chrome(root, title)
    pushed_right = set()
    if "\u00a0" in fragment_html or "&nbsp;" in fragment_html:
        pushed_right = {
            id(block) for block in _leaf_blocks(root) if _PUSHED_RIGHT.match(block.get_text(""))
        }
    for string in [n for n in root.descendants if isinstance(n, NavigableString)]:
        replaced = _INVISIBLE_OR_CONTROL.sub("", str(string)).replace("\u00a0", " ")
        if replaced != string:
            string.replace_with(replaced)

    tags = _tags(root)
    anchors = [t for t in tags if t.name == "a"]
    for anchor in anchors:
        href = absolute(page_url, anchor.get("href"))
        if href and urlsplit(href).scheme in SAFE_URL_SCHEMES:
            anchor["href"] = href
        else:
            del anchor["href"]

    images: list[ImageRef] = []
    caption_blocks: set[int] = set()
    for img in [t for t in tags if t.name == "img"]:
        src = absolute(page_url, img.get("src") or img.get("data-src"))
        if not src or not _plausible_image(src):
            img.decompose()
            continue
        img["src"] = src
        caption_tag = _caption_for(img, root)
        caption = _text(caption_tag) if caption_tag is not None else None
        if caption_tag is not None:
            caption_blocks.add(id(caption_tag))
        images.append(
            ImageRef(url=src, caption=caption or None, alt=clean_inline(img.get("alt")) or None)
        )

    attachments: list[AttachmentRef] = []
    seen_files: set[str] = set()
    for anchor in [t for t in anchors if t.get("href") is not None]:
        link_text = _text(anchor)
        name = _attachment_name(anchor["href"], link_text)
        if name and anchor["href"] not in seen_files:
            seen_files.add(anchor["href"])
            attachments.append(AttachmentRef(anchor["href"], name, link_text or None))

    for block in _leaf_blocks(root):
        if not _text(block) and not _contains(block, ("img",)):
            block.decompose()

    byline_text = byline = None
    candidates = [
        b
        for b in _leaf_blocks(root)
        if _text(b) and not _contains(b, ("img",)) and id(b) not in caption_blocks
    ]
    if candidates:
        last = candidates[-1]
        text = _text(last)
        right_aligned = _alignment(last) == "right" or id(last) in pushed_right
        if is_byline_text(text, emphasised=_emphasised(last), right_aligned=right_aligned):
            byline_text, byline = text, parse_byline(text)

    for tag in _tags(root):
        alignment = _alignment(tag)
        tag.attrs.pop("class", None)
        if alignment and tag.name in ("p", "div", "td", "th"):
            tag["class"] = f"text-{alignment}"

    inner = _inner_html(_unwrapped(root))
    cleaned = CleanBody(
        html=nfc(sanitise(inner)).strip(),
        text="\n\n".join(_paragraphs(root)),
        images=images,
        attachments=attachments,
        byline_text=byline_text,
        byline=byline,
    )
    # A BeautifulSoup tree is a web of reference cycles (parent, sibling, child): left to the
    # cyclic garbage collector, each body's hundreds of nodes made collections run ever more
    # often and scan everything else alive (a third of parsing time, in bench/parse.py).
    # Decomposed from its top children: the BeautifulSoup object's own ``next_element`` is
    # None (bs4 4.15), so ``soup.decompose()`` clears the soup alone and leaves the tree.
    for child in list(soup.contents):
        child.decompose()
    soup.decompose()
    return cleaned


def join_bodies(first: CleanBody, then: CleanBody) -> CleanBody:
    """Two pages of one article as one body: text and images in page order, each file once,
    the byline of the later page."""
    seen = {a.url for a in first.attachments}
    return CleanBody(
        html="\n".join(part for part in (first.html, then.html) if part),
        text="\n\n".join(part for part in (first.text, then.text) if part),
        images=first.images + then.images,
        attachments=first.attachments + [a for a in then.attachments if a.url not in seen],
        byline_text=then.byline_text,
        byline=then.byline,
    )

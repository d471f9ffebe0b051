"""The simple selectors of :mod:`sadec_crawler.selectors` matched in Python, not by libxml2.

An article page asks its Asset Publisher portlet a dozen CSS questions (title, header, date
line, category). parsel turns each into XPath, and libxml2 then tests the class of every element
of the portlet again for each one, copying the attribute's text each time. Here the portlet's
class names are read once, into an index, and each question is answered from it.

Only selectors made of tag names and class names joined by spaces (``div.a .b``, ``span.c a``)
are matched here; anything else (attributes, ``::text``, ``>``, unions) goes to parsel, as do
trees that are changed after being read (listing pages drop entries). The matches are parsel's,
in parsel's order: ``tests/test_simple_selectors.py`` compares the two for every such selector
of the selectors module on pages of each Liferay generation.
"""

from __future__ import annotations

import re
import weakref
from functools import lru_cache

from lxml import etree
from parsel import Selector

_COMPOUND = re.compile(
    r"(?P<tag>[a-z][a-z0-9]*|\*)?(?P<classes>(?:\.-?[_a-zA-Z][_a-zA-Z0-9-]*)*)\Z"
)
_XML_SPACE = re.compile("[\t\n\r]")
"""XPath's ``normalize-space`` (what parsel's class test splits on) knows four spaces: these
three and the space itself."""

Compound = tuple[str | None, frozenset[str]]
"""One step of a selector: a tag name (None for any) and the class names it must carry."""


@lru_cache(maxsize=512)
def compounds(query: str) -> tuple[Compound, ...] | None:
    """``div.a .b.c`` → ``(("div", {"a"}), (None, {"b", "c"}))``; None when ``query`` is not
    made only of tag and class names joined by descendant combinators."""
    if "," in query:
        return None
    steps = []
    for part in query.split():
        match = _COMPOUND.match(part)
        if match is None or not (match["tag"] or match["classes"]):
            return None
        tag = None if match["tag"] in (None, "*") else match["tag"]
        steps.append((tag, frozenset(match["classes"].split(".")[1:])))
    return tuple(steps) or None


def class_names(value: str) -> list[str]:
    """The class names of a ``class`` attribute, split where XPath's class test splits."""
    if "\t" in value or "\n" in value or "\r" in value:
        value = _XML_SPACE.sub(" ", value)
    return [name for name in value.split(" ") if name]


_WITH_CLASS = etree.XPath("descendant-or-self::*[@class]")


class ClassIndex:
    """The elements of one subtree that carry each class name, in document order."""

    __slots__ = ("elements",)

    def __init__(self, root: etree._Element):
        self.elements: dict[str, list[etree._Element]] = {}
        for element in _WITH_CLASS(root):
            for name in class_names(element.get("class")):
                holders = self.elements.setdefault(name, [])
                if not holders or holders[-1] is not element:  # ``class="a a"``: once
                    holders.append(element)

    def has_any(self, names: frozenset[str]) -> bool:
        return not names.isdisjoint(self.elements)


_INDEXES: weakref.WeakKeyDictionary[Selector, ClassIndex] = weakref.WeakKeyDictionary()
"""The index of each scope still alive, built on its first question: weak, as
``pages._BODIES`` is, so that it goes with its page."""


def class_index(scope: Selector) -> ClassIndex:
    """The class names under ``scope`` (its root included), read once while it lives."""
    index = _INDEXES.get(scope)
    if index is None:
        index = _INDEXES[scope] = ClassIndex(scope.root)
    return index


def _fits(element: etree._Element, step: Compound) -> bool:
    tag, classes = step
    if tag is not None and element.tag != tag:
        return False
    if not classes:
        return True
    value = element.get("class")
    if value is None:
        return False
    for name in classes:
        if name not in value:
            return False  # a look at the text first: most elements fail here, unsplit
    return classes.issubset(class_names(value))


def _has_ancestors(element: etree._Element, steps: tuple[Compound, ...], root) -> bool:
    """Whether ``steps`` (nearest first) match ancestors of ``element``, up to ``root``
    included. Taking the nearest ancestor that fits each step is enough: whatever fits the
    further steps above a farther one lies above the nearest one too."""
    node = element
    for step in steps:
        while True:
            if node is root:
                return False
            node = node.getparent()
            if node is None:
                return False
            if _fits(node, step):
                break
    return True


def select(scope: Selector, query: str) -> list[Selector]:
    """``scope.css(query)`` for a tree that is read and never changed.

    Below a page's root, the scope's classes are indexed on its first question. Under the
    root itself, only selectors whose last step names a tag are matched here (one walk of
    that tag's elements), unless the page's classes were indexed already."""
    steps = compounds(query)
    if steps is None:
        return scope.css(query)
    root = scope.root
    subject = steps[-1]
    tag, classes = subject
    index = _INDEXES.get(scope)
    if index is None and classes and root.getparent() is not None:
        index = class_index(scope)
    if classes and index is not None:
        candidates = index.elements.get(next(iter(classes)), ())
        if tag is not None or len(classes) > 1:
            candidates = [element for element in candidates if _fits(element, subject)]
    elif tag is not None:
        candidates = [element for element in root.iter(tag) if _fits(element, subject)]
    else:
        return scope.css(query)
    ancestors = steps[-2::-1]
    return [
        Selector(root=element, type="html")
        for element in candidates
        if _has_ancestors(element, ancestors, root)
    ]

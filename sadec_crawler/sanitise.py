"""The archive's one sanitiser policy: what article HTML may hold, wherever it is cleaned.

The crawler cleans every body with it before storing (:mod:`sadec_crawler.body`); the reading
room cleans again with it before showing one (the database may have been written by an older
crawler, edited by hand or restored from elsewhere).
"""

from __future__ import annotations

import nh3

SAFE_TAGS = {
    "p",
    "br",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "sub",
    "sup",
    "a",
    "img",
    "figure",
    "figcaption",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "hr",
    "span",
    "div",
}
SAFE_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
ALIGNMENT_CLASSES = {"text-center", "text-right"}
SAFE_URL_SCHEMES = {"http", "https", "mailto"}
ALIGNED_TAGS = ("p", "div", "td", "th")
LINK_REL = "noopener noreferrer nofollow"
"""The sanitiser's safe subset: these tags, these attributes per tag, alignment classes on
ALIGNED_TAGS, these URL schemes, and ``rel=LINK_REL`` on links. Public so that the hostile-input
tests hold every output to exactly this subset."""


def sanitise(html: str) -> str:
    """Reduce HTML to the archive's safe subset: structure, links, images and tables only."""
    return nh3.clean(
        html,
        tags=SAFE_TAGS,
        # No attribute on every tag: nh3 (ammonia) otherwise keeps title and lang everywhere,
        # outside the allow-list above.
        attributes={**SAFE_ATTRIBUTES, "*": set()},
        allowed_classes={tag: ALIGNMENT_CLASSES for tag in ALIGNED_TAGS},
        url_schemes=SAFE_URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
        clean_content_tags={"script", "style"},
    )

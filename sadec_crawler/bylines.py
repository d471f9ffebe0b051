"""Bylines: who wrote an article and for which office (site-spec §3 item 7 and §4).

The byline is the last paragraph of the body. Forms documented in the spec:
``Author, unit`` · ``Tin, ảnh: Author`` · ``Tin: A - Ảnh: B`` · ``Author (Unit)`` ·
``Nguồn: …`` · ``Tác giả: …``; and combinations of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .textnorm import clean_inline

_LABELLED = re.compile(
    r"^(?P<label>tin\s*(?:,|và|&|-)?\s*ảnh|bài\s*(?:,|và|&|-)?\s*ảnh|tin\s*bài|tin|bài|"
    r"bài\s*viết|tác\s*giả|nguồn|thực\s*hiện)\s*:\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
_PHOTO_CREDIT = re.compile(r"\s*[-–—;,.|]?\s*ảnh\s*:\s*(?P<photo>.+)$", re.IGNORECASE)
_PARENTHESISED_UNIT = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<unit>[^()]+)\)$")
_NAME_UNIT_SEPARATOR = re.compile(r"\s*(?:,|\s[-–—]\s)\s*")
# Offices name themselves: a byline part starting with one of these is a unit, not a person.
UNIT_WORDS = (
    "phòng",
    "ban",
    "văn phòng",
    "trung tâm",
    "ubnd",
    "ủy ban",
    "uỷ ban",
    "hội",
    "đài",
    "báo",
    "sở",
    "cổng",
    "thành ủy",
    "thành uỷ",
    "huyện ủy",
    "đoàn",
    "công an",
    "phường",
    "xã",
    "trường",
    "bệnh viện",
    "chi cục",
    "đảng ủy",
    "mặt trận",
    "liên đoàn",
    "bộ",
    "cục",
    "tỉnh",
    "thành phố",
    "bch",
    "ban chỉ huy",
    "hđnd",
    "viện",
    "tòa án",
    "viện kiểm sát",
)


@dataclass(frozen=True)
class Byline:
    """Author and unit read from a byline."""

    author: str | None
    unit: str | None
    photo: str | None = None
    """Photo credit (``Ảnh: B``), kept apart from the author."""


def looks_like_unit(text: str) -> bool:
    """True when ``text`` starts like the name of an office rather than a person."""
    lowered = text.lower()
    return any(lowered == w or lowered.startswith(w + " ") for w in UNIT_WORDS)


def looks_like_person(text: str) -> bool:
    """Vietnamese personal names: 1–6 words, each capitalised, no digits."""
    words = text.split()
    if not 1 <= len(words) <= 6 or any(ch.isdigit() for ch in text):
        return False
    return all(w[0].isupper() for w in words if w[0].isalpha()) and not looks_like_unit(text)


def _person_and_unit(text: str) -> tuple[str | None, str | None]:
    text = text.strip(" .;:-–—")
    if not text:
        return None, None
    parenthesised = _PARENTHESISED_UNIT.match(text)
    if parenthesised:
        return parenthesised["name"].strip() or None, parenthesised["unit"].strip() or None
    parts = _NAME_UNIT_SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2 and parts[0] and parts[1]:
        if looks_like_unit(parts[0]) and not looks_like_unit(parts[1]):
            return parts[1], parts[0]
        return parts[0], parts[1]
    if looks_like_unit(text):
        return None, text
    return text, None


def parse_byline(text: str | None) -> Byline | None:
    """Split a byline into author and unit; None when ``text`` is empty."""
    text = clean_inline(text).strip(" .")
    if not text:
        return None
    labelled = _LABELLED.match(text)
    if labelled:
        label = re.sub(r"\s+", " ", labelled["label"].lower())
        rest = labelled["rest"].strip()
        if label == "nguồn":
            return Byline(author=None, unit=rest.strip(" .") or None)
        photo = None
        credit = _PHOTO_CREDIT.search(rest)
        if credit and "ảnh" not in label:
            photo = credit["photo"].strip(" .") or None
            rest = rest[: credit.start()]
        author, unit = _person_and_unit(rest)
        return Byline(author, unit, photo)
    author, unit = _person_and_unit(text)
    return Byline(author, unit)


def is_byline_text(text: str, *, emphasised: bool, right_aligned: bool) -> bool:
    """Decide whether the last paragraph of a body is a byline rather than ordinary text.

    Labelled forms (``Tin, ảnh:``, ``Nguồn:`` …) always are; otherwise the paragraph must be
    short, set apart (right-aligned, bold or italic, as the portal's editors format bylines)
    and start with something that reads as a person's name or an office.
    """
    text = clean_inline(text).strip(" .")
    if not text or len(text) > 160:
        return False
    if _LABELLED.match(text):
        return True
    if not (emphasised or right_aligned):
        return False
    if len(text.split()) > 20 or text.endswith((":", "?", "!")):
        return False
    byline = parse_byline(text)
    if byline is None:
        return False
    if byline.author:
        return looks_like_person(byline.author)
    return bool(byline.unit)

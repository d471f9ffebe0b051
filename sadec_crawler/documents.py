"""References to legal and administrative documents in an article's text: "Quyết định số
313/QĐ-UBND-HC", "Kế hoạch số 12/KH-UBND", "Nghị quyết số 05/2021/NQ-HĐND", "Công văn số
812/UBND-VP".

Pure: text in, :class:`DocumentRef` items out. A Vietnamese document's symbol ("số ký hiệu") is
its number, the year when the symbol carries one, and a code naming its kind and issuer
(``QĐ-UBND``: a decision of the People's Committee). The kind comes from the word before the
number ("Quyết định số …") or, when the text gives only the symbol ("số 313/QĐ-UBND"), from the
code's first part. Precision and recall are measured on a hand-checked table
(``tests/test_documents.py``, figures in ``docs/reading-room.md``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .textnorm import fold

KINDS = {
    "quyết định": "Quyết định",
    "kế hoạch": "Kế hoạch",
    "nghị quyết": "Nghị quyết",
    "công văn": "Công văn",
    "thông báo": "Thông báo",
    "chỉ thị": "Chỉ thị",
    "nghị định": "Nghị định",
    "thông tư": "Thông tư",
    "báo cáo": "Báo cáo",
    "hướng dẫn": "Hướng dẫn",
    "tờ trình": "Tờ trình",
    "công điện": "Công điện",
    "quy chế": "Quy chế",
    "quy định": "Quy định",
    "chương trình": "Chương trình",
    "đề án": "Đề án",
    "luật": "Luật",
    "kết luận": "Kết luận",
    "văn bản": "Công văn",
}
"""A kind's name as written (lower case) → as stored."""

ABBREVIATIONS = {
    "QĐ": "Quyết định",
    "KH": "Kế hoạch",
    "NQ": "Nghị quyết",
    "TB": "Thông báo",
    "CT": "Chỉ thị",
    "NĐ": "Nghị định",
    "TT": "Thông tư",
    "BC": "Báo cáo",
    "HD": "Hướng dẫn",
    "TTR": "Tờ trình",
    "CĐ": "Công điện",
    "QC": "Quy chế",
    "QYĐ": "Quy định",
    "CTR": "Chương trình",
    "ĐA": "Đề án",
    "QH": "Luật",
}
"""The first part of a symbol's code → the kind it names (``QĐ-UBND``: a decision)."""

_KIND_WORDS = "|".join(sorted((re.escape(k) for k in KINDS), key=len, reverse=True))
_NUMBER = r"(?P<number>\d{1,5}[a-z]?)"
_YEAR = r"(?:(?P<year>(?:19|20)\d{2})\s*/\s*)?"
# In capitals (case-sensitive even where the rest is not), parts joined by "-", "–", "&" or a
# dot with no space after it ("QĐ-UBND.HC"; a dot and a space end the sentence).
_CODE = r"(?-i:(?P<code>[A-ZĐ][A-Za-zĐđ0-9]*(?:(?:\s?[-–&]\s?|\.)[A-ZĐ][A-Za-zĐđ0-9]*)*))"
# The Party's symbols put the number first: "18-NQ/TW", "05-CT/TU", "08-QĐi/TW".
_PARTY = r"(?-i:(?P<party>[A-ZĐ][A-Za-zĐđ]*/[A-ZĐ][A-Za-zĐđ0-9]*))"
_LINKERS = r"(?:\s+(?:liên\s+tịch|của\s+[^\d/]{1,40}?))?"
# A kind's first letter looked for before the alternation of kinds is tried: half the time of
# the two patterns that start with a kind (0.38 → 0.20 ms an article body of the replica).
_KIND_START = "(?=[" + "".join(sorted({kind[0] for kind in KINDS})) + "])"
_WITH_KIND = re.compile(
    rf"{_KIND_START}(?P<kind>{_KIND_WORDS}){_LINKERS}\s*(?:số(?:\s*:)?\s*|:\s*)?{_NUMBER}\s*/\s*{_YEAR}{_CODE}",
    re.IGNORECASE,
)
_WITH_KIND_PARTY = re.compile(
    rf"{_KIND_START}(?P<kind>{_KIND_WORDS}){_LINKERS}\s*(?:số(?:\s*:)?\s*|:\s*)?{_NUMBER}-{_PARTY}",
    re.IGNORECASE,
)
_SYMBOL_ONLY = re.compile(rf"\bsố(?:\s*:)?\s*{_NUMBER}\s*/\s*{_YEAR}{_CODE}", re.IGNORECASE)
_DATE_AFTER = re.compile(
    r"^[^.;\n]{0,25}?ngày\s+\d{1,2}\s*(?:/|tháng)\s*\d{1,2}\s*(?:/|năm)\s*(?P<year>(?:19|20)\d{2})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DocumentRef:
    """One document an article refers to."""

    kind: str
    """``Quyết định``, ``Kế hoạch``, ``Nghị quyết``…"""
    number: str
    """The number of the symbol, as written (``313``, ``05``, ``12a``)."""
    year: int | None
    """The year of the symbol (``05/2021/NQ-HĐND``) or of the date that follows it ("ngày
    19/3/2021"); None when the text gives neither."""
    symbol: str
    """``number[/year]/code`` without spaces, e.g. ``313/QĐ-UBND-HC``, ``05/2021/NQ-HĐND``."""
    issuer: str | None
    """The code without the kind's abbreviation: ``UBND-HC``, ``HĐND``, ``UBND-VP``."""
    text: str
    """The reference as written in the article."""


def _code_parts(code: str) -> list[str]:
    return [part for part in re.split(r"\s?[-–.]\s?", code) if part]


def _kind_of_code(code: str) -> str | None:
    first = _code_parts(code)[0].upper()
    return ABBREVIATIONS.get(first)


def _tidy_code(code: str) -> str:
    """The code as written, without the spaces some writers put around its hyphens."""
    return re.sub(r"\s+", "", code)


def find_document_refs(text: str | None) -> list[DocumentRef]:
    """Every document reference in ``text``, in order, each symbol once."""
    text = unicodedata.normalize("NFC", text or "")
    found: dict[tuple[str, str], DocumentRef] = {}
    taken: list[tuple[int, int]] = []
    candidates = []
    for match in _WITH_KIND.finditer(text):
        candidates.append((match, KINDS[match["kind"].lower()]))
    for match in _WITH_KIND_PARTY.finditer(text):
        candidates.append((match, KINDS[match["kind"].lower()]))
    for match in _SYMBOL_ONLY.finditer(text):
        kind = _kind_of_code(match["code"])
        if kind is not None:
            candidates.append((match, kind))
    candidates.sort(key=lambda pair: pair[0].start())
    for match, kind in candidates:
        if any(start <= match.start("number") < end for start, end in taken):
            continue  # the symbol of a reference already read ("Quyết định số 5/QĐ…")
        if "party" in match.groupdict() and match["party"]:
            party = match["party"]
            dated = _DATE_AFTER.match(text[match.end() :])
            ref = DocumentRef(
                kind=kind,
                number=match["number"],
                year=int(dated["year"]) if dated else None,
                symbol=f"{match['number']}-{party}",
                issuer=party.split("/", 1)[1],
                text=" ".join(match.group(0).split()),
            )
            taken.append((match.start("number"), match.end()))
            found.setdefault((kind, fold(ref.symbol).casefold()), ref)
            continue
        code = _tidy_code(match["code"])
        parts = _code_parts(code)
        if not any(len(part) >= 2 and part.upper() == part for part in parts):
            continue  # "số 3/Ngày": a code is in capitals
        # The symbol is the document's own word on its kind ("Thông báo kết luận số
        # 135/TB-…" is a Thông báo); the word before it decides when the code has no kind.
        kind = _kind_of_code(code) or kind
        year = int(match["year"]) if match["year"] else None
        if year is None:
            dated = _DATE_AFTER.match(text[match.end() :])
            year = int(dated["year"]) if dated else None
        symbol = f"{match['number']}/" + (f"{match['year']}/" if match["year"] else "") + code
        issuer_parts = parts[1:] if ABBREVIATIONS.get(parts[0].upper()) else parts
        ref = DocumentRef(
            kind=kind,
            number=match["number"],
            year=year,
            symbol=symbol,
            issuer="-".join(issuer_parts) or None,
            text=" ".join(match.group(0).split()),
        )
        taken.append((match.start("number"), match.end()))
        found.setdefault((kind, fold(symbol).casefold()), ref)
    return list(found.values())


def symbol_key(text: str) -> str:
    """A symbol or a file name reduced to letters and digits, without tone marks: how a file
    named ``313-QD-UBND.pdf`` is matched with ``313/QĐ-UBND``."""
    return re.sub(r"[^0-9a-z]", "", fold(text or "").casefold())

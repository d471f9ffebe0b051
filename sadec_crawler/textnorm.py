"""Text normalisation shared by the parsers, the storage layer and the search plugin.

Vietnamese pages on Liferay portals mix composed and decomposed Unicode (site-spec §4: NFD seen
on another provincial portal), non-breaking spaces and zero-width characters pasted from Word.
Everything the archive stores or matches goes through :func:`clean_text` first.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and invisible formatting characters that editors paste in from Word or CMS widgets.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u3000\t\r\f\v"), " ")
_RUNS_OF_SPACES = re.compile(r"[ ]{2,}")
# The same mappings as regular expressions: str.translate with a dict looks up every character
# of non-ASCII text through Python, several times slower than a regex scan on Vietnamese.
_INVISIBLE_RE = re.compile("[" + "".join(map(chr, _INVISIBLE)) + "]")
_SPACES_RE = re.compile("[" + "".join(map(chr, _SPACES)) + "\n]")
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 and C1 controls but tab and line ends: never text (and not allowed in XML 1.0)."""
_NOTHING_TO_CLEAN = re.compile(
    "["
    + CONTROL_CHARACTERS.pattern[1:-1]
    + _INVISIBLE_RE.pattern[1:-1]
    + _SPACES_RE.pattern[1:-1]
    + "]|  "
).search
"""Finds a character :func:`clean_inline` removes or replaces, or a run of spaces it folds;
decomposed text is found apart, by Unicode's quick check (``unicodedata.is_normalized``)."""


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC, the form every stored string uses."""
    return unicodedata.normalize("NFC", text)


def clean_inline(text: str | None) -> str:
    """NFC, no invisible characters, every kind of space folded to one ASCII space, stripped.

    Newlines become spaces too: use :func:`clean_block` where paragraph breaks matter.
    """
    if not text:
        return ""
    if _NOTHING_TO_CLEAN(text) is None and unicodedata.is_normalized("NFC", text):
        return text.strip()  # most texts: one scan, where the steps below take five
    # Composed once the invisible characters are gone: one between a letter and its mark
    # ("a\u200b\u0301", pasted from Word) would otherwise keep the pair apart.
    text = nfc(_INVISIBLE_RE.sub("", CONTROL_CHARACTERS.sub("", text)))
    return _RUNS_OF_SPACES.sub(" ", _SPACES_RE.sub(" ", text)).strip()


def clean_block(text: str | None) -> str:
    """Like :func:`clean_inline` for each paragraph; paragraphs separated by one blank line."""
    if not text:
        return ""
    paragraphs = (clean_inline(part) for part in re.split(r"\n\s*\n", nfc(text)))
    return "\n\n".join(p for p in paragraphs if p)


def _fold_char(char: str) -> str:
    if char in "đĐ":
        # đ is a letter of its own in Unicode, not d + a mark, so NFD leaves it alone.
        return "d" if char == "đ" else "D"
    decomposed = unicodedata.normalize("NFD", char)
    return decomposed[0] if decomposed else char


def fold(text: str | None) -> str:
    """Strip Vietnamese tone and vowel marks and map đ/Đ to d/D, keeping one character per
    character of the NFC input, so offsets found in the folded text are valid in the original.

    >>> fold("Thành phố Sa Đéc")
    'Thanh pho Sa Dec'
    """
    if not text:
        return ""
    text = nfc(text)
    if _LATIN.fullmatch(text):
        # Latin script (Vietnamese included): every character decomposes into one letter and
        # marks, so dropping the marks of the decomposed text keeps one character per
        # character, without a Python call per character (indexing folds every article).
        folded = _MARKS.sub("", unicodedata.normalize("NFD", text))
        return folded.replace("đ", "d").replace("Đ", "D")
    return "".join(_fold_char(c) for c in text)


_LATIN = re.compile("[\u0000-\u024f\u1e00-\u1eff]*")
_MARKS = re.compile("[\u0300-\u036f]+")


def slugify(text: str) -> str:
    """Liferay-style url-title: folded, lower case, ASCII words joined by hyphens."""
    folded = fold(clean_inline(text)).lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")

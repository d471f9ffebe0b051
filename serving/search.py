"""Vietnamese search helpers: user query → FTS5 expression, and highlighted snippets.

Two indexes exist (see ``pipelines.migrations.m002_search``): ``articles_fts`` holds text folded
by :func:`sadec_crawler.textnorm.fold` (the default, tone-insensitive search) and
``articles_fts_exact`` the original text (tone-exact search). The same query syntax serves both:

- words are ANDed: ``hoi nghi`` finds articles containing both words (``AND`` between them,
  upper case, says the same);
- ``"cải cách hành chính"`` is a phrase;
- ``cach*`` is a prefix;
- ``OR`` (upper case) between two terms means either;
- ``-word``, ``-"a phrase"`` or ``NOT word`` (upper case) leaves out articles containing it; a
  search needs at least one word to look for besides.

Snippets are computed on the original accented text: folding keeps one character per character,
so a match found in the folded text has the same offsets in the original.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from sadec_crawler.textnorm import clean_inline, fold, nfc

FOLDED, EXACT = "folded", "exact"
MODES = (FOLDED, EXACT)
FTS_TABLES = {FOLDED: "articles_fts", EXACT: "articles_fts_exact"}

# A quoted phrase (closing quote optional, as people forget it; a leading "-" negates it) or a
# bare run of non-spaces.
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")

MAX_QUERY_CHARS = 400
"""Longest query accepted, in characters. The longest title in the archive is under 300; a
query of 56 KB cost 40 s of CPU before this bound (red-team finding 1)."""
MAX_QUERY_TERMS = 24
"""Most words and phrases in one query. Each term is one more FTS5 phrase and one more regex
branch per snippet: 1,000 terms cost 1.2 s of CPU, 24 cost under 10 ms."""
MAX_SNIPPET_WIDTH = 2000
"""Widest snippet ``vn_snippet`` cuts, in characters."""


class QueryProblem(ValueError):
    """A search that cannot be run as typed; its message is meant for the person who typed it."""


class QueryTooLarge(QueryProblem):
    """A search query past :data:`MAX_QUERY_CHARS` or :data:`MAX_QUERY_TERMS`."""


def check_query(query: str | None) -> None:
    """Raise :class:`QueryTooLarge` when ``query`` is past the bounds of a search."""
    text = query or ""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryTooLarge(
            f"The search is too long ({len(text)} characters; at most {MAX_QUERY_CHARS}). "
            "Shorten it, or split it into several searches."
        )
    terms = sum(1 for match in _TOKEN.finditer(text) if match.group(0) not in _OPERATORS)
    if terms > MAX_QUERY_TERMS:
        raise QueryTooLarge(
            f"The search has too many words ({terms}; at most {MAX_QUERY_TERMS}). "
            "Use fewer words or a quoted phrase."
        )
    parts = [part for part in _parse(text, FOLDED) if isinstance(part, Term)]
    if parts and all(part.negated for part in parts):
        raise QueryProblem(
            "The search has only words to leave out (-word, NOT word): add at least one word "
            "to look for."
        )


@dataclass(frozen=True)
class Term:
    """One search term: a phrase of one or more words, maybe a prefix (``word*``)."""

    words: tuple[str, ...]
    prefix: bool = False
    negated: bool = False
    """Articles containing it are left out (``-word``, ``NOT word``)."""


def lower_same_length(text: str) -> str:
    """Lower-case ``text`` character by character, never changing its length (``İ`` lowers to two
    characters, which would shift every later offset)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        # No character grew (none ever shrinks): offsets agree, no need to go one by one.
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def normalise_query(query: str | None, mode: str = FOLDED) -> str:
    """NFC and one-line the query; fold it too in the default mode."""
    text = clean_inline(query or "")
    return fold(text) if mode == FOLDED else nfc(text)


_OPERATORS = ("OR", "AND", "NOT")


def parse_query(query: str | None, mode: str = FOLDED) -> list[Term | str]:
    """Split a user query into :class:`Term` objects and ``"OR"`` markers.

    Punctuation-only tokens are dropped: they would become empty FTS5 phrases. Raises
    :class:`QueryProblem` for a search past its bounds or with nothing to look for.
    """
    check_query(query)
    return _parse(query, mode)


def _parse(query: str | None, mode: str) -> list[Term | str]:
    parts: list[Term | str] = []
    negate_next = False
    for match in _TOKEN.finditer(normalise_query(query, mode)):
        minus, phrase, bare = match.group(1), match.group(2), match.group(3)
        if bare in ("OR", "AND"):
            if bare == "OR" and parts and parts[-1] != "OR":
                parts.append("OR")
            continue
        if bare == "NOT":
            negate_next = True
            continue
        negated = negate_next or bool(minus) or (bare is not None and bare.startswith("-"))
        negate_next = False
        text = phrase if phrase is not None else bare.lstrip("-")
        prefix = phrase is None and text.endswith("*")
        words = tuple(_WORD.findall(text))
        if not words:
            continue
        if negated and parts and parts[-1] == "OR":
            parts.pop()  # "a OR -b" has no sense as an alternative: b is left out
        parts.append(Term(words, prefix, negated))
    while parts and parts[-1] == "OR":
        parts.pop()
    return parts


def describe_query(query: str | None, mode: str = FOLDED) -> str:
    """What a search looks for, in words (shown with its results): ``all of “sa”, “dec”;
    leaving out “hoa”``."""

    def shown(term: Term) -> str:
        return "“" + " ".join(term.words) + ("…" if term.prefix else "") + "”"

    groups: list[list[Term]] = [[]]
    left_out = []
    for part in parse_query(query, mode):
        if part == "OR":
            groups.append([])
        elif part.negated:
            left_out.append(shown(part))
        else:
            groups[-1].append(part)
    alternatives = [", ".join(shown(t) for t in group) for group in groups if group]
    if len(alternatives) == 1:
        text = "all of " + alternatives[0] if "," in alternatives[0] else alternatives[0]
    else:
        text = " or ".join(f"({a})" if "," in a else a for a in alternatives)
    return text + ("; leaving out " + ", ".join(left_out) if left_out else "")


def to_fts(query: str | None, mode: str = FOLDED) -> str | None:
    """The FTS5 MATCH expression for a user query, or None when it has no searchable word.

    Every term is quoted, so FTS5 operators typed by accident (``NEAR``, ``:``) are searched as
    text instead of raising a syntax error; the query language's own (``OR``, ``AND``, ``NOT``,
    ``-``) become FTS5's.
    """

    def phrase(term: Term) -> str:
        return '"' + " ".join(term.words).replace('"', '""') + '"' + ("*" if term.prefix else "")

    pieces, left_out = [], []
    for part in parse_query(query, mode):
        if part == "OR":
            pieces.append("OR")
        elif part.negated:
            left_out.append(phrase(part))
        else:
            pieces.append(phrase(part))
    if not pieces:
        return None
    expression = " ".join(pieces)
    if left_out:
        # FTS5's NOT is binary and binds tighter than OR: the alternatives go in parentheses.
        expression = f"({expression})" + "".join(f" NOT {p}" for p in left_out)
    return expression


def _term_pattern(term: Term) -> str:
    """Regex for a term in lower-cased (and, by default, folded) text."""
    body = r"\W+".join(re.escape(lower_same_length(word)) for word in term.words)
    return r"(?<!\w)" + body + ("" if term.prefix else r"(?!\w)")


def find_matches(text: str, query: str | None, mode: str = FOLDED) -> list[tuple[int, int]]:
    """Non-overlapping ``(start, end)`` spans of the query's terms in ``text`` (NFC)."""
    terms = [
        part for part in parse_query(query, mode) if isinstance(part, Term) and not part.negated
    ]
    if not terms or not text:
        return []
    key = lower_same_length(fold(text) if mode == FOLDED else text)
    pattern = re.compile("|".join(_term_pattern(term) for term in terms))
    return [m.span() for m in pattern.finditer(key) if m.end() > m.start()]


def _best_window(spans: list[tuple[int, int]], length: int, width: int) -> tuple[int, int]:
    """The ``width``-character window holding the most matches, starting a little before the
    first of them so the reader sees some context."""
    best_start, best_count = spans[0][0], 0
    for i, (start, _) in enumerate(spans[:200]):
        count = sum(1 for s, e in spans[i:] if e <= start + width)
        if count > best_count:
            best_start, best_count = start, count
    start = max(0, min(best_start - width // 4, length - width))
    return start, min(length, start + width)


def _snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Move window edges out of the middle of words."""
    if start > 0:
        space = text.find(" ", start)
        if 0 <= space < start + 20:
            start = space + 1
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        if space > start:
            end = space
    return start, end


def highlight(text: str | None, query: str | None, mode: str = FOLDED, width: int = 0) -> str:
    """HTML of ``text`` (escaped) with the query's matches wrapped in ``<mark>``.

    ``width`` > 0 cuts a snippet of about that many characters around the densest cluster of
    matches (or the start of the text when nothing matches), with ``…`` where text was cut.
    """
    text = nfc(text or "")
    spans = find_matches(text, query, mode)
    start, end = 0, len(text)
    if width and len(text) > width:
        start, end = _best_window(spans, len(text), width) if spans else (0, width)
        start, end = _snap(text, start, end)
    out = ["…" if start > 0 else ""]
    position = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[position:s]))
        out.append("<mark>" + html.escape(text[s:e]) + "</mark>")
        position = e
    out.append(html.escape(text[position:end]))
    out.append("…" if end < len(text) else "")
    return "".join(out)

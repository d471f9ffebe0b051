"""Dates as Vietnamese government portals write them (site-spec §4).

Day comes first; times are Asia/Ho_Chi_Minh (UTC+7). ``SA``/``CH`` are AM/PM.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .textnorm import clean_inline

VIETNAM_OFFSET = "+07:00"

_SEP = r"\s*[/\-.]\s*"
_TIME = r"(?P<{p}h>\d{{1,2}})\s*[:hg]\s*(?P<{p}m>\d{{2}})(?:\s*:\s*(?P<{p}s>\d{{2}}))?"
_NUMERIC_DATE = re.compile(
    r"(?:" + _TIME.format(p="b") + r"\s*[|,\-]?\s*)?"
    r"(?<!\d)(?P<d>\d{1,2})" + _SEP + r"(?P<mo>\d{1,2})" + _SEP + r"(?P<y>\d{4})(?!\d)"
    r"(?:\s*[,\-|]?\s*(?:lúc\s*)?" + _TIME.format(p="a") + r"(?:\s*(?P<ampm>SA|CH|AM|PM))?)?",
    re.IGNORECASE,
)
_WORDY_DATE = re.compile(
    r"ngày\s+(?P<d>\d{1,2})\s+tháng\s+(?P<mo>\d{1,2})\s+năm\s+(?P<y>\d{4})", re.IGNORECASE
)


@dataclass(frozen=True)
class ParsedDate:
    """A date found in text, with the exact text it was read from."""

    date: dt.date
    time: dt.time | None
    raw: str
    """The matched fragment, as written on the page (after NFC and space clean-up)."""

    @property
    def iso(self) -> str:
        """``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM:SS+07:00`` when the page gave a time."""
        if self.time is None:
            return self.date.isoformat()
        return f"{self.date.isoformat()}T{self.time.isoformat(timespec='seconds')}{VIETNAM_OFFSET}"


def _build(match: re.Match) -> ParsedDate | None:
    groups = match.groupdict()
    try:
        day = dt.date(int(groups["y"]), int(groups["mo"]), int(groups["d"]))
    except ValueError:
        return None
    if not 1990 <= day.year <= 2100:
        return None
    time = None
    for prefix in ("b", "a"):
        if groups.get(f"{prefix}h") is not None:
            hour, minute = int(groups[f"{prefix}h"]), int(groups[f"{prefix}m"])
            second = int(groups.get(f"{prefix}s") or 0)
            ampm = (groups.get("ampm") or "").upper() if prefix == "a" else ""
            if ampm in ("CH", "PM") and hour < 12:
                hour += 12
            elif ampm in ("SA", "AM") and hour == 12:
                hour = 0
            try:
                time = dt.time(hour, minute, second)
            except ValueError:
                time = None
            break
    return ParsedDate(day, time, match.group(0).strip(" |,-"))


def find_dates(text: str | None) -> list[ParsedDate]:
    """Every valid date in ``text``, in the order they appear."""
    text = clean_inline(text)
    found: list[tuple[int, ParsedDate]] = []
    for pattern in (_NUMERIC_DATE, _WORDY_DATE):
        for match in pattern.finditer(text):
            parsed = _build(match)
            if parsed:
                found.append((match.start(), parsed))
    found.sort(key=lambda pair: pair[0])
    return [parsed for _, parsed in found]


def parse_date(text: str | None) -> ParsedDate | None:
    """The first valid date in ``text``, or None (what ``find_dates(text)[0]`` is, without
    reading every date of a long text: a body is searched for its first one)."""
    text = clean_inline(text)
    first: tuple[int, ParsedDate] | None = None
    for pattern in (_NUMERIC_DATE, _WORDY_DATE):
        for match in pattern.finditer(text):
            if first is not None and match.start() >= first[0]:
                break  # no earlier date from this pattern
            parsed = _build(match)
            if parsed:
                first = (match.start(), parsed)
                break
    return first[1] if first else None


@dataclass(frozen=True)
class PublishedDate:
    """The publication date chosen among the sources site-spec §4 ranks."""

    iso: str
    raw: str
    """The text the date was read from: the listing's or the date line's whole text, or the
    matched fragment of the body."""
    source: str
    """``listing``, ``date_line`` or ``body``."""


SOURCE_RANK = ("listing", "date_line", "body")


def choose_published(
    listing_text: str | None, date_line_text: str | None, body_text: str | None
) -> PublishedDate | None:
    """Pick the most reliable date: listing entry, then date line, then first date in the body.

    A lower-ranked source that agrees on the day lends its time of day when the chosen one has
    none (listing cards often show the day only while the article line shows the time), and its
    seconds when the chosen one shows the same minute without them.
    """

    def candidates():
        # Lazily: the body is only searched when a better source leaves something to complete.
        texts = (listing_text, date_line_text, body_text)
        for source, text in zip(SOURCE_RANK, texts, strict=True):
            parsed = parse_date(text)
            if parsed:
                yield source, parsed.raw if source == "body" else clean_inline(text), parsed

    found = candidates()
    first = next(found, None)
    if first is None:
        return None
    source, raw, chosen = first
    complete = chosen.time is not None and chosen.time.second != 0
    for _, _, other in () if complete else found:
        if other.date != chosen.date or other.time is None:
            continue
        if chosen.time is None or (
            # "11:16" on the listing, "Cập nhật ngày: … 11:16:37" on the page: same minute,
            # the page's seconds complete it.
            chosen.time.second == 0
            and other.time.replace(second=0) == chosen.time
            and other.time.second
        ):
            chosen = ParsedDate(chosen.date, other.time, chosen.raw)
            break
    return PublishedDate(chosen.iso, raw, source)

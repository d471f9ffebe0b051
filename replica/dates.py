"""Date renderings of the replica, one per form listed in docs/site-spec.md §4.

Every form is keyed by a short name so that the corpus data and the category configuration can
name the form they use without carrying format strings around.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")


def _twelve_hour(moment: datetime) -> str:
    """Vietnamese 12-hour clock: SA (sáng) before noon, CH (chiều) from noon on."""
    hour = moment.hour % 12 or 12
    suffix = "SA" if moment.hour < 12 else "CH"
    return f"{hour:02d}:{moment.minute:02d} {suffix}"


FORMATS: dict[str, Callable[[datetime], str]] = {
    "dmy": lambda m: f"{m.day:02d}/{m.month:02d}/{m.year}",
    "dmy_nopad": lambda m: f"{m.day}/{m.month}/{m.year}",
    "dmy_mixed": lambda m: f"{m.day:02d}/{m.month}/{m.year}",
    "dmy_dash": lambda m: f"{m.day:02d}-{m.month:02d}-{m.year}",
    "dmy_spaced": lambda m: f"{m.day:02d} - {m.month:02d} - {m.year}",
    "time_pipe": lambda m: f"{m.hour:02d}:{m.minute:02d} | {m.day:02d}/{m.month:02d}/{m.year}",
    "dmy_ampm": lambda m: f"{m.day:02d}/{m.month:02d}/{m.year} {_twelve_hour(m)}",
    "cap_nhat": lambda m: f"Cập nhật ngày: {m:%d/%m/%Y %H:%M:%S}",
    "dang_ngay": lambda m: f"Đăng ngày {m.day:02d} - {m.month:02d} - {m.year}",
    "ngay_thang_nam": lambda m: f"ngày {m.day:02d} tháng {m.month} năm {m.year}",
    "da_xuat_ban": lambda m: f"Đã xuất bản {m.day:02d}/{m.month:02d}/{m.year}",
}

# Forms that show the time of day; a timed article must appear in one of them somewhere.
TIMED_FORMATS = frozenset({"time_pipe", "dmy_ampm", "cap_nhat"})


def render(form: str, moment: datetime) -> str:
    """Render ``moment`` in the named form (KeyError for an unknown form, on purpose)."""
    return FORMATS[form](moment)


def iso(moment: datetime, timed: bool) -> str:
    """Truth value: a bare date, or a local time with the +07:00 offset when the time is shown."""
    if not timed:
        return moment.date().isoformat()
    return moment.replace(tzinfo=VIETNAM_TZ).isoformat(timespec="seconds")


# Date fragments a body sentence may carry: "19/3/2021", "19-03-2021", "ngày 5 tháng 4 năm 2023".
BODY_DATE_PATTERN = re.compile(
    r"(?<!\d)(\d{1,2})\s*[/-]\s*(\d{1,2})\s*[/-]\s*(\d{4})(?!\d)"
    r"|ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})"
)


def first_body_date(text: str) -> tuple[str, date] | None:
    """The first date fragment in ``text`` and the day it names, or None if there is none."""
    for match in BODY_DATE_PATTERN.finditer(text):
        groups = [g for g in match.groups() if g is not None]
        day, month, year = (int(g) for g in groups)
        try:
            return match.group(0), date(year, month, day)
        except ValueError:
            continue
    return None


def parse_corpus_date(value: str) -> tuple[datetime, bool]:
    """Corpus dates are ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]``; the flag says a time is set."""
    if "T" in value:
        return datetime.fromisoformat(value), True
    return datetime.fromisoformat(value + "T00:00:00"), False

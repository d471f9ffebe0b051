"""Dates in every form site-spec §4 lists, and the ranking of date sources."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sadec_crawler.dates import choose_published, find_dates, parse_date

FORMS = [
    ("19/03/2021", "2021-03-19"),
    ("19/3/2021", "2021-03-19"),
    ("9/3/2021", "2021-03-09"),
    ("19-03-2021", "2021-03-19"),
    ("19 - 03 - 2021", "2021-03-19"),
    ("15:55 | 10/07/2026", "2026-07-10T15:55:00+07:00"),
    ("10/07/2026 08:15 SA", "2026-07-10T08:15:00+07:00"),
    ("10/07/2026 08:15 CH", "2026-07-10T20:15:00+07:00"),
    ("10/07/2026 12:05 SA", "2026-07-10T00:05:00+07:00"),
    ("Cập nhật ngày: 24/04/2015 05:21:36", "2015-04-24T05:21:36+07:00"),
    ("Đăng ngày 17 - 05 - 2024", "2024-05-17"),
    ("ngày 05 tháng 4 năm 2023", "2023-04-05"),
    ("Ngày 5 tháng 04 năm 2023", "2023-04-05"),
    ("Đã xuất bản 19/03/2021", "2021-03-19"),
    ("Đã\u00a0xuất bản\u200b 19/03/2021", "2021-03-19"),
]


@pytest.mark.parametrize(("text", "iso"), FORMS)
def test_every_documented_form(text, iso):
    assert parse_date(text).iso == iso


@pytest.mark.parametrize("text", ["31/02/2021", "Quyết định số 313/QĐ-UBND", "", None, "1/13/2020"])
def test_no_date_where_there_is_none(text):
    assert parse_date(text) is None


def test_first_date_in_body_is_the_first_in_reading_order():
    body = (
        "Sáng ngày 19/3/2021, Ủy ban nhân dân thành phố Sa Đéc tổ chức Hội nghị. Quyết định "
        "số 313/QĐ-UBND-HC ngày 30/12/2020 về việc phê duyệt."
    )
    assert [d.iso for d in find_dates(body)] == ["2021-03-19", "2020-12-30"]


def test_listing_outranks_date_line_and_body():
    chosen = choose_published("20/03/2021", "Đã xuất bản 21/03/2021", "ngày 19/3/2021")
    assert (chosen.iso, chosen.source, chosen.raw) == ("2021-03-20", "listing", "20/03/2021")


def test_date_line_outranks_body():
    chosen = choose_published(None, "Đã xuất bản 21/03/2021", "ngày 19/3/2021")
    assert (chosen.iso, chosen.source) == ("2021-03-21", "date_line")


def test_body_date_when_nothing_else():
    chosen = choose_published(None, None, "Sáng ngày 19/3/2021, Hội nghị")
    assert (chosen.iso, chosen.source, chosen.raw) == ("2021-03-19", "body", "19/3/2021")


def test_time_from_a_lower_source_on_the_same_day():
    chosen = choose_published("10/07/2023", "15:55 | 10/07/2023", None)
    assert (chosen.iso, chosen.source) == ("2023-07-10T15:55:00+07:00", "listing")


def test_time_of_another_day_is_not_borrowed():
    chosen = choose_published("10/07/2023", "15:55 | 11/07/2023", None)
    assert chosen.iso == "2023-07-10"


def test_no_source_gives_none():
    assert choose_published(None, "", "không có ngày") is None


_DATE_PARTS = [
    "ngày 12 tháng 6 năm 2025",
    "12/06/2025",
    "31/02/2024",
    "10:30 12/6/2025",
    "1/1/1980",
    "05-07-2023 lúc 9g30 SA",
    "13/13/2020",
    "Ngày 3 tháng 13 năm 2021",
    "7.3.2022",
    "2025",
    "/",
    " ",
    "\n\n",
    "văn bản",
]


@given(st.lists(st.sampled_from(_DATE_PARTS), max_size=8))
def test_parse_date_is_the_first_of_find_dates(parts):
    """``parse_date`` stops at the first valid date; it must be the one ``find_dates`` lists
    first, invalid dates and both spellings mixed."""
    text = "".join(parts)
    dates = find_dates(text)
    assert parse_date(text) == (dates[0] if dates else None)

"""The drift alarm of ``pipelines.storage``: loud for a broken selector, quiet for chance."""

import pytest

from pipelines.storage import coverage_drops

ARCHIVE = {"_parsed": 1064, "title": 1.0, "images": 0.42, "author": 0.95, "unit": 0.6}


def coverage(**shares):
    return {**ARCHIVE, **shares}


@pytest.mark.parametrize(
    ("parsed", "shares", "expected"),
    [
        # 12 articles of a nightly run, 2 with images: chance, not drift (measured: the
        # `python -m bench requests` run of 10 new articles was failed for this).
        (12, {"images": 2 / 12}, []),
        # Every new article without a byline where nearly all had one: a broken selector.
        (5, {"author": 0.0}, ["author 95% → 0%"]),
        # Too few articles to tell anything but a vanished field.
        (2, {"author": 0.0}, []),
        # A large run where images fell from 42% to 10%: far beyond chance.
        (200, {"images": 0.10}, ["images 42% → 10%"]),
        # A large run within chance of the archive's shares.
        (200, {"images": 0.38, "unit": 0.55}, []),
        # A share above the threshold but within noise on 20 articles.
        (20, {"unit": 0.35}, []),
        # The same drop on 400 articles is beyond noise.
        (400, {"unit": 0.35}, ["unit 60% → 35%"]),
    ],
)
def test_coverage_drops(parsed, shares, expected):
    assert coverage_drops(ARCHIVE, coverage(**shares), parsed, threshold=0.2) == expected


def test_no_baseline_no_alarm():
    assert coverage_drops(None, coverage(author=0.0), 500, threshold=0.2) == []

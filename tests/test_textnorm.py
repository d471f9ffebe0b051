"""Text normalisation (``sadec_crawler.textnorm``): what every stored string goes through."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from sadec_crawler.textnorm import clean_inline, fold

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SPACES = "\u00a0\u2007\u202f\u3000\t\r\f\v\n "
CONTROLS = "".join(
    map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])
)


def clean_inline_step_by_step(text: str) -> str:
    """What ``clean_inline`` promises, one step at a time, with str.translate: what is not
    text removed, then NFC, then every kind of space one ASCII space."""
    text = text.translate(dict.fromkeys(map(ord, CONTROLS + INVISIBLE)))
    text = unicodedata.normalize("NFC", text)
    text = text.translate(dict.fromkeys(map(ord, SPACES), " "))
    return re.sub(" {2,}", " ", text).strip()


# Vietnamese letters composed and decomposed, marks alone, and every character the cleaning
# deletes or turns into a space.
TEXT = st.text(
    alphabet=st.sampled_from(
        list("aAđĐeêoơuưyHộinghị\u0301\u0300\u0323\u0309\u0303\u0302\u031b.,-/")
        + list(INVISIBLE + SPACES + CONTROLS)
    ),
    max_size=40,
)


@given(TEXT)
def test_clean_inline_does_each_documented_step(text):
    cleaned = clean_inline(text)
    assert cleaned == clean_inline_step_by_step(text)
    assert unicodedata.is_normalized("NFC", cleaned)


def test_an_invisible_character_inside_a_letter_leaves_it_composed():
    assert clean_inline("Ha\u200b\u0300 No\u00ad\u0323i") == "Hà Nọi"


def test_clean_inline_folds_every_kind_of_space_and_drops_what_is_not_text():
    assert clean_inline(" Sa\u00a0\u00a0Đéc\u200b\n\tngày\x0b 19/3 ") == "Sa Đéc ngày 19/3"
    assert clean_inline("Ho\u0300a") == "Hòa"  # decomposed in, composed out
    assert clean_inline(None) == "" and clean_inline("\u200b \u00a0") == ""


@given(TEXT)
def test_fold_keeps_one_character_per_character_of_the_composed_text(text):
    composed = unicodedata.normalize("NFC", text)
    assert len(fold(text)) == len(composed)
    assert "đ" not in fold(text) and "Đ" not in fold(text)

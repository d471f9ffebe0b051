"""The compact containers a crawl keeps per article (``sadec_crawler.compact``) behave as the
built-in sets and dicts they replace, across their merges of recent records."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sadec_crawler.compact import BytesSet, IntSet, PackedTable, StrIntMap

# More operations than the merge threshold (512), so sorted and recent records both serve.
ints = st.lists(st.integers(min_value=-5, max_value=2**64 + 5), max_size=1500)


@settings(max_examples=30, deadline=None)
@given(ints, ints)
def test_int_set_is_a_set(added, probed):
    compact, expected = IntSet(), set()
    for value in added:
        compact.add(value)
        expected.add(value)
    assert len(compact) == len(expected)
    assert all(value in compact for value in expected)
    assert all((value in compact) == (value in expected) for value in probed)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=19, max_size=21), max_size=1200))
def test_bytes_set_keeps_whole_fingerprints(values):
    compact, expected = BytesSet(20), set()
    for value in values:
        compact.add(value)
        expected.add(value)
    assert len(compact) == len(expected)
    assert all(value in compact for value in expected)
    # Same first 8 bytes, different rest: told apart.
    for value in expected:
        if len(value) == 20:
            other = value[:8] + bytes(b ^ 0xFF for b in value[8:])
            assert (other in compact) == (other in expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.integers(-3, 2**64 + 3)), max_size=1200))
def test_str_int_map_setdefault_like_dict(pairs):
    compact, expected = StrIntMap(), {}
    for key, value in pairs:
        assert compact.setdefault(key, value) == expected.setdefault(key, value)
    assert len(compact) == len(expected)
    assert all(compact.get(key) == value for key, value in expected.items())
    assert compact.get("\x00never added") is None


def test_packed_table_replaces_values_when_asked():
    table = PackedTable(rest_size=2, value_size=1)
    for high in range(1000):  # past a merge
        assert table.put(high, b"ab", b"x")
    assert not table.put(7, b"ab", b"y", replace=False)
    assert table.get(7, b"ab") == b"x"
    assert not table.put(7, b"ab", b"z")
    assert table.get(7, b"ab") == b"z"
    assert table.get(7, b"ac") is None
    assert len(table) == 1000

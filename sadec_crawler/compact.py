"""Compact sets and maps for what a crawl remembers of every article until it ends.

Measured on full crawls of the replica (tracemalloc and a census of the crawl's containers at
its last ``spider_idle``; bench/memory.py for the peak RSS): at 20,064 articles the per-article
sets and dicts held about 27 MB, most of the peak's growth over a 2,000-article crawl (110 →
140 MB). A Python set of 20,000 ints is a 2 MB hash table (CPython grows a set to four times
its size) plus an int object per entry, each dict entry ~100 bytes more than its key and value;
the records below are 8 to 60 bytes each.

:class:`PackedTable` keeps fixed-width records sorted, a 64-bit key prefix in an ``array`` that
``bisect`` searches in C and the rest of the key (and the value) in a ``bytearray``; the last few
hundred records added wait in a small dict and are merged in by the hundreds. Keys are exact:
ints as they are, byte strings whole; string keys become 128-bit BLAKE2b digests (a collision
among a crawl's few hundred thousand keys has odds of about 10⁻²⁸).
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

_U64 = 1 << 64
_MERGE_EVERY = 512
"""Records held in the dict before they are merged into the sorted arrays: a merge copies every
record, so it happens once per this many inserts; the dict stays under ~100 KB."""


def digest(text: str) -> bytes:
    """128-bit key of a string (BLAKE2b)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class PackedTable:
    """Sorted fixed-width records: a 64-bit key ``high`` (an int in [0, 2**64)), ``rest_size``
    more bytes of key and ``value_size`` bytes of value. Insert and look up; never delete."""

    __slots__ = ("_high", "_records", "_recent", "_rest_size", "_width")

    def __init__(self, rest_size: int = 0, value_size: int = 0):
        self._rest_size = rest_size
        self._width = rest_size + value_size
        self._high = array("Q")
        self._records = bytearray()
        self._recent: dict[tuple[int, bytes], bytes] = {}

    def __len__(self) -> int:
        return len(self._high) + len(self._recent)

    def _index(self, high: int, rest: bytes) -> int:
        """Position of the key among the sorted records, or -1."""
        high_keys = self._high
        index = bisect_left(high_keys, high)
        width, size = self._width, self._rest_size
        while index < len(high_keys) and high_keys[index] == high:
            start = index * width
            if self._records[start : start + size] == rest:
                return index
            index += 1
        return -1

    def get(self, high: int, rest: bytes = b"") -> bytes | None:
        """The value stored under the key (``b""`` in a set), or None."""
        value = self._recent.get((high, rest))
        if value is not None:
            return value
        index = self._index(high, rest)
        if index < 0:
            return None
        start = index * self._width
        return bytes(self._records[start + self._rest_size : start + self._width])

    def put(self, high: int, rest: bytes = b"", value: bytes = b"", replace: bool = True) -> bool:
        """Store a record; an existing one is overwritten only with ``replace``. True when the
        key was new."""
        if len(rest) != self._rest_size or len(value) != self._width - self._rest_size:
            raise ValueError("record of the wrong size")
        key = (high, rest)
        if key in self._recent:
            if replace:
                self._recent[key] = value
            return False
        index = self._index(high, rest)
        if index >= 0:
            if replace:
                start = index * self._width + self._rest_size
                self._records[start : start + len(value)] = value
            return False
        if not 0 <= high < _U64:
            raise OverflowError(f"key {high} is not a 64-bit unsigned int")
        self._recent[key] = value
        if len(self._recent) >= _MERGE_EVERY:
            self._merge()
        return True

    def _merge(self) -> None:
        """Splice the recent records into the sorted arrays (one pass, slices copied in C)."""
        old_high, old_records, width = self._high, self._records, self._width
        high_keys, records = array("Q"), bytearray()
        done = 0
        for (high, rest), value in sorted(self._recent.items()):
            until = bisect_right(old_high, high, done)
            high_keys.extend(old_high[done:until])
            records += old_records[done * width : until * width]
            high_keys.append(high)
            records += rest
            records += value
            done = until
        high_keys.extend(old_high[done:])
        records += old_records[done * width :]
        self._high, self._records = high_keys, records
        self._recent = {}


class IntSet:
    """A set of ints: 8 bytes each for those in [0, 2**64) (asset ids), any other in a plain
    set beside."""

    __slots__ = ("_other", "_table")

    def __init__(self, values: Iterable[int] = ()):
        self._table = PackedTable()
        self._other: set = set()
        for value in values:
            self.add(value)

    def __contains__(self, value) -> bool:
        if type(value) is int and 0 <= value < _U64:
            return self._table.get(value) is not None
        return value in self._other

    def add(self, value: int) -> None:
        if type(value) is int and 0 <= value < _U64:
            self._table.put(value, replace=False)
        else:
            self._other.add(value)

    def __len__(self) -> int:
        return len(self._table) + len(self._other)


class BytesSet:
    """A set of byte strings of one length (at least 8, such as request fingerprints), stored
    whole; others go to a plain set beside."""

    __slots__ = ("_other", "_size", "_table")

    def __init__(self, size: int, values: Iterable[bytes] = ()):
        self._size = size
        self._table = PackedTable(rest_size=size - 8)
        self._other: set = set()
        self.update(values)

    def _split(self, value) -> tuple[int, bytes] | None:
        if isinstance(value, bytes) and len(value) == self._size:
            return int.from_bytes(value[:8], "big"), value[8:]
        return None

    def __contains__(self, value) -> bool:
        key = self._split(value)
        return value in self._other if key is None else self._table.get(*key) is not None

    def add(self, value: bytes) -> None:
        key = self._split(value)
        if key is None:
            self._other.add(value)
        else:
            self._table.put(*key, replace=False)

    def update(self, values: Iterable[bytes]) -> None:
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return len(self._table) + len(self._other)


class DigestSet:
    """A set of strings, 16 bytes each (their 128-bit digests). Strings cannot be listed back."""

    __slots__ = ("_table",)

    def __init__(self):
        self._table = BytesSet(16)

    def __contains__(self, text: str) -> bool:
        return digest(text) in self._table

    def add(self, text: str) -> None:
        self._table.add(digest(text))

    def __len__(self) -> int:
        return len(self._table)


class StrIntMap:
    """A map from strings to ints, 24 bytes an entry: the key's 128-bit digest and the value
    (values outside [0, 2**64) are kept in a plain dict beside). Keys cannot be listed back."""

    __slots__ = ("_other", "_table")

    def __init__(self):
        self._table = PackedTable(rest_size=8, value_size=8)
        self._other: dict[str, int] = {}

    @staticmethod
    def _key(key: str) -> tuple[int, bytes]:
        hashed = digest(key)
        return int.from_bytes(hashed[:8], "big"), hashed[8:]

    def get(self, key: str, default: int | None = None) -> int | None:
        value = self._table.get(*self._key(key))
        if value is not None:
            return int.from_bytes(value, "big")
        return self._other.get(key, default)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def setdefault(self, key: str, value: int) -> int:
        current = self.get(key)
        if current is not None:
            return current
        if type(value) is int and 0 <= value < _U64:
            self._table.put(*self._key(key), value.to_bytes(8, "big"), replace=False)
        else:
            self._other[key] = value
        return value

    def __len__(self) -> int:
        return len(self._table) + len(self._other)

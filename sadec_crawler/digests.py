"""Digests of evidence: SHA-256 of stored files, ``WARC-*-Digest`` values of WARC records."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

_CHUNK = 1 << 20


def hash_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- WARC reading -------------------------------------------------------------------------------
def warc_digest(algorithm: str, chunks) -> str:
    """``<algorithm>:<BASE32>``, the form of ``WARC-*-Digest`` headers, over byte chunks."""
    digest = hashlib.new(algorithm)
    for chunk in chunks:
        digest.update(chunk)
    return f"{algorithm}:{base64.b32encode(digest.digest()).decode('ascii')}"


def _read_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def digests_match(expected: str, actual_algorithm_digest: str) -> bool:
    """Compare digests written in base32 (warcio) or hex (some other tools)."""
    if expected == actual_algorithm_digest:
        return True
    algorithm, _, value = expected.partition(":")
    _, _, actual = actual_algorithm_digest.partition(":")
    try:
        return base64.b32decode(actual).hex() == value.lower()
    except ValueError:
        return False


@dataclass
class RecordCheck:
    """What was found at one offset of one WARC file."""

    record_id: str | None
    target_uri: str | None
    payload_digest: str | None
    """Recomputed over the payload as stored, in the algorithm asked for."""


def check_record_at(path: Path, offset: int, algorithm: str = "sha1") -> RecordCheck:
    """Read the record at ``offset`` and recompute its payload digest."""
    with path.open("rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        digest = warc_digest(algorithm, _read_chunks(record.raw_stream))
        return RecordCheck(
            record.rec_headers.get_header("WARC-Record-ID"),
            record.rec_headers.get_header("WARC-Target-URI"),
            digest,
        )


def scan_block_digests(path: Path) -> tuple[int, list[str]]:
    """Check every record's ``WARC-Block-Digest``; return (records, problems)."""
    problems, count = [], 0
    try:
        with path.open("rb") as handle:
            records = ArchiveIterator(handle, no_record_parse=True)
            for record in records:
                count += 1
                expected = record.rec_headers.get_header("WARC-Block-Digest")
                if not expected:
                    continue
                actual = warc_digest(expected.partition(":")[0], _read_chunks(record.raw_stream))
                if not digests_match(expected, actual):
                    offset = records.get_record_offset()
                    problems.append(
                        f"WARC block digest mismatch: {path.name} @ {offset} "
                        f"{record.rec_headers.get_header('WARC-Record-ID')}: "
                        f"expected {expected}, actual {actual}"
                    )
    except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as error:
        problems.append(f"WARC file unreadable after {count} records: {path.name}: {error}")
    return count, problems

"""The ``document_refs`` table: every document an article cites, in its text or in the title of
an attachment, linked to the attachment that is that document when one is.

Written with the article's images and attachments (new and changed articles), and for every
stored article by the migration that made the table. Extraction is
:func:`sadec_crawler.documents.find_document_refs`.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from sadec_crawler.documents import DocumentRef, find_document_refs, symbol_key

SCHEMA = (
    "create table if not exists document_refs (article_url text not null, position integer "
    "not null, kind text not null, number text not null, year integer, symbol text not null, "
    "issuer text, text text not null, attachment_position integer, "
    "primary key (article_url, position))"
)
INDEXES = (
    "create index if not exists idx_document_refs_symbol on document_refs (symbol)",
    "create index if not exists idx_document_refs_kind on document_refs (kind, year)",
)


def references(body_text: str | None, attachments: Iterable[dict]) -> list[DocumentRef]:
    """The documents an article cites: in its body, then in its attachments' titles, each
    symbol once."""
    found: dict[tuple[str, str], DocumentRef] = {}
    texts = [body_text or ""]
    texts += [f"{a.get('link_text') or ''} {a.get('filename') or ''}" for a in attachments]
    for text in texts:
        for ref in find_document_refs(text):
            found.setdefault((ref.kind, symbol_key(ref.symbol)), ref)
    return list(found.values())


def attachment_of(ref: DocumentRef, attachments: list[dict]) -> int | None:
    """The position of the attachment whose name or link text carries the reference's symbol
    (``313-QD-UBND.pdf`` for ``313/QĐ-UBND``), if any."""
    key = symbol_key(ref.symbol)
    for attachment in attachments:
        for name in (attachment.get("filename"), attachment.get("link_text")):
            name_key = symbol_key(name or "")
            at = name_key.find(key)
            # Not the tail of a longer number: 5/QĐ-UBND is not in 15-QD-UBND.pdf.
            if at >= 0 and (at == 0 or not name_key[at - 1].isdigit()):
                return attachment["position"]
    return None


def record_document_refs(
    db: sqlite_utils.Database, article_url: str, body_text: str | None, attachments: list[dict]
) -> int:
    """Replace the article's rows of ``document_refs`` (made by the migration); returns how
    many it cites."""
    db.execute("delete from document_refs where article_url = ?", [article_url])
    refs = references(body_text, attachments)
    for position, ref in enumerate(refs, 1):
        db.execute(
            "insert into document_refs (article_url, position, kind, number, year, symbol, "
            "issuer, text, attachment_position) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                article_url,
                position,
                ref.kind,
                ref.number,
                ref.year,
                ref.symbol,
                ref.issuer,
                ref.text,
                attachment_of(ref, attachments),
            ],
        )
    return len(refs)


def backfill(db: sqlite_utils.Database) -> None:
    """Rows for every stored article (the migration that made the table)."""
    db.execute(SCHEMA)
    for statement in INDEXES:
        db.execute(statement)
    if "articles" not in db.table_names():
        return
    attachments: dict[str, list[dict]] = {}
    if "attachments" in db.table_names():
        for row in db.query("select article_url, position, filename, link_text from attachments"):
            attachments.setdefault(row["article_url"], []).append(row)
    for url, body_text in db.execute("select url, body_text from articles").fetchall():
        record_document_refs(db, url, body_text, attachments.get(url, []))

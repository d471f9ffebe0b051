"""Tables whose columns follow the code that fills them (the registry-like ``portals`` and
``units``): made when missing, and given the columns a newer version added."""

from __future__ import annotations

import sqlite_utils


def ensure_table(db: sqlite_utils.Database, table: str, columns: dict[str, str]) -> None:
    """``table`` with every column of ``columns`` (name → SQLite type), adding what an older
    archive lacks; existing rows and columns are left as they are."""
    db.execute(
        f"create table if not exists [{table}] ("
        + ", ".join(f"{name} {kind}" for name, kind in columns.items())
        + ")"
    )
    present = {row[1] for row in db.execute(f"pragma table_info([{table}])")}
    for name, kind in columns.items():
        if name not in present:
            db.execute(f"alter table [{table}] add column {name} {kind}")

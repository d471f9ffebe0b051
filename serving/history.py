"""An article's history: its earlier versions and what changed between them, as text diffs.

The crawler keeps the previous content of an edited article in ``article_versions`` (see
``pipelines.database.upsert_article``); this page lets a researcher see what the portal changed.
"""

from __future__ import annotations

import difflib
import json

from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

VERSION_FIELDS = ("title", "published_at", "category", "author", "unit", "summary", "body_text")


def text_diff(before: str | None, after: str | None) -> Markup:
    """Paragraph-level diff of two texts as HTML: removed paragraphs in ``<del>``, added ones in
    ``<ins>``, unchanged ones elided to a count."""
    old = (before or "").split("\n\n")
    new = (after or "").split("\n\n")
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(f'<p class="sadec-same">… {i2 - i1} unchanged paragraph(s) …</p>')
            continue
        parts += [f"<p><del>{escape(p)}</del></p>" for p in old[i1:i2]]
        parts += [f"<p><ins>{escape(p)}</ins></p>" for p in new[j1:j2]]
    return Markup("\n".join(parts))


def field_changes(before: dict, after: dict) -> list[dict]:
    """Short fields that differ between two states of an article (body text excluded)."""
    return [
        {"field": name, "before": before.get(name), "after": after.get(name)}
        for name in VERSION_FIELDS
        if name != "body_text" and before.get(name) != after.get(name)
    ]


def changed_fields(value: str | None) -> list[str]:
    """The names in a version's ``changed_fields`` (a JSON list the crawler writes); a value
    that is not one (a hand-edited database) is shown as it is, never a server error."""
    try:
        names = json.loads(value or "[]")
    except ValueError:
        return [str(value)]
    if isinstance(names, list):
        return [str(name) for name in names]
    return [str(names)]


def history_steps(versions: list[dict], current: dict) -> list[dict]:
    """Each change, oldest first: the state before, the state after, and their differences."""
    states = [*versions, current]
    steps = []
    for before, after in zip(states, states[1:], strict=False):
        steps.append(
            {
                "when": before.get("superseded_at"),
                "fetched_before": before.get("fetched_at") or before.get("first_seen_at"),
                "changed_fields": changed_fields(before.get("changed_fields")),
                "fields": field_changes(before, after),
                "body_diff": text_diff(before.get("body_text"), after.get("body_text")),
                "source": before.get("source"),
                "capture_timestamp": before.get("capture_timestamp"),
            }
        )
    return steps


async def history_page(datasette, request):
    """``/-/article/<asset_id>/history``: every recorded change of one article."""
    from .views import archive_database, asset_id_from

    db = await archive_database(datasette)
    asset_id = asset_id_from(request)
    row = (await db.execute("select * from articles where asset_id = ?", [asset_id])).first()
    if row is None:
        raise NotFound(f"No article with asset id {asset_id}")
    current = dict(row)
    versions = [
        dict(r)
        for r in await db.execute(
            "select * from article_versions where article_url = ? order by id", [current["url"]]
        )
    ]
    context = {
        "article": current,
        "steps": history_steps(versions, current),
        "reader_url": datasette.urls.path(f"/-/article/{asset_id}"),
        "versions_url": datasette.urls.table(db.name, "article_versions"),
    }
    html = await datasette.render_template("sadec_history.html", context, request=request)
    return Response.html(html)

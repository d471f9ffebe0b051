#!/usr/bin/env python3
"""The generated parts of docs/architecture.md, read from the code (stdlib AST only).

``python3 scripts/architecture.py`` prints them; ``--write`` puts them into the document
between its ``<!-- generated:NAME -->`` markers; tests/test_architecture.py fails when the
document and the code disagree, so the picture cannot drift.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("sadec", "sadec_crawler", "pipelines", "serving", "replica")

ROOMS = (
    # (room, module prefixes), first match wins; the flow runs down this list.
    ("sources", ("sadec_crawler.warc_replay", "sadec_crawler.wayback", "sadec_crawler.hostmap")),
    ("spider", ("sadec_crawler.spiders",)),
    (
        "parsers",
        (
            "sadec_crawler.pages",
            "sadec_crawler.article",
            "sadec_crawler.body",
            "sadec_crawler.bylines",
            "sadec_crawler.dates",
            "sadec_crawler.urls",
            "sadec_crawler.selectors",
            "sadec_crawler.simple_selectors",
            "sadec_crawler.textnorm",
            "sadec_crawler.sanitise",
            "sadec_crawler.items",
            "sadec_crawler.units",
            "sadec_crawler.documents",
        ),
    ),
    (
        "crawl plumbing",
        (
            "sadec_crawler.settings",
            "sadec_crawler.middlewares",
            "sadec_crawler.dupefilter",
            "sadec_crawler.progress",
            "sadec_crawler.compact",
            "sadec_crawler.commands",
            "sadec_crawler.incremental",
            "sadec_crawler.page_worker",
            "sadec_crawler.helper_link",
        ),
    ),
    (
        "evidence",
        (
            "sadec_crawler.warc",
            "sadec_crawler.warc_files",
            "sadec_crawler.layout",
            "sadec_crawler.digests",
        ),
    ),
    ("crawl plumbing", ("sadec_crawler",)),  # the package itself
    ("pipelines", ("pipelines",)),
    ("reading room", ("serving",)),
    ("sadec command", ("sadec",)),
    ("replica", ("replica",)),
)
SETTING_READERS = {"get", "getint", "getbool", "getfloat", "getlist", "getdict", "getwithbase"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


ROOM_NAMES = list(dict.fromkeys(room for room, _ in ROOMS))


def room_of(module: str) -> str:
    for room, prefixes in ROOMS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return room
    raise LookupError(f"{module} belongs to no room: add it to ROOMS in {__file__}")


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules ``module`` imports (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def room_edges() -> dict[tuple[str, str], int]:
    known = modules()
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for module, path in known.items():
        for target in imports(module, path, known):
            a, b = room_of(module), room_of(target)
            if a != b:
                edges[(a, b)] += 1
    return dict(edges)


def picture() -> str:
    """The rooms and who imports whom (an arrow reads "imports"), as a Mermaid flowchart."""
    ids = {room: re.sub(r"\W", "_", room) for room in ROOM_NAMES}
    lines = ["```mermaid", "flowchart TD"]
    for room in ROOM_NAMES:
        lines.append(f'  {ids[room]}["{room}"]')
    for a, b in sorted(room_edges()):
        lines.append(f"  {ids[a]} --> {ids[b]}")
    lines.append("```")
    return "\n".join(lines)


def room_table() -> str:
    rows = defaultdict(list)
    for module in modules():
        rows[room_of(module)].append(f"`{module}`")
    lines = ["| room | modules |", "|---|---|"]
    for room in ROOM_NAMES:
        lines.append(f"| {room} | {', '.join(rows[room])} |")
    return "\n".join(lines)


def settings_table() -> str:
    """Where each ``SADEC_*`` setting is read (a literal name passed to a settings getter)."""
    readers: dict[str, set[str]] = defaultdict(set)
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SETTING_READERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.startswith("SADEC_")
            ):
                readers[node.args[0].value].add(module)
    lines = ["| setting | read in |", "|---|---|"]
    for name in sorted(readers):
        lines.append(f"| `{name}` | {', '.join(f'`{m}`' for m in sorted(readers[name]))} |")
    return "\n".join(lines)


def sections() -> dict[str, str]:
    return {"picture": picture(), "rooms": room_table(), "settings": settings_table()}


MARKER = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated -->)", re.S)


def render(document: str) -> str:
    generated = sections()
    return MARKER.sub(lambda m: m[1] + generated[m[2]] + "\n" + m[4], document)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote the generated parts of {DOC.relative_to(ROOT)}")
        return 0
    for name, text in sections().items():
        print(f"<!-- generated:{name} -->\n{text}\n<!-- /generated -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

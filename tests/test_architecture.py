"""docs/architecture.md against the code, and the house rules read from the imports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "scripts/architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


architecture = load_script()


def test_the_document_shows_the_code_as_it_is():
    document = architecture.DOC.read_text(encoding="utf-8")
    assert architecture.render(document) == document, (
        "docs/architecture.md is out of date: python3 scripts/architecture.py --write"
    )


def test_every_module_has_a_room():
    for module in architecture.modules():
        architecture.room_of(module)  # raises for a module no room names


SCRAPY_PACKAGE = {"sources", "spider", "parsers", "crawl plumbing", "evidence"}


def test_the_flow_runs_one_way():
    edges = architecture.room_edges()
    upward = {
        (a, b)
        for a, b in edges
        if a in SCRAPY_PACKAGE and b in {"pipelines", "reading room", "sadec command", "replica"}
    }
    assert upward == set(), "the Scrapy package imports what it feeds"
    assert {b for a, b in edges if a == "parsers"} == set(), "parsers import only parsers"
    assert {b for a, b in edges if a == "replica"} == set(), "the replica is apart"
    assert ("reading room", "pipelines") not in edges, "the reading room never writes"
    assert {a for a, b in edges if b == "sadec command"} == set(), "nothing imports the command"


def test_no_module_imports_another_in_a_circle():
    known = architecture.modules()
    graph = {m: architecture.imports(m, path, known) for m, path in known.items()}
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package's __init__ re-exporting its modules is no circle of the house's kind.
    circles = [c for c in circles if not any(m in architecture.PACKAGES for m in c)]
    assert circles == []

"""Copy the latest results (``bench/results/<name>.json``) into ``docs/benchmarks.md``.

The document's prose is written by hand; the figures are not. Between the markers
``<!-- results:<name> -->`` and ``<!-- /results:<name> -->`` the report puts, for each
benchmark, the command, when and where it ran, and the tables exactly as the command printed
them. Every benchmark run ends with this step, so the document never quotes stale figures.
"""

from __future__ import annotations

import json
import re
import sys

from .common import PROJECT_ROOT, RESULTS_DIR

HELP = "copy the latest bench/results/*.json figures into docs/benchmarks.md"
DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
MARKERS = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n).*?(<!-- /results:(?P=name) -->)", re.S)


def figures_block(name: str) -> str:
    """The Markdown that stands for one benchmark's latest results."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return f"_Not measured yet: run `scripts/bench {name}`._\n"
    result = json.loads(path.read_text(encoding="utf-8"))
    machine = result.get("machine", {})
    goal = result.get("goal", {})
    if not goal:
        verdict = "no goal set: a figure to state"
    else:
        verdict = "goal met" if goal.get("met") else "**goal missed**"
    facts = (
        f"`{result['command']}` — {result['measured_at']}, git {machine.get('git')}, "
        f"{machine.get('cores')} cores ({machine.get('cpu_model')}), Python "
        f"{machine.get('python')}, SQLite {machine.get('sqlite')}, load average at start "
        f"{', '.join(str(x) for x in result.get('load_average_at_start', []))}; "
        f"{result.get('duration_s')} s; {verdict}."
    )
    printed = result.get("printed") or "(this results file predates the printed tables)"
    return f"{facts}\n\n```text\n{printed}\n```\n"


def render(document: str) -> str:
    return MARKERS.sub(lambda m: m.group(1) + figures_block(m.group("name")) + m.group(3), document)


def main() -> int:
    if not DOC.exists():
        print(f"{DOC} is missing", file=sys.stderr)
        return 1
    before = DOC.read_text(encoding="utf-8")
    after = render(before)
    DOC.write_text(after, encoding="utf-8")
    names = [m.group("name") for m in MARKERS.finditer(after)]
    print(f"docs/benchmarks.md: figures of {', '.join(names)} from bench/results/", file=sys.stderr)
    return 0

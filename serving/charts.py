"""Server-rendered SVG bar charts: no JavaScript, nothing fetched by the reader's browser.

Each bar is a link to the articles table filtered to that bar, so a chart doubles as a way in.
Every label goes through :func:`html.escape` before it reaches the SVG.
"""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass
class Bar:
    """One bar: its label, its count and where clicking it leads."""

    label: str
    count: int
    href: str


def every_month(counts: dict[str, int]) -> list[tuple[str, int]]:
    """``(YYYY-MM, count)`` for every month from the first to the last of ``counts``, the
    months without articles included as 0: an axis that skips them misleads (2015-04, -07
    and -10 once stood side by side). Labels that are not ``YYYY-MM`` are left out."""
    months = sorted(label for label in counts if _is_month(label))
    if not months:
        return []
    year, month = int(months[0][:4]), int(months[0][5:7])
    last = (int(months[-1][:4]), int(months[-1][5:7]))
    out = []
    while (year, month) <= last:
        label = f"{year:04d}-{month:02d}"
        out.append((label, counts.get(label, 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _is_month(label: str) -> bool:
    return (
        len(label) == 7
        and label[4] == "-"
        and label[:4].isdigit()
        and label[5:].isdigit()
        and 1 <= int(label[5:]) <= 12
    )


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_max(value: int) -> int:
    """A round axis maximum ≥ value (1, 2, 5 × a power of ten)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def vertical_bars(bars: list[Bar], title: str, height: int = 260, bar_width: int = 14) -> str:
    """Columns left to right (for a time series); labels every few bars to stay legible."""
    if not bars:
        return f'<p class="chart-empty">{_esc(title)}: no data.</p>'
    top = _nice_max(max(b.count for b in bars))
    left, bottom, gap = 44, 56, 3
    width = left + len(bars) * (bar_width + gap) + 10
    plot = height - bottom - 10
    every = max(1, len(bars) // 24)
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_esc(title)}</title>",
    ]
    for tick in (0, top // 2, top):
        y = 10 + plot - plot * tick / top
        parts.append(
            f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    for i, bar in enumerate(bars):
        x = left + i * (bar_width + gap)
        h = plot * bar.count / top
        y = 10 + plot - h
        rect = (
            f'<rect x="{x}" y="{y:.1f}" width="{bar_width}" height="{h:.1f}" class="bar">'
            f"<title>{_esc(bar.label)}: {bar.count}</title></rect>"
        )
        parts.append(f'<a href="{_esc(bar.href)}">{rect}</a>' if bar.count else rect)
        if i % every == 0:
            lx, ly = x + bar_width / 2, height - bottom + 12
            parts.append(
                f'<text x="{lx:.1f}" y="{ly}" transform="rotate(-60 {lx:.1f} {ly})" '
                f'text-anchor="end" class="label">{_esc(bar.label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(bars: list[Bar], title: str, label_width: int = 300) -> str:
    """Rows top to bottom (for categories and units, whose names are long)."""
    if not bars:
        return f'<p class="chart-empty">{_esc(title)}: no data.</p>'
    top = max(b.count for b in bars)
    row, plot = 22, 420
    width, height = label_width + plot + 60, row * len(bars) + 10
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_esc(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = 5 + i * row
        w = max(1.0, plot * bar.count / top)
        label = bar.label if len(bar.label) <= 48 else bar.label[:47] + "…"
        parts.append(
            f'<a href="{_esc(bar.href)}">'
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" class="label">'
            f"{_esc(label)}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" class="bar">'
            f"<title>{_esc(bar.label)}: {bar.count}</title></rect>"
            f'<text x="{label_width + w + 6:.1f}" y="{y + 15}" class="tick">{bar.count}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)

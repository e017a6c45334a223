"""Charts as inline SVG rendered on the server (no front-end build, no script): horizontal bars with their value
written beside each bar, so the chart reads without colour and a screen reader gets the same numbers from the
``<title>`` and the table next to it. Colours come from console.css classes (the page's CSP forbids inline
styles)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

ROW = 22
LABEL_W = 190
BAR_W = 300
VALUE_W = 90


def bars(
    title: str,
    items: Sequence[tuple[str, float | None]],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    max_value: float | None = None,
    css: Sequence[str] | None = None,
    marker: float | None = None,
    marker_label: str = "",
) -> Markup:
    """One horizontal bar per (label, value); ``None`` values are drawn as "no data". ``marker``: a target line."""
    known = [v for _, v in items if v is not None]
    top = max_value if max_value is not None else max(known, default=0) or 1
    height = ROW * len(items) + (18 if marker is not None else 6)
    width = LABEL_W + BAR_W + VALUE_W
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(items):
        y = i * ROW + 3
        klass = (css[i] if css and i < len(css) else "bar")
        parts.append(f'<text class="chart-label" x="{LABEL_W - 6}" y="{y + 14}" text-anchor="end">'
                     f"{escape(label)}</text>")
        if value is None:
            parts.append(f'<text class="chart-value" x="{LABEL_W + 4}" y="{y + 14}">no data</text>')
            continue
        w = max(0.0, min(1.0, value / top)) * BAR_W if top else 0.0
        parts.append(f'<rect class="{escape(klass)}" x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{ROW - 6}" '
                     f'rx="2"><title>{escape(label)}: {escape(fmt(value))}</title></rect>')
        parts.append(f'<text class="chart-value" x="{LABEL_W + w + 4:.1f}" y="{y + 14}">{escape(fmt(value))}</text>')
    if marker is not None and top:
        x = LABEL_W + min(1.0, marker / top) * BAR_W
        parts.append(f'<line class="chart-marker" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 14}"/>')
        parts.append(f'<text class="chart-value" x="{x:.1f}" y="{height - 2}" text-anchor="middle">'
                     f"{escape(marker_label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def interval(
    title: str, rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *, fmt: Callable[[float], str] = lambda v: f"{v:+.2f}",
) -> Markup:
    """Effects with their 95% CIs on one axis centred on zero (a forest plot): (label, effect, low, high)."""
    known = [abs(v) for _, e, lo, hi in rows for v in (e, lo, hi) if v is not None]
    span = max(known, default=1.0) or 1.0
    height = ROW * len(rows) + 8
    width = LABEL_W + BAR_W + VALUE_W
    mid = LABEL_W + BAR_W / 2

    def x(v: float) -> float:
        return mid + v / span * (BAR_W / 2 - 4)

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line class="chart-marker" x1="{mid}" x2="{mid}" y1="0" y2="{height}"/>']
    for i, (label, effect, low, high) in enumerate(rows):
        y = i * ROW + 12
        parts.append(f'<text class="chart-label" x="{LABEL_W - 6}" y="{y + 4}" text-anchor="end">'
                     f"{escape(label)}</text>")
        if effect is None or low is None or high is None:
            parts.append(f'<text class="chart-value" x="{mid + 4}" y="{y + 4}">no data yet</text>')
            continue
        parts.append(f'<line class="chart-ci" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y}" y2="{y}"/>')
        parts.append(f'<circle class="chart-dot" cx="{x(effect):.1f}" cy="{y}" r="4"><title>{escape(label)}: '
                     f"{escape(fmt(effect))} [{escape(fmt(low))}, {escape(fmt(high))}]</title></circle>")
        parts.append(f'<text class="chart-value" x="{LABEL_W + BAR_W + 4}" y="{y + 4}">{escape(fmt(effect))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

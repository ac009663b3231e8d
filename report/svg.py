"""Bar charts as inline SVG, drawn in Python: no JavaScript library, nothing to load."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def _nice_max(value: float) -> tuple[float, float]:
    """An axis maximum >= value and a tick step, both round numbers."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1 and value >= 1:
        step = 1.0
    return step * math.ceil(value / step), step


def _fmt(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    stacked: bool = False,
    expected: Sequence[float] | None = None,
    expected_label: str = "expected",
    x_label: str = "",
    y_label: str = "count",
    chart_id: str = "",
) -> str:
    """A vertical bar chart: one group (or stack) of bars per category, one bar per series.

    `expected` draws a dashed marker per category (e.g. the uniform expectation of answer
    letters). Every bar carries a <title> tooltip with its exact value. All text is escaped.
    """
    names = list(series)
    n_cat = max(len(categories), 1)
    if stacked:
        totals = [sum(series[s][i] for s in names) for i in range(len(categories))]
    else:
        totals = [max((series[s][i] for s in names), default=0) for i in range(len(categories))]
    top = max(list(totals) + list(expected or []) + [0])
    y_max, step = _nice_max(top)
    left, right, top_pad = 48, 12, 28
    longest = max((len(str(c)) for c in categories), default=1)
    slot = max(18, min(max(36, int(longest * 6.5) + 10), 110, 560 // n_cat))
    width = max(260, left + right + slot * n_cat)
    rotate = any(len(str(c)) * 6.5 > slot for c in categories)
    label_h = min(int(longest * 4.5) + 12, 70) if rotate else 20
    bottom = label_h + (18 if x_label else 4)
    height = 150 + top_pad + bottom
    plot_h = height - top_pad - bottom

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / y_max)

    out = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    tick = 0.0
    while tick <= y_max + 1e-9:
        yy = y(tick)
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="tick" x="{left - 4}" y="{yy + 3:.1f}" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
        tick += step
    out.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
    )
    group_w = slot * 0.8
    bar_w = group_w if stacked else group_w / max(len(names), 1)
    for i, cat in enumerate(categories):
        x0 = left + slot * i + slot * 0.1
        base = 0.0
        for j, name in enumerate(names):
            value = series[name][i]
            color = PALETTE[j % len(PALETTE)]
            if stacked:
                y_top, y_bot, x = y(base + value), y(base), x0
                base += value
            else:
                y_top, y_bot, x = y(value), y(0), x0 + bar_w * j
            tip = f"{cat} · {name}: {_fmt(value)}" if len(names) > 1 else f"{cat}: {_fmt(value)}"
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y_top:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{max(y_bot - y_top, 0):.1f}" fill="{color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if expected is not None:
            ye = y(expected[i])
            out.append(
                f'<line class="expected" x1="{x0 - 2:.1f}" x2="{x0 + group_w + 2:.1f}" '
                f'y1="{ye:.1f}" y2="{ye:.1f}"><title>{escape(f"{cat}: {expected_label} ")}'
                f"{expected[i]:.1f}</title></line>"
            )
        cx = left + slot * i + slot / 2
        label = escape(str(cat))
        if rotate:
            out.append(
                f'<text class="cat" transform="translate({cx:.1f},{y(0) + 10:.1f}) rotate(35)">'
                f"{label}</text>"
            )
        else:
            out.append(
                f'<text class="cat" x="{cx:.1f}" y="{y(0) + 14:.1f}" text-anchor="middle">'
                f"{label}</text>"
            )
    if x_label:
        out.append(
            f'<text class="axis-label" x="{left + (width - left - right) / 2:.1f}" '
            f'y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        out.append(
            f'<text class="axis-label" transform="translate(12,{top_pad + plot_h / 2:.1f}) '
            f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text>'
        )
    legend = list(names) if len(names) > 1 else []
    x = left
    for j, name in enumerate(legend):
        out.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text class="legend" x="{x + 14}" y="15">{escape(name)}</text>'
        )
        x += 24 + int(len(name) * 6.5)
    if expected is not None:
        out.append(
            f'<line class="expected" x1="{x}" x2="{x + 14}" y1="11" y2="11"/>'
            f'<text class="legend" x="{x + 18}" y="15">{escape(expected_label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)

"""Charts drawn on the server as inline SVG: no script, no style attribute, no external file.

Horizontal bars read right to left: the label at the right edge, the bar growing leftwards,
its value at the bar's end. Colours come from presentation attributes and app.css classes, so
a Content-Security-Policy without 'unsafe-inline' shows them unchanged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from forms import to_persian_digits

__all__ = ["bar_chart", "stacked_chart"]

WIDTH = 480
ROW = 26
LABEL_WIDTH = 180
VALUE_WIDTH = 60
PALETTE = ("#17604f", "#d99a00", "#a12a2a", "#4a6fa5", "#7a5c99")
#: about the width of one character of a label (Vazirmatn at 15 units), and the most room labels may take
CHAR_WIDTH = 7.5
MAX_LABEL_WIDTH = 290


def _label_width(labels: Sequence[str]) -> float:
    """Room for the longest label, so labels never run into their bars (longer ones are shortened)."""
    return min(max([LABEL_WIDTH, *(CHAR_WIDTH * len(label) for label in labels)]), MAX_LABEL_WIDTH)


def _label(label: str, width: float) -> Markup:
    """A label that fits its room: shortened with an ellipsis if needed, the whole of it as its title."""
    room = int(width / CHAR_WIDTH)
    if len(label) <= room:
        return escape(label)
    return Markup(f"<title>{escape(label)}</title>{escape(label[:room - 1].rstrip())}…")


def _number(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return to_persian_digits(text)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str,
              fmt: Callable[[float], str] = _number) -> Markup:
    """One horizontal bar per (label, value)."""
    items = [(label, value or 0) for label, value in items]
    height = ROW * max(len(items), 1) + 8
    top = max((value for _, value in items), default=0) or 1
    label_width = _label_width([label for label, _ in items])
    span = WIDTH - label_width - VALUE_WIDTH
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for row, (label, value) in enumerate(items):
        y = 4 + row * ROW
        length = span * value / top
        right = WIDTH - label_width - 8
        parts.append(
            f'<text x="{WIDTH - 4}" y="{y + 17}" text-anchor="start" direction="rtl" class="chart-label">'
            f'{_label(label, label_width)}</text>'
            f'<rect x="{right - length:.1f}" y="{y + 4}" width="{length:.1f}" height="{ROW - 8}" rx="3" '
            f'fill="{PALETTE[0]}"></rect>'
            f'<text x="{right - length - 6:.1f}" y="{y + 17}" text-anchor="start" direction="rtl" '
            f'class="chart-value">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_chart(items: Sequence[tuple[str, Sequence[float]]], *, title: str, series: Sequence[str]) -> Markup:
    """One horizontal bar per label, split into the shares of each series (a legend below)."""
    height = ROW * max(len(items), 1) + 8 + ROW
    label_width = _label_width([label for label, _ in items])
    span = WIDTH - label_width - 16
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for row, (label, values) in enumerate(items):
        y = 4 + row * ROW
        total = sum(v or 0 for v in values) or 1
        right = WIDTH - label_width - 8
        parts.append(f'<text x="{WIDTH - 4}" y="{y + 17}" text-anchor="start" direction="rtl" '
                     f'class="chart-label">{_label(label, label_width)}</text>')
        for index, value in enumerate(values):
            length = span * (value or 0) / total
            parts.append(f'<rect x="{right - length:.1f}" y="{y + 4}" width="{length:.1f}" height="{ROW - 8}" '
                         f'fill="{PALETTE[index % len(PALETTE)]}"><title>{escape(series[index])}: '
                         f'{escape(_number(value or 0))}</title></rect>')
            right -= length
    y = 4 + len(items) * ROW
    x = WIDTH - 4
    for index, name in enumerate(series):
        parts.append(f'<rect x="{x - 12}" y="{y + 6}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}">'
                     f'</rect><text x="{x - 18}" y="{y + 17}" text-anchor="start" direction="rtl" '
                     f'class="chart-label">{escape(name)}</text>')
        x -= 30 + 9 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))

"""Charts drawn on the server as SVG: they show without JavaScript, carry a title and a
description for screen readers, and the figures again as a table under them.

A chart is data (:class:`Chart`); :func:`figure` draws it. Every text is escaped. The page's
CSS colours the series (``.s0``, ``.s1``...), so the SVG holds no style of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

from commex.presentation import when

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Line:
    """One series: its name and its points (time, value); ``step`` holds each value until
    the next point (a standing price), otherwise points are joined straight."""

    name: str
    points: Sequence[tuple[datetime, Decimal]]
    step: bool = False


@dataclass(frozen=True, slots=True)
class Bar:
    """One period's bar: its label, and its parts (stacked, each with its series' name)."""

    label: str
    parts: Sequence[tuple[str, Decimal]]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    description: str
    y_label: str
    y_text: Callable[[Decimal], str]
    lines: Sequence[Line] = ()
    bars: Sequence[Bar] = ()
    marks: Sequence[tuple[str, Decimal]] = ()  # horizontal reference lines, named
    table_head: Sequence[str] = ()
    table_rows: Sequence[Sequence[str]] = field(default_factory=list)


def _num(v: float) -> str:
    return f"{v:.1f}"


def _y_range(chart: Chart) -> Decimal:
    values = [v for line in chart.lines for _, v in line.points]
    values += [sum((v for _, v in b.parts), Decimal(0)) for b in chart.bars]
    values += [v for _, v in chart.marks]
    top = max(values, default=Decimal(1))
    return top * Decimal("1.1") if top > 0 else Decimal(1)


def _axes(chart: Chart, top: Decimal) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>']
    out.append(f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>')
    for i in range(5):
        value = top * i / 4
        y = H - BOTTOM - (H - TOP - BOTTOM) * i / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{_num(y)}" x2="{W - RIGHT}" y2="{_num(y)}"/>'
        )
        text = escape(chart.y_text(value))
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">{text}</text>'
        )
    return out


def _y(value: Decimal, top: Decimal) -> float:
    return H - BOTTOM - float(value / top) * (H - TOP - BOTTOM)


def _lines(chart: Chart, top: Decimal) -> list[str]:
    moments = [at for line in chart.lines for at, _ in line.points]
    if not moments:
        return []
    first, last = min(moments), max(moments)
    span = (last - first).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return LEFT + (at - first).total_seconds() / span * (W - LEFT - RIGHT)

    out = []
    for i, line in enumerate(chart.lines):
        coords: list[tuple[float, float]] = []
        for at, value in line.points:
            if line.step and coords:
                coords.append((x(at), coords[-1][1]))
            coords.append((x(at), _y(value, top)))
        if line.step and coords:
            coords.append((float(W - RIGHT), coords[-1][1]))
        joined = " ".join(f"{_num(a)},{_num(b)}" for a, b in coords)
        out.append(f'<polyline class="line s{i}" points="{joined}"/>')
        out.extend(f'<circle class="dot s{i}" cx="{_num(a)}" cy="{_num(b)}" r="2.5"/>'
                   for a, b in coords[:: 2 if line.step else 1])  # fmt: skip
    out.append(f'<text class="tick" x="{LEFT}" y="{H - 12}">{escape(when(first))}</text>')
    end = escape(when(last))
    out.append(f'<text class="tick" x="{W - RIGHT}" y="{H - 12}" text-anchor="end">{end}</text>')
    return out


def _bars(chart: Chart, top: Decimal) -> list[str]:
    if not chart.bars:
        return []
    slot = (W - LEFT - RIGHT) / len(chart.bars)
    out = []
    for n, bar in enumerate(chart.bars):
        base = Decimal(0)
        x = LEFT + n * slot + slot * 0.15
        for i, (_, value) in enumerate(bar.parts):
            y0, y1 = _y(base, top), _y(base + value, top)
            out.append(f'<rect class="bar s{i}" x="{_num(x)}" y="{_num(y1)}" '
                       f'width="{_num(slot * 0.7)}" height="{_num(y0 - y1)}"/>')  # fmt: skip
            base += value
        label = escape(bar.label)
        mid = _num(x + slot * 0.35)
        out.append(f'<text class="tick" x="{mid}" y="{H - 22}" text-anchor="middle">{label}</text>')
    return out


def _marks(chart: Chart, top: Decimal) -> list[str]:
    out = []
    for name, value in chart.marks:
        y = _num(_y(value, top))
        out.append(f'<line class="mark" x1="{LEFT}" y1="{y}" x2="{W - RIGHT}" y2="{y}"/>')
        text = escape(f"{name}: {chart.y_text(value)}")
        out.append(f'<text class="mark-label" x="{W - RIGHT - 4}" y="{y}" dy="-4" '
                   f'text-anchor="end">{text}</text>')  # fmt: skip
    return out


def _legend(chart: Chart) -> str:
    names = [line.name for line in chart.lines] or [name for name, _ in chart.bars[0].parts]
    kind = "s" if chart.lines else "b"
    items = "".join(
        f'<li><span class="swatch {kind}{i}" aria-hidden="true"></span>{escape(n)}</li>'
        for i, n in enumerate(names)
    )
    return f'<ul class="legend">{items}</ul>' if len(names) > 1 or chart.marks else ""


def _table(chart: Chart) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in chart.table_head)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in chart.table_rows
    )
    return (
        f"<details><summary>The figures of “{escape(chart.title)}” as a table</summary>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def figure(chart: Chart) -> Markup:
    """The chart as an accessible SVG figure, with its figures as a table under it."""
    n = next(_ids)
    top = _y_range(chart)
    body = _axes(chart, top) + _bars(chart, top) + _lines(chart, top) + _marks(chart, top)
    y_label = escape(chart.y_label)
    svg = (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="chart{n}-title chart{n}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart{n}-title">{escape(chart.title)}</title>'
        f'<desc id="chart{n}-desc">{escape(chart.description)}</desc>'
        f'<text class="tick" x="4" y="12">{y_label}</text>{"".join(body)}</svg>'
    )
    return Markup(  # noqa: S704 - every text in it is escaped above
        f'<figure class="chart-figure"><figcaption>{escape(chart.title)}</figcaption>'
        f"{svg}{_legend(chart)}{_table(chart)}</figure>"
    )

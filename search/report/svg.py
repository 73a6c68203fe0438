"""SVG text in plain Python: the canvas, text, markers, lines, colours and legends the report's figures are made of.

A plotting library costs the report most of its time (importing matplotlib and laying out its figures took about
3 of a 4-second ``pointtune report``); the report's charts are a handful of lines, points, bars and cells, which
this module and ``search.report.svg_charts`` (axes: scales, ticks at round numbers) write as SVG in milliseconds.
The browser draws the text, so it stays sharp at any zoom.

- :class:`Figure`: a canvas of a size in pixels that collects SVG elements; :meth:`Figure.uri` gives it as a
  ``data:image/svg+xml;base64,...`` URI for an ``<img>``;
- :func:`text`, :func:`marker`, :func:`polyline`: the elements; :func:`legend`: a framed key of lines and markers;
  :func:`blues`: the colour of a share in [0, 1] (a heatmap's).

Widths of text are estimated (:func:`text_width`) from a sans-serif font's proportions, generously, to place
labels and size margins and legends without a font at hand.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK = "#1d2433"  # text and axes
GRID = "#e3e6eb"
# matplotlib's "tab10" without its grey (kept for other uses): one colour per series
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
DASHES = {"solid": None, "dashed": "6 3", "dotted": "1.5 2.5", "dashdot": "6 2.5 1.5 2.5"}
# matplotlib's "Blues" colour map at nine even steps (ColorBrewer)
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
_NARROW = set("ijl.,:;|!'`") | {" "}
_SEMI = set("frtI()[]{}/\\-\"*")
_WIDE = set("mwMW@%")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def text_width(text: str, size: float) -> float:
    """Estimated width in px of ``text`` at font ``size`` (rather over than under: it sizes margins and boxes)."""
    units = 0.0
    for c in str(text):
        if c in _NARROW:
            units += 0.32
        elif c in _SEMI:
            units += 0.42
        elif c in _WIDE:
            units += 0.92
        elif c.isupper() or c.isdigit():
            units += 0.68
        else:
            units += 0.6
    return units * size


def coord(v: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def marker(shape: str, x: float, y: float, size: float, fill: str, edge: str | None = None,
           edge_width: float = 0.8, opacity: float = 1.0) -> str:
    """One marker centred at (x, y), ``size`` px across: circle, square, triangle, diamond, star or x (a cross
    drawn in ``fill``); ``fill="none"`` for a hollow one."""
    r = size / 2
    style = f'fill="{fill}"' + (f' stroke="{edge}" stroke-width="{coord(edge_width)}"' if edge else "")
    if opacity < 1:
        style += f' opacity="{coord(opacity)}"'
    if shape == "circle":
        return f'<circle cx="{coord(x)}" cy="{coord(y)}" r="{coord(r)}" {style}/>'
    if shape == "square":
        s = r * 0.9
        return f'<rect x="{coord(x - s)}" y="{coord(y - s)}" width="{coord(2 * s)}" height="{coord(2 * s)}" {style}/>'
    if shape == "x":
        s = r * 0.8
        return (f'<path d="M{coord(x - s)},{coord(y - s)}L{coord(x + s)},{coord(y + s)}M{coord(x - s)},{coord(y + s)}'
                f'L{coord(x + s)},{coord(y - s)}" stroke="{fill}" stroke-width="2" fill="none"'
                + (f' opacity="{coord(opacity)}"' if opacity < 1 else "") + "/>")
    if shape == "triangle":
        pts = [(x, y - r), (x + r * 0.95, y + r * 0.7), (x - r * 0.95, y + r * 0.7)]
    elif shape == "diamond":
        pts = [(x, y - r), (x + r * 0.75, y), (x, y + r), (x - r * 0.75, y)]
    elif shape == "star":
        pts = [(x + (r if k % 2 == 0 else r * 0.42) * math.sin(k * math.pi / 5),
                y - (r if k % 2 == 0 else r * 0.42) * math.cos(k * math.pi / 5)) for k in range(10)]
    else:
        raise ValueError(f"unknown marker {shape!r}")
    return f'<polygon points="{" ".join(f"{coord(a)},{coord(b)}" for a, b in pts)}" {style}/>'


def polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 1.5, dash: str = "solid",
             opacity: float = 1.0) -> str:
    d = DASHES[dash]
    return (f'<polyline points="{" ".join(f"{coord(x)},{coord(y)}" for x, y in points)}" fill="none" '
            f'stroke="{colour}" stroke-width="{coord(width)}" stroke-linejoin="round" stroke-linecap="round"'
            + (f' stroke-dasharray="{d}"' if d else "") + (f' opacity="{coord(opacity)}"' if opacity < 1 else "")
            + "/>")


def text(x: float, y: float, content: object, size: float = 11, anchor: str = "start", colour: str = INK,
         weight: str | None = None, rotate: float | None = None, baseline: str = "auto") -> str:
    """A text at (x, y); ``baseline="middle"`` centres it vertically; ``rotate`` in degrees about (x, y)."""
    attrs = f'x="{coord(x)}" y="{coord(y)}" font-size="{coord(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if colour != INK:
        attrs += f' fill="{colour}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if baseline != "auto":
        attrs += f' dominant-baseline="{baseline}"'
    if rotate:
        attrs += f' transform="rotate({coord(rotate)} {coord(x)} {coord(y)})"'
    return f"<text {attrs}>{esc(content)}</text>"


def blues(share: float) -> str:
    """The colour of a share in [0, 1] on matplotlib's "Blues" map (interpolated between its nine steps)."""
    t = min(max(share, 0.0), 1.0) * (len(BLUES) - 1)
    i = min(int(t), len(BLUES) - 2)
    f = t - i
    a, b = BLUES[i], BLUES[i + 1]
    rgb = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


class Figure:
    """A canvas ``width`` x ``height`` px on white; ``add`` SVG elements, then ``svg()`` or ``uri()``."""

    def __init__(self, width: float, height: float):
        self.width, self.height = math.ceil(width), math.ceil(height)
        self.parts: list[str] = []
        self.defs: list[str] = []
        self._ids = 0

    def add(self, *elements: str) -> None:
        self.parts.extend(elements)

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def title(self, content: str, size: float = 13, y: float = 20) -> None:
        self.add(text(self.width / 2, y, content, size, "middle", weight="600"))

    def svg(self) -> str:
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" font-family="{FONT}" fill="{INK}">{defs}'
                f'<rect width="100%" height="100%" fill="#fff"/>{"".join(self.parts)}</svg>')

    def uri(self) -> str:
        return svg_uri(self.svg())


def svg_uri(svg: str) -> str:
    """SVG text as a ``data:image/svg+xml;base64,...`` URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@dataclass
class Key:
    """A legend entry: a line sample (``line`` a dash name) and/or a marker, in ``colour``."""

    label: str
    colour: str
    line: str | None = None
    width: float = 1.5
    marker: str | None = None
    size: float = 8
    fill: str | None = None  # marker fill when it differs from colour ("none": hollow)
    edge: str | None = None


def legend_size(keys: Sequence[Key], size: float = 10) -> tuple[float, float]:
    return 44 + max(text_width(k.label, size) for k in keys), 8 + len(keys) * (size + 5)


def legend(keys: Sequence[Key], x: float, y: float, size: float = 10) -> str:
    """A framed legend with its top-left corner at (x, y) (:func:`legend_size` gives its size)."""
    w, h = legend_size(keys, size)
    out = [f'<rect x="{coord(x)}" y="{coord(y)}" width="{coord(w)}" height="{coord(h)}" rx="3" fill="#fff" '
           f'fill-opacity="0.9" stroke="#c9ced6"/>']
    for i, k in enumerate(keys):
        cy = y + 4 + (i + 0.5) * (size + 5)
        if k.line:
            out.append(polyline([(x + 7, cy), (x + 31, cy)], k.colour, k.width, k.line))
        if k.marker:
            out.append(marker(k.marker, x + 19, cy, k.size, k.fill or k.colour, k.edge))
        out.append(text(x + 37, cy, k.label, size, baseline="central"))
    return "".join(out)


"""Charts as SVG text, in plain Python: what the report's figures are drawn with.

A plotting library costs the report most of its time (importing matplotlib and laying out its figures took about
3 of a 4-second ``pointtune report``); the report's charts are a handful of lines, points, bars and cells on two
axes, which this module writes as SVG in milliseconds. The browser draws the text, so it stays sharp at any zoom.

- :class:`Figure`: a canvas of a size in pixels that collects SVG elements; :meth:`Figure.uri` gives it as a
  ``data:image/svg+xml;base64,...`` URI for an ``<img>``;
- :class:`Axes`: a plot area in a figure with a linear or logarithmic scale on each axis, ticks at round numbers
  (:func:`linear_ticks`, :func:`log_ticks`), grid, axis labels, and lines, steps, markers and horizontal lines
  clipped to the area;
- :func:`legend`: a framed key of lines and markers; :func:`blues`: the colour of a share in [0, 1] (a heatmap's).

Widths of text are estimated (:func:`text_width`) from a sans-serif font's proportions, generously, to place
labels and size margins and legends without a font at hand.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK = "#1d2433"  # text and axes
GRID = "#e3e6eb"
# matplotlib's "tab10" without its grey (kept for other uses): one colour per series
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
DASHES = {"solid": None, "dashed": "6 3", "dotted": "1.5 2.5", "dashdot": "6 2.5 1.5 2.5"}
# matplotlib's "Blues" colour map at nine even steps (ColorBrewer)
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
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


def _num(v: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# ----------------------------------------------------------------------------------------------- ticks

def _decimals(values: Sequence[float], step: float) -> int:
    """The fewest decimals that write every value exactly (to a millionth of the step)."""
    for d in range(0, 10):
        if all(abs(round(v, d) - v) <= abs(step) * 1e-6 for v in values):
            return d
    return 10


def linear_ticks(lo: float, hi: float, count: int = 6, integer: bool = False) -> tuple[list[float], list[str]]:
    """Ticks at round numbers (steps of 1, 2, 2.5 or 5 times a power of ten) inside [lo, hi], as close to
    ``count`` of them as such steps give (the wider step on a tie), and their labels; ``integer``: whole-number
    steps only."""
    span = hi - lo
    if not span > 0:
        return [lo], [f"{lo:g}"]
    mag = 10 ** math.floor(math.log10(span / max(count - 1, 1)))
    steps = [m * mag * f for f in (0.1, 1, 10) for m in (1, 2, 2.5, 5)]
    if integer:
        steps = [v for v in steps if v >= 1 and v != 2.5] or [1.0]

    def many(step: float) -> int:
        return math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1

    step = min(reversed(steps), key=lambda v: abs(many(v) - count))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    ticks = [k * step for k in range(first, last + 1)]
    d = _decimals(ticks, step)
    return ticks, [f"{t:.{d}f}" if d else f"{round(t):d}" for t in ticks]


def _log_label(v: float, plain: bool) -> str:
    if plain:
        return f"{v:g}"
    e = math.floor(math.log10(v) + 1e-9)
    m = v / 10**e
    power = "10" + str(e).translate(_SUPERSCRIPT)
    return power if abs(m - 1) < 1e-6 else f"{m:g}\u00d7{power}"


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str], list[float]]:
    """Ticks of a logarithmic axis on [lo, hi] (both > 0): the powers of ten inside, labelled; where fewer than
    two, also 2 and 5 times them (or every multiple); the other multiples as unlabelled minor ticks. Labels are
    plain numbers when all lie in [0.001, 10^5), powers of ten (10⁻⁴) otherwise."""
    tol = 1e-9
    candidates = [m * 10.0**k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                  for m in range(1, 10)]
    inside = [v for v in candidates if lo * (1 - tol) <= v <= hi * (1 + tol)]

    def lead(v: float) -> int:
        return round(v / 10 ** math.floor(math.log10(v) + tol))

    major = [v for v in inside if lead(v) == 1]
    if len(major) < 2:
        major = [v for v in inside if lead(v) in (1, 2, 5)]
    if len(major) < 2:
        major = inside
    if len(major) < 2:  # less than a factor 2 between lo and hi: round numbers as on a linear axis
        ticks, labels = linear_ticks(lo, hi, 4)
        return ticks, labels, []
    plain = all(1e-3 <= v < 1e5 for v in major)
    minor = [v for v in inside if v not in major]
    return major, [_log_label(v, plain) for v in major], minor


# ----------------------------------------------------------------------------------------------- scales

def limits(values: Iterable[float], log: bool = False, margin: float = 0.05) -> tuple[float, float]:
    """Axis limits around ``values`` with a ``margin`` share of their span on each side (on a log axis, of the
    span of their logarithms); a single value gets room around it."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v) and (not log or v > 0)]
    if not vals:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
        pad = (hi - lo) * margin if hi > lo else 0.3
        return 10 ** (lo - pad), 10 ** (hi + pad)
    pad = (hi - lo) * margin if hi > lo else (abs(lo) * 0.1 or 0.5)
    return lo - pad, hi + pad


class Scale:
    """Data values -> pixels along one axis, linear or logarithmic."""

    def __init__(self, lo: float, hi: float, start: float, end: float, log: bool = False):
        self.lo, self.hi, self.start, self.end, self.log = lo, hi, start, end, log
        self._a, self._b = (math.log10(lo), math.log10(hi)) if log else (lo, hi)

    def __call__(self, v: float) -> float:
        t = ((math.log10(v) if self.log else v) - self._a) / ((self._b - self._a) or 1.0)
        return self.start + t * (self.end - self.start)


# ----------------------------------------------------------------------------------------------- drawing

def marker(shape: str, x: float, y: float, size: float, fill: str, edge: str | None = None,
           edge_width: float = 0.8, opacity: float = 1.0) -> str:
    """One marker centred at (x, y), ``size`` px across: circle, square, triangle, diamond, star or x (a cross
    drawn in ``fill``); ``fill="none"`` for a hollow one."""
    r = size / 2
    style = f'fill="{fill}"' + (f' stroke="{edge}" stroke-width="{_num(edge_width)}"' if edge else "")
    if opacity < 1:
        style += f' opacity="{_num(opacity)}"'
    if shape == "circle":
        return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}" {style}/>'
    if shape == "square":
        s = r * 0.9
        return f'<rect x="{_num(x - s)}" y="{_num(y - s)}" width="{_num(2 * s)}" height="{_num(2 * s)}" {style}/>'
    if shape == "x":
        s = r * 0.8
        return (f'<path d="M{_num(x - s)},{_num(y - s)}L{_num(x + s)},{_num(y + s)}M{_num(x - s)},{_num(y + s)}'
                f'L{_num(x + s)},{_num(y - s)}" stroke="{fill}" stroke-width="2" fill="none"'
                + (f' opacity="{_num(opacity)}"' if opacity < 1 else "") + "/>")
    if shape == "triangle":
        pts = [(x, y - r), (x + r * 0.95, y + r * 0.7), (x - r * 0.95, y + r * 0.7)]
    elif shape == "diamond":
        pts = [(x, y - r), (x + r * 0.75, y), (x, y + r), (x - r * 0.75, y)]
    elif shape == "star":
        pts = [(x + (r if k % 2 == 0 else r * 0.42) * math.sin(k * math.pi / 5),
                y - (r if k % 2 == 0 else r * 0.42) * math.cos(k * math.pi / 5)) for k in range(10)]
    else:
        raise ValueError(f"unknown marker {shape!r}")
    return f'<polygon points="{" ".join(f"{_num(a)},{_num(b)}" for a, b in pts)}" {style}/>'


def polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 1.5, dash: str = "solid",
             opacity: float = 1.0) -> str:
    d = DASHES[dash]
    return (f'<polyline points="{" ".join(f"{_num(x)},{_num(y)}" for x, y in points)}" fill="none" '
            f'stroke="{colour}" stroke-width="{_num(width)}" stroke-linejoin="round" stroke-linecap="round"'
            + (f' stroke-dasharray="{d}"' if d else "") + (f' opacity="{_num(opacity)}"' if opacity < 1 else "")
            + "/>")


def text(x: float, y: float, content: object, size: float = 11, anchor: str = "start", colour: str = INK,
         weight: str | None = None, rotate: float | None = None, baseline: str = "auto") -> str:
    """A text at (x, y); ``baseline="middle"`` centres it vertically; ``rotate`` in degrees about (x, y)."""
    attrs = f'x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if colour != INK:
        attrs += f' fill="{colour}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if baseline != "auto":
        attrs += f' dominant-baseline="{baseline}"'
    if rotate:
        attrs += f' transform="rotate({_num(rotate)} {_num(x)} {_num(y)})"'
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
    out = [f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="3" fill="#fff" '
           f'fill-opacity="0.9" stroke="#c9ced6"/>']
    for i, k in enumerate(keys):
        cy = y + 4 + (i + 0.5) * (size + 5)
        if k.line:
            out.append(polyline([(x + 7, cy), (x + 31, cy)], k.colour, k.width, k.line))
        if k.marker:
            out.append(marker(k.marker, x + 19, cy, k.size, k.fill or k.colour, k.edge))
        out.append(text(x + 37, cy, k.label, size, baseline="central"))
    return "".join(out)


def axis_ticks(lo: float, hi: float, log: bool = False, count: int = 7,
               integer: bool = False) -> tuple[list[float], list[str], list[float]]:
    """Major ticks, their labels and minor ticks of an axis on [lo, hi]."""
    if log:
        return log_ticks(lo, hi)
    major, labels = linear_ticks(lo, hi, count, integer)
    return major, labels, []


def left_margin(ylim: tuple[float, float], ylog: bool = False, size: float = 10, ylabel: bool = True) -> float:
    """Room left of a plot area for its y tick labels and (``ylabel``) the rotated axis label."""
    widest = max((text_width(s, size) for s in axis_ticks(*ylim, ylog)[1]), default=0.0)
    return widest + 12 + (size + 8 if ylabel else 0)


class Axes:
    """A plot area (``box``: left, top, width, height in px) of ``fig`` with data limits ``xlim`` and ``ylim``."""

    def __init__(self, fig: Figure, box: tuple[float, float, float, float], xlim: tuple[float, float],
                 ylim: tuple[float, float], xlog: bool = False, ylog: bool = False):
        self.fig = fig
        self.left, self.top, self.width, self.height = box
        self.x = Scale(*xlim, self.left, self.left + self.width, xlog)
        self.y = Scale(*ylim, self.top + self.height, self.top, ylog)
        self.clip = fig.new_id("clip")
        fig.defs.append(f'<clipPath id="{self.clip}"><rect x="{_num(self.left)}" y="{_num(self.top)}" '
                        f'width="{_num(self.width)}" height="{_num(self.height)}"/></clipPath>')
        self.points: list[tuple[float, float]] = []  # what is drawn, in px (to place a legend where it is not)

    def ticks(self, axis: str, integer: bool = False) -> tuple[list[float], list[str], list[float]]:
        scale = self.x if axis == "x" else self.y
        return axis_ticks(scale.lo, scale.hi, scale.log, 6 if axis == "x" else 7, integer)

    def frame(self, xlabel: str = "", ylabel: str = "", xinteger: bool = False, xgrid: bool = True,
              ygrid: bool = True, yticks: bool = True, size: float = 10) -> None:
        """Grid, the box, ticks with labels and the axis labels (``yticks=False``: none on the y axis)."""
        out = []
        bottom, right = self.top + self.height, self.left + self.width
        xt, xl, xm = self.ticks("x", xinteger)
        yt, yl, ym = self.ticks("y") if yticks else ([], [], [])
        for v in xt if xgrid else []:
            px = self.x(v)
            out.append(f'<line x1="{_num(px)}" y1="{_num(self.top)}" x2="{_num(px)}" y2="{_num(bottom)}" '
                       f'stroke="{GRID}"/>')
        for v in yt if ygrid else []:
            py = self.y(v)
            out.append(f'<line x1="{_num(self.left)}" y1="{_num(py)}" x2="{_num(right)}" y2="{_num(py)}" '
                       f'stroke="{GRID}"/>')
        out.append(f'<rect x="{_num(self.left)}" y="{_num(self.top)}" width="{_num(self.width)}" '
                   f'height="{_num(self.height)}" fill="none" stroke="#8a93a3"/>')
        marks = []
        for v, label in zip(xt, xl, strict=True):
            px = self.x(v)
            marks.append(f"M{_num(px)},{_num(bottom)}v4")
            out.append(text(px, bottom + 7 + size, label, size, "middle"))
        marks += [f"M{_num(self.x(v))},{_num(bottom)}v2.5" for v in xm]
        for v, label in zip(yt, yl, strict=True):
            py = self.y(v)
            marks.append(f"M{_num(self.left)},{_num(py)}h-4")
            out.append(text(self.left - 6, py, label, size, "end", baseline="central"))
        marks += [f"M{_num(self.left)},{_num(self.y(v))}h-2.5" for v in ym]
        out.append(f'<path d="{"".join(marks)}" stroke="#8a93a3"/>')
        if xlabel:
            out.append(text(self.left + self.width / 2, bottom + 2 * size + 14, xlabel, size + 1, "middle"))
        if ylabel:
            lx = self.left - 12 - max((text_width(s, size) for s in yl), default=0.0) - (size + 1) / 2
            out.append(text(lx, self.top + self.height / 2, ylabel, size + 1, "middle", rotate=-90,
                            baseline="central"))
        self.fig.add(*out)

    def _clipped(self, element: str) -> str:
        return f'<g clip-path="url(#{self.clip})">{element}</g>'

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: str, width: float = 1.5, dash: str = "solid",
             opacity: float = 1.0) -> None:
        pts = [(self.x(a), self.y(b)) for a, b in zip(xs, ys, strict=True)]
        self.points += _along(pts)
        if len(pts) > 1:
            self.fig.add(self._clipped(polyline(pts, colour, width, dash, opacity)))

    def step(self, xs: Sequence[float], ys: Sequence[float], colour: str, width: float = 1.5) -> None:
        """A step line that holds each y until the next x (matplotlib's ``where="post"``)."""
        if not xs:
            return
        corners = [(xs[0], ys[0])]
        for k in range(1, len(xs)):
            corners += [(xs[k], ys[k - 1]), (xs[k], ys[k])]
        self.line([c[0] for c in corners], [c[1] for c in corners], colour, width)

    def markers(self, xs: Sequence[float], ys: Sequence[float], shape: str, colour: str, size: float = 8,
                edge: str | None = None, opacity: float = 1.0, fill: str | None = None) -> None:
        pts = [(self.x(a), self.y(b)) for a, b in zip(xs, ys, strict=True)]
        self.points += pts
        self.fig.add(self._clipped("".join(marker(shape, px, py, size, fill or colour, edge, opacity=opacity)
                                           for px, py in pts)))

    def hline(self, y: float, colour: str, width: float = 1.0, dash: str = "solid") -> None:
        py = self.y(y)
        self.points += [(self.left + self.width * k / 20, py) for k in range(21)]
        self.fig.add(self._clipped(polyline([(self.left, py), (self.left + self.width, py)], colour, width, dash)))

    def legend(self, keys: Sequence[Key], size: float = 9) -> None:
        """A legend inside the plot area, in the corner that covers the fewest drawn points."""
        if not keys:
            return
        w, h = legend_size(keys, size)
        pad = 6
        corners = [(self.left + self.width - w - pad, self.top + pad), (self.left + pad, self.top + pad),
                   (self.left + self.width - w - pad, self.top + self.height - h - pad),
                   (self.left + pad, self.top + self.height - h - pad)]

        def covered(corner: tuple[float, float]) -> int:
            x, y = corner
            return sum(x - 4 <= px <= x + w + 4 and y - 4 <= py <= y + h + 4 for px, py in self.points)

        x, y = min(corners, key=covered)  # first of the least covered: upper right, upper left, lower ...
        self.fig.add(legend(keys, x, y, size))


def _along(pts: list[tuple[float, float]], every: float = 8.0) -> list[tuple[float, float]]:
    """Points every ``every`` px along a polyline (its vertices included)."""
    out = list(pts[:1])
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / every))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out

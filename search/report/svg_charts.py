"""Axes for the report's figures (``search.report.svg``'s canvas): linear or logarithmic scales, ticks at round
numbers, limits with margins, and a plot area that draws lines, steps, markers and horizontal lines clipped to it.

- :class:`Axes`: a plot area in a figure with a scale on each axis (:class:`Scale`), ticks (:func:`linear_ticks`,
  :func:`log_ticks`), grid, axis labels, and a legend placed in the corner that covers the fewest drawn points;
- :func:`limits`: axis limits around values; :func:`left_margin`: the room the y tick labels take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from search.report.svg import GRID, Figure, Key, coord, legend, legend_size, marker, polyline, text, text_width

_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


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
        fig.defs.append(f'<clipPath id="{self.clip}"><rect x="{coord(self.left)}" y="{coord(self.top)}" '
                        f'width="{coord(self.width)}" height="{coord(self.height)}"/></clipPath>')
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
            out.append(f'<line x1="{coord(px)}" y1="{coord(self.top)}" x2="{coord(px)}" y2="{coord(bottom)}" '
                       f'stroke="{GRID}"/>')
        for v in yt if ygrid else []:
            py = self.y(v)
            out.append(f'<line x1="{coord(self.left)}" y1="{coord(py)}" x2="{coord(right)}" y2="{coord(py)}" '
                       f'stroke="{GRID}"/>')
        out.append(f'<rect x="{coord(self.left)}" y="{coord(self.top)}" width="{coord(self.width)}" '
                   f'height="{coord(self.height)}" fill="none" stroke="#8a93a3"/>')
        marks = []
        for v, label in zip(xt, xl, strict=True):
            px = self.x(v)
            marks.append(f"M{coord(px)},{coord(bottom)}v4")
            out.append(text(px, bottom + 7 + size, label, size, "middle"))
        marks += [f"M{coord(self.x(v))},{coord(bottom)}v2.5" for v in xm]
        for v, label in zip(yt, yl, strict=True):
            py = self.y(v)
            marks.append(f"M{coord(self.left)},{coord(py)}h-4")
            out.append(text(self.left - 6, py, label, size, "end", baseline="central"))
        marks += [f"M{coord(self.left)},{coord(self.y(v))}h-2.5" for v in ym]
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

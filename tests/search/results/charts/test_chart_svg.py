"""``search.results.charts.svg``: a figure as SVG the same byte for byte, text as text, a hover title per point."""

from __future__ import annotations

import base64
import re
from xml.etree import ElementTree

from matplotlib.figure import Figure

from search.results.charts.figures import titled
from search.results.charts.svg import svg_text, svg_uri, with_titles

SVG = "{http://www.w3.org/2000/svg}"


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    titled(ax.scatter([1, 2, 3], [3, 1, 2]), ["a", "b", "c <1>"])
    (line,) = ax.plot([1, 2], [2, 3], marker="o")
    titled(line, ["x", "y"])
    ax.set_xlabel("epoch")
    return fig


def test_the_same_figure_gives_the_same_bytes_with_no_date_and_text_as_text() -> None:
    first, second = svg_text(_figure()), svg_text(_figure())
    assert first == second, "hash salt fixed, no date"
    assert "<dc:date>" not in first
    assert re.search(r"<text[^>]*>epoch</text>", first), "svg.fonttype none: the label is text, not glyph paths"


def test_each_titled_point_has_its_title_in_order() -> None:
    root = ElementTree.fromstring(svg_text(_figure()))
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("points")}
    titles = {gid: [t.text for t in g.iter(f"{SVG}title")] for gid, g in groups.items()}
    assert titles == {"points1": ["a", "b", "c <1>"], "points2": ["x", "y"]}


def test_titles_stay_inside_their_group() -> None:
    svg = ('\n  <g id="p1">\n   <g id="inner">\n    <use x="1"/>\n   </g>\n  </g>\n  <g id="p2">\n   <use x="2"/>\n'
           "  </g>")
    out = with_titles(svg, {"p1": ["one"], "p2": ["two"]})
    assert '<use x="1"><title>one</title></use>' in out and '<use x="2"><title>two</title></use>' in out


def test_a_uri_holds_the_svg() -> None:
    uri = svg_uri(_figure())
    assert uri.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).decode().endswith("</svg>\n")

"""A matplotlib Figure as SVG text the same byte for byte from the same data (a fixed hash salt, no date), with
text as text (small, sharp at any zoom), each titled point's hover text (``figures.titled``) as its ``<title>``,
and as a ``data:image/svg+xml;base64`` URI for the report's one offline file."""

from __future__ import annotations

import base64
import io
import re
from typing import Any
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")

RC = {"svg.hashsalt": "pointtune", "svg.fonttype": "none", "svg.image_inline": True}


def svg_text(fig: Any) -> str:
    """The figure as SVG text (reproducible: ``RC``, no Date in its metadata)."""
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return with_titles(buf.getvalue().decode("utf-8"), fig.__dict__.get("point_titles", {}))


def with_titles(svg: str, titles: dict[str, list[str]]) -> str:
    """A ``<title>`` in each point of the groups ``titles`` names (their ``<use>`` markers, in drawing order; a
    group ends at the ``</g>`` indented as its start)."""
    for gid, texts in titles.items():
        m = re.search(rf'\n( *)<g id="{re.escape(gid)}">(.*?)\n\1</g>', svg, re.S)
        if m is None:
            continue
        body = re.sub(r"<use ([^>]*?)/>", _titling(iter(texts)), m[2])
        svg = svg[:m.start(2)] + body + svg[m.end(2):]
    return svg


def _titling(texts: Any) -> Any:
    """A ``re.sub`` replacement that puts the next of ``texts`` as the ``<title>`` of each ``<use>``."""
    return lambda u: f"<use {u[1]}><title>{escape(next(texts, ''))}</title></use>"


def svg_uri(fig: Any) -> str:
    """The figure as a ``data:image/svg+xml;base64,...`` URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg_text(fig).encode("utf-8")).decode("ascii")

"""The report's confusion matrix: counts, shares of each true class and the scores they give, drawn as a heatmap."""

from __future__ import annotations

from typing import Any

import numpy as np

from search.report.markup import plain
from search.report.per_class import per_class
from search.report.svg import BLUES, INK, Figure, blues, text, text_width


def confusion_data(matrix: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A (C, C) confusion matrix (rows truth, columns prediction) as counts, shares of each true class, and the
    per-class and macro scores it gives (by the validation rules: ``trainable.learn.metrics``)."""
    from trainable.learn.metrics import metrics_from_confusion  # torch: not for --no-model

    cm = np.asarray(matrix, dtype=np.int64)
    totals = cm.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, cm / np.maximum(totals, 1), np.nan)
    scores = metrics_from_confusion(cm, list(names))
    return {"classes": list(names), "counts": cm.tolist(),
            "row_share": [[plain(float(v)) for v in row] for row in share], "pixels": int(cm.sum()),
            "f1": plain(scores["val_f1"]), "oa": plain(scores["val_oa"]), "miou": plain(scores["val_miou"]),
            "per_class": per_class(scores)}


LABEL = 10  # font size of the class names and the colour bar's caption


def draw_confusion(data: dict[str, Any]) -> str:
    """The confusion matrix as cells coloured by the share of each true class's pixels (a row with no truth in
    grey), the shares written in the cells up to 15 classes, and a colour bar."""
    names = data["classes"]
    cell = min(max(380 / max(len(names), 1), 22), 46)
    widest = max((text_width(s, LABEL) for s in names), default=0)
    left, top = 18 + 8 + widest + 6, 40
    plot = len(names) * cell
    bottom = widest * 0.71 + 14 + 30
    bar_x = left + plot + 18
    fig = Figure(bar_x + 14 + 34 + 24, top + plot + bottom)
    fig.title("Confusion matrix (rows: truth)", 12)
    gradient = fig.new_id("blues")
    stops = "".join(f'<stop offset="{k / (len(BLUES) - 1):.3f}" stop-color="{c}"/>'
                    for k, c in enumerate(reversed(BLUES)))
    fig.defs.append(f'<linearGradient id="{gradient}" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient>')
    fig.add(*_cells(data["row_share"], data["counts"], left, top, cell),
            *_class_labels(names, left, top, cell, bottom), *_colour_bar(gradient, bar_x, top, plot))
    return fig.uri()


def _cells(share: list[list[float | None]], counts: list[list[int]], left: float, top: float,
           cell: float) -> list[str]:
    """A cell per (truth, prediction) coloured by its share (grey: no truth), the share written up to 15 classes,
    and the matrix's frame."""
    n = len(share)
    out = []
    digits = min(11.0, cell * 0.34)
    for i in range(n):
        for j in range(n):
            v = share[i][j]
            x, y = left + j * cell, top + i * cell
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                       f'fill="{"#eceef1" if v is None else blues(v)}"/>')
            if n <= 15 and v is not None and counts[i][j]:
                out.append(text(x + cell / 2, y + cell / 2, f"{v:.2f}", digits, "middle",
                                "#ffffff" if v > 0.6 else INK, baseline="central"))
    out.append(f'<rect x="{left:.1f}" y="{top}" width="{n * cell:.1f}" height="{n * cell:.1f}" fill="none" '
               f'stroke="#8a93a3"/>')
    return out


def _class_labels(names: list[str], left: float, top: float, cell: float, bottom: float) -> list[str]:
    """The class names along both axes (slanted below), and the axes' names."""
    plot = len(names) * cell
    out = []
    for k, name in enumerate(names):
        c = k * cell + cell / 2
        out.append(text(left - 6, top + c, name, LABEL, "end", baseline="central"))
        out.append(text(left + c + 3, top + plot + 8, name, LABEL, "end", rotate=-45, baseline="central"))
    out.append(text(10, top + plot / 2, "true", LABEL + 1, "middle", rotate=-90, baseline="central"))
    out.append(text(left + plot / 2, top + plot + bottom - 10, "predicted", LABEL + 1, "middle"))
    return out


def _colour_bar(gradient: str, bar_x: float, top: float, plot: float) -> list[str]:
    """The colour bar of the shares, with ticks every 0.2 and its caption."""
    out = [f'<rect x="{bar_x:.1f}" y="{top}" width="14" height="{plot:.1f}" fill="url(#{gradient})" '
           f'stroke="#8a93a3"/>']
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = top + plot * (1 - t)
        out.append(f'<path d="M{bar_x + 14:.1f},{y:.1f}h4" stroke="#8a93a3"/>')
        out.append(text(bar_x + 21, y, f"{t:.1f}", LABEL - 1, baseline="central"))
    out.append(text(bar_x + 56, top + plot / 2, "share of the true class's pixels", LABEL, "middle",
                    rotate=-90, baseline="central"))
    return out

"""Per-class scores (F1, IoU, precision, recall) of one epoch's metrics: as a table and as bars."""

from __future__ import annotations

from typing import Any

import pandas as pd

from search.report.markup import esc, num, plain
from search.report.svg import INK, SERIES, Figure, text, text_width
from search.report.svg_charts import Axes


def per_class(row: pd.Series | dict[str, Any] | None, prefix: str = "val") -> list[dict[str, Any]]:
    """Per-class F1, IoU, precision and recall from one epoch's metrics (``val_f1_<class>``...); a class absent
    from the truth and never predicted has None."""
    if row is None:
        return []
    row = dict(row)
    names = [k.removeprefix(f"{prefix}_f1_") for k in row if k.startswith(f"{prefix}_f1_")]
    return [{"class": n, **{m: plain(row.get(f"{prefix}_{m}_{n}")) for m in ("f1", "iou", "precision", "recall")}}
            for n in names]


def per_class_table(rows: list[dict[str, Any]]) -> str:
    body = "".join(f'<tr><td class="t">{esc(r["class"])}</td>'
                   + "".join(f"<td>{num(r[m])}</td>" for m in ("f1", "iou", "precision", "recall")) + "</tr>"
                   for r in rows)
    return ('<table><thead><tr><th class="t">class</th><th>F1</th><th>IoU</th><th>precision</th><th>recall</th>'
            f"</tr></thead><tbody>{body}</tbody></table>")


def draw_per_class(rows: list[dict[str, Any]], title: str) -> str:
    """Horizontal bars of per-class F1 on [0, 1], the value at each bar's end (classes without an F1 left out)."""
    shown = [r for r in rows if r["f1"] is not None]
    row_h, plot_w, top = 26, 420, 36
    left = max((text_width(r["class"], 11) for r in shown), default=0) + 16
    fig = Figure(left + plot_w + 24, top + max(len(shown), 1) * row_h + 8 + 46)
    fig.title(title, 12)
    ax = Axes(fig, (left, top, plot_w, max(len(shown), 1) * row_h + 8), (0.0, 1.0), (0.0, 1.0))
    ax.frame("F1", "", ygrid=False, yticks=False)
    for i, r in enumerate(shown):
        y, v = top + 4 + i * row_h, float(r["f1"])
        x1 = ax.x(min(max(v, 0.0), 1.0))
        fig.add(f'<rect x="{ax.left:.1f}" y="{y + 3:.1f}" width="{x1 - ax.left:.1f}" height="{row_h - 6}" '
                f'fill="{SERIES[0]}"/>',
                text(left - 8, y + row_h / 2, r["class"], 11, "end", baseline="central"))
        inside = v > 0.85  # the value inside the bar's end, where it would leave the axes
        fig.add(text(x1 - 5 if inside else x1 + 5, y + row_h / 2, f"{v:.3f}", 10, "end" if inside else "start",
                        "#ffffff" if inside else INK, baseline="central"))
    if not shown:
        fig.add(text(left + plot_w / 2, top + row_h / 2 + 4, "no class has an F1", 11, "middle",
                        baseline="central"))
    return fig.uri()

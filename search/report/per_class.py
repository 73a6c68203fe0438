"""Per-class scores (F1, IoU, precision, recall) of one epoch (``search.results.charts.data.per_class``) as a table."""

from __future__ import annotations

from typing import Any

from search.report.markup import esc, num

SCORES = ("f1", "iou", "precision", "recall")


def per_class_table(rows: list[dict[str, Any]]) -> str:
    """One row per class, its F1, IoU, precision and recall (``-`` where it has none)."""
    body = "".join(f'<tr><td class="t">{esc(r["class"])}</td>' + "".join(f"<td>{num(r[m])}</td>" for m in SCORES)
                   + "</tr>" for r in rows)
    return ('<table><thead><tr><th class="t">class</th><th>F1</th><th>IoU</th><th>precision</th><th>recall</th>'
            f"</tr></thead><tbody>{body}</tbody></table>")

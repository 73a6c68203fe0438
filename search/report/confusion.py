"""The report's confusion matrix: counts, shares of each true class and the scores they give, drawn as a heatmap."""

from __future__ import annotations

from typing import Any

import numpy as np

from search.report.markup import plain
from search.results.charts.data import per_class

NO_TRUTH = "#eceef1"  # the cells of a class absent from the truth
PREFIX = "matrix"  # of the scores computed here from the matrix (not a metric a trial reports)


def confusion_data(matrix: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A (C, C) confusion matrix (rows truth, columns prediction) as counts, shares of each true class, and the
    per-class and macro scores it gives (by the validation rules: ``trainable.learn.metrics``)."""
    from trainable.learn.metrics import metrics_from_confusion  # torch: not for --no-model

    cm = np.asarray(matrix, dtype=np.int64)
    totals = cm.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, cm / np.maximum(totals, 1), np.nan)
    scores = metrics_from_confusion(cm, list(names), prefix=PREFIX)
    return {"classes": list(names), "counts": cm.tolist(),
            "row_share": [[plain(float(v)) for v in row] for row in share], "pixels": int(cm.sum()),
            "f1": plain(scores[f"{PREFIX}_f1"]), "oa": plain(scores[f"{PREFIX}_oa"]),
            "miou": plain(scores[f"{PREFIX}_miou"]), "per_class": per_class(scores, PREFIX)}


def confusion_figure(data: dict[str, Any]) -> Any:
    """The confusion matrix as cells coloured by the share of each true class's pixels (a row with no truth in
    grey), the shares written in the cells up to 15 classes, and a colour bar: a matplotlib Figure."""
    import matplotlib  # not at import: the report's page imports this module
    from matplotlib.figure import Figure

    names = data["classes"]
    share = np.array([[np.nan if v is None else v for v in row] for row in data["row_share"]], dtype=float)
    side = min(max(0.42 * len(names), 2.6), 7.5)
    fig = Figure(figsize=(side + 2.2, side + 1.2), layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad=NO_TRUTH)
    cells = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0, vmax=1)
    if len(names) <= 15:
        for i, j in zip(*np.nonzero(np.asarray(data["counts"]) > 0), strict=True):
            ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.6 else "#1d2433")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (rows: truth)")
    fig.colorbar(cells, ax=ax, shrink=0.8).set_label("share of the true class's pixels", fontsize=8)
    return fig


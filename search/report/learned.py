"""The report's "What the search learned": a parallel-coordinates view of every trial across the searched settings
and the objective (the best trial highlighted), and the ranking of the settings by importance (Optuna's PED-ANOVA,
``search.results.importance``). Each is a pure function that computes its data (tested on hand-made tables) and a
thin one that draws it with matplotlib, embedded as an SVG ``data:`` URI: the report stays one offline file.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import pandas as pd

from search.report.style import STAR
from search.results.importance import Importance

# the searched settings a trials table holds, with their axis labels and whether they are searched on a log scale
AXES = (("lr", "learning rate", True), ("density", "density", True), ("clicks_per_object", "clicks per object", False),
        ("background_share", "background share", False), ("unlabeled_weight", "unlabeled weight", True),
        ("pseudo_labels", "pseudo-label threshold", False), ("epochs", "epochs", False))


def parallel_data(df: pd.DataFrame, metric: str, best_id: str | None) -> dict[str, Any] | None:
    """Every trial with a score as a line across the settings that vary and the score: each axis scaled to [0, 1]
    (log where the setting is searched so), with its low and high ends; None with fewer than two such trials or no
    setting that varies."""
    score = f"best_{metric}"
    part = df[df[score].notna()] if score in df else df.iloc[:0]
    axes = []
    for column, label, log in AXES:
        if column in part and part[column].notna().all() and part[column].nunique() > 1:
            values = part[column].astype(float)
            log = log and bool((values > 0).all())
            axes.append((column, label, log, values.map(math.log10) if log else values))
    if len(part) < 2 or not axes:
        return None
    axes.append((score, metric.removeprefix("val_") + " (best)", False, part[score].astype(float)))
    lines = []
    for i, (_, row) in enumerate(part.iterrows()):
        ys = [_scaled(v.iloc[i], v) for _, _, _, v in axes]
        lines.append({"trial_id": str(row["trial_id"]), "y": ys, "best": str(row["trial_id"]) == best_id})
    ends = [(f"{_shown(v.min(), log)}", f"{_shown(v.max(), log)}") for _, _, log, v in axes]
    return {"axes": [label for _, label, _, _ in axes], "ends": ends, "lines": lines}


def _scaled(value: float, values: pd.Series) -> float:
    lo, hi = float(values.min()), float(values.max())
    return 0.5 if hi == lo else (float(value) - lo) / (hi - lo)


def _shown(value: float, log: bool) -> str:
    return f"{10 ** value:.3g}" if log else f"{value:.3g}"


def svg_uri(fig: Any) -> str:
    """A matplotlib figure as an SVG ``data:`` URI (closed after)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def draw_parallel(data: dict[str, Any]) -> str:
    """The parallel coordinates: grey lines, the best trial's on top in the report's star colour."""
    import matplotlib.pyplot as plt

    n = len(data["axes"])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * n), 3.6))
    for line in sorted(data["lines"], key=lambda item: item["best"]):
        ax.plot(range(n), line["y"], color=STAR if line["best"] else "#6b7280", lw=2.2 if line["best"] else 0.9,
                alpha=1.0 if line["best"] else 0.55, zorder=3 if line["best"] else 2)
    for x, (lo, hi) in enumerate(data["ends"]):
        ax.axvline(x, color="#111111", lw=0.6)
        ax.annotate(hi, (x, 1.0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
        ax.annotate(lo, (x, 0.0), xytext=(0, -11), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(n), data["axes"], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.08, 1.08)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return svg_uri(fig)


def draw_importance(imp: Importance) -> str:
    """The ranking as horizontal bars, most important on top."""
    import matplotlib.pyplot as plt

    names = [name for name, _ in imp.ranking][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.45 * len(names) + 0.9))
    ax.barh(names, [value for _, value in imp.ranking][::-1], color="#1d4ed8")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"importance ({imp.evaluator.upper()}, over {imp.trials} completed trials)", fontsize=8)
    ax.tick_params(labelsize=8)
    return svg_uri(fig)


def importance_of(path: str) -> tuple[Importance | None, str | None]:
    """The search's importance ranking, or why there is none (no study, too few trials)."""
    from search.errors import SearchError
    from search.results.importance import experiment_importance

    try:
        imp = experiment_importance(path)
    except SearchError as e:
        return None, str(e)
    return (imp, None) if imp.ranking else (None, imp.note)


def learned_html(parallel: dict[str, Any] | None, imp: Importance | None, why: str | None) -> str:
    """The section: the parallel coordinates and the importance ranking (or what is missing, said)."""
    from search.report.markup import esc, gap, img

    parts = [img(draw_parallel(parallel), "every trial across the searched settings and its score; the best in "
                 "red") if parallel is not None else gap("Fewer than two trials with a score, or no setting varies.")]
    if imp is not None:
        note = f'<p class="sub">{esc(imp.note)}</p>' if imp.note else ""
        parts.append(img(draw_importance(imp), "the searched settings ranked by importance") + note)
    else:
        parts.append(gap(f"Importance: {why}"))
    return "".join(parts)

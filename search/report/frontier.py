"""The report's annotation budget: the best score against clicks per image, the Pareto front and the fewest clicks
that reach a share of the best score (what ``pointtune results --frontier`` prints)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from search.report.style import STAR, metric_label
from search.report.svg import SERIES, Figure, Key
from search.report.svg_charts import Axes, left_margin, limits
from search.results.frontier import COST, pareto_front, scored, target_point
from search.results.tables import frontier_statements


def frontier_data(df: pd.DataFrame, metric: str, target: float = 0.95,
                  reference: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Score against clicks per image: every scored trial, the Pareto front, the fewest clicks reaching ``target``
    of the best score and the statements ``results --frontier`` prints. None when fewer than two trials have a
    score and a click count (no frontier to speak of)."""
    score = f"best_{metric}"
    if score not in df or COST not in df:
        return None
    points = scored(df, score)
    if len(points) < 2:
        return None
    front = pareto_front(df, score)
    point = target_point(df, score, target)

    def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"trial_id": str(r.trial_id), "x": float(r[COST]), "y": float(r[score]), "mode": _series(r)}
                for _, r in frame.iterrows()]

    return {"metric": metric, "target": target, "points": rows(points), "front": rows(front),
            "threshold": None if point is None else float(point.threshold),
            "target_trial": None if point is None or point.row is None else str(point.row.trial_id),
            "reference": None if reference is None or reference.get(metric) is None else float(reference[metric]),
            "statements": frontier_statements(df, metric, target, reference)}


def _series(row: pd.Series) -> str:
    """What a point is coloured by: its round in a campaign's table (``search.results.campaign``), else its click
    mode."""
    r = row.get("round")
    return f"round {int(r)}" if r is not None and not pd.isna(r) else str(row["mode"])


def draw_frontier(data: dict[str, Any]) -> str:
    """Score against clicks per image: every trial, the Pareto front as a step line, the target line, the trial
    with the fewest clicks reaching it (a star) and the full-supervision reference."""
    points, front = data["points"], data["front"]
    log = all(p["x"] > 0 for p in points)
    xlim = limits([p["x"] for p in points], log)
    lines = [v for v in (data["threshold"], data["reference"]) if v is not None]
    ylim = limits([p["y"] for p in points] + lines)
    width, height, top, bottom = 700, 420, 36, 50
    left = left_margin(ylim) + 8
    fig = Figure(width, height)
    fig.title("Annotation budget: score against clicks per image", 12)
    ax = Axes(fig, (left, top, width - left - 16, height - top - bottom), xlim, ylim, xlog=log)
    ax.frame("clicks per training image", f"best validation {metric_label(data['metric'])}")
    keys = []
    for k, mode in enumerate(sorted({p["mode"] for p in points})):
        pts = [p for p in points if p["mode"] == mode]
        colour = SERIES[k % len(SERIES)]
        ax.markers([p["x"] for p in pts], [p["y"] for p in pts], "circle", colour, 9, opacity=0.65)
        keys.append(Key(f"trials ({mode.replace('_', ' ')})", colour, marker="circle", size=8))
    if data["threshold"] is not None:
        ax.hline(data["threshold"], "#777777", 1.0, "dashed")
    if data["reference"] is not None:
        ax.hline(data["reference"], "#2ca02c", 1.5, "dotted")
    ax.step([p["x"] for p in front], [p["y"] for p in front], "#000000", 1.3)
    ax.markers([p["x"] for p in front], [p["y"] for p in front], "circle", "#000000", 11, edge="#000000",
               fill="none")
    keys.append(Key("Pareto front", "#000000", "solid", 1.3, "circle", 10, fill="none", edge="#000000"))
    if data["threshold"] is not None:
        keys.append(Key(f"{data['target']:.0%} of the best", "#777777", "dashed", 1.0))
    if data["target_trial"] is not None:
        p = next(p for p in points if p["trial_id"] == data["target_trial"])
        ax.markers([p["x"]], [p["y"]], "star", STAR, 20, edge="#7a0a20")
        keys.append(Key(f"fewest clicks reaching it: {p['x']:.3g}/image", STAR, marker="star", size=13,
                           edge="#7a0a20"))
    if data["reference"] is not None:
        keys.append(Key("full supervision", "#2ca02c", "dotted", 1.5))
    ax.legend(keys)
    return fig.uri()

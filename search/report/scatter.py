"""The report's settings panels: the best score of each trial against each searched setting that varies."""

from __future__ import annotations

from typing import Any

import pandas as pd

from search.report.style import STAR, STATUS_MARKERS, metric_label
from search.report.svg import Figure, Key
from search.report.svg_charts import Axes, left_margin, limits

PARAMS = (("lr", "learning rate", True), ("density", "point density", True),
          ("clicks_per_object", "clicks per object", False), ("clicks_per_image", "clicks per training image", True),
          ("background_share", "background share of the clicks", False))


def scatter_panels(df: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    """Best score against each searched setting that varies (learning rate, density or clicks, background share):
    one panel per setting, points grouped by status. Empty with fewer than two trials."""
    score = f"best_{metric}"
    if len(df) < 2 or score not in df:
        return []
    panels = []
    for param, label, log in PARAMS:
        if param not in df:
            continue
        part = df[df[param].notna() & df[score].notna()]
        if part.empty or (param != "lr" and part[param].nunique() < 2 and param != "clicks_per_image"):
            continue
        series = {}
        for status, group in part.groupby("status", sort=False):
            series[str(status)] = {"x": [float(v) for v in group[param]], "y": [float(v) for v in group[score]],
                                   "trial_id": [str(t) for t in group["trial_id"]]}
        panels.append({"param": param, "label": label, "log": log and bool((part[param] > 0).all()),
                       "series": series})
    return panels


def draw_scatter(panels: list[dict[str, Any]], metric: str, best: str | None) -> str:
    """Best score against each searched setting, one panel per setting, a marker and colour per status, a star on
    the best trial; log axes where the setting is searched on one."""
    label = metric_label(metric)
    side, top, bottom = 340, 38, 50
    fig = Figure(side * len(panels) + 10, top + side - 30 + bottom)
    fig.title(f"Best {label} of each trial against its settings (star: the best trial)", 12)
    statuses: list[str] = []
    first = None
    for i, panel in enumerate(panels):
        series = panel["series"].values()
        xlim = limits([x for s in series for x in s["x"]], panel["log"])
        ylim = limits([y for s in series for y in s["y"]])
        left = left_margin(ylim) + 6
        ax = Axes(fig, (i * side + left, top, side - left - 8, side - 30), xlim, ylim, xlog=panel["log"])
        ax.frame(panel["label"], f"best validation {label}")
        stars = []
        for status, s in panel["series"].items():
            colour, shape = STATUS_MARKERS.get(status, ("#6b7280", "circle"))
            ax.markers(s["x"], s["y"], shape, colour, 9, opacity=0.85)
            stars += [(x, y) for x, y, t in zip(s["x"], s["y"], s["trial_id"], strict=True) if t == best]
            if status not in statuses:
                statuses.append(status)
        if stars:
            ax.markers([x for x, _ in stars], [y for _, y in stars], "star", STAR, 19, edge="#7a0a20")
        first = first or ax
    keys = [Key(s, STATUS_MARKERS.get(s, ("#6b7280", "circle"))[0], marker=STATUS_MARKERS.get(s, ("", "circle"))[1])
            for s in statuses]
    if best is not None:
        keys.append(Key("the best trial", STAR, marker="star", size=13, edge="#7a0a20"))
    if first is not None:
        first.legend(keys)
    return fig.uri()

"""The data of each chart, from trial records and the trials table (``search.results.tables.trials_table``): pure
functions, no matplotlib, tested on hand-made tables. One function per chart; ``plot`` and ``report`` both call it.

- :func:`score_curves`: a metric per epoch of every trial (F1 curves);
- :func:`settings_panels`: the best score against each searched setting that varies;
- :func:`frontier_data`: score against clicks per image, the Pareto front, the target and the reference;
- :func:`trial_curves`: one trial's train and validation loss and accuracy per epoch;
- :func:`per_class`: per-class F1, IoU, precision and recall of one epoch;
- :func:`parallel_data`: every trial across the searched settings and its score (parallel coordinates);
- :func:`importance_of`: the searched settings ranked by importance, or why there is no ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from search.errors import SearchError
from search.results.frontier import COST, DEFAULT_TARGET, pareto_front, scored, target_point
from search.results.importance import Importance, experiment_importance
from search.results.tables import frontier_statements
from trainable.config import METRICS
from trainable.defaults import default

METRIC = default("metric")  # what a search ranks by unless told


def f1_metric(metric: str) -> str:
    """The F1 that goes with a search's metric: the clicks' F1 when it ranks by click validation
    (``val_clicks_*``), else the dense validation F1."""
    name = f"{metric.rsplit('_', 1)[0]}_f1"
    return name if name in METRICS else f"{METRIC.rsplit('_', 1)[0]}_f1"


def _plain(v: Any) -> Any:
    """NaN -> None, numpy scalars -> Python ones."""
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass
class Curve:
    """One trial's ``metric`` per epoch."""

    trial_id: str
    status: str
    epoch: list[int]
    value: list[float]


def score_curves(records: list[Any], metric: str) -> list[Curve]:
    """Per trial, ``metric`` per epoch (trials that reported no epoch of it are left out)."""
    out = []
    for r in records:
        h = r.history
        if h.empty or metric not in h or "epoch" not in h:
            continue
        h = h.dropna(subset=[metric])
        if not h.empty:
            out.append(Curve(str(r.trial_id), r.status, [int(e) for e in h["epoch"]],
                             [float(v) for v in h[metric]]))
    return out


# the searched settings a settings panel may show: column, axis label, searched on a log scale
PARAMS = (("lr", "learning rate", True), ("density", "point density", True),
          ("clicks_per_object", "clicks per object", False), ("clicks_per_image", "clicks per training image", True),
          ("background_share", "background share of the clicks", False))


@dataclass
class Panel:
    """The best score of each trial against one setting: ``points`` has columns x, y, trial_id, status."""

    param: str
    label: str
    log: bool
    points: pd.DataFrame


def settings_panels(df: pd.DataFrame, metric: str) -> list[Panel]:
    """Best score against each searched setting that varies (clicks per image always, when known): one panel per
    setting. Empty with fewer than two trials."""
    score = f"best_{metric}"
    if len(df) < 2 or score not in df:
        return []
    panels = []
    for param, label, log in PARAMS:
        if param not in df:
            continue
        part = df[df[param].notna() & df[score].notna()]
        if part.empty or (param not in ("lr", COST) and part[param].nunique() < 2):
            continue
        points = pd.DataFrame({"x": part[param].astype(float), "y": part[score].astype(float),
                               "trial_id": part["trial_id"].astype(str), "status": part["status"].astype(str)})
        panels.append(Panel(param, label, log and bool((points["x"] > 0).all()), points.reset_index(drop=True)))
    return panels


@dataclass
class Frontier:
    """Score against clicks per image: ``points`` and ``front`` have columns trial_id, x, y, series."""

    metric: str
    target: float
    points: pd.DataFrame
    front: pd.DataFrame
    threshold: float | None  # target x the best score
    target_trial: str | None  # the fewest clicks reaching it
    reference: float | None  # full supervision's score
    statements: list[str]


def frontier_data(df: pd.DataFrame, metric: str, target: float = DEFAULT_TARGET,
                  reference: dict[str, Any] | None = None) -> Frontier | None:
    """Every scored trial, the Pareto front, the fewest clicks reaching ``target`` of the best score and the
    statements ``results --frontier`` prints. None when fewer than two trials have a score and a click count."""
    score = f"best_{metric}"
    if score not in df or COST not in df or len(scored(df, score)) < 2:
        return None
    point = target_point(df, score, target)

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"trial_id": frame["trial_id"].astype(str).tolist(),
                             "x": frame[COST].astype(float).tolist(), "y": frame[score].astype(float).tolist(),
                             "series": [_series(r) for _, r in frame.iterrows()]})

    ref = None if reference is None or reference.get(metric) is None else float(reference[metric])
    return Frontier(metric, target, rows(scored(df, score)), rows(pareto_front(df, score)),
                    None if point is None else float(point.threshold),
                    None if point is None or point.row is None else str(point.row.trial_id), ref,
                    frontier_statements(df, metric, target, reference))


def _series(row: pd.Series) -> str:
    """What a frontier point is coloured by: its round in a campaign's table, else its click mode."""
    r = row.get("round")
    return f"round {int(r)}" if r is not None and not pd.isna(r) else str(row["mode"]).replace("_", " ")


TRIAL_CURVES = ("train_loss", "val_loss", "train_oa", "val_oa")


def trial_curves(record: Any) -> pd.DataFrame:
    """One trial's train (on the points) and validation (dense) loss and accuracy per epoch: the columns of
    ``TRIAL_CURVES`` it reported, with ``epoch``."""
    h = record.history
    if h.empty or "epoch" not in h:
        return pd.DataFrame({"epoch": []})
    return h[["epoch", *[c for c in TRIAL_CURVES if c in h]]].reset_index(drop=True)


def per_class(row: pd.Series | dict[str, Any] | None, prefix: str = "val") -> list[dict[str, Any]]:
    """Per-class F1, IoU, precision and recall from one epoch's metrics (``val_f1_<class>``...): one dict per class;
    a class absent from the truth and never predicted has None."""
    if row is None:
        return []
    row = dict(row)
    names = [k.removeprefix(f"{prefix}_f1_") for k in row if k.startswith(f"{prefix}_f1_")]
    return [{"class": n, **{m: _plain(row.get(f"{prefix}_{m}_{n}")) for m in ("f1", "iou", "precision", "recall")}}
            for n in names]


# the searched settings a trials table holds, with their axis labels and whether they are searched on a log scale
AXES = (("lr", "learning rate", True), ("density", "density", True), ("clicks_per_object", "clicks per object", False),
        ("background_share", "background share", False), ("unlabeled_weight", "unlabeled weight", True),
        ("pseudo_labels", "pseudo-label threshold", False), ("epochs", "epochs", False))


@dataclass
class Parallel:
    """Parallel coordinates: the axes' labels, their low and high ends as text, and per trial its position on
    each axis in [0, 1] (``lines``: columns trial_id, y (a list), best)."""

    axes: list[str]
    ends: list[tuple[str, str]]
    lines: pd.DataFrame


def parallel_data(df: pd.DataFrame, metric: str, best_id: str | None) -> Parallel | None:
    """Every trial with a score as a line across the settings that vary and the score: each axis scaled to [0, 1]
    (log where the setting is searched so); None with fewer than two such trials or no setting that varies."""
    score = f"best_{metric}"
    part = df[df[score].notna()] if score in df else df.iloc[:0]
    axes = []
    for column, label, log in AXES:
        if column in part and part[column].notna().all() and part[column].nunique() > 1:
            values = part[column].astype(float)
            log = log and bool((values > 0).all())
            axes.append((label, log, values.map(math.log10) if log else values))
    if len(part) < 2 or not axes:
        return None
    axes.append((metric.removeprefix("val_") + " (best)", False, part[score].astype(float)))
    lines = pd.DataFrame({"trial_id": part["trial_id"].astype(str).tolist(),
                          "y": [[_scaled(v.iloc[i], v) for _, _, v in axes] for i in range(len(part))]})
    lines["best"] = lines["trial_id"] == best_id
    ends = [(_shown(v.min(), log), _shown(v.max(), log)) for _, log, v in axes]
    return Parallel([label for label, _, _ in axes], ends, lines)


def _scaled(value: float, values: pd.Series) -> float:
    lo, hi = float(values.min()), float(values.max())
    return 0.5 if hi == lo else (float(value) - lo) / (hi - lo)


def _shown(value: float, log: bool) -> str:
    return f"{10 ** value:.3g}" if log else f"{value:.3g}"


def importance_of(path: str) -> tuple[Importance | None, str | None]:
    """The search's importance ranking (``search.results.importance``), or why there is none (no study, too few
    trials)."""
    try:
        imp = experiment_importance(path)
    except SearchError as e:
        return None, str(e)
    return (imp, None) if imp.ranking else (None, imp.note)

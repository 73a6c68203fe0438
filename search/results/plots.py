"""``pointtune plot``: PNG figures of a search (or of one ``pointtune train`` folder).

Each figure is a pure function that computes its data from records (testable without pixels) and a thin one
that draws it with matplotlib's Agg backend.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator, NullFormatter

from search.outputs import SOFTWARE, experiment_inputs, plan_files_in, plan_folder, record_written
from search.results.experiment import TrialRecord, best_record, load_experiment
from search.results.frontier import COST, DEFAULT_TARGET, pareto_front, scored, target_point
from search.results.reference import load_reference
from search.results.tables import trials_table
from trainable.data import storage
from trainable.data.storage import is_uri

BAR_METRICS = (("oa", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
# every file `plot` may write (each figure the data allows)
FIGURES = ("val_f1_per_epoch.png", "best_f1_vs_lr.png", "best_f1_vs_density.png", "best_f1_vs_clicks_per_image.png",
           "frontier.png", "best_trial_curves.png", "best_trial_metrics.png")


def f1_key(records: list[TrialRecord]) -> str:
    """The F1 a search is judged by: on the validation clicks when it ranks by them, else on the dense masks."""
    return "val_clicks_f1" if records and records[0].metric.startswith("val_clicks_") else "val_f1"


def f1_curves(records: list[TrialRecord]) -> dict[str, pd.DataFrame]:
    key = f1_key(records)
    return {r.trial_id: r.history[["epoch", key]].rename(columns={key: "val_f1"}) for r in records
            if key in r.history}


def best_f1_against(records: list[TrialRecord], param: str) -> pd.DataFrame:
    """Best validation F1 against ``lr``, ``density`` or ``clicks_per_image`` (one row per trial with data)."""
    df = trials_table(records)
    key = f1_key(records)
    column = f"best_{key}" if f"best_{key}" in df else key  # ranked by another metric: F1 at its best epoch
    return df[[param, column, "status"]].rename(columns={column: "best_val_f1"}).dropna(subset=[param, "best_val_f1"])


def metric_bars(record: TrialRecord) -> pd.DataFrame:
    """Train (on the points) and validation (dense) accuracy, precision, recall and F1 at the best epoch."""
    row = record.best_row
    return pd.DataFrame({"train": [row.get(f"train_{m}", math.nan) for m, _ in BAR_METRICS],
                         "val": [row.get(f"val_{m}", math.nan) for m, _ in BAR_METRICS]},
                        index=[label for _, label in BAR_METRICS])


def draw_frontier(df: pd.DataFrame, metric: str, target: float, reference: dict | None, path: Path) -> Path:
    """Best score against clicks per image: every trial, the Pareto front, the fewest clicks that reach ``target``
    of the best score, and full supervision's score when the search has a reference."""
    score = f"best_{metric}"
    points, front = scored(df, score), pareto_front(df, score)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode, part in points.groupby("mode"):
        ax.scatter(part[COST], part[score], alpha=0.6, label=f"trials ({mode.replace('_', ' ')})")
    ax.step(front[COST], front[score], where="post", color="black", lw=1.2, marker="o", mfc="none", ms=8,
            label="Pareto front")
    point = target_point(df, score, target)
    if point is not None:
        ax.axhline(point.threshold, color="grey", ls="--", lw=0.8, label=f"{target:.0%} of the best")
        if point.row is not None:
            ax.scatter([point.row[COST]], [point.row[score]], marker="*", s=220, color="crimson", zorder=5,
                       label=f"fewest clicks reaching it: {point.row[COST]:.3g}/image")
    if reference is not None and metric in reference:
        ax.axhline(reference[metric], color="tab:green", ls=":", lw=1.2, label="full supervision")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    name = {"f1": "F1", "miou": "mIoU", "oa": "OA"}.get(metric.removeprefix("val_"), metric.removeprefix("val_"))
    ax.set(xlabel="clicks per training image (log)", ylabel=f"best validation {name}",
           title="Annotation budget: score against clicks per image")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    """The figure as a PNG that says it is pointtune's (``search.outputs``), written whole or not at all."""
    fig.tight_layout()
    with storage.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, metadata={"Software": SOFTWARE.format(kind="plot")})
    record_written(path)
    plt.close(fig)
    return path


def draw_f1_curves(curves: dict[str, pd.DataFrame], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for trial_id, h in curves.items():
        ax.plot(h["epoch"], h["val_f1"], marker="o", ms=3, label=trial_id)
    ax.set(xlabel="epoch", ylabel="validation F1 (macro)", title="Validation F1 per epoch, every trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(curves) <= 12:
        ax.legend(fontsize=7)
    return _save(fig, path)


def draw_scatter(df: pd.DataFrame, param: str, label: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for status, part in df.groupby("status"):
        ax.scatter(part[param], part["best_val_f1"], label=status)
    ax.set_xscale("log")
    ax.set(xlabel=label, ylabel="best validation F1", title=f"Best F1 against {label}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def draw_curves(record: TrialRecord, path: Path) -> Path:
    h = record.history
    fig, (loss, acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", loss), ("oa", acc)):
        for split in ("train", "val"):
            if f"{split}_{key}" in h:
                ax.plot(h["epoch"], h[f"{split}_{key}"], marker="o", label=split)
        ax.set(xlabel="epoch", ylabel="accuracy" if key == "oa" else key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle(f"Trial {record.trial_id}: train (points) and validation (dense) curves")
    return _save(fig, path)


def draw_bars(record: TrialRecord, bars: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bars.plot.bar(ax=ax, rot=0, ylim=(0, 1))
    ax.set(title=f"Trial {record.trial_id}, epoch {int(record.best_row['epoch'])}: train vs validation")
    return _save(fig, path)


def plot_experiment(path: str, out: str | None = None, target: float = DEFAULT_TARGET) -> list[Path]:
    """Write every figure that the data allows; returns the PNG paths."""
    records = load_experiment(path)  # a train folder is one record, with its status
    out_dir = plan_folder(out or (Path(path) / "plots" if not is_uri(path) else "plots"), "--out", "plot",
                          experiment_inputs(path))
    plan_files_in(out_dir, FIGURES, "--out", "plot")
    best = best_record(records, "plot")
    written = [draw_f1_curves(f1_curves(records), out_dir / "val_f1_per_epoch.png")]
    if len(records) > 1:
        for param, label in (("lr", "learning rate"), ("density", "point density"),
                             ("clicks_per_image", "points per image")):
            df = best_f1_against(records, param)
            if not df.empty:
                written.append(draw_scatter(df, param, label, out_dir / f"best_f1_vs_{param}.png"))
        table = trials_table(records)
        if not scored(table, f"best_{best.metric}").empty:
            written.append(draw_frontier(table, best.metric, target, load_reference(path), out_dir / "frontier.png"))
    written.append(draw_curves(best, out_dir / "best_trial_curves.png"))
    written.append(draw_bars(best, metric_bars(best), out_dir / "best_trial_metrics.png"))
    return written

"""``pointtune plot``: PNG figures of a search (or of one ``pointtune train`` folder).

The figures are those of ``pointtune report`` (``search.results.charts``: one data function and one figure function
per chart), saved here as PNG.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from search.outputs import SOFTWARE, experiment_inputs, plan_files_in, plan_folder, record_written
from search.results.charts.data import (
    f1_metric,
    frontier_data,
    importance_of,
    parallel_data,
    per_class,
    score_curves,
    settings_panels,
    trial_curves,
)
from search.results.charts.figures import (
    curves_figure,
    frontier_figure,
    importance_figure,
    parallel_figure,
    settings_figure,
)
from search.results.charts.trial_figures import per_class_figure, trial_curves_figure
from search.results.experiment import best_record, is_train_folder, load_experiment
from search.results.frontier import DEFAULT_TARGET
from search.results.reference import load_reference
from search.results.tables import trials_table
from trainable.data import storage
from trainable.data.storage import is_uri

# every file `plot` may write (each figure the data allows)
FIGURES = ("val_f1_per_epoch.png", "best_score_vs_settings.png", "frontier.png", "parallel_coordinates.png",
           "importance.png", "best_trial_curves.png", "best_trial_per_class.png")


def save_png(fig: Figure, path: Path) -> Path:
    """The figure as a PNG that says it is pointtune's (``search.outputs``), written whole or not at all."""
    with storage.replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": SOFTWARE.format(kind="plot")})
    record_written(path)
    return path


def search_figures(path: str, records: list, target: float) -> dict[str, Figure]:
    """The figures of the whole search, by file name: F1 per epoch; with two or more trials, the best score
    against the settings, the frontier, the parallel coordinates and the importance (those the data allows)."""
    best = best_record(records, "plot")
    metric, f1 = best.metric, f1_metric(best.metric)
    figures = {"val_f1_per_epoch.png": curves_figure(score_curves(records, f1), f1, best.trial_id)}
    if len(records) < 2:
        return figures
    table = trials_table(records)
    panels = settings_panels(table, metric)
    if panels:
        figures["best_score_vs_settings.png"] = settings_figure(panels, metric, best.trial_id)
    frontier = frontier_data(table, metric, target, load_reference(path))
    if frontier is not None:
        figures["frontier.png"] = frontier_figure(frontier)
    parallel = parallel_data(table, metric, best.trial_id)
    if parallel is not None:
        figures["parallel_coordinates.png"] = parallel_figure(parallel)
    imp, _ = importance_of(path) if not is_train_folder(path) else (None, None)
    if imp is not None:
        figures["importance.png"] = importance_figure(imp)
    return figures


def plot_experiment(path: str, out: str | None = None, target: float = DEFAULT_TARGET) -> list[Path]:
    """Write every figure that the data allows; returns the PNG paths."""
    records = load_experiment(path)  # a train folder is one record, with its status
    out_dir = plan_folder(out or (Path(path) / "plots" if not is_uri(path) else "plots"), "--out", "plot",
                          experiment_inputs(path))
    plan_files_in(out_dir, FIGURES, "--out", "plot")
    best = best_record(records, "plot")
    figures = search_figures(path, records, target)
    figures["best_trial_curves.png"] = trial_curves_figure(best.trial_id, trial_curves(best),
                                                           int(best.best_row["epoch"]))
    prefix = f1_metric(best.metric).removesuffix("_f1")
    figures["best_trial_per_class.png"] = per_class_figure(
        per_class(best.best_row, prefix), f"Per-class validation F1 of trial {best.trial_id}, epoch "
                                          f"{int(best.best_row['epoch'])}")
    return [save_png(fig, out_dir / name) for name, fig in figures.items()]

"""What a search prints when it has finished: the trials table, the best configuration, its test score, its F1
against full supervision, the annotation-budget frontier and the commands to go on with."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from search.model.evaluate import test_score_line
from search.results.experiment import RANKED, best_record, load_experiment
from search.results.frontier import DEFAULT_TARGET
from search.results.reference import load_reference
from search.results.tables import best_scores, describe_agreement, rank_agreement, render, render_frontier, trials_table
from trainable.data.storage import is_uri
from trainable.defaults import default


def describe_best(best: pd.Series, metric: str) -> str:
    points = (f"density {best.density:.3g}" if not math.isnan(best.density)
              else f"{int(best.clicks_per_object)} pt/instance")
    return (f"best trial {best.trial_id}: {metric} {best[f'best_{metric}']:.4f} at epoch {best.best_epoch} "
            f"(lr {best.lr:.3g}, {points}, {best.epochs} epochs)")


def print_summary(settings: Any, test_scores: dict[str, float] | None = None) -> tuple[int, int]:
    """After a search: the trials table, the best configuration, its test score, its F1 against full supervision,
    the annotation-budget frontier (for a ``--frontier`` search) and the export command.

    Returns:
        How many requested trials have ended (finished, stopped early, diverged or failed, as Tune recorded), and
        how many trials finished at least one epoch.
    """
    records = load_experiment(settings.experiment_path)
    reference = load_reference(settings.experiment_path)
    df = trials_table(records, reference)
    print("\n" + render(df, "table"))
    ended = sum(r.ended for r in records)
    trained = sum(not r.history.empty and r.status != "failed" for r in records)
    metric = records[0].metric if records else default("metric")
    if any(r.best_row is not None and r.status in RANKED and r.over_budget for r in records):
        print(f"over budget (never the best, off the frontier): "
              f"{sum(bool(r.over_budget) for r in records)} trial(s)")
    if any(r.best_row is not None and r.status in RANKED and not r.over_budget for r in records):
        best = df[df.trial_id == best_record(records).trial_id].iloc[0]  # the trial `export` takes
        print("\n" + describe_best(best, metric))
        if test_scores:
            print(test_score_line(test_scores, metric, best[f"best_{metric}"]))
            adapt = settings.base.data.adaptation_folder if hasattr(settings, "base") else None
            if adapt:
                print(f"  after BatchNorm statistics re-estimated on the images of {adapt} (AdaBN; the model file "
                      "keeps them)")
        agreement = rank_agreement(best_scores(records))
        if agreement is not None:
            print(describe_agreement(agreement))
        if reference is not None:
            print(f"full supervision (dense masks, the best trial's lr, epochs and seeds): val F1 "
                  f"{reference['val_f1']:.4f}; the best trial reaches {best['f1_vs_full']:.3f}x of it")
        if getattr(settings, "frontier", False):
            print("\n" + render_frontier(df, metric, "table", DEFAULT_TARGET, reference))
        print(f"export it:  pointtune export {settings.experiment_path} --out best_model.pt")
    print_tensorboard_hint(settings.experiment_path)
    return ended, trained


def print_tensorboard_hint(experiment_path: str) -> None:
    """The command that shows the search's TensorBoard files (``search/launch/tensorboard.py``), when it wrote any."""
    # with Ray's TensorBoard logger: loaded once a search has run, not for `results`
    from search.launch.tensorboard import TENSORBOARD_DIR, tensorboard_dir

    local = tensorboard_dir(experiment_path)
    if not Path(local).is_dir():
        return
    copied = f" (copied to {experiment_path}/{TENSORBOARD_DIR})" if is_uri(experiment_path) else ""
    print(f"curves per epoch and HPARAMS of every trial:  tensorboard --logdir {shlex.quote(local)}{copied}")

"""``search.results.charts.trial_figures``: a trial's curves and per-class bars, read from the Figure."""

from __future__ import annotations

import pandas as pd

from search.results.charts.trial_figures import per_class_figure, trial_curves_figure


def test_train_and_validation_loss_and_accuracy_with_the_best_epoch_marked() -> None:
    curves = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.5], "val_loss": [0.9, 0.7, 0.8],
                           "train_oa": [0.5, 0.7, 0.8], "val_oa": [0.6, 0.75, 0.7]})
    fig = trial_curves_figure("t1", curves, best_epoch=2)
    loss, acc = fig.axes
    assert (loss.get_ylabel(), acc.get_ylabel(), loss.get_xlabel()) == ("loss", "accuracy", "epoch")
    labels = [line.get_label() for line in loss.get_lines()]
    assert labels == ["train (points)", "validation (dense)", "best epoch 2"]
    assert list(acc.get_lines()[1].get_ydata()) == [0.6, 0.75, 0.7]
    assert list(loss.get_lines()[2].get_xdata()) == [2, 2], "a vertical line at the best epoch"
    assert "Trial t1" in fig.get_suptitle()


def test_a_trial_without_training_accuracy_draws_what_it_has() -> None:
    fig = trial_curves_figure("t2", pd.DataFrame({"epoch": [1], "val_loss": [0.4]}))
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 0]


def test_per_class_bars_one_per_class_with_an_f1_its_value_written() -> None:
    rows = [{"class": "road", "f1": 0.75}, {"class": "car", "f1": None}, {"class": "water", "f1": 0.5}]
    ax = per_class_figure(rows, "Per-class F1").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["water", "road"], "car has no F1; the first on top"
    assert [p.get_width() for p in ax.patches] == [0.5, 0.75]
    assert [t.get_text() for t in ax.texts] == ["0.500", "0.750"] and ax.get_xlabel() == "F1"
    empty = per_class_figure([{"class": "car", "f1": None}], "none").axes[0]
    assert [t.get_text() for t in empty.texts] == ["no class has an F1"] and not empty.patches

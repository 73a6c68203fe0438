"""``search.results.charts.data``: each chart's data from hand-made records and trials tables, the expected values
worked out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from search.results.charts.data import (
    f1_metric,
    frontier_data,
    parallel_data,
    per_class,
    score_curves,
    settings_panels,
    trial_curves,
)

NAN = math.nan


def table() -> pd.DataFrame:
    """Four trials: b the best (0.8 at 20 clicks per image), c beaten by b on both axes, d diverged (no score)."""
    return pd.DataFrame({"trial_id": ["a", "b", "c", "d"], "status": ["finished", "finished", "stopped early",
                                                                      "diverged"],
                         "mode": ["density"] * 4, "lr": [1e-4, 1e-3, 1e-2, 5e-2], "density": [0.01, 0.02, 0.04, 0.04],
                         "epochs": [2, 2, 2, 2], "clicks_per_image": [10.0, 20.0, 40.0, 40.0],
                         "best_val_f1": [0.5, 0.8, 0.7, NAN]})


def record(trial_id: str, status: str, **history: list) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, status=status, history=pd.DataFrame(history))


def test_the_f1_that_goes_with_a_metric() -> None:
    assert f1_metric("val_miou") == "val_f1" and f1_metric("val_f1") == "val_f1"
    assert f1_metric("val_clicks_miou") == "val_clicks_f1" and f1_metric("val_clicks_f1") == "val_clicks_f1"


def test_score_curves_keep_the_epochs_with_a_score() -> None:
    records = [record("a", "finished", epoch=[1, 2, 3], val_f1=[0.2, NAN, 0.6]),
               record("b", "failed", epoch=[], val_f1=[]), record("c", "running", epoch=[1], val_miou=[0.3])]
    curves = score_curves(records, "val_f1")
    assert [(c.trial_id, c.status, c.epoch, c.value) for c in curves] == [("a", "finished", [1, 3], [0.2, 0.6])], \
        "b reported no epoch, c no F1; a's epoch 2 has none"


def test_settings_panels_one_per_setting_that_varies() -> None:
    panels = {p.param: p for p in settings_panels(table(), "val_f1")}
    assert set(panels) == {"lr", "density", "clicks_per_image"}, "no per-object clicks in the table"
    lr = panels["lr"]
    assert lr.log and lr.label == "learning rate"
    assert lr.points.to_dict("list") == {"x": [1e-4, 1e-3, 1e-2], "y": [0.5, 0.8, 0.7], "trial_id": ["a", "b", "c"],
                                         "status": ["finished", "finished", "stopped early"]}, "d has no score"
    same = table().assign(density=0.02)
    assert "density" not in {p.param for p in settings_panels(same, "val_f1")}, "one density: no panel"
    assert settings_panels(table().iloc[:1], "val_f1") == [], "one trial: nothing to compare"


def test_the_frontier_its_front_target_and_reference() -> None:
    f = frontier_data(table(), "val_f1", 0.95, {"val_f1": 0.9})
    assert f.points["trial_id"].tolist() == ["a", "b", "c"], "d diverged"
    assert f.front["trial_id"].tolist() == ["a", "b"], "c: more clicks than b and a lower score"
    assert f.threshold == pytest.approx(0.95 * 0.8) and f.target_trial == "b"
    assert f.reference == 0.9 and f.points["series"].unique().tolist() == ["density"]
    assert "20" in f.statements[0] and "trial b" in f.statements[0]
    assert "full supervision" in f.statements[1], "0.95 x 0.9 = 0.855: no trial reaches it"
    assert frontier_data(table().iloc[:1], "val_f1") is None, "one scored trial: no frontier"


def test_a_trials_train_and_validation_curves() -> None:
    r = record("a", "finished", epoch=[1, 2], train_loss=[1.0, 0.5], val_loss=[0.9, 0.7], val_oa=[0.6, 0.8],
               val_f1=[0.4, 0.5])
    assert trial_curves(r).columns.tolist() == ["epoch", "train_loss", "val_loss", "val_oa"], "no train_oa reported"
    assert trial_curves(record("b", "failed")).empty


def test_per_class_scores_of_one_epoch() -> None:
    row = {"val_f1": 0.6, "val_f1_road": 0.7, "val_iou_road": 0.5, "val_precision_road": 0.6,
           "val_recall_road": 0.8, "val_f1_car": NAN, "val_iou_car": NAN, "test_f1_road": 0.1}
    assert per_class(row) == [{"class": "road", "f1": 0.7, "iou": 0.5, "precision": 0.6, "recall": 0.8},
                              {"class": "car", "f1": None, "iou": None, "precision": None, "recall": None}]
    assert per_class(row, "test") == [{"class": "road", "f1": 0.1, "iou": None, "precision": None, "recall": None}]
    assert per_class(None) == []


def test_parallel_coordinates_scale_each_axis_to_its_range() -> None:
    p = parallel_data(table(), "val_f1", best_id="b")
    assert p.axes == ["learning rate", "density", "f1 (best)"], "epochs do not vary: no axis"
    lines = p.lines.set_index("trial_id")
    # lr 1e-4, 1e-3, 1e-2 and density 0.01, 0.02, 0.04 on log axes: halfway for b; f1 0.5, 0.8, 0.7
    assert lines.loc["b", "y"] == pytest.approx([0.5, 0.5, 1.0]) and lines.loc["c", "y"] == pytest.approx(
        [1.0, 1.0, 2 / 3])
    assert lines["best"].tolist() == [False, True, False]
    assert p.ends == [("0.0001", "0.01"), ("0.01", "0.04"), ("0.5", "0.8")]
    assert parallel_data(table().assign(lr=1e-3, density=0.02), "val_f1", None) is None, "nothing varies"

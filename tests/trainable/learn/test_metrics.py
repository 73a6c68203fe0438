from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainable.config import IGNORE_INDEX
from trainable.learn.metrics import ConfusionMatrix, metrics_from_confusion

NAMES = ("a", "b", "c", "d")


def test_hand_worked_confusion_matrix() -> None:
    # rows = truth, cols = prediction; class c is absent from truth and prediction; d is predicted once, never true
    cm = np.array([[5, 1, 0, 0],
                   [2, 3, 0, 1],
                   [0, 0, 0, 0],
                   [0, 0, 0, 0]])
    m = metrics_from_confusion(cm, NAMES)
    assert m["val_oa"] == pytest.approx(8 / 12)
    # a: tp 5 fp 2 fn 1 | b: tp 3 fp 1 fn 3 | d: tp 0 fp 1 fn 0
    assert m["val_f1_a"] == pytest.approx(10 / 13) and m["val_f1_b"] == pytest.approx(6 / 10)
    assert m["val_f1_d"] == 0.0 and math.isnan(m["val_f1_c"])
    assert m["val_precision_a"] == pytest.approx(5 / 7) and m["val_recall_b"] == pytest.approx(3 / 6)
    assert m["val_iou_a"] == pytest.approx(5 / 8) and m["val_iou_b"] == pytest.approx(3 / 7)
    # the means average the classes present in the truth (a, b): d, predicted once but never true, adds no zero
    assert m["val_f1"] == pytest.approx((10 / 13 + 6 / 10) / 2)
    assert m["val_miou"] == pytest.approx((5 / 8 + 3 / 7) / 2)
    assert m["val_precision"] == pytest.approx((5 / 7 + 3 / 4) / 2)
    assert m["val_recall"] == pytest.approx((5 / 6 + 3 / 6) / 2)


def test_one_stray_pixel_of_an_absent_class_costs_one_pixel_not_a_class() -> None:
    clean = np.array([[50, 0, 0], [0, 50, 0], [0, 0, 0]])
    stray = np.array([[49, 0, 1], [0, 50, 0], [0, 0, 0]])  # one pixel of a predicted as c, which is never true
    before, after = metrics_from_confusion(clean, NAMES[:3]), metrics_from_confusion(stray, NAMES[:3])
    assert before["val_f1"] == 1.0
    assert after["val_f1"] == pytest.approx((2 * 49 / (2 * 49 + 1) + 1) / 2), "the error shows in a's F1 only"
    assert after["val_f1"] > 0.99 and after["val_f1_c"] == 0.0


def test_excluded_classes_leave_the_macro_mean() -> None:
    cm = np.array([[4, 0], [4, 0]])
    m = metrics_from_confusion(cm, ("land", "clutter"), exclude=(1,))
    assert m["val_f1"] == pytest.approx(2 * 4 / (2 * 4 + 4)) and m["val_f1_clutter"] == 0.0
    assert m["val_oa"] == 0.5


def test_update_skips_ignored_pixels_and_accumulates() -> None:
    cm = ConfusionMatrix(3)
    target = torch.tensor([[0, 1, IGNORE_INDEX], [2, 2, 1]])
    pred = torch.tensor([[0, 2, 1], [2, 0, 1]])
    cm.update(pred, target)
    cm.update(pred, target)
    expected = np.array([[2, 0, 0], [0, 2, 2], [2, 0, 2]])
    assert np.array_equal(cm.matrix.numpy(), expected)
    assert cm.compute(("x", "y", "z"), prefix="train", per_class=False).keys() == {
        "train_oa", "train_precision", "train_recall", "train_f1", "train_miou"}

"""Pseudo-labels on hand-made arrays: the threshold, no-data, clicks over pseudo-labels, what is counted. No model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainable.config import IGNORE_INDEX
from trainable.data.node_cache import NodeCache, key_of
from trainable.labels.clicks import clicks_of
from trainable.learn.pseudo import (
    BINS,
    PseudoImage,
    PseudoLabelled,
    class_thresholds,
    confident,
    image_stats,
    weights_key,
)

N = IGNORE_INDEX  # no label

# (C=3, 1, 4) probabilities: a sure pixel, one exactly at 0.8, one just below, one sure but on no-data
PROBS = np.array([[[0.90, 0.10, 0.10, 0.05]],
                  [[0.05, 0.80, 0.79, 0.05]],
                  [[0.05, 0.10, 0.11, 0.90]]], np.float32)
VALID = np.array([[True, True, True, False]])


@pytest.mark.parametrize("threshold, expected", [
    (0.8, [[0, 1, N, N]]),   # at the threshold: kept; below it: not; on no-data: never
    (0.5, [[0, 1, 1, N]]),
    (0.95, [[N, N, N, N]]),
    (0.1, [[0, 1, 1, N]]),
])
def test_only_the_top_class_at_or_above_the_threshold_on_pixels_holding_data(threshold: float,
                                                                              expected: list) -> None:
    assert confident(PROBS, threshold, VALID).tolist() == expected


def test_each_class_may_have_a_threshold_of_its_own() -> None:
    assert confident(PROBS, [0.95, 0.8, 0.5], VALID).tolist() == [[N, 1, N, N]]
    assert confident(PROBS, [0.9, 0.79, 0.95], VALID).tolist() == [[0, 1, 1, N]]


def _counts(probs: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C, BINS) counts of the pixels holding data by top class and top probability, as ``confidence_counts``."""
    counts = np.zeros((probs.shape[0], BINS), np.int64)
    top = np.minimum((probs.max(0)[valid] * BINS).astype(int), BINS - 1)
    np.add.at(counts, (probs.argmax(0)[valid], top), 1)
    return counts


def test_per_class_thresholds_keep_some_pixels_of_every_class_predicted() -> None:
    """A common class the model is sure of, and a rare one it never is: one threshold starves the rare class, the
    per-class thresholds keep at least the share asked of it and leave the sure class at the threshold."""
    rng = np.random.default_rng(0)
    probs = np.zeros((3, 40, 40), np.float32)
    probs[0] = rng.uniform(0.92, 0.99, (40, 40))  # class 0 everywhere, sure
    rare = np.zeros((40, 40), bool)
    rare[:5, :8] = True  # 40 pixels of class 2, at 0.40-0.60
    probs[2][rare] = rng.uniform(0.40, 0.60, rare.sum())
    probs[0][rare] = (1 - probs[2][rare]) * 0.6
    probs[1] = 1 - probs[0] - probs[2]
    valid = np.ones((40, 40), bool)
    assert set(np.unique(confident(probs, 0.9, valid))) == {0, N}, "one threshold should starve the rare class"
    thresholds = class_thresholds(_counts(probs, valid), 0.9, 0.25)
    assert thresholds[0] == 0.9 and thresholds[1] == 0.9  # sure already; predicted nowhere
    labels = confident(probs, thresholds, valid)
    assert set(np.unique(labels)) == {0, 2, N}
    assert (labels == 2).sum() >= 0.25 * rare.sum() and (labels == 2).sum() < rare.sum()
    assert (labels[rare] != N).mean() == pytest.approx(0.25, abs=0.05)  # about the share asked, the surest
    assert probs[2][labels == 2].min() >= probs[2][rare & (labels == N)].max()
    assert (class_thresholds(_counts(probs, valid), 0.9, 1.0)[2] <= probs[2][rare].min())


def _npy(tmp_path: Path, array: np.ndarray):
    (tmp_path / "cache").mkdir(exist_ok=True)
    return NodeCache(tmp_path / "cache").cached_npy(key_of(array.tobytes().hex()), lambda: array)


def test_clicks_win_over_pseudo_labels_on_the_same_pixel(tmp_path: Path) -> None:
    pseudo = np.full((4, 5), 1, np.uint8)
    pseudo[0, 0] = N  # not confident there
    clicks = clicks_of(np.array([0, 7, 19]), np.array([3, 2, 1]), 4, 5)  # (0,0), (1,2), (3,4)
    labelled = PseudoLabelled(_npy(tmp_path, pseudo), clicks)
    window = labelled.window(0, 0, 4, 5)
    assert window[0, 0] == 3 and window[1, 2] == 2 and window[3, 4] == 1  # the clicks, wherever they are
    others = np.ones((4, 5), bool)
    others[0, 0] = others[1, 2] = others[3, 4] = False
    assert (window[others] == 1).all()
    assert labelled.window(1, 1, 2, 3).tolist() == [[1, 2, 1], [1, 1, 1]]  # a window of it: the same rule
    alone = PseudoLabelled(_npy(tmp_path, pseudo), None)  # an image without clicks: its pseudo-labels only
    assert (alone.window(0, 0, 4, 5) == pseudo).all()


class _Reader:
    def __init__(self, array: np.ndarray):
        self.array = array

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        return self.array[y:y + h, x:x + w]


def test_stats_count_pseudo_labels_beside_the_clicks_and_their_agreement_with_the_mask(tmp_path: Path) -> None:
    pseudo = np.array([[0, 0, 1, N], [2, 2, N, N]], np.uint8)
    valid = np.array([[True, True, True, False], [True, True, True, True]])
    mask = np.array([[0, 1, 1, N], [2, 0, 1, 1]], np.uint8)
    clicks = clicks_of(np.array([0]), np.array([2]), 2, 4)  # (0,0) is a click of class 2: not a pseudo-label
    image = PseudoImage(None, _Reader(valid), (2, 4), _Reader(mask), "key")
    stats = image_stats(_npy(tmp_path, pseudo), image, clicks, 3)
    assert (stats.labelled, stats.valid, stats.images) == (4, 7, 1)
    assert stats.class_counts.tolist() == [1, 1, 3], "the stage's labels per class: the click wins at (0,0)"
    assert (stats.agree, stats.checked) == (2, 4)  # (0,2) and (1,0) agree; (0,1) and (1,1) do not
    assert stats.fraction == pytest.approx(4 / 7) and stats.accuracy == pytest.approx(0.5)
    unmasked = image_stats(_npy(tmp_path, pseudo), PseudoImage(None, _Reader(valid), (2, 4), None, "key"), None, 3)
    assert unmasked.labelled == 5 and np.isnan(unmasked.accuracy)


def test_the_weights_key_changes_with_any_weight() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    state = model.state_dict()
    key = weights_key(state)
    assert weights_key({k: v.clone() for k, v in state.items()}) == key
    changed = {k: v.clone() for k, v in state.items()}
    changed["0.bias"][0] += 1e-6
    assert weights_key(changed) != key

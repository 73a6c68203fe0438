"""The two strategies that choose per image rather than per block, on hand-made probability maps: pixelpick draws
at random among the image's 5 % most uncertain pixels only, also when the image comes in several blocks; the error
oracle clicks on wrong pixels only, inside their error region, the model's most confident errors first, and elsewhere
only when those run out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from search.model.click_scores import margin_scores
from search.model.error_oracle import INTERIOR, interior_errors
from search.model.pixelpick import LEVELS, key_front, levels, top_level
from search.model.suggest_image import ImageCandidates
from trainable.config import IGNORE_INDEX

H, W = 40, 50


def _uncertain_map(seed: int = 0) -> np.ndarray:
    """(3, H, W) probabilities whose margins 1 - (p1 - p2) are all different (0.01 .. 0.99), shuffled over the
    image; the likeliest class varies with the pixel."""
    rng = np.random.default_rng(seed)
    gap = rng.permutation(np.linspace(0.01, 0.99, H * W)).reshape(H, W)
    probs = np.zeros((3, H, W))
    first = rng.integers(0, 3, (H, W))
    second = (first + 1) % 3
    np.put_along_axis(probs, first[None], ((1 + gap) / 2)[None], 0)
    np.put_along_axis(probs, second[None], ((1 - gap) / 2)[None], 0)
    return probs


def _top_share(probs: np.ndarray, valid: np.ndarray, share: float = 0.05) -> set[tuple[int, int]]:
    _, score = margin_scores(probs)
    n = math.ceil(share * int(valid.sum()))
    flat = np.flatnonzero(valid.ravel())
    best = flat[np.argsort(-score.ravel()[flat], kind="stable")[:n]]
    return {(int(r), int(c)) for r, c in zip(*np.divmod(best, W), strict=True)}


def _gather(strategy: str, probs: np.ndarray, valid: np.ndarray, k: int, radius: float, seed: int,
            split: int = 1, truth: np.ndarray | None = None) -> ImageCandidates:
    """The image's candidates, added in ``split`` x ``split`` blocks (each with its own seeded draw)."""
    image = ImageCandidates(strategy, radius, k, H * W)
    ys, xs = np.array_split(np.arange(H), split), np.array_split(np.arange(W), split)
    for by in ys:
        for bx in xs:
            y, x, bh, bw = int(by[0]), int(bx[0]), by.size, bx.size
            image.add(probs[:, y:y + bh, x:x + bw], valid[y:y + bh, x:x + bw],
                      np.random.default_rng((seed, y, x)), (y, x),
                      truth=None if truth is None else truth[y:y + bh, x:x + bw])
    return image


def test_levels_and_threshold_count_the_top_share() -> None:
    score = np.linspace(0, 1, 1000)
    counts = np.bincount(levels(score), minlength=LEVELS)
    threshold = top_level(counts)
    assert int((levels(score) >= threshold).sum()) == 50, "exactly 5 % of 1000 distinct scores"
    assert top_level(np.zeros(LEVELS, np.int64)) == LEVELS, "nothing counted: nothing qualifies"


def test_key_front_keeps_per_group_every_pixel_no_other_beats_on_both() -> None:
    group = np.array([0, 0, 0, 0, 1])
    level = np.array([5, 4, 3, 2, 0])
    key = np.array([0.2, 0.5, 0.1, 0.9, 0.3])
    # (5, .2) kept; (4, .5) kept; (3, .1) beaten by both; (2, .9) kept; the other group's only pixel kept
    assert sorted(key_front(group, level, key).tolist()) == [0, 1, 3, 4]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_pixelpick_pool_is_exactly_the_top_5_percent_of_the_image(split: int) -> None:
    probs = _uncertain_map()
    valid = np.ones((H, W), bool)
    valid[:, :5] = False  # an ignored strip: not counted, never offered
    pool = _gather("pixelpick", probs, valid, 5, 0.0, seed=0, split=split).pool()
    top = _top_share(probs, valid)
    assert {(int(r), int(c)) for r, c in zip(pool.row, pool.col, strict=True)} == top


@pytest.mark.parametrize("split", [1, 2])
def test_pixelpick_draws_only_among_the_top_5_percent_and_at_random(split: int) -> None:
    probs = _uncertain_map(1)
    valid = np.ones((H, W), bool)
    top = _top_share(probs, valid)
    _, score = margin_scores(probs)
    most = {tuple(map(int, np.unravel_index(i, (H, W)))) for i in np.argsort(-score.ravel())[:8]}
    drawn: set[tuple[int, int]] = set()
    for seed in range(10):
        picks = _gather("pixelpick", probs, valid, 8, 3.0, seed, split).choose()
        chosen = {(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)}
        assert len(chosen) == 8 and chosen <= top, "every click among the image's 5 % most uncertain pixels"
        drawn |= chosen
    assert len(drawn) > 40 and not drawn <= most, "a draw over the pool, not the 8 most uncertain pixels"


def test_pixelpick_top_5_percent_is_of_the_image_not_of_each_block() -> None:
    """The left half sure, the right half doubtful: the image's top 5 % lies on the right only."""
    probs = _uncertain_map(2)
    probs[:, :, : W // 2] = 0
    probs[0, :, : W // 2] = 1.0
    valid = np.ones((H, W), bool)
    for seed in range(5):
        picks = _gather("pixelpick", probs, valid, 10, 2.0, seed, split=2).choose()
        assert len(picks) == 10 and {(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)} <= \
            _top_share(probs, valid)


def _oracle_map() -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], float]]:
    """Class 0 predicted everywhere at confidence 0.6 .. 0.99; truth 1 on 30 error patches of 5 x 5 pixels, 3
    pixels apart: each patch's centre is its one pixel ``INTERIOR`` (2) pixels inside it, the errors offered."""
    assert INTERIOR == 2, "the patches are sized for an interior of 2 pixels"
    rng = np.random.default_rng(3)
    sure = rng.permutation(np.linspace(0.6, 0.99, H * W)).reshape(H, W)
    probs = np.stack([sure, 1 - sure, np.zeros((H, W))])
    truth = np.zeros((H, W), np.int64)
    centres = [(r, c) for r in range(4, H, 8) for c in range(4, W, 8)]
    for r, c in centres:
        truth[r - 2:r + 3, c - 2:c + 3] = 1
    confidence = {(r, c): float(sure[r, c]) for r, c in centres}
    return probs, truth, confidence


def test_interior_errors_are_inside_their_region_and_a_block_edge_is_no_rim() -> None:
    wrong = np.zeros((9, 9), bool)
    wrong[2:7, 2:7] = True  # a 5 x 5 patch: its centre only is 2 pixels inside
    assert np.argwhere(interior_errors(wrong)).tolist() == [[4, 4]]
    edge = np.zeros((6, 6), bool)
    edge[:3, :3] = True  # a patch cut by the block's corner: it may go on in the next block
    assert np.argwhere(interior_errors(edge)).tolist() == [[0, 0]]
    assert interior_errors(wrong, depth=0) is wrong


@pytest.mark.parametrize("split", [1, 2])
def test_oracle_clicks_only_on_wrong_pixels_most_confident_first(split: int) -> None:
    probs, truth, confidence = _oracle_map()
    picks = _gather("oracle", probs, np.ones((H, W), bool), 10, 0.0, 0, split, truth).choose()
    chosen = [(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)]
    assert all(p in confidence for p in chosen), "every click on a pixel the model gets wrong, inside its patch"
    ranked = sorted(confidence, key=confidence.get, reverse=True)
    assert chosen == ranked[:10], "the ten most confident errors, most confident first"


def test_oracle_fills_with_right_pixels_only_when_the_errors_run_out() -> None:
    probs, truth, confidence = _oracle_map()
    valid = truth != IGNORE_INDEX
    picks = _gather("oracle", probs, valid, 40, 0.0, 0, 1, truth).choose()
    chosen = [(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)]
    assert len(chosen) == 40 and set(chosen[:30]) == set(confidence), "the 30 interior errors first, then 10 others"
    assert not set(chosen[30:]) & set(confidence)


def test_oracle_never_clicks_an_ignored_pixel_even_a_wrong_looking_one() -> None:
    probs, truth, confidence = _oracle_map()
    worst = max(confidence, key=confidence.get)
    truth[worst] = IGNORE_INDEX
    picks = _gather("oracle", probs, truth != IGNORE_INDEX, 5, 0.0, 0, 1, truth).choose()
    assert worst not in {(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)}


def test_oracle_takes_its_errors_in_rounds_over_their_true_classes_and_reports_the_predicted_one() -> None:
    """Class 0 predicted everywhere; the most confident errors are all truly class 1, a few less confident ones
    truly class 2: a round of 4 clicks takes 2 of each (one per missed class before a second of any), each the most
    confident error of its class still free, and every click's class is the model's (0), as in suggest's file."""
    probs, truth, confidence = _oracle_map()
    centres = sorted(confidence, key=confidence.get)
    for r, c in centres[:3]:  # the three least confident errors: truly class 2
        truth[r - 2:r + 3, c - 2:c + 3] = 2
    picks = _gather("oracle", probs, np.ones((H, W), bool), 4, 0.0, 0, 2, truth).choose()
    chosen = [(int(r), int(c)) for r, c in zip(picks.row, picks.col, strict=True)]
    ones = sorted(centres[3:], key=confidence.get, reverse=True)
    twos = sorted(centres[:3], key=confidence.get, reverse=True)
    assert sorted(chosen) == sorted(ones[:2] + twos[:2]), "two missed classes: two clicks on each"
    assert picks.cls.tolist() == [0, 0, 0, 0], "the predicted class, not the true one"

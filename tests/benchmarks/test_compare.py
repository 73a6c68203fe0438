"""benchmarks/compare.py: the one way the quality benchmarks compare two methods (paired per-image F1 over seeds, a
two-level bootstrap interval, a verdict that can say "no difference detectable")."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compare import VERDICTS, arm_mean, difference, gap_closure, mean_f1, paired, per_image_f1, seed_median, shift

IMAGES = [f"img{i:02d}" for i in range(12)]


def _arm(base: np.ndarray, shift: float = 0.0, noise: float = 0.0, seed: int = 0) -> dict[int, dict[str, float]]:
    """Per seed and image: a shared per-image difficulty and seed effect (``base``), plus a shift and noise of its
    own."""
    rng = np.random.default_rng(seed)
    return {s: {im: float(base[s, j] + shift + rng.normal(0, noise)) for j, im in enumerate(IMAGES)}
            for s in range(base.shape[0])}


@pytest.fixture
def base() -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.uniform(0.3, 0.8, size=(1, 12)) + rng.normal(0, 0.08, size=(3, 1))  # images, and seeds apart


def test_a_clear_gain_is_better_and_its_interval_holds_it(base: np.ndarray) -> None:
    gain = difference(_arm(base, 0.05, 0.01, seed=1), _arm(base, 0.0, 0.01, seed=2))
    assert gain.verdict == "better" and gain.low > 0 and gain.low < 0.05 < gain.high
    assert gain.units == 36 and gain.seeds == 3 and gain.p_wilcoxon < 0.01
    assert difference(_arm(base, 0.0, 0.01, seed=2), _arm(base, 0.05, 0.01, seed=1)).verdict == "worse"


def test_noise_alone_is_no_difference_detectable(base: np.ndarray) -> None:
    same = difference(_arm(base, 0.0, 0.05, seed=3), _arm(base, 0.0, 0.05, seed=4))
    assert same.verdict == VERDICTS[2] and same.low < 0 < same.high


def test_seed_noise_widens_the_interval_a_mean_alone_would_hide(base: np.ndarray) -> None:
    """A difference that is all in one seed: the two-level bootstrap draws seeds, so it does not call it."""
    a, b = _arm(base), _arm(base)
    for im in IMAGES:
        a[0][im] += 0.15  # one lucky seed
    assert difference(a, b).verdict == VERDICTS[2]


def test_the_gap_closure_is_where_the_arm_lies_between_floor_and_ceiling(base: np.ndarray) -> None:
    floor, ceiling = _arm(base, 0.0, 0.01, seed=5), _arm(base, 0.10, 0.01, seed=6)
    half = gap_closure(_arm(base, 0.05, 0.01, seed=7), floor, ceiling)
    assert half.mean == pytest.approx(0.5, abs=0.1) and 0 < half.low < half.mean < half.high < 1
    assert gap_closure(floor, floor, ceiling).mean == pytest.approx(0.0)


def test_an_arms_mean_interval_holds_its_mean_and_widens_with_seed_noise(base: np.ndarray) -> None:
    quiet = mean_f1(_arm(base, 0.0, 0.01, seed=8))
    assert quiet.low < quiet.mean < quiet.high and quiet.units == 36 and quiet.seeds == 3
    assert quiet.mean == pytest.approx(float(np.mean(base)), abs=0.01)
    lucky = _arm(base, 0.0, 0.01, seed=8)
    for im in IMAGES:
        lucky[0][im] += 0.3  # one seed far off: the seeds drawn with replacement widen the interval
    assert mean_f1(lucky).high - mean_f1(lucky).low > 1.5 * (quiet.high - quiet.low)


def _elsewhere(arm: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
    """The same scores under other image names: an arm scored on another site's images."""
    return {s: {f"home{i}": v for i, v in enumerate(images.values())} for s, images in arm.items()}


def test_a_drop_between_two_sites_is_a_shift_with_its_interval(base: np.ndarray) -> None:
    """In-site against cross-site: the same model on different images; no image pairs, the seeds do."""
    home, away = _elsewhere(_arm(base, 0.10, 0.02, seed=8)), _arm(base, 0.0, 0.02, seed=9)
    drop = shift(home, away)
    assert drop.verdict == "better" and 0 < drop.low < 0.10 < drop.high and drop.mean == pytest.approx(0.10, abs=0.02)
    assert drop.units == 72 and drop.seeds == 3
    assert shift(_elsewhere(_arm(base, 0.0, 0.05, seed=10)), away).verdict == VERDICTS[2]
    with pytest.raises(ValueError, match="no seed in common"):
        shift(home, {7: away[0]})


def test_a_gap_closure_whose_ceiling_is_on_other_images(base: np.ndarray) -> None:
    """Recovery of a cross-site drop: the arm and the floor on the cross-site images (paired), the in-site ceiling on
    its own."""
    floor, ceiling = _arm(base, 0.0, 0.01, seed=5), _elsewhere(_arm(base, 0.10, 0.01, seed=6))
    half = gap_closure(_arm(base, 0.05, 0.01, seed=7), floor, ceiling)
    assert half.mean == pytest.approx(0.5, abs=0.1) and 0 < half.low < half.mean < half.high < 1.5
    assert half.units == 36 and half.seeds == 3
    assert gap_closure(floor, floor, ceiling).mean == pytest.approx(0.0)
    none = gap_closure(_arm(base, 0.0, 0.01, seed=11), floor, ceiling)
    assert none.low < 0 < none.high


def test_arms_are_compared_on_what_they_share_only(base: np.ndarray) -> None:
    a, b = _arm(base), _arm(base)
    del b[2]
    seeds, images, (fa, fb) = paired(a, b)
    assert seeds == [0, 1] and images == IMAGES and fa.shape == fb.shape == (2, 12)
    with pytest.raises(ValueError, match="no test image in common"):
        paired(a, {0: {"other": 0.5}})
    mean, spread = arm_mean(a)
    assert 0.3 < mean < 0.9 and spread > 0


def test_each_test_image_of_a_real_model_is_scored_alone(train_dir: Path, demo_dir: Path) -> None:
    from search.model.source import resolve_model

    scores = per_image_f1(train_dir, demo_dir)
    assert sorted(scores) == sorted(resolve_model(train_dir).payload["split"]["test"])
    assert all(0.0 <= f <= 1.0 for f in scores.values())


INF = float("inf")


def test_a_median_over_seeds_has_an_interval_of_seeds_drawn() -> None:
    spent = {0: 10.0, 1: 12.0, 2: 8.0, 3: 20.0, 4: 14.0}
    median = seed_median(spent)
    assert median.mean == 12.0 and median.seeds == 5
    assert 8.0 <= median.low <= 12.0 <= median.high <= 20.0 and median.low < median.high
    one = seed_median({0: 7.0, 1: 9.0})
    assert one.mean == 8.0 and math.isnan(one.low) and one.verdict == VERDICTS[2]  # under 3 seeds: no interval


def test_a_figure_never_reached_counts_as_more_than_any() -> None:
    """A search that never reached the target needed more than its budget: the median moves up, never down."""
    assert seed_median({0: 10.0, 1: INF, 2: INF}).mean == INF
    assert seed_median({0: 10.0, 1: 12.0, 2: INF}).mean == 12.0
    assert seed_median({0: 10.0, 1: 12.0, 2: INF}).high == INF
    both_missed = seed_median({0: INF, 1: INF, 2: 20.0}, {0: INF, 1: 30.0, 2: 30.0})
    # per seed: 0 (neither got there), +inf, -10
    assert (both_missed.mean, both_missed.low, both_missed.high) == (0.0, -10.0, INF)


def test_a_paired_difference_over_seeds_is_better_only_where_every_seed_agrees() -> None:
    random = {s: 30.0 + s for s in range(5)}
    fewer = seed_median(random, {s: 10.0 + s for s in range(5)})  # 20 fewer at every seed
    assert fewer.verdict == "better" and fewer.p_wilcoxon == pytest.approx(0.0625)
    assert seed_median({s: 10.0 + s for s in range(5)}, random).verdict == "worse"
    one_loses = {**{s: 10.0 for s in range(4)}, 4: 40.0}
    mixed = seed_median(random, one_loses)
    assert mixed.mean > 0 and mixed.verdict == VERDICTS[2]
    assert seed_median(random, {1: 20.0, 3: 20.0, 9: 0.0}).seeds == 2  # only the seeds both arms have
    assert seed_median({0: 1.0, 1: float("nan"), 2: 3.0, 3: 5.0}).seeds == 3
    assert seed_median(random, random).p_wilcoxon == 1.0
    with pytest.raises(ValueError, match="in both arms"):
        seed_median(random, {9: 1.0})


def test_a_model_adapted_to_images_is_scored_on_the_same_images(train_dir: Path, demo_dir: Path) -> None:
    """``adapt_bn``: the model's BatchNorm statistics re-estimated on a folder first (as ``evaluate --adapt-bn``);
    on the images it was trained on, the scores barely move."""
    plain, adapted = per_image_f1(train_dir, demo_dir), per_image_f1(train_dir, demo_dir, adapt_bn=demo_dir)
    assert sorted(adapted) == sorted(plain) and all(0.0 <= f <= 1.0 for f in adapted.values())
    assert abs(np.mean(list(adapted.values())) - np.mean(list(plain.values()))) < 0.1

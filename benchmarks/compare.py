"""One way to compare methods, shared by every quality benchmark: the same held-out images for every arm, several
seeds, per-image F1 paired across arms, and a 95 % interval of the mean difference, so a verdict is "better",
"worse" or "no difference detectable at this budget", never a mean alone.

The unit of a comparison is an (seed, image) pair: arm A and arm B trained with the same seed (same first clicks,
same initialisation, same crops) and scored on the same test image. The interval comes from a two-level bootstrap:
seeds drawn with replacement, then images within each drawn seed, so that both the training noise between seeds
(on the Dubai sample, larger than most effects) and the spread between images widen it. A paired Wilcoxon
signed-rank p-value over the units is printed beside it, as a second opinion that assumes less.

A gap closure, ``(arm - floor) / (ceiling - floor)`` (where to click: random is the floor, the error oracle the
ceiling), is bootstrapped on the same draws, so its interval is that of the ratio. A ceiling scored on other images
than the arm and the floor (another site: in-site images against cross-site ones) is drawn on its own images within
the same drawn seeds; ``shift`` is the difference of two such arms, unpaired by image, paired by seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# per arm: seed -> image -> F1 (macro over the classes in the image's truth, as validation scores it)
ArmScores = Mapping[int, Mapping[str, float]]
BOOTSTRAP = 4000
VERDICTS = ("better", "worse", "no difference detectable at this budget")


@dataclass(frozen=True)
class Interval:
    """A mean (difference, or gap closure) with its 95 % bootstrap interval and the units it rests on."""

    mean: float
    low: float
    high: float
    units: int  # (seed, image) pairs
    seeds: int
    p_wilcoxon: float = math.nan

    @property
    def verdict(self) -> str:
        """better: the interval lies above zero; worse: below; else no difference detectable at this budget."""
        if self.low > 0:
            return VERDICTS[0]
        if self.high < 0:
            return VERDICTS[1]
        return VERDICTS[2]

    def text(self, digits: int = 3) -> str:
        """``+0.031 [+0.004, +0.058]``."""
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def paired(*arms: ArmScores) -> tuple[list[int], list[str], list[np.ndarray]]:
    """The seeds and images every arm has, and each arm's F1 as a (seeds, images) array on them.

    Raises:
        ValueError: no seed or no image in common (arms scored on different images cannot be paired).
    """
    seeds = sorted(set.intersection(*(set(a) for a in arms)))
    if not seeds:
        raise ValueError("the arms have no seed in common")
    images = sorted(set.intersection(*(set(a[s]) for a in arms for s in seeds)))
    if not images:
        raise ValueError("the arms have no test image in common: score them on the same images")
    return seeds, images, [np.array([[a[s][i] for i in images] for s in seeds], float) for a in arms]


def _draws(seeds: int, images: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two-level bootstrap indices: (n, seeds) seeds drawn, and (n, seeds, images) images within each."""
    return rng.integers(seeds, size=(n, seeds)), rng.integers(images, size=(n, seeds, images))


def _resampled_means(values: np.ndarray, draws: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    s, i = draws
    return np.nanmean(values[s[..., None], i], axis=(1, 2))


def difference(a: ArmScores, b: ArmScores, seed: int = 0, n: int = BOOTSTRAP) -> Interval:
    """Arm ``a`` against arm ``b``: the mean per-image F1 difference over paired (seed, image) units, its 95 %
    two-level bootstrap interval and a paired Wilcoxon p-value."""
    from scipy.stats import wilcoxon

    seeds, images, (fa, fb) = paired(a, b)
    diff = fa - fb
    means = _resampled_means(diff, _draws(len(seeds), len(images), n, np.random.default_rng(seed)))
    flat = diff[~np.isnan(diff)]
    p = float(wilcoxon(flat).pvalue) if np.any(flat != 0) else 1.0
    low, high = np.nanpercentile(means, [2.5, 97.5])
    return Interval(float(np.nanmean(diff)), float(low), float(high), int(flat.size), len(seeds), p)


def _common(*arms: ArmScores) -> list[int]:
    seeds = sorted(set.intersection(*(set(a) for a in arms)))
    if not seeds:
        raise ValueError("the arms have no seed in common")
    return seeds


def _own_images(arm: ArmScores, seeds: list[int]) -> np.ndarray:
    """An arm's F1 as a (seeds, images) array on its own images (those every one of these seeds scored)."""
    return paired({s: arm[s] for s in seeds})[2][0]


def _own_draws(values: np.ndarray, seed_draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Resampled means of an arm on its own images: the given seed draws, images drawn within each."""
    n, seeds = seed_draws.shape
    return _resampled_means(values, (seed_draws, rng.integers(values.shape[1], size=(n, seeds, values.shape[1]))))


def shift(a: ArmScores, b: ArmScores, seed: int = 0, n: int = BOOTSTRAP) -> Interval:
    """Mean F1 of ``a`` minus that of ``b`` where the two are scored on different images (one model on in-site and on
    cross-site images: the drop), with its 95 % interval: seeds drawn once for both, images within each arm's own."""
    seeds = _common(a, b)
    fa, fb = _own_images(a, seeds), _own_images(b, seeds)
    rng = np.random.default_rng(seed)
    draws = rng.integers(len(seeds), size=(n, len(seeds)))
    low, high = np.nanpercentile(_own_draws(fa, draws, rng) - _own_draws(fb, draws, rng), [2.5, 97.5])
    return Interval(float(np.nanmean(fa) - np.nanmean(fb)), float(low), float(high), int(fa.size + fb.size),
                    len(seeds))


def gap_closure(arm: ArmScores, floor: ArmScores, ceiling: ArmScores, seed: int = 0,
                n: int = BOOTSTRAP) -> Interval:
    """``(arm - floor) / (ceiling - floor)`` of the mean F1, with the interval of the ratio over the same draws
    (a draw where the ceiling is not above the floor is left out: the ratio means nothing there). A ceiling that
    shares no image with the arm and the floor (in-site against cross-site) is drawn on its own images, within the
    same drawn seeds."""
    seeds, images, (fa, ff) = paired(arm, floor)
    if not set(images) & {i for s in seeds if s in ceiling for i in ceiling[s]}:
        return _closure_elsewhere(arm, floor, ceiling, seed, n)
    seeds, images, (fa, ff, fc) = paired(arm, floor, ceiling)
    draws = _draws(len(seeds), len(images), n, np.random.default_rng(seed))
    gained, room = _resampled_means(fa - ff, draws), _resampled_means(fc - ff, draws)
    ok = room > 1e-9
    ratios = gained[ok] / room[ok]
    whole_room = float(np.nanmean(fc - ff))
    mean = float(np.nanmean(fa - ff)) / whole_room if whole_room > 1e-9 else math.nan
    low, high = (np.percentile(ratios, [2.5, 97.5]) if ratios.size else (math.nan, math.nan))
    return Interval(mean, float(low), float(high), int(fa.size), len(seeds))


def mean_f1(arm: ArmScores, seed: int = 0, n: int = BOOTSTRAP) -> Interval:
    """One arm's mean per-image F1 with its 95 % two-level bootstrap interval (seeds, then images within each): the
    "mean +- interval" of a table's row. Whether two arms differ is ``difference``'s to say, never two such
    intervals'."""
    seeds, images, (f,) = paired(arm)
    means = _resampled_means(f, _draws(len(seeds), len(images), n, np.random.default_rng(seed)))
    low, high = np.nanpercentile(means, [2.5, 97.5])
    return Interval(float(np.nanmean(f)), float(low), float(high), int(np.sum(~np.isnan(f))), len(seeds))


def _closure_elsewhere(arm: ArmScores, floor: ArmScores, ceiling: ArmScores, seed: int, n: int) -> Interval:
    """``gap_closure`` with a ceiling on other images: the gain paired by (seed, image); the room, the ceiling's mean
    on its own images less the floor's on the gain's drawn images; seeds drawn once for all three."""
    seeds = _common(arm, floor, ceiling)
    _, images, (fa, ff) = paired({s: arm[s] for s in seeds}, {s: floor[s] for s in seeds})
    fc = _own_images(ceiling, seeds)
    rng = np.random.default_rng(seed)
    draws = _draws(len(seeds), len(images), n, rng)
    gained = _resampled_means(fa - ff, draws)
    room = _own_draws(fc, draws[0], rng) - _resampled_means(ff, draws)
    ok = room > 1e-9
    whole_room = float(np.nanmean(fc) - np.nanmean(ff))
    mean = float(np.nanmean(fa - ff)) / whole_room if whole_room > 1e-9 else math.nan
    low, high = (np.percentile(gained[ok] / room[ok], [2.5, 97.5]) if ok.any() else (math.nan, math.nan))
    return Interval(mean, float(low), float(high), int(fa.size), len(seeds))


def arm_mean(arm: ArmScores) -> tuple[float, float]:
    """The arm's mean F1 over its (seed, image) units, and the spread of its per-seed means (max - min)."""
    per_seed = [float(np.mean(list(images.values()))) for images in arm.values()]
    return float(np.mean([f for images in arm.values() for f in images.values()])), max(per_seed) - min(per_seed)


def per_image_f1(model: str | Path, data_dir: str | Path, part: str = "test", fmt: str | None = None,
                 batch_size: int = 8, adapt_bn: str | Path | None = None) -> dict[str, float]:
    """Each image of the model's split ``part`` (or ``all``) scored alone, as validation scores (macro F1 over the
    classes in its truth): the units ``difference`` pairs. ``adapt_bn``: the model's BatchNorm statistics
    re-estimated on the images of that folder first (AdaBN, as ``evaluate --adapt-bn``)."""
    from torch.utils.data import DataLoader

    from search.model.adapt import adapted
    from search.model.model_data import index_for_model
    from search.model.predict import model_from_payload, normalizer_of_export
    from search.model.source import resolve_model, split_part_indices
    from trainable.data.tiles import GridTiles
    from trainable.inputs import image_sources, mask_sources, sizes
    from trainable.learn.loop import evaluate
    from trainable.trial import pick_device

    payload = resolve_model(model).payload
    if adapt_bn is not None:
        payload = adapted(payload, str(adapt_bn), "auto", batch_size)
    data = index_for_model(payload, str(data_dir), fmt, None, None, str(model), other_folders=False)
    device = pick_device("auto")
    net = model_from_payload(payload).to(device)
    scores = {}
    for i in split_part_indices(payload, data, part, str(model), str(data_dir)):
        tiles = GridTiles(image_sources(data, [i]), mask_sources(data, [i]), sizes(data, [i]),
                          normalizer_of_export(payload), int(payload["tile_size"]))
        result = evaluate(net, DataLoader(tiles, batch_size=batch_size), device, data.classes.num_classes)
        scores[data.entries[i].stem] = result.confusion.compute(data.classes.names, data.classes.excluded_indices,
                                                                "x")["x_f1"]
    return scores


def seed_median(a: Mapping[int, float], b: Mapping[int, float] | None = None, seed: int = 0,
                n: int = BOOTSTRAP) -> Interval:
    """For a figure each arm has once per seed rather than per image (the trial-epochs a search needed, the best F1
    it found): the median over seeds of ``a``, or with ``b`` of the paired difference ``a - b`` at the seeds both
    have (and its paired Wilcoxon p), with a 95 % interval of the median from seeds drawn with replacement
    (``Interval.mean`` holds the median).

    ``inf`` is a figure past the budget (never reached): more than any other, so a median may be ``inf``; where both
    arms are ``inf`` at a seed, neither got there and their difference there is 0. The interval's ends are medians
    the bootstrap drew (no interpolation). Over fewer than 3 seeds there is no interval (NaN ends, so no verdict
    but "no difference detectable"); with 5 seeds the interval of a median spans the lowest to the highest seed, so
    a paired difference is "better" only where every seed agrees (a two-sided sign test's p = 0.0625).

    Raises:
        ValueError: no seed with a figure (in both arms, with ``b``).
    """
    from scipy.stats import wilcoxon

    seeds = sorted(s for s in a if not math.isnan(a[s]) and (b is None or (s in b and not math.isnan(b[s]))))
    if not seeds:
        raise ValueError("no seed has the figure" + ("" if b is None else " in both arms"))
    x = np.array([a[s] for s in seeds], float)
    p = math.nan
    if b is not None:
        y = np.array([b[s] for s in seeds], float)
        both_past = np.isinf(x) & np.isinf(y) & (x == y)
        x = np.where(both_past, 0.0, x - np.where(both_past, 0.0, y))
        p = float(wilcoxon(x).pvalue) if np.any(x != 0) else 1.0
    k, low, high = len(x), math.nan, math.nan
    if k >= 3:
        drawn = np.sort(x[np.random.default_rng(seed).integers(k, size=(n, k))], axis=1)
        medians = drawn[:, k // 2] if k % 2 else (drawn[:, k // 2 - 1] + drawn[:, k // 2]) / 2
        low, high = np.nanpercentile(medians, 2.5, method="lower"), np.nanpercentile(medians, 97.5, method="higher")
    return Interval(float(np.median(x)), float(low), float(high), k, k, p)

"""Photometric and scale augmentation of training crops, and per-tile standardisation, on hand-made arrays
(``trainable/data/augment.py``), and through the training crops that use them (``TrainCrops``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainable.config import IGNORE_INDEX
from trainable.data.augment import Jitter, rescale_image, rescale_labels, rescale_nearest, scale_side, standardized
from trainable.data.tiles import Normalizer, TrainCrops
from trainable.labels.clicks import sparse_from


@pytest.mark.parametrize("strength", [0.05, 0.3, 0.9])
def test_colour_jitter_stays_within_its_bounds(strength: float) -> None:
    """Gains and saturation in [1-J, 1+J], offsets in [-J, J]; every pixel moves by at most what they allow."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(0, 2, (3, 16, 16)).astype(np.float32))
    for _ in range(50):
        jitter = Jitter.draw(rng, 3, strength)
        assert np.all(np.abs(jitter.gains - 1) <= strength) and np.all(np.abs(jitter.offsets) <= strength)
        assert abs(jitter.saturation - 1) <= strength
        y = jitter(x)
        banded = x * torch.as_tensor(jitter.gains, dtype=torch.float32).view(-1, 1, 1) + torch.as_tensor(
            jitter.offsets, dtype=torch.float32).view(-1, 1, 1)
        assert torch.all((banded - x).abs() <= strength * (x.abs() + 1) + 1e-5)
        spread = (banded - banded.mean(0, keepdim=True)).abs()
        assert torch.all((y - banded).abs() <= strength * spread + 1e-5)
        assert y.shape == x.shape and torch.isfinite(y).all()


def test_one_band_has_no_saturation_and_no_jitter_is_the_identity() -> None:
    x = torch.linspace(-3, 3, 64).view(1, 8, 8)
    jitter = Jitter(np.array([1.2]), np.array([-0.1]), 0.7)
    assert torch.allclose(jitter(x), 1.2 * x - 0.1)
    assert torch.equal(Jitter(np.ones(3), np.zeros(3), 1.0)(x.repeat(3, 1, 1)), x.repeat(3, 1, 1))


def test_standardisation_gives_each_band_zero_mean_and_unit_std() -> None:
    rng = np.random.default_rng(1)
    x = torch.from_numpy(np.stack([rng.normal(50, 10, (32, 32)), rng.uniform(0, 3, (32, 32)),
                                   rng.normal(-7, 0.5, (32, 32))]).astype(np.float32))
    y = standardized(x)
    assert torch.allclose(y.mean((1, 2)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std((1, 2), correction=0), torch.ones(3), atol=1e-4)
    flat = standardized(torch.full((2, 8, 8), 5.0))  # a flat tile: its std is floored, nothing divides by zero
    assert torch.equal(flat, torch.zeros(2, 8, 8))


def test_standardisation_undoes_a_per_band_gain_and_offset() -> None:
    """So with --standardize only the saturation part of the colour jitter is left."""
    x = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(2))
    jittered = Jitter(np.array([0.8, 1.1, 1.3]), np.array([0.2, -0.3, 0.1]), 1.0)(x)
    assert torch.allclose(standardized(jittered), standardized(x), atol=1e-5)


def test_the_normaliser_standardises_every_tile_after_its_statistics() -> None:
    image = np.random.default_rng(3).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    plain = Normalizer([100.0, 110.0, 120.0], [50.0, 50.0, 50.0])(image)
    tile = Normalizer([100.0, 110.0, 120.0], [50.0, 50.0, 50.0], standardize=True)(image)
    assert torch.allclose(tile, standardized(plain)) and not torch.allclose(tile, plain)


def _square(side: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """An image bright on [lo, hi) x [lo, hi) with that square labelled 1, the rest labelled 0 except an ignored
    band of rows at the bottom."""
    image = np.zeros((side, side, 3), np.uint8)
    image[lo:hi, lo:hi] = 200
    mask = np.zeros((side, side), np.uint8)
    mask[lo:hi, lo:hi] = 1
    mask[side - side // 8:] = IGNORE_INDEX
    return image, mask


@pytest.mark.parametrize("side", [48, 96])  # a window grown to 64 px, and one shrunk to it
def test_rescaling_keeps_labels_on_their_pixels_and_ignored_pixels_ignored(side: int) -> None:
    image, mask = _square(side, side // 4, side // 2)
    big, labels = rescale_image(image, 64), rescale_labels(mask, 64)
    assert big.shape == (64, 64, 3) and labels.shape == (64, 64)
    bright = big[..., 0] > 100
    assert (bright == (labels == 1)).mean() > 0.97  # the labelled square lies on the bright square
    assert set(np.unique(labels)) <= {0, 1, IGNORE_INDEX}
    assert np.all(labels[64 - 64 // 8 + 1:] == IGNORE_INDEX)  # the ignored rows stay ignored
    assert np.all(labels[:64 - 64 // 8 - 1] != IGNORE_INDEX)  # and nothing else becomes so
    valid = rescale_nearest(mask != IGNORE_INDEX, 64)
    assert valid.dtype == bool and np.array_equal(valid, labels != IGNORE_INDEX)


def test_a_shrinking_window_loses_no_click_and_keeps_clicks_single_pixels() -> None:
    clicks = np.full((128, 128), IGNORE_INDEX, np.uint8)
    rng = np.random.default_rng(4)
    spots = rng.choice(128 * 128, 40, replace=False)
    clicks.ravel()[spots] = rng.integers(0, 5, 40)
    out = rescale_labels(clicks, 64)
    r, c = np.divmod(spots, 128)
    moved = out[np.minimum(((r + 0.5) / 2).astype(int), 63), np.minimum(((c + 0.5) / 2).astype(int), 63)]
    assert np.all(moved != IGNORE_INDEX)  # every click lands where its centre falls
    assert (out != IGNORE_INDEX).sum() <= 40  # clicks stay points: none is smeared over a block
    grown = rescale_labels(clicks[:32, :32], 64)  # a growing window: each click covers the pixels it becomes
    assert (grown != IGNORE_INDEX).sum() == 4 * (clicks[:32, :32] != IGNORE_INDEX).sum()


def test_the_window_side_follows_the_scale_range() -> None:
    rng = np.random.default_rng(5)
    sides = [scale_side(rng, 64, 0.5, 1000) for _ in range(500)]
    assert min(sides) >= round(64 / 1.5) and max(sides) <= round(64 * 1.5)
    assert min(sides) < 50 and max(sides) > 85  # both ways
    assert scale_side(rng, 64, 3.0, 40) <= 40  # never beyond the image


class _Array:
    def __init__(self, array: np.ndarray):
        self.array = array

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        return self.array[y:y + h, x:x + w]


class _Clicks:
    def __init__(self, mask: np.ndarray):
        self.sparse = sparse_from(mask, np.flatnonzero(mask.ravel() != IGNORE_INDEX))

    def points(self, k: int):
        return self.sparse


def _crops(color: float, scale: float, standardize: bool = False) -> list[dict]:
    image, mask = _square(96, 24, 60)
    crops = TrainCrops([_Array(image)], [(96, 96)], _Clicks(mask), Normalizer([0.0] * 3, [1.0] * 3, standardize), 32,
                       8, seed=3, color_jitter=color, scale_jitter=scale)
    return [crops[i] for i in range(len(crops))]


def test_training_crops_without_augmentation_are_those_of_before() -> None:
    """At 0 nothing is drawn: the crops of a seed do not change for those who do not use them."""
    image, mask = _square(96, 24, 60)
    plain = TrainCrops([_Array(image)], [(96, 96)], _Clicks(mask), Normalizer([0.0] * 3, [1.0] * 3), 32, 8, seed=3)
    for a, b in zip([plain[i] for i in range(8)], _crops(0.0, 0.0), strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])


def test_augmented_training_crops_keep_their_labels_on_their_pixels() -> None:
    for sample in _crops(0.0, 1.0):
        bright, labels = sample["image"][0] > 100, sample["mask"]
        labelled = labels != IGNORE_INDEX
        assert sample["image"].shape == (3, 32, 32) and labels.shape == (32, 32)
        assert ((labels == 1) == bright)[labelled].float().mean() > 0.95
    jittered = [s["image"] for s in _crops(0.3, 0.0)]
    assert not all(torch.equal(a, b["image"]) for a, b in zip(jittered, _crops(0.0, 0.0), strict=True))
    for sample in _crops(0.3, 0.5, standardize=True):
        assert torch.allclose(sample["image"].mean((1, 2)), torch.zeros(3), atol=1e-4)

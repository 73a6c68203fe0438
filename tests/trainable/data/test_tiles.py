from __future__ import annotations

import numpy as np
import torch

from trainable.config import IGNORE_INDEX
from trainable.data.tiles import GridTiles, Normalizer, TrainCrops, grid_starts
from trainable.labels.clicks import SparsePoints, sparse_from

UNIT = Normalizer([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])  # pixels as they are


class ArraySource:
    """An in-memory stand-in for an image or label source: windows of an array."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        return self.array[y:y + h, x:x + w]


class Clicks:
    """Stand-in for a trial's ClickSource: fixed sparse points per image."""

    def __init__(self, points: list[SparsePoints]):
        self.all = points

    def points(self, k: int) -> SparsePoints:
        return self.all[k]


def _points_of(labels: np.ndarray) -> SparsePoints:
    chosen = np.flatnonzero(labels.ravel() != IGNORE_INDEX)
    return sparse_from(labels, chosen)


def test_grid_counts_every_validation_pixel_once() -> None:
    """A coverage map per image: every pixel counted exactly once, with its own label (a sum of counts would
    miss one pixel counted twice and another never)."""
    masks = [np.random.default_rng(k).integers(0, 3, (h, w)).astype(np.uint8) for k, (h, w) in
             enumerate([(50, 70), (32, 32), (33, 65)])]
    images = [ArraySource(np.zeros((*m.shape, 3), np.uint8)) for m in masks]
    tiles = GridTiles(images, [ArraySource(m) for m in masks], [m.shape for m in masks], UNIT, tile_size=32)
    coverage = [np.zeros(m.shape, np.int64) for m in masks]
    for i in range(len(tiles)):
        k, y, x, _, _ = tiles.index[i]
        target = tiles[i]["mask"].numpy()
        counted = target != IGNORE_INDEX
        coverage[k][y:y + 32, x:x + 32] += counted
        assert np.array_equal(target[counted], masks[k][y:y + 32, x:x + 32][counted]), "a pixel moved"
    assert all((c == 1).all() for c in coverage)
    assert grid_starts(70, 32) == [0, 32, 38] and grid_starts(32, 32) == [0]


def test_crops_are_seeded_by_epoch_and_augment_image_and_points_alike() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    image[..., 0] = np.arange(40)[:, None]  # the red channel encodes the row,
    image[..., 1] = np.arange(40)[None, :]  # the green one the column
    points = np.full((40, 40), IGNORE_INDEX, np.uint8)
    points[::3, ::3] = (np.arange(40)[::3, None] % 2).astype(np.uint8).repeat(14, 1)  # label = row parity
    crops = TrainCrops([ArraySource(image)], [(40, 40)], Clicks([_points_of(points)]), UNIT, tile_size=16,
                       length=6, seed=1)
    a = crops[0]
    assert torch.equal(a["image"], crops[0]["image"])
    crops.set_epoch(2)
    assert not torch.equal(a["image"], crops[0]["image"])
    for i in range(6):
        s = crops[i]
        rows = torch.round(s["image"][0]).long()
        labelled = s["mask"] != IGNORE_INDEX
        assert labelled.any()
        assert torch.equal(s["mask"][labelled], rows[labelled] % 2), "labels moved differently from pixels"


def test_crops_without_points_are_redrawn_and_counted() -> None:
    points = np.full((64, 64), IGNORE_INDEX, np.uint8)
    points[60, 60] = 1  # one labelled pixel in a corner
    crops = TrainCrops([ArraySource(np.zeros((64, 64, 3), np.uint8))], [(64, 64)], Clicks([_points_of(points)]),
                       UNIT, tile_size=16, length=20, seed=0)
    samples = [crops[i] for i in range(20)]
    assert sum(s["redraws"] for s in samples) > 0
    assert all(s["redraws"] == 20 or (s["mask"] != IGNORE_INDEX).any() for s in samples)


def test_normalizer_takes_any_band_count_and_dtype() -> None:
    image = np.stack([np.full((4, 4), v, np.uint16) for v in (100, 2000, 30000, 65535)], axis=-1)
    out = Normalizer([100.0, 1000.0, 30000.0, 0.0], [1.0, 1000.0, 1.0, 65535.0])(image)
    assert out.dtype == torch.float32 and out.shape == (4, 4, 4)
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.0, 1.0, 0.0, 1.0]))

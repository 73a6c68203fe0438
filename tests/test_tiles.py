from __future__ import annotations

import numpy as np
import torch

from trainable.config import IGNORE_INDEX
from trainable.tiles import GridTiles, TrainCrops, grid_starts


def test_grid_counts_every_validation_pixel_once() -> None:
    """A coverage map per image: every pixel counted exactly once, with its own label (a sum of counts would
    miss one pixel counted twice and another never)."""
    masks = [np.random.default_rng(k).integers(0, 3, (h, w)).astype(np.uint8) for k, (h, w) in
             enumerate([(50, 70), (32, 32), (33, 65)])]
    images = [np.zeros((*m.shape, 3), np.uint8) for m in masks]
    tiles = GridTiles(images, masks, tile_size=32)
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
    crops = TrainCrops([image], [points], tile_size=16, length=6, seed=1)
    a = crops[0]
    assert torch.equal(a["image"], crops[0]["image"])
    crops.set_epoch(2)
    assert not torch.equal(a["image"], crops[0]["image"])
    for i in range(6):
        s = crops[i]
        red = s["image"][0] * 0.229 + 0.485  # undo the normalisation -> row / 255
        rows = torch.round(red * 255).long()
        labelled = s["mask"] != IGNORE_INDEX
        assert labelled.any()
        assert torch.equal(s["mask"][labelled], rows[labelled] % 2), "labels moved differently from pixels"


def test_crops_without_points_are_redrawn_and_counted() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    points = np.full((64, 64), IGNORE_INDEX, np.uint8)
    points[60, 60] = 1  # one labelled pixel in a corner
    crops = TrainCrops([image], [points], tile_size=16, length=20, seed=0)
    samples = [crops[i] for i in range(20)]
    assert sum(s["redraws"] for s in samples) > 0
    assert all(s["redraws"] == 20 or (s["mask"] != IGNORE_INDEX).any() for s in samples)

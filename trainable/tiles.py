"""Torch datasets of tiles: random training crops with their frozen point labels, a fixed validation grid.

Samples are dicts ``{"image": (3, T, T) float32 normalised, "mask": (T, T) int64}``; in training the mask is the
sparse point labels, in validation the dense mask. Unlabelled pixels hold ``IGNORE_INDEX``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from trainable.config import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_REDRAWS = 20


_SCALE = torch.tensor([1 / (255 * s) for s in IMAGENET_STD]).view(3, 1, 1)
_SHIFT = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]).view(3, 1, 1)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32, ImageNet-normalised: (x / 255 - mean) / std as one multiply-add."""
    chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return chw.float().mul_(_SCALE).add_(_SHIFT)


class TrainCrops(Dataset):
    """Random square crops of the training images, drawn anew each epoch from ``(seed, epoch, index)``.

    Images are picked with probability proportional to their area, so every pixel is equally likely to be seen.
    A crop with no labelled pixel is re-drawn (up to ``MAX_REDRAWS`` times); each sample says how many re-draws
    it took in ``"redraws"`` so the loop can count them.
    """

    def __init__(self, images: list[np.ndarray], points: list[np.ndarray], tile_size: int, length: int,
                 flips: bool = True, rotations: bool = True, seed: int = 0):
        self.images, self.points, self.tile = images, points, tile_size
        self.length, self.flips, self.rotations, self.seed = length, flips, rotations, seed
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.p = areas / areas.sum()
        self.epoch = 1

    @staticmethod
    def auto_length(images: list[np.ndarray], tile_size: int, batch_size: int) -> int:
        """Crops per epoch covering the training pixels about once, at least one batch."""
        pixels = sum(im.shape[0] * im.shape[1] for im in images)
        return max(batch_size, math.ceil(pixels / tile_size**2))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        k = rng.choice(len(self.images), p=self.p)
        h, w = self.images[k].shape[:2]
        y, x = rng.integers(0, h - self.tile + 1), rng.integers(0, w - self.tile + 1)
        window = (slice(y, y + self.tile), slice(x, x + self.tile))
        return self.images[k][window], self.points[k][window]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        for redraws in range(MAX_REDRAWS + 1):  # noqa: B007  returned with the crop
            image, labels = self._crop(rng)
            if (labels != IGNORE_INDEX).any():
                break
        if self.flips and rng.random() < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        if self.flips and rng.random() < 0.5:
            image, labels = image[::-1], labels[::-1]
        if self.rotations:
            k = int(rng.integers(4))
            image, labels = np.rot90(image, k), np.rot90(labels, k)
        return {"image": to_tensor(image), "mask": torch.from_numpy(labels.astype(np.int64)), "redraws": redraws}


def grid_starts(length: int, tile: int) -> list[int]:
    """Tile origins covering ``[0, length)``: steps of ``tile``, the last one flush with the end."""
    starts = list(range(0, max(length - tile, 0) + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


class GridTiles(Dataset):
    """A fixed grid of tiles covering each validation image exactly once.

    Where the last tile of a row or column overlaps its neighbour, the overlapped pixels are set to
    ``IGNORE_INDEX`` in its target, so every pixel counts once in the metrics.
    """

    def __init__(self, images: list[np.ndarray], masks: list[np.ndarray], tile_size: int):
        self.images, self.masks, self.tile = images, masks, tile_size
        self.index: list[tuple[int, int, int, int, int]] = []  # (image, y, x, rows already covered, cols ...)
        for k, im in enumerate(images):
            ys, xs = grid_starts(im.shape[0], tile_size), grid_starts(im.shape[1], tile_size)
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    cy = ys[i - 1] + tile_size - y if i > 0 else 0
                    cx = xs[j - 1] + tile_size - x if j > 0 else 0
                    self.index.append((k, y, x, max(cy, 0), max(cx, 0)))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, y, x, cy, cx = self.index[i]
        window = (slice(y, y + self.tile), slice(x, x + self.tile))
        mask = self.masks[k][window].astype(np.int64)  # a copy: the source may be a read-only shared array
        mask[:cy, :] = IGNORE_INDEX
        mask[:, :cx] = IGNORE_INDEX
        return {"image": to_tensor(self.images[k][window]), "mask": torch.from_numpy(mask)}

"""Torch datasets of tiles: random training crops with their clicks, a fixed validation grid, read as windows.

Samples are dicts ``{"image": (B, T, T) float32 normalised, "mask": (T, T) int64}``; in training the mask is the
clicks, in validation the dense mask. Unlabelled pixels hold ``IGNORE_INDEX``. Training crops also carry ``valid``
(bool, False on no-data) where a loss on unlabelled pixels or a mean teacher needs it, and ``clicked`` (bool) where a
second stage's loss tells clicks from pseudo-labels; validation tiles carry ``points`` (the validation clicks) where
click validation is on. Images are read window by window
from their sources (``trainable.data.sources``): a trial holds no image whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from trainable.config import IGNORE_INDEX
from trainable.data.augment import Jitter, rescale_image, rescale_labels, rescale_nearest, scale_side, standardized
from trainable.data.sources import ImageSource, LabelSource, ValidPixels

MAX_REDRAWS = 20


class LabelWindow(Protocol):
    def window(self, y: int, x: int, h: int, w: int) -> np.ndarray: ...


class PointWindows(Protocol):
    """What training crops take their labels from: ``points(k).window(y, x, h, w)`` gives the (h, w) uint8 labels of
    the k-th image's window, ``IGNORE_INDEX`` where none (``ClickSource``; in a self-training second stage,
    ``trainable.learn.pseudo.PseudoLabels``)."""

    def points(self, k: int) -> LabelWindow: ...


class Normalizer:
    """(H, W, B) pixels in the files' units -> (B, H, W) float32 ``(x - mean) / std``, as one multiply-add; with
    ``standardize``, then each band of the tile to zero mean and unit std (``trainable.data.augment``)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], standardize: bool = False):
        self.scale = torch.tensor([1.0 / s for s in std], dtype=torch.float32).view(-1, 1, 1)
        self.shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float32).view(-1, 1, 1)
        self.standardize = standardize

    def __call__(self, image: np.ndarray, jitter: Jitter | None = None) -> torch.Tensor:
        """The tile normalised; a training crop's ``jitter`` goes between the normalisation and the
        standardisation."""
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        x = chw.to(torch.float32).mul_(self.scale).add_(self.shift)
        if jitter is not None:
            x = jitter(x)
        return standardized(x) if self.standardize else x


class TrainCrops(Dataset):
    """Random square crops of the training images, drawn anew each epoch from ``(seed, epoch, index)``.

    Images are picked with probability proportional to their area, so every pixel is equally likely to be seen.
    A crop with no labelled pixel is re-drawn (up to ``MAX_REDRAWS`` times); each sample says how many re-draws
    it took in ``"redraws"`` so the loop can count them. ``scale_jitter`` and ``color_jitter`` augment the crops
    (``trainable.data.augment``); at 0 they draw nothing, so the crops are those without them.
    """

    def __init__(self, images: list[ImageSource], sizes: list[tuple[int, int]], clicks: PointWindows,
                 normalizer: Normalizer, tile_size: int, length: int, flips: bool = True, rotations: bool = True,
                 seed: int = 0, valid: list[LabelSource | ValidPixels | None] | None = None,
                 mark_clicks: bool = False, color_jitter: float = 0.0, scale_jitter: float = 0.0):
        """``valid``: per image, the dense mask whose ignored pixels are not valid or which pixels hold data
        (``ValidPixels``; None: every pixel is), for a loss on unlabelled pixels or a mean teacher; None leaves
        ``valid`` out of the samples. ``mark_clicks``: samples carry ``clicked`` (bool), the pixels whose label is a
        click (a second stage's labels, ``trainable.learn.pseudo.PseudoLabelled``, tell them apart)."""
        self.images, self.sizes, self.clicks, self.normalizer = images, sizes, clicks, normalizer
        self.valid, self.mark_clicks = valid, mark_clicks
        self.tile, self.length, self.flips, self.rotations, self.seed = tile_size, length, flips, rotations, seed
        self.color_jitter, self.scale_jitter = color_jitter, scale_jitter
        areas = np.array([h * w for h, w in sizes], dtype=np.float64)
        self.p = areas / areas.sum()
        self.epoch = 1

    @staticmethod
    def auto_length(sizes: list[tuple[int, int]], tile_size: int, batch_size: int) -> int:
        """Crops per epoch covering the training pixels about once, at least one batch."""
        return max(batch_size, math.ceil(sum(h * w for h, w in sizes) / tile_size**2))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _crop(self, rng: np.random.Generator) -> tuple[int, int, int, int, np.ndarray]:
        """An image, the window's corner and side (the tile, or with scale jitter its own), and its labels."""
        k = int(rng.choice(len(self.images), p=self.p))
        h, w = self.sizes[k]
        side = scale_side(rng, self.tile, self.scale_jitter, min(h, w)) if self.scale_jitter > 0 else self.tile
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        return k, y, x, side, self.clicks.points(k).window(y, x, side, side)

    def _arrays(self, k: int, y: int, x: int, side: int, labels: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
        """The window's image, labels and extras at the tile's size: ``valid`` (for a loss on unlabelled pixels or
        a mean teacher) and ``clicked``, with their names."""
        arrays, names = [self.images[k].read(y, x, side, side), labels], []
        if self.valid is not None:
            source = self.valid[k]
            read = np.ones((side, side), bool) if source is None else np.asarray(source.read(y, x, side, side))
            arrays.append(read if read.dtype == bool else read != IGNORE_INDEX)
            names.append("valid")
        if self.mark_clicks:
            arrays.append(self.clicks.points(k).clicked(y, x, side, side))
            names.append("clicked")
        if side != self.tile:
            arrays = [rescale_image(arrays[0], self.tile), rescale_labels(arrays[1], self.tile),
                      *(rescale_nearest(a, self.tile) for a in arrays[2:])]
        return arrays, names

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        for redraws in range(MAX_REDRAWS + 1):  # noqa: B007  returned with the crop
            k, y, x, side, labels = self._crop(rng)
            if (labels != IGNORE_INDEX).any():
                break
        arrays, names = self._arrays(k, y, x, side, labels)
        if self.flips and rng.random() < 0.5:
            arrays = [a[:, ::-1] for a in arrays]
        if self.flips and rng.random() < 0.5:
            arrays = [a[::-1] for a in arrays]
        if self.rotations:
            r = int(rng.integers(4))
            arrays = [np.rot90(a, r) for a in arrays]
        jitter = Jitter.draw(rng, arrays[0].shape[2], self.color_jitter) if self.color_jitter > 0 else None
        sample = {"image": self.normalizer(arrays[0], jitter), "mask": torch.from_numpy(arrays[1].astype(np.int64)),
                  "redraws": redraws}
        for name, array in zip(names, arrays[2:], strict=True):
            sample[name] = torch.from_numpy(np.ascontiguousarray(array))
        return sample


def grid_starts(length: int, tile: int) -> list[int]:
    """Tile origins covering ``[0, length)``: steps of ``tile``, the last one flush with the end."""
    starts = list(range(0, max(length - tile, 0) + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


class GridTiles(Dataset):
    """A fixed grid of tiles covering each image exactly once (validation, test, ``evaluate``).

    Where the last tile of a row or column overlaps its neighbour, the overlapped pixels are set to
    ``IGNORE_INDEX`` in its target, so every pixel counts once in the metrics. An image without a dense mask
    (``None``) has an all-ignored target; ``points``, when given, adds each tile's validation clicks.
    """

    def __init__(self, images: list[ImageSource], masks: list[LabelSource | None], sizes: list[tuple[int, int]],
                 normalizer: Normalizer, tile_size: int, points: list[LabelWindow] | None = None):
        self.images, self.masks, self.normalizer, self.tile = images, masks, normalizer, tile_size
        self.points = points
        self.index: list[tuple[int, int, int, int, int]] = []  # (image, y, x, rows already covered, cols ...)
        for k, (h, w) in enumerate(sizes):
            ys, xs = grid_starts(h, tile_size), grid_starts(w, tile_size)
            for i, y in enumerate(ys):
                for j, x in enumerate(xs):
                    cy = ys[i - 1] + tile_size - y if i > 0 else 0
                    cx = xs[j - 1] + tile_size - x if j > 0 else 0
                    self.index.append((k, y, x, max(cy, 0), max(cx, 0)))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, y, x, cy, cx = self.index[i]
        t = self.tile
        source = self.masks[k]
        mask = (np.full((t, t), IGNORE_INDEX, np.int64) if source is None
                else source.read(y, x, t, t).astype(np.int64))  # a copy of the mapped mask
        mask[:cy, :] = IGNORE_INDEX
        mask[:, :cx] = IGNORE_INDEX
        sample = {"image": self.normalizer(self.images[k].read(y, x, t, t)), "mask": torch.from_numpy(mask)}
        if self.points is not None:
            points = self.points[k].window(y, x, t, t).astype(np.int64)
            points[:cy, :] = IGNORE_INDEX
            points[:, :cx] = IGNORE_INDEX
            sample["points"] = torch.from_numpy(points)
        return sample

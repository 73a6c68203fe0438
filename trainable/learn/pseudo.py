"""Pseudo-labels: a model's confident predictions on the images it trains on, beside the clicks (self-training).

A pixel is pseudo-labelled with the model's top class where that class's probability is at least the threshold and
the pixel holds data (not ignored in a dense mask, not no-data in a GeoTIFF: ``trainable.data.sources.ValidPixels``).
Images are predicted window by window (``trainable.learn.tiled.predict_blocks``, blended half-overlapping tiles of
the trial's tile size, on the images as the trial reads them) and the labels kept in the node cache, one byte per
pixel, keyed by the weights that made them: a trial resumed on the same node reads them back, one resumed elsewhere
makes them again from the same weights (``trainable.self_training``).

Clicks always win: a crop's labels are its pseudo-labels with every click written over them (``PseudoLabelled``),
and a clicked pixel is never counted as pseudo-labelled.

Per-class thresholds (``--pseudo-class-share``, class-balanced self-training after Zou et al. 2018): a first pass
counts the pixels predicted as each class by their top probability (``confidence_counts``), and each class's
threshold is lowered to the probability above which lies the given share of its pixels (``class_thresholds``), so
that a class the model is never very sure of still gets pseudo-labels.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainable.config import IGNORE_INDEX
from trainable.data.node_cache import NodeCache, NpyFile, key_of
from trainable.data.sources import ImageSource, LabelSource, ValidPixels
from trainable.data.tiles import LabelWindow, Normalizer
from trainable.labels.clicks import ClickSource
from trainable.learn.tiled import blocks, predict_blocks

BINS = 1000  # of top-class probability, for per-class thresholds


def confident(probs: np.ndarray, threshold: float | Sequence[float], valid: np.ndarray) -> np.ndarray:
    """(C, h, w) class probabilities -> (h, w) uint8: the top class where its probability is at least ``threshold``
    (one for every class, or (C,): each class its own) and ``valid`` ((h, w) bool) holds, ``IGNORE_INDEX``
    elsewhere."""
    labels = probs.argmax(0).astype(np.uint8)
    limit = np.asarray(threshold, probs.dtype)  # compared as the probabilities are: 0.9 keeps a float32 0.9
    labels[(probs.max(0) < (limit[labels] if limit.ndim else limit)) | ~valid] = IGNORE_INDEX
    return labels


def class_thresholds(counts: np.ndarray, threshold: float, share: float) -> np.ndarray:
    """(C,) thresholds from (C, BINS) pixel counts by predicted class and top probability (``confidence_counts``):
    each class's is the lower of ``threshold`` and the bottom of the probability bin above which lies at least
    ``share`` of the pixels predicted as it; a class predicted nowhere keeps ``threshold``."""
    out = np.full(len(counts), float(threshold))
    bins = counts.shape[1]
    for c, row in enumerate(counts):
        if row.sum() == 0:
            continue
        from_top = np.cumsum(row[::-1])  # pixels in the top 1, 2, ... bins
        k = int(np.searchsorted(from_top, share * row.sum()))
        out[c] = min(out[c], (bins - 1 - k) / bins)
    return out


def weights_key(state: dict[str, torch.Tensor]) -> str:
    """A fingerprint of a model's weights (SHA-256 of every tensor's bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:40]


@dataclass(frozen=True)
class PseudoImage:
    """One image of the second stage: its pixels, which of them hold data, its size, its dense mask when it has one
    (only to score the pseudo-labels, never to train), and the key of its pixels and mask in the node cache."""

    image: ImageSource
    valid: ValidPixels
    size: tuple[int, int]
    mask: LabelSource | None
    key: str


@dataclass(frozen=True)
class Predictor:
    """What makes pseudo-labels: the model (with the weights ``weights_key`` says) and how it sees the images."""

    model: nn.Module
    weights_key: str
    threshold: float | tuple[float, ...]  # or one per class
    tile: int
    num_classes: int
    device: torch.device
    batch_size: int
    normalizer: Normalizer


def label_image(p: Predictor, image: PseudoImage) -> np.ndarray:
    """(H, W) uint8 pseudo-labels of one image (``confident``), predicted block by block in eval mode."""
    h, w = image.size
    out = np.full((h, w), IGNORE_INDEX, np.uint8)

    def write(y: int, x: int, probs: np.ndarray) -> None:  # (C, bh, bw)
        bh, bw = probs.shape[1:]
        out[y:y + bh, x:x + bw] = confident(probs, p.threshold, image.valid.read(y, x, bh, bw))

    p.model.eval()
    predict_blocks(image.image.read, h, w, write, p.model, p.tile, p.num_classes, p.device, p.batch_size,
                   p.normalizer, probabilities=True)
    return out


def confidence_counts(p: Predictor, image: PseudoImage) -> np.ndarray:
    """(C, BINS) int64: the image's pixels holding data by predicted class and top probability (bins of 1 / BINS),
    predicted block by block in eval mode."""
    counts = np.zeros((p.num_classes, BINS), np.int64)

    def add(y: int, x: int, probs: np.ndarray) -> None:  # (C, bh, bw)
        valid = image.valid.read(y, x, *probs.shape[1:])
        top = np.minimum((probs.max(0)[valid].astype(np.float64) * BINS).astype(np.int64), BINS - 1)
        flat = probs.argmax(0)[valid].astype(np.int64) * BINS + top
        counts.reshape(-1)[:] += np.bincount(flat, minlength=counts.size)

    p.model.eval()
    predict_blocks(image.image.read, *image.size, add, p.model, p.tile, p.num_classes, p.device, p.batch_size,
                   p.normalizer, probabilities=True)
    return counts


def cached_labels(p: Predictor, image: PseudoImage, cache: NodeCache) -> NpyFile:
    """The image's pseudo-labels from the node cache, made there first when the node has none for these weights."""
    key = key_of("pseudo labels", p.weights_key, p.threshold, image.key, p.tile, p.normalizer.scale.tolist(),
                 p.normalizer.shift.tolist())
    return cache.cached_npy(key, lambda: label_image(p, image))


@dataclass
class PseudoStats:
    """How much of the second stage's images the pseudo-labels cover, and (where dense masks exist) how right they
    are: ``labelled`` pseudo-labelled pixels (clicks not counted) of ``valid`` pixels holding data; ``agree`` of
    ``checked`` pseudo-labelled pixels that have a dense mask match it."""

    labelled: int = 0
    valid: int = 0
    agree: int = 0
    checked: int = 0
    images: int = 0  # images with at least one pseudo-labelled pixel
    class_counts: np.ndarray | None = None  # (C,) the stage's labels per class: pseudo-labels and clicks

    @property
    def fraction(self) -> float:
        return self.labelled / max(self.valid, 1)

    @property
    def accuracy(self) -> float:
        return self.agree / self.checked if self.checked else math.nan

    def add(self, other: PseudoStats) -> None:
        self.labelled += other.labelled
        self.valid += other.valid
        self.agree += other.agree
        self.checked += other.checked
        self.images += other.images
        if other.class_counts is not None:
            self.class_counts = other.class_counts + (0 if self.class_counts is None else self.class_counts)


def image_stats(labels: NpyFile, image: PseudoImage, clicks: LabelWindow | None, num_classes: int) -> PseudoStats:
    """One image's ``PseudoStats``, read back block by block (clicked pixels are the clicks', not counted as
    pseudo-labelled; both count in ``class_counts``)."""
    stats = PseudoStats(class_counts=np.zeros(num_classes, np.int64))
    for y, x, h, w in blocks(*image.size):
        pseudo = labels.read(y, x, h, w)
        labelled = pseudo != IGNORE_INDEX
        merged = pseudo
        if clicks is not None:
            clicked = clicks.window(y, x, h, w)
            labelled &= clicked == IGNORE_INDEX
            merged = np.where(clicked != IGNORE_INDEX, clicked, pseudo)
        stats.class_counts += np.bincount(merged[merged != IGNORE_INDEX].ravel(), minlength=num_classes)[:num_classes]
        stats.labelled += int(labelled.sum())
        stats.valid += int(image.valid.read(y, x, h, w).sum())
        if image.mask is not None:
            stats.checked += int(labelled.sum())
            stats.agree += int((labelled & (pseudo == image.mask.read(y, x, h, w))).sum())
    stats.images = int(stats.labelled > 0)
    return stats


@dataclass(frozen=True)
class PseudoLabelled:
    """One image's training labels in the second stage: its pseudo-labels with its clicks (if any) over them."""

    pseudo: NpyFile  # (H, W) uint8, IGNORE_INDEX where not pseudo-labelled
    clicks: LabelWindow | None

    def window(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """(h, w) uint8 labels: the click where there is one, else the pseudo-label, else ``IGNORE_INDEX``."""
        out = np.array(self.pseudo.read(y, x, h, w))
        if self.clicks is not None:
            clicked = self.clicks.window(y, x, h, w)
            out = np.where(clicked != IGNORE_INDEX, clicked, out)
        return out

    def clicked(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """(h, w) bool: True on the clicks (for a loss that tells them from the pseudo-labels)."""
        if self.clicks is None:
            return np.zeros((h, w), bool)
        return self.clicks.window(y, x, h, w) != IGNORE_INDEX


class PseudoLabels:
    """The second stage's labels, for ``TrainCrops``: image ``k`` below ``len(clicks.image_ids)`` is the k-th clicked
    training image (its clicks over its pseudo-labels); the ones after it have pseudo-labels only."""

    def __init__(self, clicks: ClickSource, pseudo: list[NpyFile]):
        self.clicks, self.pseudo = clicks, pseudo
        self.clicked = len(clicks.image_ids)

    def points(self, k: int) -> PseudoLabelled:
        return PseudoLabelled(self.pseudo[k], self.clicks.points(k) if k < self.clicked else None)

"""Simulated point annotation: dense mask -> sparse labels, seeded and frozen per image.

Pure numpy functions. A sparse label map has the dense mask's class at labelled pixels and ``IGNORE_INDEX``
everywhere else; points never fall on ignored pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from trainable.config import IGNORE_INDEX, PointConfig


def _density_count(density: float, valid_pixels: int) -> int:
    return int(round(density * valid_pixels))


def _labels_at(mask: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Sparse labels: the mask's class at the flat indices ``chosen``, ``IGNORE_INDEX`` elsewhere."""
    out = np.full(mask.size, IGNORE_INDEX, dtype=np.uint8)
    out[chosen] = mask.ravel()[chosen]
    return out.reshape(mask.shape)


def _first_clicks(mask: np.ndarray, density: float, valid_pixels: int,
                  order: Callable[[int], np.ndarray]) -> np.ndarray:
    """Labels of the first ``round(density * valid_pixels)`` clicks of ``order(k)``; every valid pixel at density 1."""
    k = _density_count(density, valid_pixels)
    return mask.copy() if k == valid_pixels else _labels_at(mask, order(k))


def annotator_seed(cfg: PointConfig, image_index: int) -> tuple[int, int]:
    """The seed of the simulated annotator of one image: points are frozen per (seed, image)."""
    return (cfg.seed, image_index)


def click_order(mask: np.ndarray, seed: int | tuple[int, ...], limit: int) -> np.ndarray:
    """Flat indices of the first ``limit`` valid pixels in this image's annotator order.

    The order sorts the valid pixels by a seeded random key (ties by position): a total order, so the first ``k``
    are the same whatever ``limit >= k`` was asked for. Selecting them costs a partition, not a sort of the image.
    """
    valid = np.flatnonzero(mask.ravel() != IGNORE_INDEX)
    keys = np.random.default_rng(seed).random(valid.size)
    limit = min(limit, valid.size)
    if limit <= 0:
        return np.empty(0, dtype=np.int64)
    candidates = (np.flatnonzero(keys <= np.partition(keys, limit - 1)[limit - 1]) if limit < valid.size
                  else np.arange(valid.size))
    return valid[candidates[np.argsort(keys[candidates], kind="stable")[:limit]]]


def density_points(mask: np.ndarray, density: float, seed: int | tuple[int, ...]) -> np.ndarray:
    """Label ``round(density * valid pixels)`` random valid pixels.

    The pixels are the first ones of this image's seeded :func:`click_order`, so for one seed the points at a lower
    density are a subset of those at a higher one, and ``density=1`` labels every valid pixel.

    Args:
        mask: (H, W) uint8 class indices with ``IGNORE_INDEX`` on ignored pixels.
        density: fraction of valid pixels to label, in (0, 1].
        seed: seed of this image's annotator.

    Returns:
        (H, W) uint8 sparse labels.
    """
    valid = int(np.count_nonzero(mask != IGNORE_INDEX))
    return _first_clicks(mask, density, valid, lambda k: click_order(mask, seed, k))


@dataclass(frozen=True)
class ClickOrder:
    """The first clicks of one image's annotator: every density up to ``max_density`` is a prefix of them.

    A density search computes these once per image (in its driver) and ships them with the data, so that a trial
    takes a prefix instead of ordering every pixel again.
    """

    indices: np.ndarray  # flat pixel indices in click order
    valid_pixels: int

    @classmethod
    def of(cls, mask: np.ndarray, seed: int | tuple[int, ...], max_density: float) -> ClickOrder:
        valid = int(np.count_nonzero(mask != IGNORE_INDEX))
        indices = click_order(mask, seed, _density_count(max_density, valid))
        return cls(indices.astype(np.int32 if mask.size < 2**31 else np.int64), valid)

    def covers(self, density: float) -> bool:
        return _density_count(density, self.valid_pixels) <= self.indices.size

    def points(self, mask: np.ndarray, density: float) -> np.ndarray:
        """What :func:`density_points` gives for this image's seed; ``density`` must be covered."""
        return _first_clicks(mask, density, self.valid_pixels, lambda k: self.indices[:k])


def _region_depth(labels: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the edge of its region (labels 1..n, 0 = no region), from one transform.

    A pixel is on an edge when a 4-neighbour (or the image border) belongs elsewhere; edge pixels have depth 1.
    """
    padded = np.pad(labels, 1)
    centre = padded[1:-1, 1:-1]
    inner = ((centre == padded[:-2, 1:-1]) & (centre == padded[2:, 1:-1]) & (centre == padded[1:-1, :-2])
             & (centre == padded[1:-1, 2:]) & (labels > 0))
    return ndimage.distance_transform_edt(inner) + (labels > 0)


def _clicks_per_region(labels: np.ndarray, k: int, rng: np.random.Generator, min_pixels: int) -> list[np.ndarray]:
    """Flat indices of ``k`` clicks in each region (labels 1..n) of at least ``min_pixels`` pixels.

    The first click is the region's deepest pixel (on a plateau, the one nearest its centroid); further clicks are
    drawn at random with weight growing with depth, as an annotator clicks well inside an object.
    """
    n = int(labels.max())
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=n + 1)
    keep = np.flatnonzero(sizes[1:] >= min_pixels) + 1
    if keep.size == 0:
        return []
    depth = _region_depth(labels).ravel()
    ys, xs = np.indices(labels.shape)
    with np.errstate(invalid="ignore", divide="ignore"):  # label 0 may be empty: its mean is unused
        cy, cx = (np.asarray(ndimage.mean(c, labels, np.arange(n + 1))) for c in (ys, xs))
    d2 = (ys.ravel() - cy[flat]) ** 2 + (xs.ravel() - cx[flat]) ** 2
    score = depth - 1e-5 * d2 / (d2.max() + 1)  # tie-break below any gap between two distinct depths
    first = np.ravel_multi_index(np.array(ndimage.maximum_position(score.reshape(labels.shape), labels, keep)).T,
                                 labels.shape)
    clicks = [first]
    if k > 1:
        order = np.argsort(flat, kind="stable")
        starts = np.searchsorted(flat[order], keep)
        for f, a, size in zip(first, starts, sizes[keep], strict=True):
            pixels = order[a:a + size]
            weights = depth[pixels] ** 2
            weights[pixels == f] = 0
            extra = min(k - 1, int(np.count_nonzero(weights)))
            if extra:
                clicks.append(rng.choice(pixels, size=extra, replace=False, p=weights / weights.sum()))
    return clicks


def instance_points(mask: np.ndarray, instances: np.ndarray | None, per_instance: int,
                    background_share: float | None, min_region_pixels: int,
                    seed: int | tuple[int, ...]) -> np.ndarray:
    """Click ``per_instance`` times inside every object, like an annotator would.

    Objects are the instances of ``instances`` (ids > 0). Pixels outside any instance ("background": classes
    without instances) are handled by ``background_share``: None clicks ``per_instance`` times inside each
    connected background region of each class (regions smaller than ``min_region_pixels`` get none); a share
    ``s`` instead places ``s / (1 - s)`` background clicks per object click at random background pixels, which
    follows the background's true class prior.

    Returns:
        (H, W) uint8 sparse labels.
    """
    rng = np.random.default_rng(seed)
    valid = mask != IGNORE_INDEX
    things = valid & (instances > 0) if instances is not None else np.zeros_like(valid)
    clicks: list[np.ndarray] = []
    if things.any():
        # ids may be RGB-packed (up to 2**24): relabel them 1..n so find_objects stays small
        ids, inverse = np.unique(np.where(things, instances, 0), return_inverse=True)
        labels = inverse.reshape(mask.shape) + (0 if ids[0] == 0 else 1)
        clicks += _clicks_per_region(labels, per_instance, rng, min_pixels=1)
    n_thing_clicks = sum(c.size for c in clicks)
    background = valid & ~things
    if background_share is not None and n_thing_clicks > 0:
        pool = np.flatnonzero(background.ravel())
        n_bg = min(pool.size, int(round(n_thing_clicks * background_share / (1.0 - background_share))))
        clicks.append(rng.choice(pool, size=n_bg, replace=False))
    else:  # connected regions of each class stand in for objects: label them all in one image
        regions, offset = np.zeros(mask.shape, np.int64), 0
        for cls in np.unique(mask[background]):
            labels, count = ndimage.label(background & (mask == cls))
            regions[labels > 0] = labels[labels > 0] + offset
            offset += count
        clicks += _clicks_per_region(regions, per_instance, rng, min_pixels=min_region_pixels)
    return _labels_at(mask, np.concatenate(clicks).astype(np.int64) if clicks else np.empty(0, np.int64))


def simulate_points(mask: np.ndarray, instances: np.ndarray | None, cfg: PointConfig, image_index: int) -> np.ndarray:
    """Sparse labels of one image for a point config, by that image's :func:`annotator_seed`."""
    seed = annotator_seed(cfg, image_index)
    if cfg.mode == "density":
        return density_points(mask, cfg.density, seed)
    return instance_points(mask, instances, cfg.points_per_instance, cfg.background_share,
                           cfg.min_region_pixels, seed)


@dataclass(frozen=True)
class PointStats:
    """How much annotation a point config amounts to on a set of images."""

    points_per_image: float  # mean labelled pixels per image
    labelled_fraction: float  # labelled pixels / valid pixels
    class_counts: tuple[int, ...]  # labelled pixels per class
    images_without_points: tuple[int, ...]  # indices (into the given list) of images with no labelled pixel


def point_stats(sparse: list[np.ndarray], dense: list[np.ndarray], num_classes: int) -> PointStats:
    counts = np.zeros(num_classes, dtype=np.int64)
    labelled = valid = 0
    empty = []
    for i, (s, d) in enumerate(zip(sparse, dense, strict=True)):
        lab = s[s != IGNORE_INDEX]
        counts += np.bincount(lab, minlength=num_classes)[:num_classes]
        labelled += lab.size
        valid += int(np.count_nonzero(d != IGNORE_INDEX))
        if lab.size == 0:
            empty.append(i)
    n = max(len(sparse), 1)
    return PointStats(labelled / n, labelled / max(valid, 1), tuple(int(c) for c in counts), tuple(empty))


def class_weights_from_counts(counts: tuple[int, ...]) -> np.ndarray:
    """Inverse-frequency class weights, mean 1 over the classes that have points (0 for classes without)."""
    c = np.asarray(counts, dtype=np.float64)
    w = np.where(c > 0, 1.0 / np.maximum(c, 1), 0.0)
    present = c > 0
    if present.any():
        w[present] /= w[present].mean()
    return w.astype(np.float32)

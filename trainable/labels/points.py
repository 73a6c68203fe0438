"""Simulated point annotation: dense mask -> sparse labels, seeded and frozen per image.

Pure numpy functions. A sparse label map has the dense mask's class at labelled pixels and ``IGNORE_INDEX``
everywhere else; points never fall on ignored pixels.
"""

from __future__ import annotations

import zlib
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


def image_seed(stem: str) -> int:
    """A stable number for an image's name (CRC-32): an image keeps its clicks when other files come or go."""
    return zlib.crc32(stem.encode("utf-8", "surrogateescape"))  # a name that is not UTF-8: its own bytes


def annotator_seed(cfg: PointConfig, stem: str) -> tuple[int, int]:
    """The seed of the simulated annotator of one image: points are frozen per (seed, image name)."""
    return (cfg.seed, image_seed(stem))


ORDER_BLOCK = 1 << 22  # pixels hashed at once when ordering an image's clicks: bounded temporaries


def click_order(mask: np.ndarray, seed: int | tuple[int, ...], limit: int) -> np.ndarray:
    """Flat indices of the first ``limit`` valid pixels in this image's annotator order.

    The order sorts the valid pixels by a seeded random key (ties by position): a total order, so the first ``k``
    are the same whatever ``limit >= k`` was asked for. The keys of each block of ``ORDER_BLOCK`` pixels come from
    a generator seeded with (seed, block), so a pixel's key depends on its position only; the image goes block by
    block, keeping only the ``limit`` smallest keys so far: the memory it takes is bounded by the block and
    ``limit``, not by the image.
    """
    flat = mask.ravel()
    seed = seed if isinstance(seed, tuple) else (seed,)
    best_idx, best_key = np.empty(0, np.int64), np.empty(0, np.float64)
    for block, start in enumerate(range(0, flat.size, ORDER_BLOCK)):
        part = flat[start:start + ORDER_BLOCK]
        local = np.flatnonzero(part != IGNORE_INDEX)
        keys = np.random.default_rng((*seed, block)).random(part.size)[local]
        idx = local + start
        best_idx, best_key = np.concatenate([best_idx, idx]), np.concatenate([best_key, keys])
        if limit < best_idx.size:  # keep the `limit` smallest (and every tie at the cut: resolved below)
            cut = np.partition(best_key, limit - 1)[limit - 1]
            keep = best_key <= cut
            best_idx, best_key = best_idx[keep], best_key[keep]
    order = np.lexsort((best_idx, best_key))[:max(limit, 0)]
    return best_idx[order]


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
        valid = sum(int(np.count_nonzero(mask.ravel()[s:s + ORDER_BLOCK] != IGNORE_INDEX))
                    for s in range(0, mask.size, ORDER_BLOCK))
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


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays: a counter-based hash, so a pixel's random number depends only on
    what it is hashed from (not on how many other pixels or objects an image has)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _uniform(keys: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1), one per (key, pixel) pair."""
    with np.errstate(over="ignore"):
        h = _mix(_mix(keys.astype(np.uint64) + _GOLDEN) ^ (pixels.astype(np.uint64) * _GOLDEN))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _object_keys(seed: tuple[int, ...], classes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One uint64 key per object, from the annotator's seed and the object's (class, id)."""
    base = np.uint64(0)
    for part in seed:
        base = _mix(np.asarray(base ^ np.uint64(part & 0xFFFFFFFFFFFFFFFF), np.uint64) + _GOLDEN)
    with np.errstate(over="ignore"):
        return _mix(_mix(base ^ classes.astype(np.uint64)) + ids.astype(np.uint64) * _GOLDEN)


def _ranked_clicks(labels: np.ndarray, keys: np.ndarray, k_max: int, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k_max`` clicks in each region (labels 1..n) of at least ``min_pixels`` pixels, with their rank.

    Rank 0 is the region's deepest pixel (on a plateau, the one nearest its centroid). Further clicks follow a
    weighted random order without replacement (Efraimidis-Spirakis keys ``log(u) / w`` with weight ``w = depth**2``,
    ``u`` hashed from the region's key and the pixel), as an annotator clicks well inside an object. The clicks for
    ``k`` are the ranks below ``k``: nested in ``k``.

    Args:
        labels: (H, W) int region labels, 0 = no region.
        keys: (n + 1,) uint64 key per label (index 0 unused).

    Returns:
        Flat pixel indices and their ranks (int64 each).
    """
    n = int(labels.max())
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=n + 1)
    keep = np.flatnonzero(sizes[1:] >= min_pixels) + 1
    if keep.size == 0 or k_max < 1:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    depth = _region_depth(labels).ravel()
    first = _deepest_pixels(labels, depth, keep)
    out_idx, out_rank = [first.astype(np.int64)], [np.zeros(first.size, np.int64)]
    if k_max > 1:
        wanted = np.zeros(n + 1, bool)
        wanted[keep] = True
        pixels = np.flatnonzero(wanted[flat])
        pixels = pixels[~np.isin(pixels, first)]
        region = flat[pixels]
        order_key = np.log(_uniform(keys[region], pixels)) / depth[pixels] ** 2  # larger comes first
        order = np.lexsort((-order_key, region))
        pixels, region = pixels[order], region[order]
        starts = np.searchsorted(region, region, side="left")
        rank = np.arange(region.size) - starts + 1
        chosen = rank < k_max
        out_idx.append(pixels[chosen])
        out_rank.append(rank[chosen])
    return np.concatenate(out_idx), np.concatenate(out_rank)


def _deepest_pixels(labels: np.ndarray, depth: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Flat index of the deepest pixel of each region in ``keep`` (on a plateau, the one nearest its centroid)."""
    n, flat = int(labels.max()), labels.ravel()
    ys, xs = np.indices(labels.shape)
    with np.errstate(invalid="ignore", divide="ignore"):  # label 0 may be empty: its mean is unused
        cy, cx = (np.asarray(ndimage.mean(c, labels, np.arange(n + 1))) for c in (ys, xs))
    d2 = (ys.ravel() - cy[flat]) ** 2 + (xs.ravel() - cx[flat]) ** 2
    score = depth - 1e-5 * d2 / (d2.max() + 1)  # tie-break below any gap between two distinct depths
    return np.ravel_multi_index(np.array(ndimage.maximum_position(score.reshape(labels.shape), labels, keep)).T,
                                labels.shape)


@dataclass(frozen=True)
class InstanceClicks:
    """An image's annotator clicks inside objects, up to ``k_max`` per object, and on background.

    Every setting up to the maxima it was made for is a selection of these clicks, so a search over clicks per
    object and background share computes them once per image (in its driver) and each trial selects its own.

    Objects are (class, instance id) pairs of the instance mask, so ids that restart per class stay apart. Pixels
    outside any instance ("background": classes without instances) are clicked either per connected region of each
    class (``regions``), or, with a background share, in a seeded random order over all background pixels
    (``background``), which follows the background's true class prior.
    """

    things: np.ndarray  # flat indices of clicks inside instances
    thing_rank: np.ndarray  # their rank within their object: 0 = the deepest pixel
    regions: np.ndarray  # flat indices of clicks inside background regions
    region_rank: np.ndarray
    background: np.ndarray  # the first background pixels of the annotator's random order
    k_max: int
    share_max: float | None

    @classmethod
    def of(cls, mask: np.ndarray, instances: np.ndarray | None, seed: tuple[int, ...], k_max: int,
           share_max: float | None, min_region_pixels: int) -> InstanceClicks:
        """Clicks for up to ``k_max`` per object and background shares up to ``share_max`` (None: regions only)."""
        valid = mask != IGNORE_INDEX
        things = valid & (instances > 0) if instances is not None else np.zeros_like(valid)
        thing_idx = thing_rank = np.empty(0, np.int64)
        if things.any():
            pair = np.where(things, mask.astype(np.int64) << 32 | instances.astype(np.int64) & 0xFFFFFFFF, -1)
            ids, inverse = np.unique(pair, return_inverse=True)
            labels = inverse.reshape(mask.shape) + (0 if ids[0] == -1 else 1)
            ids = ids[ids >= 0]
            keys = np.concatenate([[0], _object_keys(seed, ids >> 32, ids & 0xFFFFFFFF)]).astype(np.uint64)
            thing_idx, thing_rank = _ranked_clicks(labels, keys, k_max, min_pixels=1)
        background = valid & ~things
        regions, offset, region_class = np.zeros(mask.shape, np.int64), 0, [0]
        for c in np.unique(mask[background]):  # connected regions of each class stand in for objects
            labels, count = ndimage.label(background & (mask == c))
            regions[labels > 0] = labels[labels > 0] + offset
            offset += count
            region_class += [int(c)] * count
        keys = _object_keys(seed, np.asarray(region_class) + 1024, np.arange(offset + 1))
        region_idx, region_rank = _ranked_clicks(regions, keys, k_max, min_region_pixels)
        bg = np.empty(0, np.int64)
        if share_max is not None:
            pool = np.flatnonzero(background.ravel())
            n = min(pool.size, _background_count(int(np.count_nonzero(thing_rank < k_max)), share_max))
            if n:
                u = _uniform(_object_keys(seed, np.array([2048]), np.array([0])).repeat(pool.size), pool)
                first = np.argpartition(u, n - 1)[:n] if n < pool.size else np.arange(pool.size)
                bg = pool[first[np.argsort(u[first], kind="stable")]]
        return cls(thing_idx, thing_rank, region_idx, region_rank, bg, k_max, share_max)

    def covers(self, k: int, share: float | None) -> bool:
        return k <= self.k_max and (share is None or (self.share_max is not None and share <= self.share_max))

    def chosen(self, k: int, share: float | None) -> np.ndarray:
        """Flat indices of the clicks for ``k`` clicks per object and background share ``share``."""
        if not self.covers(k, share):
            raise ValueError(f"clicks were made for up to {self.k_max} per object and a background share up to "
                             f"{self.share_max}, not {k} and {share}")
        things = self.things[self.thing_rank < k]
        if share is None or things.size == 0:  # no object: the regions stand in, as without instance masks
            return np.concatenate([things, self.regions[self.region_rank < k]])
        return np.concatenate([things, self.background[:_background_count(things.size, share)]])

    def points(self, mask: np.ndarray, k: int, share: float | None) -> np.ndarray:
        """(H, W) uint8 sparse labels for ``k`` clicks per object and background share ``share``."""
        return _labels_at(mask, self.chosen(k, share).astype(np.int64))


def _background_count(thing_clicks: int, share: float) -> int:
    """Background clicks that make ``share`` of all clicks beside ``thing_clicks`` object clicks."""
    return int(round(thing_clicks * share / (1.0 - share)))


def instance_points(mask: np.ndarray, instances: np.ndarray | None, per_instance: int,
                    background_share: float | None, min_region_pixels: int,
                    seed: int | tuple[int, ...]) -> np.ndarray:
    """Click ``per_instance`` times inside every object, like an annotator would (see :class:`InstanceClicks`).

    ``background_share`` None clicks ``per_instance`` times inside each connected background region of each class
    (regions smaller than ``min_region_pixels`` get none); a share ``s`` instead places ``s / (1 - s)`` background
    clicks per object click at random background pixels.

    Returns:
        (H, W) uint8 sparse labels.
    """
    seed = seed if isinstance(seed, tuple) else (seed,)
    clicks = InstanceClicks.of(mask, instances, seed, per_instance, background_share, min_region_pixels)
    return clicks.points(mask, per_instance, background_share)


def simulate_points(mask: np.ndarray, instances: np.ndarray | None, cfg: PointConfig, stem: str) -> np.ndarray:
    """Sparse labels of one image for a point config, by that image's :func:`annotator_seed`."""
    seed = annotator_seed(cfg, stem)
    if cfg.mode == "density":
        return density_points(mask, cfg.density, seed)
    return instance_points(mask, instances, cfg.clicks_per_object, cfg.background_share,
                           cfg.min_region_pixels, seed)


@dataclass(frozen=True)
class PointStats:
    """How much annotation a point config amounts to on a set of images."""

    clicks_per_image: float  # mean labelled pixels per image
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

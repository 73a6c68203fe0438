"""A trial's training clicks, image by image: simulated on first use, cached on the node, held as sparse points.

What is cached per image is what every setting of a search is a selection of: the annotator's click order up to
the highest density searched (``points.order_up_to``), or the clicks inside objects up to the most clicks per
object and the largest background share searched (``points.clicks_up_to``, ``points.share_up_to``). The cache key
holds the mask file, the resize, the annotator's seed and those limits, so trials of a search share one entry per
image and node. A trial keeps its own points as sorted flat indices (a few bytes per click) in a bounded cache, and
builds a crop's label window from them.

With the user's own clicks (``--clicks``, carried in the index), a setting selects among them instead
(``user_selection``): a density is the share of an image's clicks kept, in a seeded order, so a lower density's
clicks are a subset of a higher one's; clicks per object take each object's first K clicks in the file's order.

Validation clicks (``validation_points``) are scored beside the dense masks: the user's clicks on validation images,
or clicks simulated at random valid pixels of the validation masks with a seed of their own.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainable.config import IGNORE_INDEX, ConfigError, PointConfig, TrialConfig
from trainable.data.index import DatasetIndex
from trainable.data.node_cache import NodeCache, key_of
from trainable.data.sources import LabelSource, instance_key, mask_key
from trainable.labels.points import ClickOrder, InstanceClicks, PointStats, annotator_seed, click_order

POINTS_CACHE_BYTES = 256 * 2**20  # a trial's sorted points kept in memory, across images


@dataclass(frozen=True)
class SparsePoints:
    """One image's labelled pixels: flat indices in ascending order and their classes; or the whole mask."""

    index: np.ndarray  # (N,) int64, sorted
    label: np.ndarray  # (N,) uint8
    height: int
    width: int
    dense: LabelSource | None = None  # full supervision: every valid pixel of the mask

    @property
    def count(self) -> int:
        return int(self.index.size)

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + self.label.nbytes

    def window(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """(h, w) uint8 labels of the window at (y, x), ``IGNORE_INDEX`` where there is no point."""
        if self.dense is not None:
            return np.array(self.dense.read(y, x, h, w))
        out = np.full((h, w), IGNORE_INDEX, np.uint8)
        lo = np.searchsorted(self.index, y * self.width + x)
        hi = np.searchsorted(self.index, (y + h - 1) * self.width + x + w)
        idx, lab = self.index[lo:hi], self.label[lo:hi]
        rows, cols = np.divmod(idx, self.width)
        keep = (cols >= x) & (cols < x + w)
        out[rows[keep] - y, cols[keep] - x] = lab[keep]
        return out


def sparse_from(mask: np.ndarray, chosen: np.ndarray) -> SparsePoints:
    chosen = np.unique(chosen.astype(np.int64))
    return SparsePoints(chosen, mask.ravel()[chosen], mask.shape[0], mask.shape[1])


def clicks_of(index: np.ndarray, label: np.ndarray, height: int, width: int) -> SparsePoints:
    """Clicks given as flat indices (any order, repeats allowed: the first click of a pixel wins)."""
    index = np.asarray(index, np.int64)
    first = np.unique(index, return_index=True)[1]
    return SparsePoints(index[first], np.asarray(label, np.uint8)[first], height, width)


def user_selection(clicks: Any, cfg: PointConfig, stem: str) -> np.ndarray:
    """Positions (into the user's click arrays of one image) of the clicks a setting keeps (module docstring).

    Args:
        clicks: the image's ``trainable.data.user_clicks.ImageClicks``.
        cfg: density (share kept) or clicks per object.
        stem: the image's name (seeds its order).

    Raises:
        ConfigError: clicks per object asked of clicks that carry no object id.
    """
    n = clicks.index.size
    if cfg.mode == "density":
        if cfg.density >= 1.0:
            return np.arange(n)
        order = np.random.default_rng(annotator_seed(cfg, stem)).permutation(n)
        return np.sort(order[:math.ceil(cfg.density * n)])
    if clicks.object is None:
        raise ConfigError(f"{stem}: clicks per object need an object id per click (the CSV's object column or the "
                          "GeoJSON 'object' property); use a density (share of your clicks kept) instead")
    objects = np.asarray(clicks.object)
    order = np.argsort(objects, kind="stable")  # each object's clicks together, in the file's order
    starts = np.r_[0, np.flatnonzero(np.diff(objects[order])) + 1]
    rank = np.empty(n, np.int64)  # how many clicks of the same object come before each click
    rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.flatnonzero((rank < cfg.clicks_per_object) | (objects < 0))  # object id -1: background, kept


VAL_SEED = 7_919  # mixed into the annotator seed for the simulated validation clicks: never the training ones


def user_points_of(index: DatasetIndex, image_ids: list[int]) -> list[SparsePoints]:
    """All of the user's clicks on these images (none for an image they did not click on)."""
    found = []
    for i in image_ids:
        e = index.entries[i]
        c = (index.user_clicks or {}).get(e.stem)
        found.append(clicks_of(c.index, c.label, e.record.height, e.record.width) if c is not None else
                     SparsePoints(np.empty(0, np.int64), np.empty(0, np.uint8), e.record.height, e.record.width))
    return found


def validation_points(index: DatasetIndex, cfg: TrialConfig, image_ids: list[int],
                      cache: NodeCache | None = None) -> list[SparsePoints] | None:
    """The clicks click validation scores, per validation image (module docstring); None when it is off."""
    if index.user_clicks is not None:
        return user_points_of(index, image_ids)
    if cfg.data.val_clicks == 0:
        return None
    cache = cache or NodeCache()
    found = []
    for i in image_ids:
        e = index.entries[i]
        seed = (*annotator_seed(cfg.points, e.stem), VAL_SEED)
        key = key_of("validation clicks", mask_key(e.files, index.classes, index.resize), seed, cfg.data.val_clicks)

        def simulate(e=e, seed=seed) -> dict[str, np.ndarray]:  # the mask is read only when the node has no entry
            mask = np.asarray(LabelSource(e.files, index.classes, index.resize, "mask", cache).array())
            chosen = click_order(mask, seed, cfg.data.val_clicks)
            return {"indices": chosen, "labels": mask.ravel()[chosen]}

        clicks = cache.cached_arrays(key, simulate)
        found.append(clicks_of(clicks["indices"], clicks["labels"], e.record.height, e.record.width))
    return found


def _limits(cfg: PointConfig) -> tuple[float, int, float | None]:
    """What the cached clicks cover: at least this trial's own setting, up to the search's highest."""
    share = cfg.background_share
    share_up_to = None if share is None else max(share, cfg.share_up_to or 0.0)
    return max(cfg.density, cfg.order_up_to), max(cfg.clicks_per_object, cfg.clicks_up_to), share_up_to


class ClickSource:
    """The training clicks of one trial (module docstring); ``points(k)`` for the k-th image of ``image_ids``."""

    def __init__(self, index: DatasetIndex, cfg: TrialConfig, image_ids: list[int], cache: NodeCache | None = None):
        self.index, self.cfg, self.image_ids, self.cache = index, cfg, image_ids, cache
        self._kept: OrderedDict[int, SparsePoints] = OrderedDict()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_kept": OrderedDict()}

    def _mask(self, i: int) -> LabelSource:
        e = self.index.entries[i]
        return LabelSource(e.files, self.index.classes, self.index.resize, "mask", self.cache)

    def _simulate(self, i: int) -> SparsePoints:
        entry, points = self.index.entries[i], self.cfg.points
        if self.index.user_clicks is not None:
            c = self.index.user_clicks.get(entry.stem)
            if c is None:
                return SparsePoints(np.empty(0, np.int64), np.empty(0, np.uint8), entry.record.height,
                                    entry.record.width)
            kept = user_selection(c, points, entry.stem)
            return clicks_of(c.index[kept], c.label[kept], entry.record.height, entry.record.width)
        mask_source = self._mask(i)
        if points.mode == "density" and points.density >= 1.0:
            return SparsePoints(np.empty(0, np.int64), np.empty(0, np.uint8), entry.record.height,
                                entry.record.width, dense=mask_source)
        mask = mask_source.array()
        seed = annotator_seed(points, entry.stem)
        cache = self.cache or NodeCache()
        density_max, k_max, share_max = _limits(points)
        files, classes, resize = entry.files, self.index.classes, self.index.resize
        if points.mode == "density":
            key = key_of("click order", mask_key(files, classes, resize), seed, density_max)
            arrays = cache.cached_arrays(key, lambda: _order_arrays(mask, seed, density_max))
            order = ClickOrder(arrays["indices"], int(arrays["valid"]))
            k = int(round(points.density * order.valid_pixels))
            return sparse_from(mask, order.indices[:k])
        inst_key = instance_key(files, classes, resize) if files.instance else None
        key = key_of("instance clicks", mask_key(files, classes, resize), inst_key, seed, k_max, share_max,
                     points.min_region_pixels)

        def make() -> dict[str, np.ndarray]:
            ids = LabelSource(files, classes, resize, "instance", cache).array() if files.instance else None
            c = InstanceClicks.of(mask, ids, seed, k_max, share_max, points.min_region_pixels)
            return {"things": c.things, "thing_rank": c.thing_rank, "regions": c.regions,
                    "region_rank": c.region_rank, "background": c.background}

        a = cache.cached_arrays(key, make)
        clicks = InstanceClicks(a["things"], a["thing_rank"], a["regions"], a["region_rank"], a["background"],
                                k_max, share_max)
        return sparse_from(mask, clicks.chosen(points.clicks_per_object, points.background_share))

    def points(self, k: int) -> SparsePoints:
        if k in self._kept:
            self._kept.move_to_end(k)
            return self._kept[k]
        found = self._simulate(self.image_ids[k])
        self._kept[k] = found
        while sum(p.nbytes for p in self._kept.values()) > POINTS_CACHE_BYTES and len(self._kept) > 1:
            self._kept.popitem(last=False)
        return found

    def stats(self) -> PointStats:
        """Points per image, labelled share and points per class over every training image (each simulated once,
        on this node)."""
        counts = np.zeros(self.index.classes.num_classes, np.int64)
        labelled = valid = 0
        empty = []
        for k, i in enumerate(self.image_ids):
            p = self.points(k)
            record = self.index.entries[i].record
            valid += sum(record.class_pixels) or record.height * record.width  # no mask: every pixel
            if p.dense is not None:
                counts += np.asarray(record.class_pixels, np.int64)
                labelled += sum(record.class_pixels)
                continue
            counts += np.bincount(p.label, minlength=len(counts))[:len(counts)]
            labelled += p.count
            if p.count == 0:
                empty.append(k)
        n = max(len(self.image_ids), 1)
        return PointStats(labelled / n, labelled / max(valid, 1), tuple(int(c) for c in counts), tuple(empty))


def _order_arrays(mask: np.ndarray, seed: tuple[int, ...], density_max: float) -> dict[str, np.ndarray]:
    order = ClickOrder.of(np.asarray(mask), seed, density_max)
    return {"indices": order.indices, "valid": np.asarray(order.valid_pixels)}

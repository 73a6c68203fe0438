"""From a decoded dataset and a trial config to what training consumes: split, frozen points, loaders."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from trainable.config import IGNORE_INDEX, ConfigError, TrialConfig
from trainable.dataset import SegmentationData
from trainable.points import (
    ClickOrder,
    PointStats,
    annotator_seed,
    class_weights_from_counts,
    point_stats,
    simulate_points,
)
from trainable.tiles import GridTiles, TrainCrops


@dataclass
class TrialInputs:
    train_crops: TrainCrops
    train_loader: DataLoader
    val_loader: DataLoader
    train_stems: list[str]
    val_stems: list[str]
    points: PointStats
    class_weight: torch.Tensor | None  # (C,) or None


def points_key(cfg: TrialConfig) -> tuple:
    """What a trial's training points depend on (the point settings; the split comes with the data)."""
    return tuple(sorted(dataclasses.asdict(cfg.points).items()))


def cache_training_points(data: SegmentationData, cfg: TrialConfig) -> None:
    """Compute a config's training points once (a search's driver does it) for every trial that shares them."""
    data.points_cache[points_key(cfg)] = training_points(data, cfg)[2]


def click_orders_key(cfg: TrialConfig) -> tuple:
    """What a trial's click orders depend on (the annotator's seed, not the density)."""
    return (cfg.points.seed,)


def cache_click_orders(data: SegmentationData, cfg: TrialConfig, max_density: float) -> int:
    """Order the training images' clicks once, up to ``max_density``, for every trial of a density search.

    Returns:
        How many click indices were cached.
    """
    orders = [ClickOrder.of(data.samples[i].mask, annotator_seed(cfg.points, data.samples[i].stem), max_density)
              for i in data.split.train]
    data.click_orders[click_orders_key(cfg)] = orders
    return sum(o.indices.size for o in orders)


def _cached_points(data: SegmentationData, cfg: TrialConfig, train_idx: list[int]) -> list[np.ndarray] | None:
    sparse = data.points_cache.get(points_key(cfg))
    if sparse is not None or cfg.points.mode != "density":
        return sparse
    orders = data.click_orders.get(click_orders_key(cfg))
    if orders is None or not all(o.covers(cfg.points.density) for o in orders):
        return None
    return [o.points(data.samples[i].mask, cfg.points.density) for o, i in zip(orders, train_idx, strict=True)]


def training_points(data: SegmentationData, cfg: TrialConfig) -> tuple[list[int], list[int], list[np.ndarray]]:
    """Split by scene and simulate the (frozen) point labels of the training images.

    Raises:
        ConfigError: some training image gets no labelled point at this density / points per instance.
    """
    train_idx, val_idx = list(data.split.train), list(data.split.val)
    sparse = _cached_points(data, cfg, train_idx)
    if sparse is None:
        sparse = [simulate_points(data.samples[i].mask, data.samples[i].instances, cfg.points, data.samples[i].stem)
                  for i in train_idx]
    empty = [data.samples[train_idx[k]].stem for k, s in enumerate(sparse) if not (s != IGNORE_INDEX).any()]
    if empty:
        what = (f"density {cfg.points.density:g}" if cfg.points.mode == "density"
                else f"{cfg.points.points_per_instance} point(s) per instance")
        raise ConfigError(f"{what} leaves {len(empty)} training image(s) with no labelled point "
                          f"({', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}); raise the density "
                          "(--density / the low end of --density-range) or use per-instance points")
    return train_idx, val_idx, sparse


def build_inputs(data: SegmentationData, cfg: TrialConfig, pin_memory: bool = False) -> TrialInputs:
    """Loaders of one trial; ``pin_memory`` (for CUDA) makes the batches' copies to the GPU asynchronous."""
    train_idx, val_idx, sparse = training_points(data, cfg)
    images = [data.samples[i].image for i in train_idx]
    stats = point_stats(sparse, [data.samples[i].mask for i in train_idx], data.classes.num_classes)
    length = cfg.data.crops_per_epoch or TrainCrops.auto_length(images, cfg.data.tile_size, cfg.train.batch_size)
    crops = TrainCrops(images, sparse, cfg.data.tile_size, length, cfg.data.flips, cfg.data.rotations,
                       cfg.train.seed)
    # drop_last: a trailing batch of 1 crop breaks BatchNorm in DeepLabV3's image-pooling branch
    train_loader = DataLoader(crops, batch_size=cfg.train.batch_size, shuffle=False,
                              drop_last=length >= 2 * cfg.train.batch_size, pin_memory=pin_memory)
    val_tiles = GridTiles([data.samples[i].image for i in val_idx], [data.samples[i].mask for i in val_idx],
                          cfg.data.tile_size)
    val_loader = DataLoader(val_tiles, batch_size=cfg.train.batch_size, shuffle=False, pin_memory=pin_memory)
    weight = torch.from_numpy(class_weights_from_counts(stats.class_counts)) if cfg.points.class_weights else None
    return TrialInputs(crops, train_loader, val_loader, [data.samples[i].stem for i in train_idx],
                       [data.samples[i].stem for i in val_idx], stats, weight)

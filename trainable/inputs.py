"""From a dataset index and a trial config to what training consumes: sources, clicks, normalisation, loaders."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from trainable.config import ConfigError, TrialConfig
from trainable.data.index import DatasetIndex, normalization
from trainable.data.node_cache import NodeCache
from trainable.data.sources import ImageSource, LabelSource, ValidPixels
from trainable.data.tiles import GridTiles, Normalizer, PointWindows, TrainCrops
from trainable.labels.clicks import ClickSource, validation_points
from trainable.labels.points import PointStats, class_weights_from_counts


@dataclass
class TrialInputs:
    train_crops: TrainCrops
    train_loader: DataLoader
    val_loader: DataLoader
    train_stems: list[str]
    val_stems: list[str]
    points: PointStats
    class_weight: torch.Tensor | None  # (C,) or None


def image_sources(index: DatasetIndex, ids: list[int] | tuple[int, ...],
                  cache: NodeCache | None = None) -> list[ImageSource]:
    return [ImageSource(index.entries[i].files, index.resize, index.bands, cache) for i in ids]


def mask_sources(index: DatasetIndex, ids: list[int] | tuple[int, ...],
                 cache: NodeCache | None = None) -> list[LabelSource | None]:
    """The dense masks of these images (None for an image that has only clicks)."""
    return [LabelSource(index.entries[i].files, index.classes, index.resize, "mask", cache)
            if index.entries[i].files.mask is not None else None for i in ids]


def sizes(index: DatasetIndex, ids: list[int] | tuple[int, ...]) -> list[tuple[int, int]]:
    return [(index.entries[i].record.height, index.entries[i].record.width) for i in ids]


def check_metric_for_data(cfg: TrialConfig, index: DatasetIndex) -> None:
    """A run on validation images without dense masks must rank by click validation, and click validation needs
    clicks on the validation images.

    Raises:
        ConfigError: naming the metric to use or the clicks that are missing.
    """
    val = list(index.split.val)
    dense_metric = not cfg.train.metric.startswith("val_clicks_")
    if dense_metric and not index.masked(val):
        unmasked = [index.entries[i].stem for i in val if index.entries[i].files.mask is None]
        more = " ..." if len(unmasked) > 3 else ""
        raise ConfigError(f"--metric {cfg.train.metric} needs dense masks on the validation images, and "
                          f"{len(unmasked)} have only clicks ({', '.join(unmasked[:3])}{more}"
                          f"); rank by your clicks instead: --metric val_clicks_{cfg.train.metric[len('val_'):]}")
    if not dense_metric:
        users = index.user_clicks
        if users is None and cfg.data.val_clicks == 0:
            raise ConfigError(f"--metric {cfg.train.metric} with --val-clicks 0: click validation is off; give "
                              "--val-clicks N (clicks per validation image) or rank by a dense metric")
        if users is not None and not any(index.entries[i].stem in users for i in val):
            raise ConfigError(f"--metric {cfg.train.metric}: none of the {len(val)} validation image(s) has a click "
                              f"in {cfg.data.clicks}; click on them too, or choose the validation images with "
                              "--split FILE / --val-dir")


def check_batch_for_data(cfg: TrialConfig, index: DatasetIndex) -> None:
    """A batch is at most an epoch's crops: a larger one would be filled with repeats of the same crops.

    Raises:
        ConfigError: naming the batch size, the crops an epoch has and what to change.
    """
    batch, given = cfg.train.batch_size, cfg.data.crops_per_epoch
    crops = given or TrainCrops.auto_length(sizes(index, training_ids(index)), cfg.data.tile_size, 1)
    if batch > crops:
        what = (f"--crops-per-epoch {given}" if given else
                f"the {crops} crops of {cfg.data.tile_size} px that cover the training images once")
        instead = (f"use a --batch-size of at most {crops}, or raise --crops-per-epoch" if crops >= 2 else
                   f"raise --crops-per-epoch to {batch} or more")
        raise ConfigError(f"--batch-size {batch} is more than an epoch's crops ({what}): an epoch would be one batch "
                          f"of repeats; {instead}")


def resolve_for_data(cfg: TrialConfig, index: DatasetIndex) -> TrialConfig:
    """The config with what the data decides filled in, once (by the driver or ``train``): the per-band
    normalisation (``normalize`` -> ``mean``, ``std``), the bands read (a format's default, so that the export and
    ``evaluate`` read the same) and the model's input bands. Checks the metric suits the data
    (``check_metric_for_data``)."""
    check_metric_for_data(cfg, index)
    check_batch_for_data(cfg, index)
    mean, std = cfg.data.mean, cfg.data.std
    if not mean:
        try:
            mean, std = normalization(index, cfg.data.normalize)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    return cfg.replace(data={"mean": tuple(mean), "std": tuple(std), "bands": tuple(index.bands)},
                       model={"in_channels": index.band_count}).validate()


def normalizer_of(cfg: TrialConfig, index: DatasetIndex) -> Normalizer:
    """The normalisation ``cfg`` carries (the driver resolves it), else the one ``normalize`` asks for; with
    ``standardize``, every tile standardised after it."""
    mean, std = (cfg.data.mean, cfg.data.std) if cfg.data.mean else normalization(index, cfg.data.normalize)
    return Normalizer(mean, std, cfg.data.standardize)


def training_ids(index: DatasetIndex) -> list[int]:
    """The images a trial trains on: the training split, less (with the user's own clicks) the images they did not
    click on (their dense masks, if any, serve validation and test only)."""
    train = list(index.split.train)
    if index.user_clicks is not None:
        train = [i for i in train if index.entries[i].stem in index.user_clicks]
        if not train:
            raise ConfigError(f"none of the {len(index.split.train)} training image(s) of {index.root} has a click in "
                              "the --clicks file; check that the clicks name those images (their stems or file "
                              "names), or move clicked images into training with --split FILE")
    return train


def training_clicks(index: DatasetIndex, cfg: TrialConfig, cache: NodeCache | None = None) -> tuple[ClickSource,
                                                                                                  PointStats]:
    """The trial's clicks and how many they are.

    Raises:
        ConfigError: some training image gets no labelled point at this density / points per instance.
    """
    train = training_ids(index)
    clicks = ClickSource(index, cfg, train, cache)
    stats = clicks.stats()
    if stats.images_without_points:
        empty = [index.entries[train[k]].stem for k in stats.images_without_points]
        what = (f"density {cfg.points.density:g}" if cfg.points.mode == "density"
                else f"{cfg.points.clicks_per_object} point(s) per instance")
        raise ConfigError(f"{what} leaves {len(empty)} training image(s) with no labelled point "
                          f"({', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}); raise the density "
                          "(--density / the low end of --density-range) or use per-instance points")
    return clicks, stats


def epoch_crops(crops: int, batch_size: int) -> tuple[int, bool]:
    """Crops drawn per epoch and whether the loader drops a trailing partial batch: no batch of one crop.

    BatchNorm in train mode needs two values per channel, and DeepLabV3's image pooling reduces a crop to one, so a
    batch of one crop cannot train. From two full batches up an epoch is whole batches (the trailing partial one is
    dropped); below that the trailing batch is kept, and one of a single crop gets one more crop (9 crops in
    batches of 8 train as 8 + 2, 1 crop as 2).

    Returns:
        The crops to draw and ``drop_last`` for the loader.
    """
    drop_last = crops >= 2 * batch_size
    if not drop_last and crops % batch_size == 1:
        crops += 1
    return crops, drop_last


def training_crops(images: list[ImageSource], image_sizes: list[tuple[int, int]], labels: PointWindows,
                   normalizer: Normalizer, cfg: TrialConfig,
                   valid: list[LabelSource | ValidPixels | None] | None = None, pin_memory: bool = False,
                   mark_clicks: bool = False) -> tuple[TrainCrops, DataLoader]:
    """The training crops of these images and their loader: ``--crops-per-epoch`` crops an epoch (or as many as
    cover the images once), in batches (``epoch_crops``). ``labels``: the clicks (or, in a second stage, clicks
    over pseudo-labels); ``valid``: the pixels a loss on unlabelled pixels or a mean teacher may use (None without
    one); ``mark_clicks``: the crops say which labels are clicks (``TrainCrops``)."""
    length, drop_last = epoch_crops(cfg.data.crops_per_epoch or TrainCrops.auto_length(
        image_sizes, cfg.data.tile_size, cfg.train.batch_size), cfg.train.batch_size)
    crops = TrainCrops(images, image_sizes, labels, normalizer, cfg.data.tile_size, length, cfg.data.flips,
                       cfg.data.rotations, cfg.train.seed, valid, mark_clicks, cfg.data.color_jitter,
                       cfg.data.scale_jitter)
    return crops, DataLoader(crops, batch_size=cfg.train.batch_size, shuffle=False, drop_last=drop_last,
                             pin_memory=pin_memory)


def build_inputs(index: DatasetIndex, cfg: TrialConfig, pin_memory: bool = False,
                 cache: NodeCache | None = None) -> TrialInputs:
    """Loaders of one trial; ``pin_memory`` (for CUDA) makes the batches' copies to the GPU asynchronous."""
    train, val = training_ids(index), list(index.split.val)
    clicks, stats = training_clicks(index, cfg, cache)
    normalizer = normalizer_of(cfg, index)
    valid = mask_sources(index, train, cache) if cfg.train.unlabeled_loss != "none" else None
    crops, train_loader = training_crops(image_sources(index, train, cache), sizes(index, train), clicks, normalizer,
                                         cfg, valid, pin_memory)
    val_tiles = GridTiles(image_sources(index, val, cache), mask_sources(index, val, cache), sizes(index, val),
                          normalizer, cfg.data.tile_size, validation_points(index, cfg, val, cache))
    val_loader = DataLoader(val_tiles, batch_size=cfg.train.batch_size, shuffle=False, pin_memory=pin_memory)
    weight = torch.from_numpy(class_weights_from_counts(stats.class_counts)) if cfg.points.class_weights else None
    return TrialInputs(crops, train_loader, val_loader, [index.entries[i].stem for i in train],
                       [index.entries[i].stem for i in val], stats, weight)

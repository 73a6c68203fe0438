"""Self-training as a second stage (``--pseudo-labels THRESHOLD``): what it trains on and what it reports.

The design, in the order a run meets it:

- **Stage 1** is the run without self-training, unchanged: epochs 1 to E (``train.epochs``) on the clicks, its
  schedule spanning them. Its best epoch's weights are kept in memory (``RunRecord.keep_best``) and, while they are
  not the last epoch's, in each resume state (``best_model``).
- **The switch** (epoch E + 1): the model takes the stage-1 best weights, and those weights predict every image the
  second stage trains on (``trainable.learn.pseudo``): the training images that have clicks, the training split's
  images without clicks (with ``--clicks``: the images left unclicked), and the ``--unlabeled-images``. Never a
  validation or test image: the images come from the training split and the unlabeled folder only
  (``stage_two_images`` checks it). Pixels at or above the threshold, holding data, become labels; clicks win.
- **Stage 2**: epochs E + 1 to 2E, a fresh Adam and the learning-rate schedule started again (warm-up included), on
  clicks + pseudo-labels; crops are drawn by image area as in stage 1, from images that hold at least one label, as
  many per epoch as ``--crops-per-epoch`` says (or as cover the second stage's images once). Its loss weights the
  classes by inverse frequency over clicks and pseudo-labels (confident pixels are mostly the common classes').
  Each epoch reports ``stage``, ``pseudo_labelled_fraction`` (pseudo-labelled pixels, clicks not counted,
  over the pixels holding data of the stage's images) and ``pseudo_label_accuracy`` (their agreement with the dense
  masks where the images have them: a diagnostic, never used to train); stage-1 epochs report stage 1 and 0.
- **How stage 2 learns** (each off unless given; ``trainable.learn.stage_two_loss``): ``--pseudo-lr-factor F``
  starts its schedule at F x ``--lr``; ``--pseudo-class-share S`` lowers each class's threshold so that it keeps at
  least its most confident share S of the pixels predicted as it (a first pass over the images counts them);
  ``--teacher-decay D`` has a mean teacher (the weights' moving average) label every crop as the model learns;
  ``--pseudo-weight W`` makes the pseudo-labels' loss a term of its own beside the clicks'.
- **The run's best epoch** is taken over both stages: a second stage that does not help leaves the stage-1 model
  as the run's model.
- **Resume** inside stage 2: the resume state carries the stage-1 best weights (``pseudo_source``; a state is then
  4x the model, with Adam's moments); the pseudo-labels are read from the node cache where this node made them, or
  made again from those weights.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainable.config import TrialConfig
from trainable.data.index import DatasetIndex, IndexEntry
from trainable.data.node_cache import NodeCache, key_of
from trainable.data.sources import ImageSource, LabelSource, ValidPixels, image_key, mask_key
from trainable.inputs import TrialInputs, training_crops, training_ids
from trainable.labels.points import class_weights_from_counts
from trainable.learn.pseudo import (
    Predictor,
    PseudoImage,
    PseudoLabels,
    PseudoStats,
    cached_labels,
    class_thresholds,
    confidence_counts,
    image_stats,
    weights_key,
)

log = logging.getLogger(__name__)


@dataclass
class SecondStage:
    """What the second stage trains with: its loaders (validation unchanged), how much its pseudo-labels cover, and
    the threshold of each class (``--pseudo-labels``, or lower with ``--pseudo-class-share``)."""

    inputs: TrialInputs
    stats: PseudoStats
    seconds: float  # to make (or read back) the pseudo-labels
    thresholds: np.ndarray  # (C,)


def stage_two_images(data: DatasetIndex) -> tuple[list[int], list[IndexEntry]]:
    """The index's images the second stage trains on (the training split's: the clicked ones first, in the order
    the clicks come in, then those without clicks), and the unlabeled ones.

    Raises:
        AssertionError: an image of the validation or test part would be pseudo-labelled (never: the split's parts
            are disjoint).
    """
    clicked = training_ids(data)
    taken = set(clicked)
    ids = clicked + [i for i in data.split.train if i not in taken]
    held_out = set(data.split.val) | set(data.split.test)
    assert not held_out & set(ids), "a validation or test image among the images to pseudo-label"
    return ids, list(data.unlabeled)


def pseudo_image(data: DatasetIndex, entry: IndexEntry, cache: NodeCache | None) -> PseudoImage:
    files = entry.files
    mask = LabelSource(files, data.classes, data.resize, "mask", cache) if files.mask is not None else None
    key = key_of(image_key(files, data.resize, data.bands),
                 mask_key(files, data.classes, data.resize) if files.mask is not None else None)
    return PseudoImage(ImageSource(files, data.resize, data.bands, cache),
                       ValidPixels(files, data.classes, data.resize, cache),
                       (entry.record.height, entry.record.width), mask, key)


def loaded_copy(model: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` holding ``weights`` (the model itself keeps its own)."""
    other = copy.deepcopy(model)
    other.load_state_dict(weights)
    return other


def second_stage(data: DatasetIndex, cfg: TrialConfig, inputs: TrialInputs, predictor: nn.Module,
                 source: dict[str, torch.Tensor], device: torch.device, cache: NodeCache | None = None) -> SecondStage:
    """Pseudo-label the second stage's images with ``predictor`` (holding the weights ``source``) and build its
    training loader (module docstring).

    Args:
        data: the dataset's index (its unlabeled images included).
        cfg: the trial's settings (``train.pseudo_labels``: the threshold).
        inputs: stage 1's inputs: their clicks and validation loader are kept.
        predictor: the model that predicts (in eval mode while it does).
        source: its weights, whose fingerprint keys the cached pseudo-labels.
        device: where it runs.
        cache: the node cache (None: this node's default).
    """
    t0 = time.perf_counter()
    cache = cache or NodeCache()
    ids, unlabeled = stage_two_images(data)
    images = [pseudo_image(data, data.entries[i], cache) for i in ids] + [pseudo_image(data, e, cache)
                                                                         for e in unlabeled]
    p = Predictor(predictor, weights_key(source), float(cfg.train.pseudo_labels), cfg.data.tile_size,
                  data.classes.num_classes, device, cfg.train.batch_size, inputs.train_crops.normalizer)
    thresholds = np.full(data.classes.num_classes, p.threshold)
    if cfg.train.pseudo_class_share is not None:  # a first pass over the images: per-class thresholds
        counts = sum(confidence_counts(p, image) for image in images)
        thresholds = class_thresholds(counts, float(cfg.train.pseudo_labels), cfg.train.pseudo_class_share)
        p = dataclasses.replace(p, threshold=tuple(thresholds.tolist()))
    clicks = inputs.train_crops.clicks
    clicked = len(clicks.image_ids)
    labels, stats, kept = [], PseudoStats(), []
    for k, image in enumerate(images):
        found = cached_labels(p, image, cache)
        own = image_stats(found, image, clicks.points(k) if k < clicked else None, data.classes.num_classes)
        stats.add(own)
        if k < clicked or own.labelled:  # an image with no label at all would only make crops to draw again
            labels.append(found)
            kept.append(image)
    train = cfg.train
    valid = train.unlabeled_loss != "none" or train.teacher_decay is not None
    crops, loader = training_crops([i.image for i in kept], [i.size for i in kept], PseudoLabels(clicks, labels),
                                   inputs.train_crops.normalizer, cfg, [i.valid for i in kept] if valid else None,
                                   pin_memory=device.type == "cuda",
                                   mark_clicks=train.teacher_decay is not None or train.pseudo_weight is not None)
    seconds = time.perf_counter() - t0
    log.info("second stage: %.1f%% of %d image(s) pseudo-labelled at threshold %s (%d unlabeled image(s)), %.1f s",
             100 * stats.fraction, len(images), " ".join(f"{t:.3g}" for t in thresholds), len(unlabeled), seconds)
    weight = torch.from_numpy(class_weights_from_counts(tuple(int(c) for c in stats.class_counts)))
    return SecondStage(dataclasses.replace(inputs, train_crops=crops, train_loader=loader, class_weight=weight),
                       stats, seconds, thresholds)


def stage_metrics(cfg: TrialConfig, second: SecondStage | None) -> dict[str, Any]:
    """The columns of self-training in an epoch's metrics (none without it)."""
    if cfg.train.pseudo_labels is None:
        return {}
    if second is None:
        return {"stage": 1, "pseudo_labelled_fraction": 0.0, "pseudo_label_accuracy": math.nan,
                "pseudo_labelled_images": 0}
    return {"stage": 2, "pseudo_labelled_fraction": second.stats.fraction,
            "pseudo_label_accuracy": second.stats.accuracy, "pseudo_labelled_images": second.stats.images}

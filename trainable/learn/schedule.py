"""The learning-rate schedule: a pure function of training progress, so resuming needs no scheduler state."""

from __future__ import annotations

import math

from trainable.config import TrainConfig


def lr_at(cfg: TrainConfig, progress: float) -> float:
    """Learning rate at ``progress`` in [0, 1] of the whole run (``epochs`` epochs).

    A linear warm-up over ``warmup_epochs`` rises to ``lr``; then ``poly`` decays it as
    ``(1 - t) ** poly_power`` (DeepLab; torchvision's segmentation reference uses power 0.9), ``cosine`` as
    ``(1 + cos(pi t)) / 2``, and ``constant`` keeps it, where ``t`` is the progress after the warm-up.
    """
    progress = min(max(progress, 0.0), 1.0)
    warmup = cfg.warmup_epochs / cfg.epochs
    if progress < warmup:
        return cfg.lr * progress / warmup
    t = (progress - warmup) / (1.0 - warmup)
    if cfg.lr_schedule == "poly":
        return cfg.lr * (1.0 - t) ** cfg.poly_power
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return cfg.lr

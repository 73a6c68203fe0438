"""pointtune's trainable: one point-supervised segmentation training run (data, points, model, loss, metrics).

``run_trial`` and ``tune_entrypoint`` are loaded on first use: importing the package (or its config) does not
import torch, so that ``pointtune --help``, ``results`` and ``report`` answer at once.
"""

from typing import Any

from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

__all__ = ["IGNORE_INDEX", "DataConfig", "ModelConfig", "PointConfig", "TrainConfig", "TrialConfig",
           "run_trial", "tune_entrypoint"]


def __getattr__(name: str) -> Any:
    if name in ("run_trial", "tune_entrypoint"):
        from trainable import trial

        return getattr(trial, name)
    raise AttributeError(f"module 'trainable' has no attribute {name!r}")

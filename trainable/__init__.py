"""pointtune's trainable: one point-supervised segmentation training run (data, points, model, loss, metrics).

``run_trial`` and ``tune_entrypoint`` are loaded on first use: importing the package (or its config) does not
import torch, so that ``pointtune --help``, ``results`` and ``report`` answer at once.
"""

from typing import Any

from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

__all__ = ["IGNORE_INDEX", "DataConfig", "ModelConfig", "PointConfig", "TrainConfig", "TrialConfig",
           "run_trial", "tune_entrypoint"]


def __getattr__(name: str) -> Any:
    if name == "run_trial":
        from trainable.trial import run_trial

        return run_trial
    if name == "tune_entrypoint":  # imports Ray
        from trainable.tune_trial import tune_entrypoint

        return tune_entrypoint
    raise AttributeError(f"module 'trainable' has no attribute {name!r}")

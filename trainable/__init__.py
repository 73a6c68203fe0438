"""pointtune's trainable: one point-supervised segmentation training run (data, points, model, loss, metrics)."""

from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig
from trainable.trial import run_trial, tune_entrypoint

__all__ = ["IGNORE_INDEX", "DataConfig", "ModelConfig", "PointConfig", "TrainConfig", "TrialConfig",
           "run_trial", "tune_entrypoint"]

"""The full-supervision reference of a search (``run --reference full``): one dense trial, to compare clicks with.

After the search, the best trial's settings train once more with every valid pixel of the masks labelled (density
1, no class weights): the same learning rate, epochs, schedule, model, weights and seeds. It writes a
``pointtune train`` folder, ``EXPERIMENT/reference_full/`` (``config.yaml``, ``metrics.csv``, ``best.pt``), and
``reference.json`` (its best scores and the trial it copied) when it has finished. This module says what a
reference is and reads it; ``search/launch/train.py``'s ``train_reference`` trains one (the driver runs it as a Ray
task with a trial's resources).
"""

from __future__ import annotations

import json
import math
from io import StringIO
from typing import Any

import pandas as pd

from search.files import DONE_FILE
from trainable.config import TrialConfig
from trainable.data import storage
from trainable.defaults import default

REFERENCE_DIR = "reference_full"


def reference_config(best: dict[str, Any]) -> TrialConfig:
    """The best trial's config with full supervision: density 1 (every valid pixel), no class weights, no unlabeled
    images. A self-training trial's reference keeps its two stages, so that it trains as many epochs with the same
    restarted schedule: the dense masks leave its second stage no pixel to pseudo-label."""
    cfg = TrialConfig.from_dict(best)
    return cfg.replace(points={"mode": "density", "density": 1.0, "class_weights": False, "background_share": None,
                               "order_up_to": 0.0, "clicks_up_to": 0, "share_up_to": None},
                       data={"unlabeled_images": None})


def same_run(cfg: TrialConfig, done: dict[str, Any]) -> bool:
    """Whether a finished reference (its ``reference.json``) was trained with this config."""
    return done.get("config") == cfg.to_dict()


def load_reference(experiment: str) -> dict[str, Any] | None:
    """A search's finished reference (``reference.json``), or None."""
    path = f"{experiment}/{REFERENCE_DIR}/{DONE_FILE}"
    if not storage.exists(path):
        return None
    try:
        return json.loads(storage.read_text(path))
    except (OSError, ValueError):
        return None


def reference_history(experiment: str) -> pd.DataFrame:
    """The reference's per-epoch metrics (empty when it has none)."""
    path = f"{experiment}/{REFERENCE_DIR}/metrics.csv"
    if not storage.exists(path):
        return pd.DataFrame()
    return pd.read_csv(StringIO(storage.read_text(path)))


def ratio(value: float, reference: dict[str, Any] | None, metric: str = default("metric")) -> float:
    """``value`` as a fraction of the reference's ``metric`` (NaN without a reference)."""
    if reference is None or not reference.get(metric):
        return math.nan
    return value / reference[metric]

"""The warning before a search that will take hours: a timed step times the work, and faster settings named."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.settings import SearchSettings, SearchSpace
from search.time_estimate import advice, estimate_search, time_training_step
from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig
from trainable.index import build_index


def test_a_timed_step_is_positive_and_scales_with_the_batch() -> None:
    one = time_training_step(ModelConfig(backbone="tiny"), 6, 32, 2, threads=1)
    assert 0 < one < 5


def test_hours_of_work_are_said_with_faster_settings(demo_dir: Path) -> None:
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32))
    base = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=32, crops_per_epoch=800),
                       train=TrainConfig(batch_size=8))
    settings = SearchSettings(base=base, space=SearchSpace(epochs=(2, 12)), trials=16)
    estimate = estimate_search(settings, data, at_once=2, step_s=3.0)
    assert estimate.steps_per_epoch == 100 and estimate.mean_epochs == 7
    assert estimate.total_s == pytest.approx((100 + estimate.val_batches / 3) * 3.0 * 7 * 8)
    text = advice(settings, estimate, faster_step_s=0.5)
    assert text.startswith("this search will take about") and " h " in text
    assert "--backbone mobilenet_v3_large" in text and "--crops-per-epoch 200" in text
    quick = estimate_search(settings, data, at_once=2, step_s=0.001)
    assert advice(settings, quick, None) is None, "a search of minutes is not warned about"

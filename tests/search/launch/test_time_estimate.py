"""The warning before a search that will take hours: a timed step times the work, and faster settings named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from search.launch.settings import SearchSettings, SearchSpace
from search.launch.time_estimate import (
    estimate_run,
    estimate_search,
    long_work_advice,
    probe_training_step,
    time_training_step,
    warn_if_long,
    warn_if_long_run,
)
from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig
from trainable.data.index import build_index

MOBILENET = ModelConfig(backbone="mobilenet_v3_large", weights="none")


@pytest.mark.real
def test_a_deeplabv3_step_is_timed_on_two_crops_or_more_and_scaled_by_crops_and_area() -> None:
    """DeepLabV3's image-pooling BatchNorm cannot train on one crop: the probe times at least two, in train mode."""
    two = probe_training_step(MOBILENET, 6, tile=32, batch=2, threads=1)
    four = probe_training_step(MOBILENET, 6, tile=32, batch=8, threads=1)
    assert (two.crops, two.side) == (2, 32) and (four.crops, four.side) == (4, 32)
    assert 0 < two.seconds < 30 and 0 < four.seconds < 30
    # a batch of 8 is twice the probe's 4 crops; 64-px crops are 4x the pixels of 32-px ones
    assert four.step_s(8, 32) == pytest.approx(2 * four.seconds)
    assert four.step_s(8, 64) == pytest.approx(4 * four.step_s(8, 32))
    assert two.step_s(8, 32) == pytest.approx(4 * two.seconds)
    # probed at most PROBE_TILE pixels: a 256-px tile is timed at 128 px and scaled by the area
    assert probe_training_step(ModelConfig(backbone="tiny"), 6, tile=256, batch=2, threads=1).side == 128
    assert 0 < time_training_step(ModelConfig(backbone="tiny"), 6, 32, 2, threads=1) < 5


def _settings(demo_dir: Path, tile: int, crops: int, batch: int, backbone: str = "tiny",
              trials: int = 16) -> SearchSettings:
    base = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=tile, crops_per_epoch=crops),
                       model=ModelConfig(backbone=backbone, weights="none"), train=TrainConfig(batch_size=batch))
    return SearchSettings(base=base, space=SearchSpace(epochs=(2, 12)), trials=trials, gpus_per_trial=0.0)


def test_the_validation_tiles_and_training_steps_are_counted(demo_dir: Path) -> None:
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=24))
    val = len(data.split.val)
    assert val >= 1 and all(e.record.height == e.record.width == 64 for e in data.entries)
    # 64 px in 24-px tiles: origins 0, 24 and 40 (the last flush with the edge), 3 x 3 tiles per image
    estimate = estimate_search(_settings(demo_dir, tile=24, crops=9, batch=8), data, at_once=1, step_s=1.0)
    assert estimate.val_tiles == 9 * val and estimate.val_batches == math.ceil(9 * val / 8)
    assert estimate.steps_per_epoch == 2, "9 crops in batches of 8 train as 8 + 2 (no batch of one)"
    assert estimate_search(_settings(demo_dir, 24, 20, 8), data, 1, 1.0).steps_per_epoch == 2, "20 = 8 + 8 (+4 left)"


def test_hours_of_work_are_said_with_faster_settings(demo_dir: Path) -> None:
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32))
    settings = _settings(demo_dir, tile=32, crops=800, batch=8)
    estimate = estimate_search(settings, data, at_once=2, step_s=3.0)
    assert estimate.steps_per_epoch == 100 and estimate.mean_epochs == 7
    assert estimate.total_s == pytest.approx((100 + estimate.val_batches / 3) * 3.0 * 7 * 8)
    text = long_work_advice(settings.base, estimate, 0.5, settings)
    assert text.startswith("this search will take about") and " h " in text
    assert "--backbone mobilenet_v3_large" in text and "--crops-per-epoch 200" in text
    quick = estimate_search(settings, data, at_once=2, step_s=0.001)
    assert long_work_advice(settings.base, quick, None, settings) is None, "a search of minutes is not warned about"


def test_a_train_run_of_hours_is_told_as_a_search_is(demo_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """One estimate for both: a run is one trial of its epochs, warned past the same hour with the same words, its
    own ways out (fewer --epochs, not --trials); on a GPU nothing is timed."""
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32))
    cfg = _settings(demo_dir, tile=32, crops=800, batch=8).base
    estimate = estimate_run(cfg, data, epochs=12, step_s=3.0)
    assert (estimate.steps_per_epoch, estimate.mean_epochs, estimate.trials, estimate.at_once) == (100, 12, 1, 1)
    assert estimate.total_s == pytest.approx((100 + estimate.val_batches / 3) * 3.0 * 12)
    text = long_work_advice(cfg, estimate, faster_step_s=None)
    assert text.startswith("this run will take about") and "(100 steps), 12 epoch(s). Faster:" in text
    assert "--crops-per-epoch 200" in text and "fewer --epochs (now 12 to train)" in text and "--trials" not in text
    assert long_work_advice(cfg, estimate_run(cfg, data, 12, 0.001), None) is None, "minutes: no warning"
    assert warn_if_long_run(cfg.replace(train={"device": "cuda"}), data, 12) is None, "on a GPU: not timed"
    assert capsys.readouterr().out == ""


@pytest.mark.real
def test_a_resnet50_search_of_hours_is_told_the_mobilenet_step(demo_dir: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """The whole path on real networks: ResNet-50 timed, then MobileNetV3, and the advice names it. Hours of work
    come from a million crops per epoch, not from a patched clock."""
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32))
    settings = _settings(demo_dir, tile=32, crops=1_000_000, batch=2, backbone="resnet50")
    estimate = warn_if_long(settings, data, at_once=1)
    assert estimate is not None and estimate.total_s > 3600
    printed = capsys.readouterr().out
    assert printed.startswith("WARNING this search will take about") and "one training step of resnet50" in printed
    assert "  - --backbone mobilenet_v3_large (a step takes " in printed
    assert warn_if_long(SearchSettings(base=settings.base, gpus_per_trial=1.0), data, 1) is None, "GPU trials"

"""From an index and a config to loaders: no batch of one crop reaches a BatchNorm network in training."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig
from trainable.data.index import build_index
from trainable.inputs import build_inputs, epoch_crops


@pytest.mark.parametrize("crops, batch, expected", [
    (9, 8, (10, False)),  # a trailing batch of one gets a second crop: 8 + 2
    (1, 2, (2, False)),
    (5, 2, (5, True)),  # two full batches and more: whole batches only (2 + 2, the fifth crop dropped)
    (17, 8, (17, True)),
    (12, 8, (12, False)),  # 8 + 4
    (16, 8, (16, True)),
])
def test_an_epoch_has_no_batch_of_one_crop(crops: int, batch: int, expected: tuple[int, bool]) -> None:
    assert epoch_crops(crops, batch) == expected


def test_the_loader_batches_nine_crops_in_eights_as_eight_and_two(demo_dir: Path) -> None:
    cfg = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=32, crops_per_epoch=9),
                      model=ModelConfig(backbone="mobilenet_v3_large", weights="none"),
                      train=TrainConfig(batch_size=8))
    inputs = build_inputs(build_index(cfg.data), cfg)
    assert [len(batch["image"]) for batch in inputs.train_loader] == [8, 2]

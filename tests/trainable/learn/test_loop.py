from __future__ import annotations

import pytest
import torch
from torch import nn

from trainable.config import IGNORE_INDEX, ModelConfig
from trainable.learn.loop import recalibrate_batchnorm, train_one_epoch
from trainable.learn.model import build_model


def _batches(n: int, offset: float, size: int = 32) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.randn(4, 3, size, size, generator=g) * 2 + offset,
             "mask": torch.randint(0, 3, (4, size, size), generator=g), "redraws": torch.zeros(4, dtype=torch.long)}
            for _ in range(n)]


@pytest.mark.real
def test_bn_statistics_are_re_estimated_before_validation() -> None:
    """MobileNetV3's BN momentum 0.01 leaves running statistics far from the data after a few steps."""
    model = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none"), num_classes=3)
    first_bn = model.backbone["0"][1]
    assert first_bn.momentum == 0.01
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = _batches(4, offset=3.0)
    train_one_epoch(model, batches, opt, torch.device("cpu"), 3)
    seen = []
    hook = model.backbone["0"][0].register_forward_hook(lambda m, i, o: seen.append(o.mean((0, 2, 3))))
    with torch.no_grad():
        model.train()
        for b in batches:
            model(b["image"])
    hook.remove()
    truth = torch.stack(seen).mean(0)  # per-channel mean of the first BN's input over these batches
    stale = (first_bn.running_mean - truth).abs().max().item()
    used = recalibrate_batchnorm(model, batches, torch.device("cpu"), num_batches=4)
    fresh = (first_bn.running_mean - truth).abs().max().item()
    assert used == 4 and first_bn.momentum == 0.01
    assert fresh < 1e-3 < stale / 10, (stale, fresh)


@pytest.mark.real
def test_bn_re_estimation_passes_over_batches_of_one_crop() -> None:
    """A batch of one crop in train mode is an error in DeepLabV3 (image pooling leaves one value per channel)."""
    model = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none"), num_classes=3)
    first_bn = model.backbone["0"][1]
    batches = _batches(2, offset=3.0)
    single = {key: value[:1] for key, value in batches[0].items()}
    assert recalibrate_batchnorm(model, [single, batches[0], single, batches[1]], torch.device("cpu"), 8) == 2
    after_two = first_bn.running_mean.clone()
    assert recalibrate_batchnorm(model, [single, single], torch.device("cpu"), 8) == 0
    assert torch.equal(first_bn.running_mean, after_two), "no batch of two: the statistics stay as they were"
    assert first_bn.momentum == 0.01


def test_bn_re_estimation_fixes_collapsed_eval_predictions() -> None:
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3, momentum=0.01))
    model[0].weight.data = torch.eye(3).view(3, 3, 1, 1)
    model[0].bias.data.zero_()
    data = [{"image": torch.randn(8, 3, 4, 4) * 5 + 20, "mask": torch.zeros(8, 4, 4, dtype=torch.long)}]
    wrapped = _Out(model)
    wrapped.eval()
    before = model(data[0]["image"]).std().item()
    recalibrate_batchnorm(wrapped, data, torch.device("cpu"), 1)
    wrapped.eval()
    after = model(data[0]["image"])
    assert before > 3 and abs(after.mean().item()) < 0.1 and abs(after.std().item() - 1) < 0.1


class _Out(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.inner(x)}


def test_batches_without_labelled_pixels_are_skipped_and_counted() -> None:
    model = build_model(ModelConfig(backbone="tiny", weights="none"), num_classes=3)
    batches = _batches(3, offset=0.0)
    batches[1]["mask"][:] = IGNORE_INDEX
    batches[2]["redraws"] = torch.tensor([2, 0, 1, 0])
    result = train_one_epoch(model, batches, torch.optim.Adam(model.parameters()), torch.device("cpu"), 3)
    assert (result.batches, result.skipped_batches, result.redrawn_crops) == (2, 1, 3)
    assert torch.isfinite(torch.tensor(result.loss))

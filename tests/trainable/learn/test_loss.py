from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainable.config import IGNORE_INDEX
from trainable.learn.loss import partial_cross_entropy


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("labelled_share", [0.01, 0.3, 1.0])
def test_equals_cross_entropy_with_ignore_index(weighted: bool, labelled_share: float) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 8, 8, generator=g)
    target = torch.randint(0, 4, (2, 8, 8), generator=g)
    target[torch.rand(2, 8, 8, generator=g) > labelled_share] = IGNORE_INDEX
    target[0, 0, 0] = 1  # at least one labelled pixel
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0]) if weighted else None
    expected = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX)
    assert partial_cross_entropy(logits, target, weight).item() == pytest.approx(expected.item(), rel=1e-6)


def test_hand_worked_value() -> None:
    logits = torch.zeros(1, 2, 1, 2)  # (B, C, H, W)
    logits[0, :, 0, 0] = torch.tensor([0.0, 2.0])  # pixel 0 scores class 1 higher; pixel 1 is unlabelled
    target = torch.tensor([[[1, IGNORE_INDEX]]])
    expected = -math.log(math.exp(2) / (1 + math.exp(2)))
    assert partial_cross_entropy(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_no_labelled_pixel_gives_zero_with_a_gradient() -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.full((2, 4, 4), IGNORE_INDEX)
    loss = partial_cross_entropy(logits, target, torch.ones(3))
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)

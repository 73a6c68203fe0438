"""The second stage's own loss on hand-made tensors: the mean teacher's average and its labels, the pseudo-label term
and its weight. No data, no training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainable.config import IGNORE_INDEX, TrainConfig
from trainable.learn.loss import partial_cross_entropy
from trainable.learn.stage_two_loss import MeanTeacher, StageTwoLoss, stage_two_loss

N = IGNORE_INDEX


class _Net(nn.Module):
    """A convolution and a BatchNorm: parameters and buffers, and DeepLabV3's ``{"out": logits}``."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, classes, 1), nn.BatchNorm2d(classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.norm(self.conv(x))}


class _Says(nn.Module):
    """A network that answers the same logits whatever it sees."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.logits}


def test_the_teacher_moves_toward_the_student_by_the_decay() -> None:
    torch.manual_seed(0)
    student = _Net()
    teacher = MeanTeacher(student, decay=0.9)
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))  # the student learnt something
    student.train()
    student(torch.randn(4, 3, 8, 8))  # and its BatchNorm statistics moved
    teacher.update(student)
    for name, p in student.named_parameters():
        expected = 0.9 * before[name] + 0.1 * p.detach()
        assert torch.allclose(teacher.model.state_dict()[name], expected, atol=1e-6), name
        assert not torch.allclose(expected, p.detach()), "the teacher should lag the student"
    for name, b in student.named_buffers():
        assert torch.equal(teacher.model.state_dict()[name], b), name
    assert all(not p.requires_grad for p in teacher.model.parameters())
    assert student.conv.weight.requires_grad, "the student still learns"


def test_the_teacher_labels_where_its_class_is_sure_enough_and_the_pixel_usable() -> None:
    teacher = MeanTeacher(_Net(2), decay=0.5)
    logits = torch.tensor([[[[3.0, 0.2]]], [[[0.0, 0.0]]]]).permute(1, 0, 2, 3)  # (1, 2, 1, 2): class 0 then a tie
    teacher.model = _Says(logits)  # what the network says, by hand
    usable = torch.tensor([[[True, True]]])
    labels = teacher.labels(torch.zeros(1, 3, 1, 2), torch.tensor([0.9, 0.9]), usable)
    assert labels.tolist() == [[[0, N]]]  # 0.95 for class 0; 0.55 at the second pixel: below 0.9
    assert teacher.labels(torch.zeros(1, 3, 1, 2), torch.tensor([0.5, 0.9]), usable).tolist() == [[[0, 0]]]
    assert teacher.labels(torch.zeros(1, 3, 1, 2), torch.tensor([0.5, 0.9]),
                          torch.tensor([[[False, True]]])).tolist() == [[[N, 0]]]


def _batch() -> tuple[torch.Tensor, torch.Tensor, dict]:
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4))
    target[:, 0] = N
    clicked = torch.zeros(2, 4, 4, dtype=torch.bool)
    clicked[:, 1, :2] = True
    return logits, target, {"clicked": clicked, "valid": torch.ones(2, 4, 4, dtype=torch.bool)}


def test_the_pseudo_label_term_is_scaled_by_its_weight_beside_the_clicks_term() -> None:
    logits, target, batch = _batch()
    balanced = torch.tensor([1.0, 2.0, 0.5])
    clicks = torch.where(batch["clicked"], target, N)
    pseudo = torch.where(batch["clicked"] | (target == N), N, target)
    on_clicks = partial_cross_entropy(logits, clicks)
    on_pseudo = partial_cross_entropy(logits, pseudo, balanced)
    assert on_clicks > 0 and on_pseudo > 0
    for w in (0.5, 2.0):
        loss, learnt = StageTwoLoss(torch.full((3,), 0.9), balanced, None, w)(logits, None, target, batch)
        assert torch.allclose(loss, on_clicks + w * on_pseudo)
        assert torch.equal(learnt, target)  # clicks over pseudo-labels, as the crops held them
    one, _ = StageTwoLoss(torch.full((3,), 0.9), balanced, None, None)(logits, None, target, batch)
    assert torch.allclose(one, F.cross_entropy(logits, target, weight=balanced, ignore_index=N))


def test_with_a_teacher_the_pseudo_labels_are_its_own_and_clicks_still_win() -> None:
    logits, target, batch = _batch()
    teacher = MeanTeacher(_Net(), decay=0.9)
    sure = torch.full((2, 3, 4, 4), -5.0)
    sure[:, 2] = 5.0  # the teacher says class 2 everywhere, surely
    teacher.model = _Says(sure)
    batch["valid"][0, 3] = False  # a row without data
    loss_fn = StageTwoLoss(torch.full((3,), 0.9), None, None, None, teacher)
    clicks, pseudo = loss_fn.targets(torch.zeros(2, 3, 4, 4), target, batch)
    assert torch.equal(clicks[batch["clicked"]], target[batch["clicked"]]) and (clicks[~batch["clicked"]] == N).all()
    assert (pseudo[batch["clicked"]] == N).all() and (pseudo[0, 3] == N).all()
    assert (pseudo[~batch["clicked"] & batch["valid"]] == 2).all()
    _, learnt = loss_fn(logits, torch.zeros(2, 3, 4, 4), target, batch)
    assert torch.equal(learnt, torch.where(batch["clicked"], target, pseudo))


def test_no_loss_of_its_own_unless_asked_and_a_resumed_teacher_keeps_its_weights() -> None:
    student = _Net()
    assert stage_two_loss(TrainConfig(pseudo_labels=0.9), torch.ones(3).numpy(), None, None, student) is None
    saved = {k: v + 1 if v.is_floating_point() else v for k, v in student.state_dict().items()}
    loss = stage_two_loss(TrainConfig(pseudo_labels=0.9, teacher_decay=0.99), torch.ones(3).numpy(), None, None,
                          student, teacher_state=saved)
    assert loss is not None and loss.weight is None and loss.teacher.decay == 0.99
    assert torch.equal(loss.teacher.model.conv.weight, saved["conv.weight"])
    term = stage_two_loss(TrainConfig(pseudo_labels=0.9, pseudo_weight=0.3), torch.ones(3).numpy(), None, None,
                          student)
    assert term.teacher is None and term.weight == 0.3


@pytest.mark.parametrize("setting", [{"teacher_decay": 0.99}, {"pseudo_weight": 0.5}, {"pseudo_class_share": 0.5},
                                     {"pseudo_lr_factor": 0.1}])
def test_a_second_stage_setting_without_a_second_stage_is_refused(setting: dict) -> None:
    from trainable.config import ConfigError

    with pytest.raises(ConfigError, match="add --pseudo-labels THRESHOLD"):
        TrainConfig(**setting).validate()
    TrainConfig(pseudo_labels=0.9, **setting).validate()

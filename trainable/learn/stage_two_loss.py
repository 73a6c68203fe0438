"""How self-training's second stage learns from pseudo-labels beyond one class-balanced loss over clicks and
pseudo-labels made once by the stage-1 model (``trainable.self_training``): a mean teacher, and the
pseudo-labels' loss as a term of its own. Each is off unless asked for; without both, the loop keeps its one loss.

- **Mean teacher** (``--teacher-decay D``, after Tarvainen and Valpola 2017, as self-training for segmentation uses
  it): the teacher starts as the stage-1 best model, and after each optimizer step its parameters move toward the
  student's, ``teacher = D x teacher + (1 - D) x student`` (its BatchNorm statistics are the student's). It labels
  every crop as the student learns (eval mode, no gradient): the top class where its probability reaches that
  class's threshold, on pixels that hold data and are not clicks. The pseudo-labels made once at the switch then only
  choose the crops and weigh the classes.
- **A pseudo-label term** (``--pseudo-weight W``): partial cross-entropy on the clicks (weighted as in stage 1) + W x
  cross-entropy on the pseudo-labels (the stage's class-balanced weights); without it, one class-balanced
  cross-entropy over clicks and pseudo-labels together.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from trainable.config import IGNORE_INDEX, TrainConfig
from trainable.learn.loop import autocast
from trainable.learn.loss import partial_cross_entropy


class MeanTeacher:
    """An exponential moving average of a student's weights, and the labels it gives a batch."""

    def __init__(self, student: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(student).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        """Parameters: ``decay x teacher + (1 - decay) x student``; buffers (BatchNorm statistics): the student's."""
        for t, s in zip(self.model.parameters(), student.parameters(), strict=True):
            t.mul_(self.decay).add_(s.detach(), alpha=1.0 - self.decay)
        for t, s in zip(self.model.buffers(), student.buffers(), strict=True):
            t.copy_(s)

    @torch.no_grad()
    def labels(self, image: torch.Tensor, thresholds: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
        """(B, C, T, T) images -> (B, T, T) int64: the teacher's top class where its probability is at least
        ``thresholds[class]`` ((C,)) and ``usable`` ((B, T, T) bool) holds, ``IGNORE_INDEX`` elsewhere."""
        self.model.eval()
        with autocast(image.device):
            probs = self.model(image)["out"].float().softmax(1)
        top, label = probs.max(1)
        return torch.where((top >= thresholds[label]) & usable, label, IGNORE_INDEX)


@dataclass
class StageTwoLoss:
    """The second stage's loss of a batch (module docstring); ``teacher`` None: the crops' own pseudo-labels."""

    thresholds: torch.Tensor  # (C,) on the device: the teacher's, each class its own
    class_weight: torch.Tensor | None  # the stage's, balanced over its labels: the pseudo-labels' term or the one loss
    click_weight: torch.Tensor | None  # stage 1's (--class-weights): the clicks' term
    weight: float | None  # the pseudo-label term's; None: one loss over clicks and pseudo-labels
    teacher: MeanTeacher | None = None

    def targets(self, image: torch.Tensor, target: torch.Tensor, batch: dict[str, Any]) -> tuple[torch.Tensor,
                                                                                                 torch.Tensor]:
        """(clicks, pseudo-labels), each (B, T, T) with ``IGNORE_INDEX`` elsewhere: from the crops' labels
        (``target``, clicks over pseudo-labels) and which of them are clicks, the pseudo-labels the teacher's."""
        clicked = batch["clicked"].to(target.device, non_blocking=True)
        clicks = torch.where(clicked, target, IGNORE_INDEX)
        if self.teacher is None:
            return clicks, torch.where(clicked, IGNORE_INDEX, target)
        usable = batch["valid"].to(target.device, non_blocking=True) & ~clicked
        return clicks, self.teacher.labels(image, self.thresholds, usable)

    def __call__(self, logits: torch.Tensor, image: torch.Tensor, target: torch.Tensor,
                 batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss, and the labels it learnt from (clicks over pseudo-labels, for the training metrics)."""
        clicks, pseudo = self.targets(image, target, batch)
        merged = torch.where(clicks != IGNORE_INDEX, clicks, pseudo)
        if self.weight is None:
            return partial_cross_entropy(logits, merged, self.class_weight), merged
        return (partial_cross_entropy(logits, clicks, self.click_weight)
                + self.weight * partial_cross_entropy(logits, pseudo, self.class_weight)), merged

    def after_step(self, student: nn.Module) -> None:
        if self.teacher is not None:
            self.teacher.update(student)


def stage_two_loss(train: TrainConfig, thresholds: np.ndarray, class_weight: torch.Tensor | None,
                   click_weight: torch.Tensor | None, student: nn.Module,
                   teacher_state: dict[str, torch.Tensor] | None = None) -> StageTwoLoss | None:
    """The second stage's loss where ``--teacher-decay`` or ``--pseudo-weight`` asks for one (else None: the loop's
    one loss). The teacher starts as ``student`` (the stage-1 best model), or with ``teacher_state`` (a resume
    state's)."""
    if train.teacher_decay is None and train.pseudo_weight is None:
        return None
    teacher = None
    if train.teacher_decay is not None:
        teacher = MeanTeacher(student, train.teacher_decay)
        if teacher_state is not None:
            teacher.model.load_state_dict(teacher_state)
    device = next(student.parameters()).device
    return StageTwoLoss(torch.as_tensor(thresholds, dtype=torch.float32, device=device), class_weight, click_weight,
                        train.pseudo_weight, teacher)

"""One epoch of training, one pass of validation, and BatchNorm re-estimation: plain functions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from trainable.config import IGNORE_INDEX
from trainable.learn.loss import partial_cross_entropy
from trainable.learn.metrics import ConfusionMatrix
from trainable.learn.unlabeled_loss import unlabeled_loss


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaling needed), full precision on CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def _to_device(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    image = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
    return image, batch["mask"].to(device, non_blocking=True)


@dataclass(frozen=True)
class UnlabeledTerm:
    """A loss on the unlabelled pixels of each crop (``trainable.learn.unlabeled_loss``) and its weight."""

    name: str
    weight: float


class BatchLoss(Protocol):
    """A loss of its own for each batch (self-training's second stage: ``trainable.learn.stage_two_loss``): the loss
    and the labels it learnt from, and what follows each optimizer step."""

    def __call__(self, logits: torch.Tensor, image: torch.Tensor, target: torch.Tensor,
                 batch: dict) -> tuple[torch.Tensor, torch.Tensor]: ...

    def after_step(self, model: nn.Module) -> None: ...


@dataclass
class EpochResult:
    loss: float  # mean loss over trained batches; NaN/inf when training diverged
    confusion: ConfusionMatrix  # of the labelled pixels (points in training, dense masks in validation)
    points_confusion: ConfusionMatrix | None = None  # validation: of the held-out validation clicks
    batches: int = 0
    skipped_batches: int = 0  # training batches with no labelled pixel: skipped, counted
    redrawn_crops: int = 0  # crops re-drawn because they held no labelled pixel


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, num_classes: int, class_weight: torch.Tensor | None = None,
                    lr_for_step: Callable[[int], float] | None = None,
                    unlabeled: UnlabeledTerm | None = None,
                    on_batch: Callable[[int, int], None] | None = None,
                    batch_loss: BatchLoss | None = None) -> EpochResult:
    """One pass over ``loader``; ``lr_for_step(i)`` sets the learning rate before the i-th batch (0-based);
    ``unlabeled`` adds a weighted loss on the unlabelled pixels (the batches then carry a ``valid`` mask);
    ``on_batch(i, len(loader))`` is told before it (progress for a live view; 0 when the loader has no length);
    ``batch_loss`` replaces partial cross-entropy (a second stage's: ``trainable.learn.stage_two_loss``)."""
    model.train()
    result = EpochResult(0.0, ConfusionMatrix(num_classes))
    total = torch.zeros((), device=device)
    batches = len(loader) if on_batch is not None and hasattr(loader, "__len__") else 0
    for i, batch in enumerate(loader):
        if on_batch is not None:
            on_batch(i, batches)
        if lr_for_step is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_for_step(i)
        result.redrawn_crops += int(batch["redraws"].sum())
        if not (batch["mask"] != IGNORE_INDEX).any():  # checked on the CPU copy: no wait for the GPU
            result.skipped_batches += 1
            continue
        image, target = _to_device(batch, device)  # (B, 3, T, T), (B, T, T)
        with autocast(device):
            logits = model(image)["out"]  # (B, C, T, T)
        if batch_loss is not None:
            loss, target = batch_loss(logits, image, target, batch)
        else:
            loss = partial_cross_entropy(logits, target, class_weight)
        if unlabeled is not None and unlabeled.weight > 0:
            valid = batch["valid"].to(device, non_blocking=True)
            loss = loss + unlabeled.weight * unlabeled_loss(unlabeled.name, logits, image, target, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if batch_loss is not None:
            batch_loss.after_step(model)
        total += loss.detach()
        result.batches += 1
        result.confusion.update(logits.detach().argmax(1), target)
    result.loss = float(total) / max(result.batches, 1)  # one sync per epoch
    return result


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int,
             on_batch: Callable[[int, int], None] | None = None) -> EpochResult:
    """Validation: cross-entropy and confusion over every non-ignored pixel of the dense masks, and a second
    confusion over the validation clicks when the batches carry them (``points``); ``on_batch(i, len(loader))`` is
    told before the i-th batch, as in training."""
    model.eval()
    result = EpochResult(0.0, ConfusionMatrix(num_classes))
    loss_sum, pixels = torch.zeros((), device=device), torch.zeros((), device=device)
    batches = len(loader) if on_batch is not None and hasattr(loader, "__len__") else 0
    for i, batch in enumerate(loader):
        if on_batch is not None:
            on_batch(i, batches)
        image, target = _to_device(batch, device)
        with autocast(device):
            logits = model(image)["out"]
        loss_sum += F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX, reduction="sum")
        pixels += (target != IGNORE_INDEX).sum()
        predicted = logits.argmax(1)
        result.confusion.update(predicted, target)
        if "points" in batch:
            result.points_confusion = result.points_confusion or ConfusionMatrix(num_classes)
            result.points_confusion.update(predicted, batch["points"].to(device, non_blocking=True))
        result.batches += 1
    result.loss = float(loss_sum / pixels.clamp_min(1))
    return result


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, loader: DataLoader, device: torch.device, num_batches: int) -> int:
    """Re-estimate every BatchNorm's running statistics from ``num_batches`` training batches.

    Short runs need it: torchvision's MobileNetV3 uses BN momentum 0.01, so after a few hundred steps the running
    statistics still lag the weights and eval-mode predictions collapse to one class. Statistics are reset and
    averaged with equal weight (momentum None) over the batches; the layers' momenta are then restored. A batch of
    one crop is passed over (DeepLabV3's image pooling leaves BatchNorm one value per channel: no statistics); with
    no batch of two or more the statistics stay as they were.

    Returns:
        The number of batches used (0 when the model has no BatchNorm or ``num_batches`` is 0).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or num_batches <= 0:
        return 0
    momenta = [m.momentum for m in norms]
    model.train()
    used = 0
    for batch in loader:
        if used == num_batches:
            break
        if len(batch["image"]) < 2:
            continue
        if used == 0:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches used
        image, _ = _to_device(batch, device)
        with autocast(device):
            model(image)
        used += 1
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return used

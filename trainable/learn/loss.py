"""Partial cross-entropy: the loss over labelled pixels only."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainable.config import IGNORE_INDEX


def partial_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                          weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over the pixels whose label is not ``IGNORE_INDEX``.

    Equals ``F.cross_entropy(logits, target, weight, ignore_index=IGNORE_INDEX)`` whenever some pixel is labelled;
    with no labelled pixel it returns 0 that still carries a gradient (zero), never NaN.

    Args:
        logits: (B, C, H, W) raw scores.
        target: (B, H, W) int64 class indices, ``IGNORE_INDEX`` where unlabelled.
        weight: optional (C,) class weights; the mean is then weighted, as in ``F.cross_entropy``.
    """
    total = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=IGNORE_INDEX, reduction="sum")
    labelled = target != IGNORE_INDEX
    if weight is None:
        denom = labelled.sum()
    else:
        denom = weight[target[labelled]].sum()
    return total / denom.clamp_min(torch.finfo(total.dtype).tiny)

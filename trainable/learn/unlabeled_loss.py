"""Losses on the unlabelled pixels, computed from the image itself; added to partial cross-entropy with a weight.

Three regularisers of a prediction where no point label says anything:

- ``gated_crf``: the gated CRF loss (Obukhov et al. 2019): neighbours in a local window that look alike (RGB-XY
  Gaussian kernel) are pushed to the same class (Potts compatibility).
- ``affinity``: the BoxInst pairwise loss (Tian et al. 2021): for 8 dilated neighbours of similar colour, maximise
  the probability that both take the same class.
- ``entropy``: entropy minimisation (Grandvalet & Bengio 2005): confident predictions on unlabelled pixels.

Pixels fall in three sets: labelled (a point), unlabelled (valid, no point) and invalid (no-data or ignored, with
``valid`` False). Invalid pixels never contribute, neither as a source nor as a neighbour; ``unlabeled_loss`` also
replaces their logits and image values by zeros first, so even NaN there changes neither the loss nor a gradient.
Pairs are built with shifted slices of padded tensors (one (B, ., H, W) tensor per offset), never with (B, HW, HW)
matrices.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from trainable.config import IGNORE_INDEX, UNLABELED_LOSSES

UnlabeledLoss = Literal["none", "gated_crf", "affinity", "entropy"]


def _shifted(x: torch.Tensor, dy: int, dx: int, pad: int, fill: float | bool = 0) -> torch.Tensor:
    """The neighbour at offset (dy, dx) of every pixel: ``out[..., y, x] = x[..., y + dy, x + dx]``.

    Args:
        x: (B, C, H, W) or (B, H, W) tensor.
        dy, dx: offset in pixels, each in ``[-pad, pad]``.
        pad: padding used; neighbours outside the image read ``fill``.
        fill: value outside the image (``False`` for masks, so outside neighbours are never valid).

    Returns:
        Tensor of the shape of ``x``.
    """
    h, w = x.shape[-2:]
    if x.dtype == torch.bool:
        padded = F.pad(x.to(torch.uint8), (pad, pad, pad, pad), value=int(fill)).bool()
    else:
        padded = F.pad(x, (pad, pad, pad, pad), value=float(fill))
    return padded[..., pad + dy: pad + dy + h, pad + dx: pad + dx + w]


def _safe_mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``total / count``, and exactly 0 (with a zero gradient) when ``count`` is 0."""
    return total / count.clamp_min(1)


def _check_inputs(scores: torch.Tensor, image: torch.Tensor, *masks: torch.Tensor) -> None:
    if scores.dim() != 4 or image.dim() != 4:
        raise ValueError(f"predictions {tuple(scores.shape)} and image {tuple(image.shape)} must be (B, C, H, W)")
    b, _, h, w = scores.shape
    if image.shape[0] != b or image.shape[-2:] != (h, w):
        raise ValueError(f"image {tuple(image.shape)} does not match predictions {tuple(scores.shape)} in batch or "
                         "size; upsample the logits to the input size first")
    for m in masks:
        if m.shape != (b, h, w):
            raise ValueError(f"mask {tuple(m.shape)} must be (B, H, W) = {(b, h, w)}")


def gated_crf_loss(probs: torch.Tensor, image: torch.Tensor, unlabelled: torch.Tensor, valid: torch.Tensor,
                   kernel_size: int = 5, sigma_rgb: float = 0.1, sigma_xy: float = 6.0) -> torch.Tensor:
    """Gated CRF loss with an RGB-XY Gaussian kernel and Potts compatibility (Obukhov et al. 2019).

    ``sum_i sum_{j in window(i), j != i} src_i * valid_j * k_ij * (1 - sum_c p_ic p_jc) / sum_i src_i`` with
    ``k_ij = exp(-|xy_i - xy_j|^2 / (2 sigma_xy^2) - |rgb_i - rgb_j|^2 / (2 sigma_rgb^2))``.

    Sources are the unlabelled valid pixels (``src = unlabelled & valid``); neighbours are all valid pixels, so a
    labelled neighbour pulls an unlabelled pixel towards its (well-trained) class, while a pair of two labelled
    pixels costs nothing (cross-entropy already rules there). A pair of two unlabelled pixels is counted from both
    ends, as in the paper's symmetric sum. Neighbours outside the image do not exist (no padding pairs).
    The loss is normalised by the number of sources: the mean, over unlabelled pixels, of the affinity-weighted
    disagreement with the window, at most ``kernel_size**2 - 1``.

    Args:
        probs: (B, C, H, W) class probabilities (softmax), summing to 1 over C.
        image: (B, K, H, W) the network input; all K bands form the colour vector, in the image's units (for
            ImageNet-normalised RGB, 0.1 is about 6 grey levels on one band).
        unlabelled: (B, H, W) bool, pixels without a point label.
        valid: (B, H, W) bool, False on no-data / ignored pixels.
        kernel_size: odd side of the square window, in pixels.
        sigma_rgb: colour bandwidth, in image units.
        sigma_xy: spatial bandwidth, in pixels.

    Returns:
        Scalar float32 tensor; exactly 0 when there is no source pixel.
    """
    _check_inputs(probs, image, unlabelled, valid)
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size}: use an odd window side of 3 or more, e.g. 5")
    r = kernel_size // 2
    src = unlabelled & valid  # (B, H, W)
    total = probs.new_zeros(())
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            rgb_d2 = (image - _shifted(image, dy, dx, r)).square().sum(1)  # (B, H, W)
            kernel = torch.exp(-(dy * dy + dx * dx) / (2 * sigma_xy**2) - rgb_d2 / (2 * sigma_rgb**2))
            same = (probs * _shifted(probs, dy, dx, r)).sum(1)  # (B, H, W): P(i and j take the same class)
            gate = src & _shifted(valid, dy, dx, r, fill=False)
            total = total + torch.where(gate, kernel * (1 - same), 0).sum()
    return _safe_mean(total, src.sum())


def pairwise_affinity_loss(log_probs: torch.Tensor, image: torch.Tensor, unlabelled: torch.Tensor,
                           valid: torch.Tensor, dilation: int = 2, threshold: float = 0.3,
                           sigma: float = 0.2) -> torch.Tensor:
    """BoxInst pairwise colour-affinity loss, for C classes (Tian et al. 2021).

    For each pixel i and its 8 neighbours j at ``dilation``, the colour similarity is
    ``S_ij = exp(-||c_i - c_j|| / sigma)``; an edge counts when ``S_ij >= threshold``, both ends are valid and at
    least one end is unlabelled (an edge between two labelled pixels is cross-entropy's business). The loss is
    ``mean over counted edges of -log P_same``, ``P_same = sum_c p_ic p_jc``, computed as a log-sum-exp of
    log-probabilities so it stays finite for confident, disagreeing predictions.

    Each undirected edge is taken once (offsets (0, d), (d, 0), (d, d), (d, -d)); BoxInst's 8 directed
    neighbours count every edge twice with the same value, so the mean is the same.
    BoxInst measures colour in LAB (sigma 2 in LAB units); here the given image is used as is, all K bands.
    With ImageNet-normalised RGB the default ``sigma=0.2`` and ``threshold=0.3`` count edges whose colour
    difference is under 0.24 (about 14 grey levels on one band).

    Args:
        log_probs: (B, C, H, W) log class probabilities (log-softmax).
        image: (B, K, H, W) the network input; all K bands form the colour vector.
        unlabelled: (B, H, W) bool, pixels without a point label.
        valid: (B, H, W) bool, False on no-data / ignored pixels.
        dilation: distance of the neighbours, in pixels.
        threshold: minimum colour similarity of a counted edge, in (0, 1].
        sigma: colour scale ``theta``, in image units.

    Returns:
        Scalar float32 tensor; exactly 0 when no edge counts.
    """
    _check_inputs(log_probs, image, unlabelled, valid)
    if dilation < 1:
        raise ValueError(f"dilation={dilation}: use a neighbour distance of 1 or more pixels, e.g. 2")
    d = dilation
    unlabelled = unlabelled & valid
    total, count = log_probs.new_zeros(()), torch.zeros((), dtype=torch.long, device=log_probs.device)
    for dy, dx in ((0, d), (d, 0), (d, d), (d, -d)):
        dist = (image - _shifted(image, dy, dx, d)).square().sum(1).sqrt()  # (B, H, W)
        edge = (torch.exp(-dist / sigma) >= threshold) & valid & _shifted(valid, dy, dx, d, fill=False)
        edge = edge & (unlabelled | _shifted(unlabelled, dy, dx, d, fill=False))
        log_same = torch.logsumexp(log_probs + _shifted(log_probs, dy, dx, d), dim=1)  # (B, H, W)
        total = total - torch.where(edge, log_same, 0).sum()
        count = count + edge.sum()
    return _safe_mean(total, count)


def entropy_loss(log_probs: torch.Tensor, unlabelled: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy ``-sum_c p_c log p_c`` (nats) over the unlabelled pixels (Grandvalet & Bengio 2005).

    Takes log-probabilities rather than probabilities: ``p log p`` from log-softmax has no 0 * log 0 NaN.

    Args:
        log_probs: (B, C, H, W) log class probabilities (log-softmax).
        unlabelled: (B, H, W) bool, unlabelled *valid* pixels (exclude no-data pixels before calling).

    Returns:
        Scalar float32 tensor in [0, log C]; exactly 0 when no pixel is unlabelled.
    """
    if log_probs.dim() != 4 or unlabelled.shape != (log_probs.shape[0], *log_probs.shape[2:]):
        raise ValueError(f"log_probs {tuple(log_probs.shape)} must be (B, C, H, W) and the mask "
                         f"{tuple(unlabelled.shape)} (B, H, W)")
    entropy = -(log_probs.exp() * log_probs).sum(1)  # (B, H, W)
    return _safe_mean(torch.where(unlabelled, entropy, 0).sum(), unlabelled.sum())


def unlabeled_loss(name: UnlabeledLoss, logits: torch.Tensor, image: torch.Tensor, labels: torch.Tensor,
                   valid: torch.Tensor) -> torch.Tensor:
    """The named loss on the unlabelled pixels, with default settings, in float32.

    Args:
        name: one of ``UNLABELED_LOSSES``; ``none`` gives 0 (with a zero gradient when ``logits`` has one).
        logits: (B, C, H, W) raw scores, at the input's size (any float dtype, bf16 included).
        image: (B, K, H, W) the (normalised) network input.
        labels: (B, H, W) int64 class indices, ``IGNORE_INDEX`` where unlabelled.
        valid: (B, H, W) bool, False on no-data / ignored pixels (neither labelled nor unlabelled).

    Returns:
        Scalar float32 tensor.

    Raises:
        ValueError: unknown ``name``, or shapes that do not match.
    """
    if name not in UNLABELED_LOSSES:
        raise ValueError(f"unlabelled loss {name!r} is unknown: choose one of {', '.join(UNLABELED_LOSSES)}")
    _check_inputs(logits, image, labels, valid)
    if name == "none":
        return logits.float()[..., :0].sum()  # 0.0, in the graph, never NaN
    # Zero out invalid pixels first: their values (even NaN) then reach neither the loss nor the gradients.
    logits = torch.where(valid[:, None], logits.float(), 0)
    image = torch.where(valid[:, None], image.float(), 0)
    unlabelled = valid & (labels == IGNORE_INDEX)
    log_probs = F.log_softmax(logits, dim=1)
    if name == "gated_crf":
        return gated_crf_loss(log_probs.exp(), image, unlabelled, valid)
    if name == "affinity":
        return pairwise_affinity_loss(log_probs, image, unlabelled, valid)
    return entropy_loss(log_probs, unlabelled)


"""DeepLabV3 builders (torchvision) with the classifier replaced for N classes, and their weights.

Weights: ``none``; ``auto`` (ImageNet backbone weights when already on disk, no download); ``imagenet``
(backbone, torchvision's ``*_Weights.IMAGENET1K_V1``); ``coco`` (the whole DeepLabV3, torchvision's
``COCO_WITH_VOC_LABELS_V1``); or a path to a state dict (``.pt``/``.pth``, also a pointtune checkpoint/export).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights, ResNet101_Weights, segmentation

from trainable.checkpoint import read_torch_file
from trainable.config import ModelConfig

log = logging.getLogger(__name__)

# backbone -> (builder, COCO segmentation weights, ImageNet backbone weights)
_TORCHVISION: dict[str, tuple[Any, Any, Any]] = {
    "resnet50": (segmentation.deeplabv3_resnet50, segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
                 ResNet50_Weights.IMAGENET1K_V1),
    "resnet101": (segmentation.deeplabv3_resnet101,
                  segmentation.DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1, ResNet101_Weights.IMAGENET1K_V1),
    "mobilenet_v3_large": (segmentation.deeplabv3_mobilenet_v3_large,
                           segmentation.DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
                           MobileNet_V3_Large_Weights.IMAGENET1K_V1),
}


class WeightsError(RuntimeError):
    """Requested weights are missing, unreadable or do not fit the model."""


class TinySegNet(nn.Module):
    """A small stand-in CNN (about 20k parameters) for fast tests; same output contract as torchvision's models."""

    def __init__(self, num_classes: int, width: int = 24):
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(3, width), block(width, width, 2), block(width, width))
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.classifier(self.features(x))
        return {"out": nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)}


def cached_weights_path(weights: Any) -> Path:
    """Where torchvision looks for (and downloads) a weights enum's file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _fetch(builder: Any, cfg: ModelConfig, **kwargs: Any) -> nn.Module:
    """Call a torchvision builder that may download weights; explain what to do when offline."""
    enum = kwargs.get("weights") or kwargs.get("weights_backbone")
    try:
        return builder(**kwargs)
    except Exception as e:  # noqa: BLE001  URLError, OSError, RuntimeError: torchvision wraps them variously
        where = cached_weights_path(enum)
        msg = (f"could not get {enum} weights for backbone {cfg.backbone!r} ({type(e).__name__}: {e}). "
               f"Offline? Download {enum.url} on a machine with internet and put it at {where}, or pass "
               "--weights FILE (a state dict), --weights none, or --allow-random-init to train from scratch")
        if not cfg.allow_random_init:
            raise WeightsError(msg) from None
        log.warning("%s; continuing from random init as --allow-random-init asks", msg)
        # weights_backbone=None explicitly: torchvision's builders default to ImageNet backbone weights
        return builder(weights=None, weights_backbone=None, num_classes=kwargs.get("num_classes", 21),
                       aux_loss=kwargs.get("aux_loss"))


def _replace_heads(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final 1x1 conv of the classifier for N classes; drop the aux head (we train without it)."""
    last = model.classifier[-1]
    model.classifier[-1] = nn.Conv2d(last.in_channels, num_classes, kernel_size=1)
    model.aux_classifier = None
    return model


def load_state_file(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a state dict file into ``model``, skipping entries whose shape differs (a head for other classes).

    The file is read with ``weights_only=True``: files that need arbitrary code to unpickle are refused.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist: pass an existing .pt/.pth state dict")
    state = read_torch_file(path)  # weights_only=True: the one safe reader for every file pointtune loads
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and getattr(v, "shape", None) == own[k].shape}
    if not fitting:
        raise WeightsError(f"weights file {path} matches none of the parameters of this model: "
                           "is it a state dict for the same --backbone?")
    model.load_state_dict(fitting, strict=False)
    log.info("loaded %d/%d tensors from %s (%d skipped: other shape or name)",
             len(fitting), len(own), path, len(state) - len(fitting))
    return model


def build_model(cfg: ModelConfig, num_classes: int) -> nn.Module:
    """DeepLabV3 for ``num_classes`` with the requested weights; returns ``{"out": (B, C, H, W)}`` on forward."""
    if cfg.backbone == "tiny":
        model: nn.Module = TinySegNet(num_classes)
        return load_state_file(model, cfg.weights) if cfg.weights not in ("none", "auto") else model
    builder, coco, imagenet = _TORCHVISION[cfg.backbone]
    weights = cfg.weights
    if weights == "auto":
        weights = "imagenet" if cached_weights_path(imagenet).is_file() else "none"
        if weights == "none":
            log.warning("no ImageNet weights for %s at %s: training from scratch. For better results download "
                        "%s to that path (or pass --weights FILE)", cfg.backbone, cached_weights_path(imagenet),
                        imagenet.url)
    if weights == "coco":
        return _replace_heads(_fetch(builder, cfg, weights=coco, aux_loss=True), num_classes)
    if weights == "imagenet":
        return _fetch(builder, cfg, weights=None, weights_backbone=imagenet, num_classes=num_classes)
    model = builder(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
    return model if weights == "none" else load_state_file(model, weights)

"""DeepLabV3 builders (torchvision) with the classifier replaced for N classes, and their weights.

Weights: ``auto``: ImageNet backbone weights (torchvision's ``*_Weights.IMAGENET1K_V1``), taken from torchvision's
cache or downloaded once into it by the driver; offline without the file the run stops and says where to put it,
unless ``allow_random_init``; the tiny network has none. Or ``none``; ``imagenet`` (as auto, an error for tiny);
``coco`` (the whole DeepLabV3, torchvision's ``COCO_WITH_VOC_LABELS_V1``); or a path to a state dict
(``.pt``/``.pth``, also a pointtune checkpoint/export).

Weights are *resolved* once (``resolve_weights``: the search's driver, or ``train``). The resolved choice (file and
SHA-256, or random init) goes into the config, and the state dict reaches trials with the data, so no node
downloads anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainable.config import ModelConfig
from trainable.errors import WeightsError
from trainable.learn.checkpoint import read_torch_file

log = logging.getLogger(__name__)

def _torchvision(backbone: str) -> tuple[Any, Any, Any]:
    """backbone -> (builder, COCO segmentation weights, ImageNet backbone weights). torchvision is imported here, not
    at the top: it takes a second or two to import (all of its models and ops), which every trial process and every
    scoring task paid even with the tiny CNN."""
    from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights, ResNet101_Weights, segmentation

    return {
        "resnet50": (segmentation.deeplabv3_resnet50, segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
                     ResNet50_Weights.IMAGENET1K_V1),
        "resnet101": (segmentation.deeplabv3_resnet101,
                      segmentation.DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
                      ResNet101_Weights.IMAGENET1K_V1),
        "mobilenet_v3_large": (segmentation.deeplabv3_mobilenet_v3_large,
                               segmentation.DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
                               MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    }[backbone]


class TinySegNet(nn.Module):
    """A small stand-in CNN (about 20k parameters) for fast tests; same output contract as torchvision's models."""

    def __init__(self, num_classes: int, width: int = 24, in_channels: int = 3):
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(in_channels, width), block(width, width, 2), block(width, width))
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.classifier(self.features(x))
        return {"out": nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)}


def cached_weights_path(weights: Any) -> Path:
    """Where torchvision looks for (and downloads) a weights enum's file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


@dataclass(frozen=True)
class ResolvedWeights:
    """What a run starts from: ``kind`` none, imagenet (backbone), coco (whole model) or file, where from, and the
    SHA-256 of the file that was read (empty for none)."""

    kind: str
    source: str = ""
    sha256: str = ""
    note: str = ""

    def describe(self) -> str:
        if self.kind == "none":
            return self.note or "random init"
        return f"{self.kind} weights from {self.source} (sha256 {self.sha256[:16]}...)"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _torchvision_file(enum: Any, cfg: ModelConfig) -> Path:
    """torchvision's cached weights file for ``enum``, downloaded once from torchvision's URL when missing.

    Raises:
        WeightsError: the file is missing and the download failed (offline), saying where to put it.
    """
    path = cached_weights_path(enum)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        log.info("downloading %s to %s (once, in the driver)", enum.url, path)
        torch.hub.download_url_to_file(enum.url, str(partial), progress=False)
        partial.replace(path)
        return path
    except Exception as e:  # noqa: BLE001  URLError, OSError, RuntimeError: torch.hub raises them variously
        partial.unlink(missing_ok=True)
        raise WeightsError(
            f"could not get {enum} weights for backbone {cfg.backbone!r} ({type(e).__name__}: {e}). Offline? "
            f"Download {enum.url} on a machine with internet and put it at {path}, or pass --weights FILE (a state "
            "dict), --weights none, or --allow-random-init to train from scratch") from None


def resolve_weights(cfg: ModelConfig) -> tuple[ResolvedWeights, dict[str, torch.Tensor] | None]:
    """Decide, once, what a run starts from, and read it.

    Returns:
        The resolved choice and the state dict to load (None for random init).

    Raises:
        WeightsError: weights that cannot be had (offline without the cached file, a missing or unfitting file),
            unless ``allow_random_init`` turns the torchvision cases into random init with a warning.
    """
    if cfg.weights == "none":
        return ResolvedWeights("none", note="random init (--weights none)"), None
    if cfg.weights not in ("auto", "imagenet", "coco"):
        path = Path(cfg.weights).expanduser()
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise WeightsError(f"--weights {path} {what}: pass a .pt/.pth state dict file (or auto, imagenet, coco, "
                               "none)")
        state = read_torch_file(path)  # weights_only=True: the one safe reader for every file pointtune loads
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        return ResolvedWeights("file", str(path.resolve()), _sha256(path)), state
    if cfg.backbone == "tiny":
        if cfg.weights == "auto":
            return ResolvedWeights("none", note="random init (the tiny CNN has no pretrained weights)"), None
        raise WeightsError(f"--weights {cfg.weights}: the tiny CNN has no pretrained weights; use none or a file")
    _, coco, imagenet = _torchvision(cfg.backbone)
    kind, enum = ("coco", coco) if cfg.weights == "coco" else ("imagenet", imagenet)
    try:
        path = _torchvision_file(enum, cfg)
    except WeightsError as e:
        if not cfg.allow_random_init:
            raise
        log.warning("%s; continuing from random init as --allow-random-init asks", e)
        return ResolvedWeights("none", note=f"random init: {kind} weights unavailable (--allow-random-init)"), None
    return ResolvedWeights(kind, str(path), _sha256(path)), read_torch_file(path)


def resolved_config(cfg: ModelConfig, resolved: ResolvedWeights) -> ModelConfig:
    """The model config that records the resolution: trials build from ``kind`` and the state they are given."""
    return dataclasses.replace(cfg, weights=resolved.kind if resolved.kind != "file" else resolved.source,
                               weights_source=resolved.source, weights_sha256=resolved.sha256,
                               weights_note=resolved.describe())


def _load_backbone(model: nn.Module, state: dict[str, torch.Tensor], backbone: str) -> None:
    """ImageNet classification weights into a DeepLabV3's backbone (torchvision names them as the classifier)."""
    if backbone.startswith("mobilenet"):  # the backbone is the classifier's `features`
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    own = model.backbone.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if len(fitting) < len(own):
        raise WeightsError(f"ImageNet weights fit {len(fitting)} of the {len(own)} backbone tensors of {backbone}: "
                           "is the file for another backbone?")
    model.backbone.load_state_dict(fitting)


def _replace_heads(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final 1x1 conv of the classifier for N classes; drop the aux head (we train without it)."""
    last = model.classifier[-1]
    model.classifier[-1] = nn.Conv2d(last.in_channels, num_classes, kernel_size=1)
    model.aux_classifier = None
    return model


def build_model(cfg: ModelConfig, num_classes: int, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """DeepLabV3 for ``num_classes``; returns ``{"out": (B, C, H, W)}`` on forward.

    Args:
        cfg: backbone and weights (resolved or not).
        num_classes: classes of the new head.
        state: the weights ``resolve_weights`` read (a search ships them to trials); when None and ``cfg`` asks for
            weights, they are resolved here.
    """
    if state is None and cfg.weights != "none":
        resolved, state = resolve_weights(cfg)
        cfg = resolved_config(cfg, resolved)
    if cfg.backbone == "tiny":
        model: nn.Module = TinySegNet(num_classes, in_channels=cfg.in_channels)
        return _load_fitting(model, state, cfg.weights) if state is not None else model
    builder = _torchvision(cfg.backbone)[0]
    if cfg.weights == "coco":
        model = builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
        model.load_state_dict(state)
        model = _replace_heads(model, num_classes)
    else:
        model = builder(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
        if cfg.weights == "imagenet":
            _load_backbone(model, state, cfg.backbone)
        elif state is not None and cfg.in_channels == 3:
            _load_fitting(model, state, cfg.weights)
    if cfg.in_channels != 3:
        _widen_first_conv(model, cfg.in_channels)
        if state is not None and cfg.weights not in ("imagenet", "coco"):  # a file for this band count
            _load_fitting(model, state, cfg.weights)
    return model


def first_conv(model: nn.Module) -> tuple[nn.Module, str]:
    """The first convolution of a DeepLabV3 backbone, and its attribute path in the backbone."""
    backbone = model.backbone
    if hasattr(backbone, "conv1"):  # ResNet
        return backbone.conv1, "conv1"
    return backbone["0"][0], "0.0"  # MobileNetV3: features[0] = Conv2dNormActivation


def adapt_conv_weight(weight: torch.Tensor, bands: int) -> torch.Tensor:
    """(O, 3, k, k) RGB filters -> (O, bands, k, k).

    More than 3 bands: the RGB filters stay for the first three bands and the others start at zero, so the widened
    network first computes exactly what the pretrained one did, and learns what the extra bands add. Fewer: one band
    gets the sum of the RGB filters (a grey image gives the same response as its RGB copy), two get R and G scaled
    by 3/2 (timm's rule).
    """
    out, _, k1, k2 = weight.shape
    if bands > 3:
        return torch.cat([weight, weight.new_zeros(out, bands - 3, k1, k2)], dim=1)
    if bands == 1:
        return weight.sum(1, keepdim=True)
    return weight[:, :bands] * (3 / bands)


def _widen_first_conv(model: nn.Module, bands: int) -> None:
    conv, path = first_conv(model)
    new = nn.Conv2d(bands, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(adapt_conv_weight(conv.weight, bands))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    if path == "conv1":
        model.backbone.conv1 = new
    else:
        model.backbone["0"][0] = new


def _load_fitting(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Load the entries of ``state`` that fit ``model`` (a head for other classes is skipped)."""
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and getattr(v, "shape", None) == own[k].shape}
    if not fitting:
        raise WeightsError(f"weights file {source} matches none of the parameters of this model: "
                           "is it a state dict for the same --backbone?")
    model.load_state_dict(fitting, strict=False)
    log.info("loaded %d/%d tensors from %s (%d skipped: other shape or name)",
             len(fitting), len(own), source, len(state) - len(fitting))
    return model

"""``pointtune predict``: seamless tiled inference with an exported model over images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from search.errors import SearchError
from trainable.checkpoint import CheckpointError, read_torch_file
from trainable.config import ModelConfig
from trainable.dataset import open_image, resize_array
from trainable.loop import autocast
from trainable.model import build_model
from trainable.tiles import to_tensor
from trainable.trial import pick_device


def read_export(path: str | Path) -> dict[str, Any]:
    """The contents of a ``pointtune export`` file (read with ``weights_only=True``)."""
    meta = read_torch_file(path)
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith("pointtune-model/"):
        what = ("a trial checkpoint" if isinstance(meta, dict) and {"model", "optimizer", "epoch"} <= set(meta)
                else "not a model written by `pointtune export`")
        raise CheckpointError(f"{path} is {what}: export one with `pointtune export EXPERIMENT --out FILE` "
                              "(add --trial ID for a chosen trial) and use that file")
    return meta


def model_from_payload(meta: dict[str, Any]) -> nn.Module:
    """The network of an export, in eval mode."""
    model = build_model(ModelConfig(backbone=meta["backbone"], weights="none"), meta["num_classes"])
    model.load_state_dict(meta["model"])
    return model.eval()


def load_exported(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a ``pointtune export`` file and its metadata."""
    meta = read_export(path)
    return model_from_payload(meta), meta


def blend_window(tile: int) -> torch.Tensor:
    """(T, T) weights that fall towards a tile's border, so overlapping tiles blend without seams."""
    ramp = torch.minimum(torch.arange(tile) + 1, tile - torch.arange(tile)).float()
    w = torch.minimum(ramp[:, None], ramp[None, :])
    return (w / w.max()).clamp_min(1e-3)


@torch.no_grad()
def predict_array(model: nn.Module, image: np.ndarray, tile: int, num_classes: int,
                  device: torch.device, batch_size: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint8 class indices from half-overlapping tiles with blended probabilities."""
    h, w = image.shape[:2]
    ph, pw = max(h, tile), max(w, tile)
    padded = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    step = max(tile // 2, 1)
    ys = sorted({*range(0, ph - tile + 1, step), ph - tile})
    xs = sorted({*range(0, pw - tile + 1, step), pw - tile})
    origins = [(y, x) for y in ys for x in xs]
    probs = torch.zeros(num_classes, ph, pw)
    weight = torch.zeros(ph, pw)
    window = blend_window(tile)
    for i in range(0, len(origins), batch_size):
        chunk = origins[i:i + batch_size]
        batch = torch.stack([to_tensor(padded[y:y + tile, x:x + tile]) for y, x in chunk]).to(device)
        with autocast(device):
            out = model(batch)["out"].float().softmax(1).cpu()  # (B, C, T, T)
        for (y, x), p in zip(chunk, out, strict=True):
            probs[:, y:y + tile, x:x + tile] += p * window
            weight[y:y + tile, x:x + tile] += window
    return (probs / weight).argmax(0)[:h, :w].numpy().astype(np.uint8)


def predict_files(model_path: str, images: list[str], out: str, device_name: str = "auto",
                  batch_size: int = 8) -> list[Path]:
    """Write ``STEM_classes.png`` (class indices) and ``STEM_colour.png`` for each image; returns the paths."""
    model, meta = load_exported(model_path)
    device = pick_device(device_name)
    model.to(device)
    palette = np.array(meta["class_colours"], dtype=np.uint8)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    scale = float(meta.get("resize", 1.0))  # the model saw images scaled by this factor in training
    written = []
    for name in images:
        path = Path(name)
        try:
            image = open_image(path, "RGB")
        except Exception as e:  # noqa: BLE001  missing, truncated, not an image
            raise SearchError(f"cannot read image {path} ({type(e).__name__}: {e})") from None
        h, w = image.shape[:2]
        image = resize_array(image, scale, Image.Resampling.BILINEAR)
        classes = predict_array(model, image, meta["tile_size"], meta["num_classes"], device, batch_size)
        if scale != 1.0:
            classes = np.asarray(Image.fromarray(classes).resize((w, h), Image.Resampling.NEAREST))
        for suffix, array in (("classes", classes), ("colour", palette[classes])):
            target = out_dir / f"{path.stem}_{suffix}.png"
            Image.fromarray(array).save(target)
            written.append(target)
    return written

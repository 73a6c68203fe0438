"""Window-by-window prediction: class probabilities over half-overlapping, blended tiles, a scene block by block.

One implementation for every prediction over whole images: ``pointtune predict`` and ``suggest``
(``search/model/predict.py`` wraps ``predict_blocks`` with a model file's settings) and a trial's pseudo-labels
(``trainable/learn/pseudo.py``, on the images as the trial reads them). A scene is processed in blocks of
``BLOCK`` pixels a side, each read with a margin of half a tile so that blocks meet without seams: no full-scene
float array is ever made.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from trainable.data.index import IMAGENET_MEAN, IMAGENET_STD
from trainable.data.rasters import resize_array
from trainable.data.tiles import Normalizer
from trainable.defaults import default
from trainable.learn.loop import autocast

BLOCK = 2048  # pixels a side of the blocks a scene is processed in


def blend_window(tile: int) -> torch.Tensor:
    """(T, T) weights that fall towards a tile's border, so overlapping tiles blend without seams."""
    ramp = torch.minimum(torch.arange(tile) + 1, tile - torch.arange(tile)).float()
    w = torch.minimum(ramp[:, None], ramp[None, :])
    return (w / w.max()).clamp_min(1e-3)


@torch.no_grad()
def predict_probabilities(model: nn.Module, image: np.ndarray, tile: int, num_classes: int, device: torch.device,
                          batch_size: int = default("batch_size"),
                          normalizer: Normalizer | None = None) -> torch.Tensor:
    """(H, W, B) pixels -> (C, H, W) float32 class probabilities, blended over half-overlapping tiles (the model is
    run as it is: put it in eval mode first)."""
    normalizer = normalizer or Normalizer([m * 255 for m in IMAGENET_MEAN], [s * 255 for s in IMAGENET_STD])
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
        batch = torch.stack([normalizer(padded[y:y + tile, x:x + tile]) for y, x in chunk]).to(device)
        with autocast(device):
            out = model(batch)["out"].float().softmax(1).cpu()  # (B, C, T, T)
        for (y, x), p in zip(chunk, out, strict=True):
            probs[:, y:y + tile, x:x + tile] += p * window
            weight[y:y + tile, x:x + tile] += window
    return (probs / weight)[:, :h, :w]


def blocks(height: int, width: int, block: int = BLOCK) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) of the blocks that tile a scene."""
    return [(y, x, min(block, height - y), min(block, width - x))
            for y in range(0, height, block) for x in range(0, width, block)]


def predict_blocks(read: Callable[[int, int, int, int], np.ndarray], height: int, width: int,
                   write: Callable[[int, int, np.ndarray], None], model: nn.Module, tile: int, num_classes: int,
                   device: torch.device, batch_size: int, normalizer: Normalizer, scale: float = 1.0,
                   probabilities: bool = False) -> None:
    """Predict a scene block by block: ``read(y, x, h, w)`` gives (h, w, B) pixels, ``write(y, x, classes)`` takes
    the (h, w) uint8 class indices of the block at (y, x), or with ``probabilities`` its (C, h, w) float32 class
    probabilities. ``scale``: the model sees the pixels resized by it (``--resize``), and answers on the scene's
    grid. Each block is read with a margin of half a tile (clamped to the scene) and cropped back, so that
    neighbouring blocks agree along their edges."""
    margin = int(np.ceil(tile / 2 / scale))
    for y, x, h, w in blocks(height, width):
        y0, x0 = max(0, y - margin), max(0, x - margin)
        y1, x1 = min(height, y + h + margin), min(width, x + w + margin)
        pixels = resize_array(read(y0, x0, y1 - y0, x1 - x0), scale, nearest=False)
        probs = predict_probabilities(model, pixels, tile, num_classes, device, batch_size, normalizer)
        if probabilities:
            if scale != 1.0:  # back to the scene's pixel grid
                probs = torch.nn.functional.interpolate(probs[None], size=(y1 - y0, x1 - x0), mode="bilinear")[0]
            write(y, x, probs[:, y - y0:y - y0 + h, x - x0:x - x0 + w].numpy())
            continue
        classes = probs.argmax(0).numpy().astype(np.uint8)
        if scale != 1.0:  # back to the scene's pixel grid
            classes = np.asarray(Image.fromarray(classes).resize((x1 - x0, y1 - y0), Image.Resampling.NEAREST))
        write(y, x, classes[y - y0:y - y0 + h, x - x0:x - x0 + w])

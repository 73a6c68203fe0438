"""Photometric and scale augmentation of training crops, and the per-tile standardisation any tile may get.

- **Colour jitter** (``--color-jitter J``), on a normalised crop (B, T, T), drawn per crop: each band
  ``x_b -> g_b * x_b + o_b`` with a gain ``g_b`` in [1-J, 1+J] and an offset ``o_b`` in [-J, J] (the crop is
  normalised, so an offset is in standard deviations of the band: brightness, contrast and colour balance), then
  saturation ``x -> m + s * (x - m)``, ``m`` the mean of the bands at each pixel and ``s`` in [1-J, 1+J]. With J = 0
  nothing is drawn and the crop is unchanged.
- **Standardisation** (``--standardize``): each band of a tile to zero mean and unit standard deviation over the
  tile, the deviation floored at ``1 / sqrt(pixels)`` (as TensorFlow's ``per_image_standardization``) so that a flat
  tile stays finite. It undoes any per-band gain and offset, so with it only the saturation part of the jitter
  remains.
- **Scale jitter** (``--scale-jitter R``): a crop is a window of side ``w = T / f`` (``f`` log-uniform in
  [1/(1+R), 1+R]) resized to T: the image bilinear (antialiased when it shrinks), the labels so that a click stays one
  labelled pixel where it was: when the window shrinks, every labelled pixel moves to the output pixel its centre
  falls in (no click is lost); when it grows, every output pixel takes the label of the input pixel its centre falls
  in. Ignored pixels stay ignored, and a dense mask (``valid``) is sampled nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainable.config import IGNORE_INDEX


@dataclass(frozen=True)
class Jitter:
    """One crop's photometric jitter: per band gains and offsets, and a saturation."""

    gains: np.ndarray  # (B,)
    offsets: np.ndarray  # (B,)
    saturation: float

    @classmethod
    def draw(cls, rng: np.random.Generator, bands: int, strength: float) -> Jitter:
        """Gains in [1-J, 1+J], offsets in [-J, J], saturation in [1-J, 1+J] (``strength`` J)."""
        gains = rng.uniform(1 - strength, 1 + strength, bands)
        offsets = rng.uniform(-strength, strength, bands)
        return cls(gains, offsets, float(rng.uniform(1 - strength, 1 + strength)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) normalised pixels, jittered (a new tensor)."""
        gains = torch.as_tensor(self.gains, dtype=x.dtype).view(-1, 1, 1)
        offsets = torch.as_tensor(self.offsets, dtype=x.dtype).view(-1, 1, 1)
        x = x * gains + offsets
        grey = x.mean(0, keepdim=True)
        return grey + self.saturation * (x - grey)


def standardized(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> each band at zero mean and unit standard deviation over the tile (floored at 1/sqrt(H*W))."""
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(1).view(-1, 1, 1)
    std = flat.std(1, correction=0).clamp_min(1.0 / math.sqrt(flat.shape[1])).view(-1, 1, 1)
    return (x - mean) / std


def scale_side(rng: np.random.Generator, tile: int, strength: float, limit: int) -> int:
    """The side of the window a crop of ``tile`` px is read from: ``tile / f``, ``f`` log-uniform in
    [1/(1+R), 1+R], at most ``limit`` (the image's shorter side) and at least 1."""
    f = math.exp(rng.uniform(-math.log1p(strength), math.log1p(strength)))
    return int(min(max(round(tile / f), 1), limit))


def _centres(n_out: int, n_in: int) -> np.ndarray:
    """For each of ``n_out`` pixels, the index of the pixel of a side of ``n_in`` its centre falls in."""
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)


def rescale_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """(w, w) labels (``IGNORE_INDEX`` where none) at ``size`` x ``size``: a shrinking window moves each labelled
    pixel to the output pixel its centre falls in; a growing one gives each output pixel the label of the input pixel
    its centre falls in."""
    w = labels.shape[0]
    if w <= size:
        rows, cols = _centres(size, labels.shape[0]), _centres(size, labels.shape[1])
        return labels[rows][:, cols]
    out = np.full((size, size), IGNORE_INDEX, labels.dtype)
    r, c = np.nonzero(labels != IGNORE_INDEX)
    out[_centres(labels.shape[0], size)[r], _centres(labels.shape[1], size)[c]] = labels[r, c]
    return out


def rescale_nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """A dense (w, w) array (a ``valid`` mask) at ``size`` x ``size``, each output pixel from the input pixel its
    centre falls in."""
    return mask[_centres(size, mask.shape[0])][:, _centres(size, mask.shape[1])]


def rescale_image(image: np.ndarray, size: int) -> np.ndarray:
    """(w, w, B) pixels -> (size, size, B) float32, bilinear (antialiased when shrinking), in the files' units."""
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=image.shape[0] > size)
    return out[0].permute(1, 2, 0).numpy()

"""PixelPick's pool: clicks drawn at random among the most uncertain pixels of each image (Shin, Xie and Albanie,
"All you need are a few pixels", ICCV workshops 2021: margin uncertainty, the top 5 % of each image's pixels, a
uniform draw among them).

An image is predicted block by block (``search/model/suggest.py``), so its top 5 % is known only after its last
block. Each block therefore gives two things, both small whatever the image's size:

- ``level_counts``: how many of its unclicked valid pixels fall on each of ``LEVELS`` levels of uncertainty (the
  margin score quantised to 1 / 65535); summed over the blocks, ``top_level`` gives the image's threshold: the
  highest level such that the pixels at or above it are at least ``TOP_SHARE`` of the image's pixels (pixels on the
  threshold level itself all belong to the pool, so ties may make it a little more than 5 %).
- ``key_front``: per spacing cell and predicted class, the pixels that no other pixel of the same cell and class
  beats on both uncertainty and random key. Whatever the threshold turns out to be, the pixel a uniform draw would
  take in a cell (the highest key at or above it) is among these; a cell of n pixels keeps about ln n of them.

Pure numpy; ``search/model/click_scores.py`` puts the pieces together.
"""

from __future__ import annotations

import math

import numpy as np

TOP_SHARE = 0.05  # PixelPick's pool: this share of an image's most uncertain pixels
LEVELS = 65536  # levels of the quantised uncertainty (a score in [0, 1])


def levels(score: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] (higher: less sure) as integer levels 0 .. LEVELS - 1."""
    return np.rint(np.clip(score, 0.0, 1.0) * (LEVELS - 1)).astype(np.int64)


def level_counts(level: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(LEVELS,) how many valid pixels lie on each level."""
    return np.bincount(level[valid], minlength=LEVELS)


def level_reaching(counts: np.ndarray, wanted: int) -> int:
    """The highest level whose pixels at or above it number at least ``wanted``; -1 when all of them are fewer."""
    from_top = np.cumsum(counts[::-1])  # from_top[i]: pixels at level LEVELS - 1 - i or above
    return LEVELS - 1 - int(np.searchsorted(from_top, wanted))


def top_level(counts: np.ndarray, share: float = TOP_SHARE) -> int:
    """The image's threshold: the highest level whose pixels at or above it are at least ``share`` of all the
    counted pixels (at least one pixel); ``LEVELS`` (nothing qualifies) when none was counted."""
    total = int(counts.sum())
    return level_reaching(counts, max(1, math.ceil(share * total))) if total else LEVELS


def threshold_floor(block_counts: np.ndarray, image_pixels: int, share: float = TOP_SHARE) -> int:
    """A level the image's threshold cannot be below, known from one block: where the block alone holds as many
    pixels at or above it as the image's pool can have (``share`` of all its pixels), the image's top share lies
    at or above it too. So a block's pixels below the highest floor so far are never needed (-1: no floor yet)."""
    return level_reaching(block_counts, max(1, math.ceil(share * image_pixels)))


def key_front(group: np.ndarray, level: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions of the pixels that no other pixel of their group beats on both level and key (module docstring).

    Args:
        group: (N,) int group of each pixel (spacing cell and class).
        level: (N,) int uncertainty level.
        key: (N,) float in [0, 1): the uniform draw.
    """
    if group.size == 0:
        return np.empty(0, np.int64)
    order = np.lexsort((-key, -level, group))  # by group, then most uncertain first, then the highest key
    rank = np.unique(group, return_inverse=True)[1][order]
    lifted = key[order] + 2.0 * rank  # each group above all keys of the groups before it
    best_before = np.r_[-np.inf, np.maximum.accumulate(lifted)[:-1]]
    return order[lifted > best_before]  # a pixel kept: its key beats every pixel at least as uncertain

"""Where to click next: scores of a model's class probabilities, and the clicks chosen from them.

Pure numpy (scipy for the regions): ``search/model/suggest.py`` predicts an image block by block, hands each block's
probabilities here, and writes the chosen clicks in the format ``--clicks`` reads.

Strategies say what a candidate pixel's ``score`` is (higher: more likely wrong):

- ``regions``: the predicted map cut into connected regions (one class, 8-connected). A region scores the errors
  the model itself expects in it: the sum over its pixels of ``1 - p_max``, the model's own probability of being
  wrong there; so large doubtful regions come first. A region holding a click of another class than the one
  predicted is a known error and scores its area (every pixel counted as wrong); a region whose clicks all agree
  with it has been checked and offers nothing as a region. Each region offers one pixel: the least sure pixel of
  its core (the pixels at least half as deep inside the region as its deepest one, the image's edge counting as a
  border), away from the borders, where a click is hardest to answer. Every pixel also offers itself, scored with
  its own ``1 - p_max`` (the same unit: expected wrong pixels), so an image with fewer regions than clicks still
  gets its K clicks.
- ``margin``: ``1 - (p1 - p2)``, one minus the gap between the two most probable classes (the rule of PixelPick:
  Shin, Xie and Albanie, ICCV workshops 2021).
- ``entropy``: the entropy of the probabilities over ``log C`` (0 to 1).
- ``pixelpick``: a uniform draw among the image's 5 % most uncertain pixels by margin (PixelPick's own rule:
  ``search/model/pixelpick.py``), so clicks go where the model doubts without all piling onto its few most
  doubtful borders; ``score`` is the draw.
- ``random``: a seeded uniform key per pixel: the control, blind to the model (no class quota either).
- ``oracle``: the simulated annotator's ceiling: wrong pixels by the dense masks, the model's most confident errors
  first (``search/model/error_oracle.py``); right ones only when the errors run out.

Choosing (``choose``) is greedy by score, never two clicks closer than the radius (the clicks already given
included), in rounds over the predicted classes: each class gets ``K / classes`` clicks (one more for the first
ones when K does not divide), and a class that runs out of candidates leaves its turns to the others; within a
round the class whose best candidate scores highest goes first, so with fewer clicks than classes the most doubtful
classes get them. Ties break on a seeded random key: one seed, one answer.

To keep the choice fast on large images, each square cell of side ``R / sqrt(2)`` offers only its best pixel per
class (two pixels of one cell are closer than ``R``, so at most one of them could be chosen), and each block at
most ``POOL_PER_CLICK * K`` pixels per class.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from search.model.error_oracle import oracle_scores

Strategy = Literal["margin", "pixelpick", "regions", "entropy", "random", "oracle"]
STRATEGIES: tuple[str, ...] = ("margin", "pixelpick", "regions", "entropy", "random", "oracle")
NEEDS_MASKS = ("oracle",)  # strategies that read the dense masks: a simulated annotator's only
POOL_PER_CLICK = 32  # candidates kept per class and block, per click asked for: spare for the radius to reject
_NO_CLASS = -1  # the class of random candidates (no prediction made)


@dataclass(frozen=True)
class Candidates:
    """Candidate click pixels of one image, as (N,) arrays."""

    row: np.ndarray  # int64, in the image (after --resize)
    col: np.ndarray  # int64
    cls: np.ndarray  # int64 predicted class (-1: random, no prediction)
    score: np.ndarray  # float64, higher: more likely wrong
    key: np.ndarray  # float64 seeded tie-break

    @classmethod
    def empty(cls) -> Candidates:
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return cls(i, i, i, f, f)

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("row", "col", "cls", "score", "key")))

    def __len__(self) -> int:
        return int(self.row.size)

    def take(self, positions: np.ndarray) -> Candidates:
        return Candidates(self.row[positions], self.col[positions], self.cls[positions], self.score[positions],
                          self.key[positions])


def auto_radius(height: int, width: int, clicks: int) -> float:
    """The default radius: ``sqrt(H * W / (pi * n)) / 2`` pixels for ``n`` clicks on the image (old and new).

    No two clicks closer than R means each keeps a disk of radius R / 2 to itself; with this R the n disks cover a
    sixteenth of the image at most. So spacing never decides where the clicks go before the score does (fifteen
    sixteenths of the image stay open), yet no two clicks land on the same few pixels of one object: 11 px for 10
    clicks on a 128 px image, 80 px for 20 clicks on a 1000 px tile, and it shrinks as clicks accumulate.
    """
    return math.sqrt(height * width / (math.pi * max(clicks, 1))) / 2


def margin_scores(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probabilities -> (H, W) predicted class and ``1 - (p1 - p2)``."""
    top2 = np.partition(probs, probs.shape[0] - 2, axis=0)[-2:]  # (2, H, W): the second highest, the highest
    return probs.argmax(0), 1.0 - (top2[1] - top2[0])


def entropy_scores(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probabilities -> (H, W) predicted class and entropy / log C."""
    p = np.clip(probs, 1e-12, 1.0)
    return probs.argmax(0), -(p * np.log(p)).sum(0) / math.log(max(probs.shape[0], 2))


def doubt_scores(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probabilities -> (H, W) predicted class and ``1 - p_max`` (the model's probability of an error)."""
    return probs.argmax(0), 1.0 - probs.max(0)


def pixel_candidates(score: np.ndarray, cls: np.ndarray, valid: np.ndarray, key: np.ndarray, origin: tuple[int, int],
                     cell: int, pool: int) -> Candidates:
    """Valid pixels of a block, each cell's best per class, at most ``pool`` per class (module docstring).

    Args:
        score, cls, key: (h, w) score, class (-1: none) and tie-break of the block's pixels.
        valid: (h, w) bool, False on ignored, no-data and already clicked pixels.
        origin: (y, x) of the block in the image; cells are laid on the image, so blocks share them.
        cell: side of the cells in pixels (1: no thinning).
        pool: candidates kept per class.
    """
    ys, xs = np.nonzero(valid)
    if ys.size == 0:
        return Candidates.empty()
    rows, cols = ys.astype(np.int64) + origin[0], xs.astype(np.int64) + origin[1]
    c, s, k = cls[ys, xs].astype(np.int64), score[ys, xs].astype(np.float64), key[ys, xs].astype(np.float64)
    group = cell_groups(rows, cols, c, cell)
    order = np.lexsort((k, -s, group))
    firsts = order[np.r_[True, group[order][1:] != group[order][:-1]]]  # each (cell, class): its best pixel
    order = firsts[np.lexsort((k[firsts], -s[firsts], c[firsts]))]  # by class, best first
    starts = np.r_[True, c[order][1:] != c[order][:-1]]
    rank = np.arange(order.size) - np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
    kept = order[rank < pool]
    return Candidates(rows[kept], cols[kept], c[kept], s[kept], k[kept])


def cell_groups(rows: np.ndarray, cols: np.ndarray, cls: np.ndarray, cell: int) -> np.ndarray:
    """(N,) one id per (square cell of side ``cell``, class) of a block's pixels."""
    return ((rows // cell) * (cols.max() // cell + 1) + cols // cell) * (int(cls.max()) + 2) + (cls + 1)


def _regions(cls: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """(h, w) labels 1..n of the connected regions (8-connected) of each predicted class over valid pixels, 0
    elsewhere; and n."""
    from scipy import ndimage

    labels = np.zeros(cls.shape, np.int64)
    n = 0
    for c in np.unique(cls[valid]):
        found, count = ndimage.label((cls == c) & valid, structure=np.ones((3, 3), bool))
        labels[found > 0] = found[found > 0] + n
        n += count
    return labels, n


def region_candidates(cls: np.ndarray, doubt: np.ndarray, valid: np.ndarray, key: np.ndarray,
                      origin: tuple[int, int], clicks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                      ) -> Candidates:
    """One pixel per predicted region of a block, scored with the errors the model expects in it (module docstring).

    Args:
        cls: (h, w) predicted class.
        doubt: (h, w) ``1 - p_max``.
        valid: (h, w) bool, False on ignored and no-data pixels (clicked pixels may stay True: they are not offered,
            but their region is theirs).
        key: (h, w) seeded tie-break.
        origin: (y, x) of the block in the image.
        clicks: rows, columns (in the block) and classes of the clicks already given there.
    """
    labels, n = _regions(cls, valid)
    if n == 0:
        return Candidates.empty()
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1).astype(np.float64)
    errors = np.bincount(flat, weights=doubt.ravel().astype(np.float64), minlength=n + 1)
    offered = np.ones(n + 1, bool)
    offered[0] = False
    clicked = np.zeros(cls.shape, bool)
    if clicks is not None and clicks[0].size:
        r, c, lab = clicks
        clicked[r, c] = True
        region = labels[r, c]
        wrong = np.zeros(n + 1, bool)
        wrong[region[lab != cls[r, c]]] = True
        checked = np.zeros(n + 1, bool)
        checked[region[lab == cls[r, c]]] = True
        errors = np.where(wrong, area, errors)  # a region a click says is wrong: all its pixels are errors
        offered &= ~(checked & ~wrong)  # one a click confirms: not offered again
        offered[0] = False
    depth = _depth(labels)
    deepest = np.zeros(n + 1)
    np.maximum.at(deepest, flat, depth.ravel())
    core = (labels > 0) & (depth >= deepest[labels] / 2) & offered[labels] & ~clicked
    ys, xs = np.nonzero(core)
    if ys.size == 0:
        return Candidates.empty()
    region = labels[ys, xs]
    order = np.lexsort((key[ys, xs], -doubt[ys, xs], region))
    first = order[np.r_[True, region[order][1:] != region[order][:-1]]]  # per region: its least sure core pixel
    y, x, reg = ys[first], xs[first], region[first]
    return Candidates(y.astype(np.int64) + origin[0], x.astype(np.int64) + origin[1], cls[y, x].astype(np.int64),
                      errors[reg], key[y, x].astype(np.float64))


def _depth(labels: np.ndarray) -> np.ndarray:
    """(h, w) distance of each pixel to its region's border: the pixels next to another region (or to no region)
    and the block's edge, so that a region's core is the middle of what an annotator sees of it."""
    from scipy import ndimage

    border = np.ones(labels.shape, bool)
    border[1:-1, 1:-1] = False
    border[1:] |= labels[1:] != labels[:-1]
    border[:-1] |= labels[1:] != labels[:-1]
    border[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    border[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    return ndimage.distance_transform_edt(~border)


def unclicked_pixels(valid: np.ndarray, clicks: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> np.ndarray:
    """(h, w) bool: valid and not clicked yet (``clicks``: rows and columns in the block, and classes)."""
    unclicked = valid.copy()
    if clicks is not None and clicks[0].size:
        unclicked[clicks[0], clicks[1]] = False
    return unclicked


def spacing_cell(radius: float) -> int:
    """Side of the cells that offer one candidate per class each: two pixels of one cell are closer than R."""
    return max(1, int(radius / math.sqrt(2)))


def block_candidates(probs: np.ndarray | None, valid: np.ndarray, strategy: Strategy, rng: np.random.Generator,
                     origin: tuple[int, int], radius: float, clicks_per_image: int,
                     clicks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                     truth: np.ndarray | None = None) -> Candidates:
    """The candidates of one block of an image (``pixelpick``'s: ``search.model.suggest_image``).

    Args:
        probs: (C, h, w) class probabilities (None for ``random``).
        valid: (h, w) bool, False on ignored and no-data pixels.
        strategy: how pixels are scored (module docstring).
        rng: seeded per image and block (tie-breaks; the scores of ``random``).
        origin: (y, x) of the block in the image.
        radius: the least distance between two clicks, in pixels of the image.
        clicks_per_image: K (sizes the pool of candidates).
        clicks: rows, columns (in the block) and classes of the clicks already given there.
        truth: (h, w) true classes from the dense mask (``oracle`` only).
    """
    key = rng.random(valid.shape)
    unclicked = unclicked_pixels(valid, clicks)
    cell = spacing_cell(radius)
    pool = POOL_PER_CLICK * max(clicks_per_image, 1)
    if strategy == "random":
        return pixel_candidates(key, np.full(valid.shape, _NO_CLASS), unclicked, key, origin, cell, pool)
    if probs is None:
        raise ValueError(f"strategy {strategy!r} scores a model's probabilities; none were given")
    if strategy == "margin":
        cls, score = margin_scores(probs)
    elif strategy == "entropy":
        cls, score = entropy_scores(probs)
    elif strategy == "regions":
        cls, score = doubt_scores(probs)
    elif strategy == "oracle" and truth is not None:
        cls, score = oracle_scores(probs, truth)
    elif strategy == "oracle":
        raise ValueError("strategy 'oracle' clicks on the model's errors by the dense mask; no mask was given")
    else:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    found = pixel_candidates(score, cls, unclicked, key, origin, cell, pool)
    if strategy == "regions":
        found = Candidates.concat([region_candidates(cls, score, valid, key, origin, clicks), found])
    return found


class _Spacing:
    """The clicks placed so far, in a grid of cells of the radius's size: is a pixel at least R from all of them?"""

    def __init__(self, radius: float):
        self.radius = radius
        self.cell = max(radius, 1.0)
        self.grid: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        self.pixels: set[tuple[int, int]] = set()

    def add(self, y: int, x: int) -> None:
        self.pixels.add((y, x))
        self.grid[(int(y // self.cell), int(x // self.cell))].append((y, x))

    def free(self, y: int, x: int) -> bool:
        if (y, x) in self.pixels:
            return False
        cy, cx = int(y // self.cell), int(x // self.cell)
        r2 = self.radius * self.radius
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for py, px in self.grid.get((cy + dy, cx + dx), ()):
                    if (py - y) ** 2 + (px - x) ** 2 < r2:
                        return False
        return True


def choose(candidates: Candidates, k: int, radius: float, taken_rows: np.ndarray | None = None,
           taken_cols: np.ndarray | None = None) -> np.ndarray:
    """Positions (into ``candidates``) of up to ``k`` clicks in the order chosen (module docstring).

    Args:
        candidates: an image's candidates (any order; duplicates allowed).
        k: clicks wanted.
        radius: no chosen click is closer than this to another one or to a taken pixel (0: only not the same
            pixel).
        taken_rows, taken_cols: the clicks already given on the image.
    """
    space = _Spacing(radius)
    if taken_rows is not None and taken_cols is not None:
        for y, x in zip(np.asarray(taken_rows).tolist(), np.asarray(taken_cols).tolist(), strict=True):
            space.add(y, x)
    rows, cols = candidates.row.tolist(), candidates.col.tolist()
    order = np.lexsort((candidates.key, -candidates.score))
    queues = {int(c): order[candidates.cls[order] == c].tolist() for c in np.unique(candidates.cls)}
    heads = dict.fromkeys(queues, 0)

    def head(c: int) -> int | None:  # the class's best candidate still free, or None
        q, i = queues[c], heads[c]
        while i < len(q) and not space.free(rows[q[i]], cols[q[i]]):
            i += 1
        heads[c] = i
        return q[i] if i < len(q) else None

    picks: list[int] = []
    while len(picks) < k:
        ready = {c: p for c in queues if (p := head(c)) is not None}
        if not ready:
            break
        for c in sorted(ready, key=lambda c: (-candidates.score[ready[c]], candidates.key[ready[c]])):
            if len(picks) == k:
                break
            p = head(c)  # a pick of this round may have taken its place
            if p is None:
                continue
            picks.append(p)
            space.add(rows[p], cols[p])
            heads[c] += 1
    return np.asarray(picks, np.int64)

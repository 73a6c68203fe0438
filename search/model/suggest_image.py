"""One image's suggested clicks: its candidates gathered block by block as the image is predicted, then the clicks
chosen from them (``search.model.click_scores.choose``).

Most strategies score each block on its own (``search.model.click_scores.block_candidates``). Two need the whole
image before they choose: ``pixelpick`` draws among the image's top 5 % of uncertain pixels, a threshold known
after the last block (``search.model.pixelpick``), and ``oracle`` clicks on wrong pixels while the image has
any, in rounds over their true classes, and on right ones only after them (``search.model.error_oracle``).
Pure numpy; ``search/model/suggest.py`` predicts the blocks.
"""

from __future__ import annotations

import numpy as np

from search.model.click_scores import (
    Candidates,
    Strategy,
    block_candidates,
    cell_groups,
    choose,
    margin_scores,
    spacing_cell,
    unclicked_pixels,
)
from search.model.error_oracle import ERROR_TIER
from search.model.pixelpick import LEVELS, key_front, level_counts, levels, threshold_floor, top_level

Clicks = tuple[np.ndarray, np.ndarray, np.ndarray]  # rows, columns and classes of clicks already given


def pixelpick_candidates(level: np.ndarray, cls: np.ndarray, valid: np.ndarray, key: np.ndarray,
                         origin: tuple[int, int], cell: int, floor: int) -> Candidates:
    """A block's pixels that a uniform draw among the image's most uncertain ones may take, whatever the image's
    threshold turns out to be (``search.model.pixelpick.key_front``), scored with their level; none below
    ``floor``, a level the threshold is known to reach."""
    ys, xs = np.nonzero(valid & (level >= floor))
    if ys.size == 0:
        return Candidates.empty()
    rows, cols = ys.astype(np.int64) + origin[0], xs.astype(np.int64) + origin[1]
    c, lv, k = cls[ys, xs].astype(np.int64), level[ys, xs], key[ys, xs].astype(np.float64)
    kept = key_front(cell_groups(rows, cols, c, cell), lv, k)
    return Candidates(rows[kept], cols[kept], c[kept], lv[kept].astype(np.float64), k[kept])


class ImageCandidates:
    """Candidates of one image of ``pixels`` pixels (on the grid the model sees), added block by block; ``choose``
    gives the clicks."""

    def __init__(self, strategy: Strategy, radius: float, clicks_per_image: int, pixels: int):
        self.strategy, self.radius, self.k, self.pixels = strategy, radius, clicks_per_image, pixels
        self.parts: list[Candidates] = []
        self.counts = np.zeros(LEVELS, np.int64)  # pixelpick: unclicked valid pixels per level of uncertainty
        self.floor = -1  # pixelpick: a level the image's threshold reaches (pixelpick.threshold_floor)
        self.predicted: list[np.ndarray] = []  # oracle: the predicted class of each part's candidates

    def add(self, probs: np.ndarray | None, valid: np.ndarray, rng: np.random.Generator, origin: tuple[int, int],
            clicks: Clicks | None = None, truth: np.ndarray | None = None) -> None:
        """A block's candidates (the arguments of ``search.model.click_scores.block_candidates``)."""
        if self.strategy != "pixelpick":
            found = block_candidates(probs, valid, self.strategy, rng, origin, self.radius, self.k, clicks, truth)
            self.parts.append(found)
            if self.strategy == "oracle" and probs is not None:  # its cls: the class balanced over
                self.predicted.append(probs.argmax(0)[found.row - origin[0], found.col - origin[1]].astype(np.int64))
            return
        if probs is None:
            raise ValueError("strategy 'pixelpick' scores a model's probabilities; none were given")
        key = rng.random(valid.shape)
        unclicked = unclicked_pixels(valid, clicks)
        cls, score = margin_scores(probs)
        level = levels(score)
        counts = level_counts(level, unclicked)
        self.counts += counts
        self.floor = max(self.floor, threshold_floor(counts, self.pixels))
        self.parts.append(pixelpick_candidates(level, cls, unclicked, key, origin, spacing_cell(self.radius),
                                               self.floor))

    def pool(self) -> Candidates:
        """Every candidate of the image: for pixelpick, those at or above its threshold, scored with their draw."""
        found = Candidates.concat(self.parts)
        if self.strategy != "pixelpick":
            return found
        found = found.take(np.flatnonzero(found.score >= top_level(self.counts)))
        return Candidates(found.row, found.col, found.cls, found.key.copy(), found.key)

    def choose(self, taken_rows: np.ndarray | None = None, taken_cols: np.ndarray | None = None) -> Candidates:
        """Up to K clicks in the order chosen (``oracle``: on wrong pixels first, in rounds over their true classes,
        then, if the errors ran out, on right ones, the radius kept from all of them; its clicks' ``cls`` is the
        predicted class, as every strategy's)."""
        found = self.pool()
        if self.strategy != "oracle":
            return found.take(choose(found, self.k, self.radius, taken_rows, taken_cols))
        wrong, right = np.flatnonzero(found.score > ERROR_TIER), np.flatnonzero(found.score <= ERROR_TIER)
        picks = wrong[choose(found.take(wrong), self.k, self.radius, taken_rows, taken_cols)]
        if picks.size < self.k:
            rows = np.r_[np.asarray(taken_rows if taken_rows is not None else [], np.int64), found.row[picks]]
            cols = np.r_[np.asarray(taken_cols if taken_cols is not None else [], np.int64), found.col[picks]]
            picks = np.r_[picks, right[choose(found.take(right), self.k - picks.size, self.radius, rows, cols)]]
        chosen = found.take(picks.astype(np.int64))
        predicted = np.concatenate(self.predicted)[picks.astype(np.int64)] if self.predicted else chosen.cls
        return Candidates(chosen.row, chosen.col, predicted, chosen.score, chosen.key)

"""The error oracle: a simulated annotator who clicks where the model is wrong, by the dense masks, the errors the
model is most confident in first (as the simulated annotator of iSAGE clicks). It reads the truth, so it is a
ceiling to measure the other strategies against (``benchmarks/active_clicks.py``), never a strategy for real
annotators: ``pointtune suggest --strategy oracle`` needs ``--answer-from-masks``.

Pure numpy and scipy: one score per pixel, in two tiers. A wrong pixel inside its error region (at least
``INTERIOR`` pixels from any right or ignored pixel, as an annotator clicks inside the patch they see is wrong, not
on its rim where the mask's own outline is uncertain) scores ``1 + p`` (``p``: the model's probability of the class
it predicts there, so its most confident errors come first); any other pixel ``1 - p`` (below 1: the least sure
first), offered only when an image has fewer such errors than clicks asked for (at the radius apart), so that every
image still gets its K clicks. ``ERROR_TIER`` separates the two.

The clicks of a round are taken in rounds over the errors' **true** classes (the annotator sees which class the model
missed: one click per missed class before a second of any, as iSAGE's annotator clicks one error per class), not
over the predicted classes as the other strategies are: by the predicted class, the confident errors of a weak model
are mostly one class mistaken for another everywhere (on Dubai, ``land``), and the round teaches that class alone.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

ERROR_TIER = 1.0  # scores above this: pixels the model gets wrong, inside their error region
INTERIOR = 2  # pixels (of the grid the model sees) between an offered error and the rim of its error region


def interior_errors(wrong: np.ndarray, depth: int = INTERIOR) -> np.ndarray:
    """(h, w) bool: wrong pixels at least ``depth`` pixels (8-connected steps) inside their error region; a block's
    edge is not a rim (the region may go on in the next block)."""
    if depth <= 0:
        return wrong
    return ndimage.binary_erosion(wrong, structure=np.ones((3, 3), bool), iterations=depth, border_value=1)


def oracle_scores(probs: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probabilities and (H, W) true classes -> (H, W) the class each pixel's click is balanced over (an
    offered error's true class, elsewhere the predicted one) and the oracle's score (module docstring; truth outside
    0 .. C - 1, e.g. the ignore index, counts as right: such pixels are never offered)."""
    cls = probs.argmax(0)
    sure = probs.max(0).astype(np.float64)
    wrong = interior_errors((truth < probs.shape[0]) & (truth != cls))
    return np.where(wrong, truth, cls), np.where(wrong, 1.0 + sure, 1.0 - sure)

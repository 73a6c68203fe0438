"""The error oracle: a simulated annotator who clicks where the model is wrong, by the dense masks, the errors the
model is most confident in first (as the simulated annotator of iSAGE clicks). It reads the truth, so it is a
ceiling to measure the other strategies against (``benchmarks/active_clicks.py``), never a strategy for real
annotators: ``pointtune suggest --strategy oracle`` needs ``--answer-from-masks``.

Pure numpy: one score per pixel, in two tiers. A wrong pixel scores ``1 + p`` (``p``: the model's probability of
the class it predicts there, so its most confident errors come first); a right one ``1 - p`` (below 1: the least
sure first), offered only when an image has fewer wrong pixels than clicks asked for (at the radius apart), so that
every image still gets its K clicks. ``ERROR_TIER`` separates the two.
"""

from __future__ import annotations

import numpy as np

ERROR_TIER = 1.0  # scores above this: pixels the model gets wrong


def oracle_scores(probs: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) probabilities and (H, W) true classes -> (H, W) predicted class and the oracle's score (module
    docstring; truth outside 0 .. C - 1, e.g. the ignore index, counts as right: such pixels are never offered)."""
    cls = probs.argmax(0)
    sure = probs.max(0).astype(np.float64)
    wrong = (truth < probs.shape[0]) & (truth != cls)
    return cls, np.where(wrong, 1.0 + sure, 1.0 - sure)

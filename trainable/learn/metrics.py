"""Segmentation metrics from one confusion matrix accumulated over a whole split."""

from __future__ import annotations

import numpy as np
import torch

from trainable.config import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates ``matrix[true, predicted]`` pixel counts; ignored pixels are skipped."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self._counts = torch.zeros(num_classes * num_classes + 1, dtype=torch.int64)  # last bin: ignored pixels

    @property
    def matrix(self) -> torch.Tensor:
        """(C, C) counts, rows = truth, columns = prediction."""
        n = self.num_classes
        return self._counts[: n * n].view(n, n)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target: integer tensors of the same shape (any), target may hold ``IGNORE_INDEX``.

        Fixed-size scatter on the predictions' device: no boolean indexing, so no wait for the GPU per batch.
        """
        n = self.num_classes
        if self._counts.device != target.device:
            self._counts = self._counts.to(target.device)
        index = torch.where(target != IGNORE_INDEX, target.long() * n + pred.long(), n * n).flatten()
        self._counts.scatter_add_(0, index, torch.ones_like(index))

    def compute(self, class_names: tuple[str, ...] | list[str], exclude: tuple[int, ...] = (),
                prefix: str = "val", per_class: bool = True) -> dict[str, float]:
        return metrics_from_confusion(self.matrix.cpu().numpy(), class_names, exclude, prefix, per_class)


def metrics_from_confusion(cm: np.ndarray, class_names: tuple[str, ...] | list[str],
                           exclude: tuple[int, ...] = (), prefix: str = "val",
                           per_class: bool = True) -> dict[str, float]:
    """OA, macro precision / recall / F1, mIoU and per-class F1 / IoU / precision / recall.

    The macro means average the classes present in the truth (fixed for a split: the truth does not change from
    epoch to epoch), less the ``exclude`` classes (e.g. clutter). A pixel predicted as a class absent from the truth
    is still an error: it lowers the recall, F1 and IoU of the class it truly belongs to, but the absent class
    adds no zero to the means, so one stray pixel cannot move macro F1 by 1/C. Per class, a class absent from the
    truth but predicted scores 0, one absent from both is NaN. Overall accuracy counts every non-ignored pixel.

    Args:
        cm: (C, C) counts, rows = truth, columns = prediction.
    """
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    seen = (tp + fp + fn) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen, np.nan_to_num(tp / (tp + fp)), np.nan)
        recall = np.where(seen, np.nan_to_num(tp / (tp + fn)), np.nan)
        f1 = np.where(seen, 2 * tp / (2 * tp + fp + fn), np.nan)
        iou = np.where(seen, tp / (tp + fp + fn), np.nan)
    counted = cm.sum(1) > 0  # present in the truth
    counted[list(exclude)] = False

    def macro(x: np.ndarray) -> float:
        return float(x[counted].mean()) if counted.any() else float("nan")

    total = cm.sum()
    out = {f"{prefix}_oa": float(tp.sum() / total) if total else float("nan"),
           f"{prefix}_precision": macro(precision), f"{prefix}_recall": macro(recall),
           f"{prefix}_f1": macro(f1), f"{prefix}_miou": macro(iou)}
    for i, name in enumerate(class_names if per_class else ()):
        out[f"{prefix}_f1_{name}"] = float(f1[i])
        out[f"{prefix}_iou_{name}"] = float(iou[i])
        out[f"{prefix}_precision_{name}"] = float(precision[i])
        out[f"{prefix}_recall_{name}"] = float(recall[i])
    return out

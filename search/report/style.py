"""How the report names and marks things: a trial's status as a mark (its css class, what it says, its colour and
marker in figures), a metric's label, the colours of the best trial."""

from __future__ import annotations

# status -> (css mark, what the mark says)
MARKS = {"finished": ("finished", "finished"), "stopped early": ("stopped", "stopped early by the scheduler"),
         "failed": ("failed", "failed"), "diverged": ("diverged", "diverged (loss NaN or infinite)"),
         "running": ("running", "still running"), "pending": ("pending", "waiting to start"),
         "paused": ("paused", "paused"),
         "interrupted": ("paused", "interrupted: its search or run was stopped before it ended; --resume (`pointtune "
                         "run --resume`, `pointtune train --resume`) continues it"),
         "warm start": ("pending", "an earlier run put into this search's study (--warm-start): it taught the "
                        "searcher, it is not this search's trial")}

STATUS_MARKERS = {"finished": ("#15803d", "circle"), "stopped early": ("#c2710c", "square"),
                  "running": ("#1d4ed8", "triangle"), "diverged": ("#7e22ce", "x"), "failed": ("#b91c1c", "diamond"),
                  "paused": ("#6b7280", "circle"), "pending": ("#6b7280", "circle"),
                  "interrupted": ("#6b7280", "triangle")}
STATUS_DASH = {"stopped": "dashed", "failed": "dotted", "diverged": "dotted", "paused": "dashdot"}
BEST_COLOUR = "#111111"  # the best trial's curve
STAR = "#dc143c"  # crimson: the best trial, the fewest clicks reaching the target


def status_mark(status: str) -> str:
    """The css mark of a trial's status (``failed``, ``stopped``, ``running``, ...)."""
    return MARKS.get(status, (status.replace(" ", "-"), status))[0]


def metric_label(metric: str) -> str:
    name = metric.removeprefix("val_")
    return {"f1": "F1", "miou": "mIoU", "oa": "OA", "precision": "precision", "recall": "recall"}.get(name, name)

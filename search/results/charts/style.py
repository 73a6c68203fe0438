"""How the charts mark things: a trial's status as a colour, marker and line style, the best trial's colours, and a
metric's label (the report's tables use the same)."""

from __future__ import annotations

# status -> (colour, matplotlib marker)
STATUS_MARKERS = {"finished": ("#15803d", "o"), "stopped early": ("#c2710c", "s"), "running": ("#1d4ed8", "^"),
                  "diverged": ("#7e22ce", "X"), "failed": ("#b91c1c", "D"), "paused": ("#6b7280", "o"),
                  "pending": ("#6b7280", "o"), "interrupted": ("#6b7280", "^")}
OTHER_STATUS = ("#6b7280", "o")
# status -> line style of its curve (solid when not listed)
STATUS_DASH = {"stopped early": "--", "failed": ":", "diverged": ":", "paused": "-.", "interrupted": "-."}
ENDED_BADLY = ("failed", "diverged")  # a cross where their curve ends
BEST_COLOUR = "#111111"  # the best trial's curve
STAR = "#dc143c"  # crimson: the best trial, the fewest clicks reaching the target
STAR_EDGE = "#7a0a20"
BAR = "#1d4ed8"


def metric_label(metric: str) -> str:
    """``val_f1`` -> ``F1``, ``val_clicks_miou`` -> ``clicks mIoU``: how a figure names a metric."""
    name = metric.removeprefix("val_")
    clicks = name.startswith("clicks_")
    name = name.removeprefix("clicks_")
    label = {"f1": "F1", "miou": "mIoU", "oa": "OA"}.get(name, name)
    return f"clicks {label}" if clicks else label

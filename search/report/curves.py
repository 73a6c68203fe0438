"""The report's curves: the validation score per epoch of every trial."""

from __future__ import annotations

from typing import Any

from search.report.style import BEST_COLOUR, STAR, STATUS_DASH, metric_label, status_mark
from search.report.svg import SERIES, Figure, Key, legend, legend_size
from search.report.svg_charts import Axes, left_margin, limits


def curves(records: list[Any], metric: str = "val_f1") -> list[dict[str, Any]]:
    """Per trial, ``metric`` per epoch (trials that reported no epoch are left out)."""
    out = []
    for r in records:
        h = r.history
        if h.empty or metric not in h or "epoch" not in h:
            continue
        h = h.dropna(subset=[metric])
        if h.empty:
            continue
        out.append({"trial_id": r.trial_id, "status": r.status, "mark": status_mark(r.status),
                    "epoch": [int(e) for e in h["epoch"]], "value": [float(v) for v in h[metric]]})
    return out


def draw_curves(data: list[dict[str, Any]], metric: str, best: str | None) -> str:
    """Validation ``metric`` per epoch, one line per trial (dashed: stopped early, dotted: failed or diverged, a
    cross where those ended), the best trial thick and black; a legend of up to 12 trials (else of the best)."""
    label = metric_label(metric)
    colours, keys = {}, []
    for k, c in enumerate(data):
        is_best = c["trial_id"] == best
        colours[c["trial_id"]] = BEST_COLOUR if is_best else SERIES[k % len(SERIES)]
        if len(data) <= 12 or is_best:
            keys.append(Key(f"{c['trial_id']} ({c['status']})" + (" best" if is_best else ""),
                               colours[c["trial_id"]], STATUS_DASH.get(c["mark"], "solid"), 2.6 if is_best else 1.3,
                               "circle", 5))
    xlim = limits([e for c in data for e in c["epoch"]])
    ylim = limits([v for c in data for v in c["value"]])
    legend_w = legend_size(keys, 9)[0] + 18 if keys else 10
    width, height, top, bottom = 720, 420, 36, 50
    left = left_margin(ylim) + 8
    fig = Figure(width, height)
    fig.title(f"Validation {label} per epoch, every trial (dashed: stopped early, dotted: failed or diverged)"
              if len(data) > 1 else f"Validation {label} per epoch", 12)
    ax = Axes(fig, (left, top, width - left - legend_w, height - top - bottom), xlim, ylim)
    ax.frame("epoch", f"validation {label}", xinteger=True)
    for c in sorted(data, key=lambda c: c["trial_id"] == best):  # the best on top
        is_best = c["trial_id"] == best
        colour = colours[c["trial_id"]]
        ax.line(c["epoch"], c["value"], colour, 2.6 if is_best else 1.3, STATUS_DASH.get(c["mark"], "solid"),
                1 if is_best else 0.8)
        ax.markers(c["epoch"], c["value"], "circle", colour, 6 if is_best else 4.5)
        if c["mark"] in ("failed", "diverged"):
            ax.markers(c["epoch"][-1:], c["value"][-1:], "x", STAR, 11)
    if keys:
        fig.add(legend(keys, width - legend_w + 8, top, 9))
    return fig.uri()

"""The figures of one trial (the best, in ``plot`` and ``report``): its train and validation curves and its
per-class F1 as bars; data from ``search.results.charts.data``, a matplotlib Figure out."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from search.results.charts.style import BAR


def trial_curves_figure(trial_id: str, curves: pd.DataFrame, best_epoch: int | None = None) -> Figure:
    """Loss and accuracy per epoch, train (on the points) and validation (dense), side by side; the best epoch
    marked by a dotted line."""
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    for ax, key, name in zip(fig.subplots(1, 2), ("loss", "oa"), ("loss", "accuracy"), strict=True):
        for split in ("train", "val"):
            if f"{split}_{key}" in curves:
                ax.plot(curves["epoch"], curves[f"{split}_{key}"], marker="o", ms=4,
                        label="train (points)" if split == "train" else "validation (dense)")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1, label=f"best epoch {best_epoch}")
        ax.set(xlabel="epoch", ylabel=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"Trial {trial_id}: train (points) and validation (dense) curves", fontsize=10)
    return fig


def per_class_figure(rows: list[dict[str, Any]], title: str) -> Figure:
    """Horizontal bars of per-class F1 on [0, 1], the value at each bar's end (classes without an F1 left out,
    said when none has one)."""
    shown = [r for r in rows if r["f1"] is not None]
    fig = Figure(figsize=(5.6, 0.32 * max(len(shown), 1) + 1.1), layout="constrained")
    ax = fig.add_subplot()
    names = [str(r["class"]) for r in shown][::-1]
    values = [float(r["f1"]) for r in shown][::-1]
    bars = ax.barh(names, values, color=BAR)
    ax.bar_label(bars, [f"{v:.3f}" for v in values], padding=3, fontsize=8)
    if not shown:
        ax.text(0.5, 0.5, "no class has an F1", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("F1")
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    return fig

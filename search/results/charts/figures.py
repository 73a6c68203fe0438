"""The figures of a search, each a function from its data (``search.results.charts.data``) to a matplotlib Figure:
validation score per epoch of every trial, the best score against the searched settings, the annotation-budget
frontier, parallel coordinates and the settings' importance. ``plot`` saves them as PNG, ``report`` as SVG
(``search.results.charts.svg``).

Figures are made with ``matplotlib.figure.Figure`` (no pyplot state: nothing is shared between calls or threads).
A point's hover text in the SVG is set with :func:`titled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullFormatter

from search.results.charts.data import Curve, Frontier, Panel, Parallel
from search.results.charts.style import (
    BAR,
    BEST_COLOUR,
    ENDED_BADLY,
    OTHER_STATUS,
    STAR,
    STAR_EDGE,
    STATUS_DASH,
    STATUS_MARKERS,
    metric_label,
)

LEGEND_MAX = 12  # trials named in a curves legend (beyond, only the best)
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")


def titled(artist: Any, titles: Sequence[str]) -> None:
    """Give each point of ``artist`` (a scatter's collection or a line's markers) a hover text in the SVG."""
    fig = artist.get_figure()
    tips = fig.__dict__.setdefault("point_titles", {})
    gid = f"points{len(tips) + 1}"
    artist.set_gid(gid)
    tips[gid] = [str(t) for t in titles]


def curves_figure(curves: list[Curve], metric: str, best: str | None) -> Figure:
    """``metric`` per epoch, one line per trial (dashed: stopped early, dotted: failed or diverged, with a cross
    where those ended), the best trial thick and black on top; a legend of up to ``LEGEND_MAX`` trials (else the
    best alone)."""
    label = metric_label(metric)
    fig = Figure(figsize=(7.2, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, c in sorted(enumerate(curves), key=lambda kc: kc[1].trial_id == best):  # the best on top
        is_best = c.trial_id == best
        colour = BEST_COLOUR if is_best else SERIES[k % len(SERIES)]
        named = len(curves) <= LEGEND_MAX or is_best
        (line,) = ax.plot(c.epoch, c.value, color=colour, lw=2.6 if is_best else 1.3, marker="o",
                          ms=5 if is_best else 3.5, ls=STATUS_DASH.get(c.status, "-"), alpha=1 if is_best else 0.8,
                          zorder=3 if is_best else 2,
                          label=f"{c.trial_id} ({c.status})" + (" best" if is_best else "") if named else None)
        titled(line, [f"{c.trial_id} ({c.status}) epoch {e}: {v:.4f}" for e, v in zip(c.epoch, c.value, strict=True)])
        if c.status in ENDED_BADLY:
            ax.plot(c.epoch[-1:], c.value[-1:], ls="none", marker="x", ms=9, mew=2, color=STAR, zorder=4)
    ax.set(xlabel="epoch", ylabel=f"validation {label}",
           title=f"Validation {label} per epoch, every trial" + (" (dashed: stopped early, dotted: failed or "
                                                                  "diverged)" if len(curves) > 1 else ""))
    ax.title.set_fontsize(9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if any(line.get_label()[:1] != "_" for line in ax.get_lines()):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


def settings_figure(panels: list[Panel], metric: str, best: str | None) -> Figure:
    """Best score against each searched setting, one panel per setting, a colour and marker per status, a star on
    the best trial; log axes where the setting is searched on one."""
    label = metric_label(metric)
    fig = Figure(figsize=(3.4 * len(panels) + 0.4, 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    shown: dict[str, Any] = {}
    for ax, panel in zip(axes, panels, strict=True):
        for status, group in panel.points.groupby("status", sort=False):
            colour, marker = STATUS_MARKERS.get(str(status), OTHER_STATUS)
            dots = ax.scatter(group["x"], group["y"], c=colour, marker=marker, s=36, alpha=0.85, label=status)
            titled(dots, [f"{t} ({status}): {panel.label} {x:.3g}, {label} {y:.4f}"
                          for t, x, y in zip(group["trial_id"], group["x"], group["y"], strict=True)])
            shown.setdefault(str(status), dots)
        star = panel.points[panel.points["trial_id"] == best]
        if not star.empty:
            shown["the best trial"] = ax.scatter(star["x"], star["y"], marker="*", s=220, c=STAR,
                                                 edgecolors=STAR_EDGE, zorder=5, label="the best trial")
        if panel.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(panel.label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"best validation {label}")
    axes[0].legend(shown.values(), shown.keys(), fontsize=7)
    fig.suptitle(f"Best {label} of each trial against its settings (star: the best trial)", fontsize=10)
    return fig


def frontier_figure(data: Frontier) -> Figure:
    """Score against clicks per image: every trial, the Pareto front as a step line, the target line, the trial
    with the fewest clicks reaching it (a star) and the full-supervision reference."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    label = metric_label(data.metric)
    for k, (series, part) in enumerate(data.points.groupby("series", sort=True)):
        dots = ax.scatter(part["x"], part["y"], s=40, alpha=0.65, color=SERIES[k % len(SERIES)],
                          label=f"trials ({series})")
        titled(dots, [f"{t}: {x:.3g} clicks per image, {label} {y:.4f}"
                      for t, x, y in zip(part["trial_id"], part["x"], part["y"], strict=True)])
    ax.step(data.front["x"], data.front["y"], where="post", color="black", lw=1.2, marker="o", mfc="none", ms=8,
            label="Pareto front")
    if data.threshold is not None:
        ax.axhline(data.threshold, color="grey", ls="--", lw=0.9, label=f"{data.target:.0%} of the best")
    if data.target_trial is not None:
        p = data.points[data.points["trial_id"] == data.target_trial].iloc[0]
        ax.scatter([p["x"]], [p["y"]], marker="*", s=240, color=STAR, edgecolors=STAR_EDGE, zorder=5,
                   label=f"fewest clicks reaching it: {p['x']:.3g}/image ({p['trial_id']})")
    if data.reference is not None:
        ax.axhline(data.reference, color="tab:green", ls=":", lw=1.4, label="full supervision")
    if (data.points["x"] > 0).all():
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="clicks per training image", ylabel=f"best validation {label}",
           title="Annotation budget: score against clicks per image")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def parallel_figure(data: Parallel) -> Figure:
    """The parallel coordinates: grey lines, the best trial's on top in the star colour, each axis's ends."""
    n = len(data.axes)
    fig = Figure(figsize=(max(6.0, 1.5 * n), 3.6), layout="constrained")
    ax = fig.add_subplot()
    for _, line in data.lines.sort_values("best", kind="stable").iterrows():
        ax.plot(range(n), line["y"], color=STAR if line["best"] else "#6b7280", lw=2.2 if line["best"] else 0.9,
                alpha=1.0 if line["best"] else 0.55, zorder=3 if line["best"] else 2,
                gid=f"trial-{line['trial_id']}")
    for x, (lo, hi) in enumerate(data.ends):
        ax.axvline(x, color="#111111", lw=0.6)
        ax.annotate(hi, (x, 1.0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
        ax.annotate(lo, (x, 0.0), xytext=(0, -11), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(n), data.axes, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.08, 1.08)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.legend([Line2D([], [], color=STAR, lw=2.2)], ["the best trial"], fontsize=7, loc="upper right",
              bbox_to_anchor=(1.0, 1.12), frameon=False)
    return fig


def importance_figure(imp: Any) -> Figure:
    """The settings ranked by importance (``search.results.importance.Importance``) as horizontal bars, most
    important on top."""
    names = [name for name, _ in imp.ranking][::-1]
    fig = Figure(figsize=(5.5, 0.45 * len(names) + 0.9), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(names, [value for _, value in imp.ranking][::-1], color=BAR)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"importance ({imp.evaluator.upper()}, over {imp.trials} completed trials)", fontsize=8)
    ax.tick_params(labelsize=8)
    return fig

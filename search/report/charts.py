"""The report's charts: the figures ``pointtune plot`` saves (``search.results.charts``), each embedded as an SVG
``data:`` URI in an ``<img>`` (the report stays one offline file), with what the page says when there is no data
for one. matplotlib is imported here, never by ``search.report.page`` at import."""

from __future__ import annotations

from typing import Any

from search.report.markup import esc, gap, img
from search.results.charts.data import Curve, Frontier, Panel, Parallel
from search.results.charts.figures import (
    curves_figure,
    frontier_figure,
    importance_figure,
    parallel_figure,
    settings_figure,
)
from search.results.charts.svg import svg_uri
from search.results.charts.trial_figures import per_class_figure, trial_curves_figure
from search.results.importance import Importance


def figure_img(fig: Any, alt: str) -> str:
    """A matplotlib figure as an ``<img>`` of its SVG."""
    return img(svg_uri(fig), alt)


def curves_html(curves: list[Curve], metric: str, best: str | None) -> str:
    if not curves:
        return gap("No trial has reported an epoch yet.")
    return figure_img(curves_figure(curves, metric, best), "validation F1 per epoch of every trial")


def frontier_html(frontier: Frontier) -> str:
    statements = "".join(f"<li>{esc(s)}</li>" for s in frontier.statements)
    return (figure_img(frontier_figure(frontier), "score against clicks per image, Pareto front")
            + (f"<ul>{statements}</ul>" if statements else ""))


def settings_html(panels: list[Panel], metric: str, best: str | None) -> str:
    return figure_img(settings_figure(panels, metric, best), "best score against the searched settings")


def learned_html(parallel: Parallel | None, imp: Importance | None, why: str | None) -> str:
    """"What the search learned": the parallel coordinates and the importance ranking (or what is missing, said)."""
    parts = [figure_img(parallel_figure(parallel), "every trial across the searched settings and its score; the "
                        "best in red") if parallel is not None
             else gap("Fewer than two trials with a score, or no setting varies.")]
    if imp is not None:
        note = f'<p class="sub">{esc(imp.note)}</p>' if imp.note else ""
        parts.append(figure_img(importance_figure(imp), "the searched settings ranked by importance") + note)
    else:
        parts.append(gap(f"Importance: {why}"))
    return "".join(parts)


def best_trial_html(trial_id: str, curves: Any, best_epoch: int, per_class: list[dict[str, Any]]) -> str:
    """The best trial's train and validation curves and its per-class F1 bars."""
    return (figure_img(trial_curves_figure(trial_id, curves, best_epoch), f"train and validation curves of trial "
                       f"{trial_id}")
            + figure_img(per_class_figure(per_class, "Per-class validation F1 of the best trial"),
                         "per-class F1 bars"))

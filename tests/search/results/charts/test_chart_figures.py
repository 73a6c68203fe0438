"""``search.results.charts.figures``: what each figure draws (labels, lines, points, the best marked), read from the
matplotlib Figure, no pixels."""

from __future__ import annotations

import matplotlib.colors as mcolors
import pytest
from test_chart_data import table

from search.results.charts.data import Curve, frontier_data, parallel_data, settings_panels
from search.results.charts.figures import (
    curves_figure,
    frontier_figure,
    importance_figure,
    parallel_figure,
    settings_figure,
)
from search.results.charts.style import BEST_COLOUR, STAR
from search.results.importance import Importance


def _same_colour(a: object, b: str) -> bool:
    return mcolors.to_hex(a) == mcolors.to_hex(b)


def test_curves_one_line_per_trial_the_best_thick_and_black_a_cross_where_one_failed() -> None:
    curves = [Curve("a", "finished", [1, 2], [0.2, 0.4]), Curve("b", "finished", [1, 2, 3], [0.3, 0.6, 0.5]),
              Curve("c", "diverged", [1], [0.1])]
    ax = curves_figure(curves, "val_f1", best="b").axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "validation F1"
    lines = ax.get_lines()
    assert len(lines) == 4, "three curves and the cross where c ended"
    by_label = {line.get_label(): line for line in lines}
    best = by_label["b (finished) best"]
    assert _same_colour(best.get_color(), BEST_COLOUR) and best.get_linewidth() == 2.6
    assert list(best.get_ydata()) == [0.3, 0.6, 0.5] and best.get_zorder() > by_label["a (finished)"].get_zorder()
    assert by_label["c (diverged)"].get_linestyle() == ":"
    cross = [line for line in lines if line.get_marker() == "x"]
    assert len(cross) == 1 and list(cross[0].get_ydata()) == [0.1]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (finished)", "c (diverged)",
                                                                   "b (finished) best"]


def test_curves_name_at_most_twelve_trials_in_the_legend() -> None:
    curves = [Curve(f"t{k}", "finished", [1], [k / 20]) for k in range(13)]
    legend = curves_figure(curves, "val_miou", best="t3").axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["t3 (finished) best"]


def test_settings_one_panel_per_setting_a_star_on_the_best() -> None:
    panels = settings_panels(table(), "val_f1")
    fig = settings_figure(panels, "val_f1", best="b")
    assert [ax.get_xlabel() for ax in fig.axes] == ["learning rate", "point density", "clicks per training image"]
    assert fig.axes[0].get_ylabel() == "best validation F1" and fig.axes[0].get_xscale() == "log"
    lr = fig.axes[0]
    statuses, star = lr.collections[:-1], lr.collections[-1]
    assert sum(len(c.get_offsets()) for c in statuses) == 3, "a, b, c: d has no score"
    assert star.get_offsets().tolist() == [[1e-3, 0.8]] and _same_colour(star.get_facecolor()[0], STAR)
    assert [t.get_text() for t in lr.get_legend().get_texts()] == ["finished", "stopped early", "the best trial"]


def test_the_frontier_its_front_target_line_star_and_reference() -> None:
    ax = frontier_figure(frontier_data(table(), "val_f1", 0.95, {"val_f1": 0.9})).axes[0]
    assert ax.get_xlabel() == "clicks per training image" and ax.get_ylabel() == "best validation F1"
    assert ax.get_xscale() == "log"
    flat = {line.get_linestyle(): line.get_ydata()[0] for line in ax.get_lines() if len(set(line.get_ydata())) == 1}
    assert flat["--"] == pytest.approx(0.76) and flat[":"] == 0.9, "the target line and full supervision"
    step = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert list(step.get_xdata()) == [10.0, 20.0] and list(step.get_ydata()) == [0.5, 0.8]
    star = ax.collections[-1]
    assert star.get_offsets().tolist() == [[20.0, 0.8]] and _same_colour(star.get_facecolor()[0], STAR)
    assert "fewest clicks reaching it: 20/image (b)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_parallel_coordinates_a_line_per_trial_the_best_on_top_in_red() -> None:
    ax = parallel_figure(parallel_data(table(), "val_f1", "b")).axes[0]
    trials = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("trial-")]
    assert [line.get_gid() for line in trials] == ["trial-a", "trial-c", "trial-b"], "the best drawn last"
    assert _same_colour(trials[-1].get_color(), STAR) and list(trials[-1].get_ydata()) == pytest.approx(
        [0.5, 0.5, 1.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["learning rate", "density", "f1 (best)"]
    assert {t.get_text() for t in ax.texts} == {"0.0001", "0.01", "0.04", "0.5", "0.8"}, "each axis's ends"


def test_importance_bars_most_important_on_top() -> None:
    imp = Importance("ped-anova", [("lr", 0.7), ("density", 0.2), ("epochs", 0.1)], 12)
    ax = importance_figure(imp).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["epochs", "density", "lr"], "barh: the last on top"
    assert [round(p.get_width(), 3) for p in ax.patches] == [0.1, 0.2, 0.7]
    assert ax.get_xlabel() == "importance (PED-ANOVA, over 12 completed trials)"


def test_figures_share_no_pyplot_state() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    curves_figure([Curve("a", "finished", [1], [0.5])], "val_f1", "a")
    assert plt.get_fignums() == before, "made with matplotlib.figure.Figure: nothing left open in pyplot"

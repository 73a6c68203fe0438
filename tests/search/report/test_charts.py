"""``search.report.charts``: the figures as ``<img>`` of their SVG, or what the page says when there is no data."""

from __future__ import annotations

import base64
import re

import pandas as pd

from search.report.charts import best_trial_html, curves_html, frontier_html, learned_html
from search.results.charts.data import Curve, Frontier


def _svg_of(html: str) -> str:
    return base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)[1]).decode()


def test_curves_as_one_svg_image_with_a_title_per_point() -> None:
    html = curves_html([Curve("a", "finished", [1, 2], [0.5, 0.6])], "val_f1", "a")
    assert html.startswith('<img class="fig"') and 'alt="validation F1 per epoch of every trial"' in html
    titles = re.findall(r"<title>(.*?)</title>", _svg_of(html))
    assert titles == ["a (finished) epoch 1: 0.5000", "a (finished) epoch 2: 0.6000"]
    assert "No trial has reported an epoch yet." in curves_html([], "val_f1", None)


def test_the_frontier_with_its_statements() -> None:
    points = pd.DataFrame({"trial_id": ["a", "b"], "x": [10.0, 20.0], "y": [0.5, 0.8], "series": ["density"] * 2})
    html = frontier_html(Frontier("val_f1", 0.95, points, points, 0.76, "b", None, ["the fewest clicks ... b"]))
    assert "<ul><li>the fewest clicks ... b</li></ul>" in html
    assert "b: 20 clicks per image, F1 0.8000" in _svg_of(html)


def test_what_the_search_learned_says_what_is_missing() -> None:
    html = learned_html(None, None, "too few trials")
    assert "Fewer than two trials with a score" in html and "Importance: too few trials" in html


def test_the_best_trials_curves_and_per_class_bars() -> None:
    html = best_trial_html("t1", pd.DataFrame({"epoch": [1], "val_loss": [0.5]}), 1, [{"class": "road", "f1": 0.5}])
    assert html.count("<img ") == 2 and 'alt="train and validation curves of trial t1"' in html

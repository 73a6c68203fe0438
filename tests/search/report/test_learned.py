"""The report's "What the search learned": the parallel coordinates' data from a hand-made trials table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from search.report.learned import draw_parallel, parallel_data


def _table() -> pd.DataFrame:
    return pd.DataFrame({"trial_id": ["a", "b", "c"], "status": ["finished"] * 3, "lr": [1e-4, 1e-3, 1e-2],
                         "density": [0.01, 0.01, 0.01], "epochs": [2, 4, 3], "best_val_f1": [0.2, 0.7, 0.5]})


def test_every_trial_is_a_line_across_the_settings_that_vary_and_its_score() -> None:
    data = parallel_data(_table(), "val_f1", best_id="b")
    assert data["axes"] == ["learning rate", "epochs", "f1 (best)"], "density does not vary: no axis"
    lines = {line["trial_id"]: line for line in data["lines"]}
    assert lines["b"]["best"] and not lines["a"]["best"]
    assert lines["b"]["y"] == pytest.approx([0.5, 1.0, 1.0]), "lr on a log scale: 1e-3 halfway"
    assert lines["a"]["y"] == pytest.approx([0.0, 0.0, 0.0])
    assert data["ends"][0] == ("0.0001", "0.01") and data["ends"][2] == ("0.2", "0.7")
    assert draw_parallel(data).startswith("data:image/svg+xml;base64,")


def test_fewer_than_two_scored_trials_or_nothing_varying_draws_nothing() -> None:
    one = _table().assign(best_val_f1=[0.2, math.nan, math.nan])
    assert parallel_data(one, "val_f1", None) is None
    flat = _table().assign(lr=1e-3, epochs=3)
    assert parallel_data(flat, "val_f1", None) is None

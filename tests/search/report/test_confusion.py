"""``search.report.confusion``: the matrix's shares and scores, worked out by hand, and what its figure draws."""

from __future__ import annotations

import numpy as np
import pytest

from search.report.confusion import confusion_data, confusion_figure

CLASSES = ("road", "building", "water")


def _data() -> dict:
    return confusion_data(np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]]), CLASSES)


def test_shares_of_each_true_class_and_the_scores_they_give() -> None:
    data = _data()
    assert data["pixels"] == 20 and data["counts"] == [[8, 2, 0], [1, 9, 0], [0, 0, 0]]
    assert data["row_share"][0] == [0.8, 0.2, 0.0] and data["row_share"][2] == [None, None, None], "no water"
    f1_road, f1_building = 2 * 8 / (2 * 8 + 1 + 2), 2 * 9 / (2 * 9 + 2 + 1)
    assert data["f1"] == pytest.approx((f1_road + f1_building) / 2), "macro over the classes in the truth"
    assert data["oa"] == pytest.approx(17 / 20)
    assert [r["class"] for r in data["per_class"]] == list(CLASSES) and data["per_class"][2]["f1"] is None
    assert data["per_class"][0]["f1"] == pytest.approx(f1_road)


def test_the_figure_writes_the_share_of_each_cell_with_pixels() -> None:
    fig = confusion_figure(_data())
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.80", "0.20", "0.10", "0.90"], "cells with no pixel left blank"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    shown = ax.images[0].get_array()
    assert shown.mask[2].all() and not shown.mask[0].any(), "the row without truth is masked (grey)"
    assert len(fig.axes) == 2, "and a colour bar"

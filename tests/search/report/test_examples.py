"""``search.report.examples``: pixels for display, masks in the classes' colours, and the panels of an example."""

from __future__ import annotations

import numpy as np

from search.report.examples import colour_mask, display_rgb, example_figure

PALETTE = [[255, 0, 0], [0, 0, 255]]
NAMES = ["road", "water"]


def test_display_rgb_keeps_8_bit_and_stretches_the_rest() -> None:
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert display_rgb(grey).shape == (4, 4, 3) and (display_rgb(grey)[..., 2] == grey).all()
    wide = np.linspace(0, 1000, 100, dtype=np.float32).reshape(10, 10, 1)
    out = display_rgb(wide)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255, "2nd to 98th percentile stretched"


def test_colour_mask_paints_classes_and_blackens_ignored_pixels() -> None:
    out = colour_mask(np.array([[0, 1, 255]]), PALETTE)
    assert out.tolist() == [[[255, 0, 0], [0, 0, 255], [0, 0, 0]]]


def _example(train: bool) -> dict:
    truth = np.zeros((8, 8), np.int64)
    truth[4:] = 1
    truth[0, 0] = 255
    ex = {"stem": "s1", "window": [0, 0, 8, 8], "size": [8, 8], "image": np.full((8, 8, 3), 120, np.uint8),
          "truth": truth, "prediction": np.zeros((8, 8), np.int64), "accuracy": 0.5}
    if train:
        ex.update(dense=False, clicks_total=9, clicks=(np.array([1, 6]), np.array([2, 3]), np.array([0, 1])))
    return ex


def test_a_validation_example_shows_image_truth_and_prediction() -> None:
    fig = example_figure(_example(False), PALETTE, NAMES, train=False)
    assert [ax.get_title() for ax in fig.axes] == ["image", "truth", "prediction"]
    assert fig.get_suptitle() == "validation image s1: pixel accuracy 0.500"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["road", "water", "ignored (not scored)"]


def test_a_training_example_shows_the_clicks_it_was_trained_with() -> None:
    fig = example_figure(_example(True), PALETTE, NAMES, train=True)
    assert [ax.get_title() for ax in fig.axes] == ["image", "2 click(s) here of 9", "truth", "prediction"]
    dots = fig.axes[1].collections[0]
    assert dots.get_offsets().tolist() == [[2, 1], [3, 6]], "x is the column, y the row"
    assert (dots.get_facecolors()[:, :3] * 255).round().tolist() == [[255, 0, 0], [0, 0, 255]]

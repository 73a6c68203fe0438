"""benchmarks/active_clicks.py states plainly whether suggested rounds reach 0.95x of full supervision with at most
half the clicks per image random needs: the sentence must not claim more than the measured rounds show."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from active_clicks import bar_sentence


@pytest.mark.parametrize("reach, missed, verdict", [
    ({"random": 40, "margin": 15}, 30, "BAR MET"),  # random needs 31..40; 2 x 15 <= 31
    ({"random": 40, "margin": 20}, 30, "BAR UNDECIDED"),  # random may need only 31: 2 x 20 > 31
    ({"random": 40, "margin": 25}, 30, "BAR NOT MET"),
    ({"random": None, "margin": 20}, 40, "BAR MET"),  # random misses at 40 clicks, its most: it needs more than 40
    ({"random": None, "margin": None}, 40, "BAR NOT MET"),
    ({"random": 20, "margin": 15}, 15, "BAR NOT TESTABLE"),  # no suggested round has fewer than 15 clicks
])
def test_the_bar_is_met_only_where_the_measured_rounds_show_it(reach: dict, missed: int, verdict: str) -> None:
    sentence = bar_sentence(reach, "random", missed, 40, ["margin"], smallest=15)
    assert sentence.startswith(verdict + ":"), sentence


def test_a_pseudo_label_arm_is_not_counted_as_a_suggested_one() -> None:
    """Only the arms named as suggested count: a +pl arm (twice the epochs) never meets the bar for plain rounds."""
    sentence = bar_sentence({"random": 40, "margin": None, "margin+pl": 10}, "random", 30, 40, ["margin"], 15)
    assert sentence.startswith("BAR NOT MET") and "margin+pl" not in sentence

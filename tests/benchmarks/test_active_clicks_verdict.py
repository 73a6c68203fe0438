"""benchmarks/active_clicks.py states plainly whether a strategy closes at least half the gap between random clicks
and the error oracle with its interval above zero: the sentence must not claim more than the intervals show, and
the oracle itself never counts as a strategy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from active_clicks import bar_sentence
from compare import VERDICTS, Interval


def _closure(mean: float, low: float, high: float) -> Interval:
    return Interval(mean, low, high, units=90, seeds=5)


@pytest.mark.parametrize("margin, pixelpick, verdict, named", [
    ((0.62, 0.31, 0.90), (0.20, -0.10, 0.50), "BAR MET", "margin closes"),
    ((0.62, -0.05, 1.30), (0.20, -0.10, 0.50), "BAR NOT MET", "none closes"),  # half on average, but not above 0
    ((0.40, 0.10, 0.70), (0.20, -0.10, 0.50), "BAR NOT MET", "margin closes some"),  # above 0, but under half
    ((0.10, -0.20, 0.40), (0.55, 0.05, 1.00), "BAR MET", "pixelpick closes"),
])
def test_the_bar_is_half_the_gap_with_the_interval_above_zero(margin: tuple, pixelpick: tuple, verdict: str,
                                                              named: str) -> None:
    closures = {"margin": _closure(*margin), "pixelpick": _closure(*pixelpick), "oracle": _closure(1.0, 1.0, 1.0)}
    sentence = bar_sentence(closures, VERDICTS[0], ["margin", "pixelpick"])
    assert sentence.startswith(verdict + ":") and named in sentence, sentence


@pytest.mark.parametrize("ceiling", VERDICTS[1:])
def test_without_an_oracle_above_random_there_is_no_gap_to_close(ceiling: str) -> None:
    closures = {"margin": _closure(0.9, 0.6, 1.2)}
    assert bar_sentence(closures, ceiling, ["margin"]).startswith("BAR NOT TESTABLE:")

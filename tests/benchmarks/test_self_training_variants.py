"""benchmarks/self_training.py: each arm's second stage differs from the plain stage by its own settings only, a kept
run is reused only when it finished, and the bar is met only by an arm whose interval lies above zero."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from self_training import BAR, finished, table, variant_settings

ARGS = argparse.Namespace(threshold=0.7, lr_factor=0.1, teacher_decay=0.99, class_share=0.5, pseudo_weight=0.5,
                          epochs=8, variants=["stage", "lr"])


def test_each_variant_adds_its_own_settings_to_the_plain_stage() -> None:
    assert variant_settings("stage", ARGS) == {"pseudo_labels": 0.7}
    assert variant_settings("lr", ARGS) == {"pseudo_labels": 0.7, "pseudo_lr_factor": 0.1}
    assert variant_settings("teacher", ARGS) == {"pseudo_labels": 0.7, "teacher_decay": 0.99}
    assert variant_settings("class", ARGS) == {"pseudo_labels": 0.7, "pseudo_class_share": 0.5}
    assert variant_settings("term", ARGS) == {"pseudo_labels": 0.7, "pseudo_weight": 0.5}
    assert variant_settings("teacher+lr", ARGS) == {"pseudo_labels": 0.7, "teacher_decay": 0.99,
                                                    "pseudo_lr_factor": 0.1}
    assert set(variant_settings("all", ARGS)) == {"pseudo_labels", "pseudo_lr_factor", "teacher_decay",
                                                  "pseudo_class_share", "pseudo_weight"}


def test_only_a_finished_run_is_reused(tmp_path: Path) -> None:
    pd.DataFrame({"epoch": range(1, 17), "val_f1": 0.5}).to_csv(tmp_path / "metrics.csv", index=False)
    assert not finished(tmp_path, 16)  # no best model
    (tmp_path / "best.pt").write_bytes(b"")
    assert finished(tmp_path, 16)
    assert not finished(tmp_path, 8) and not finished(tmp_path / "none", 16)


def _scores(shift: float, seeds: int = 3, images: int = 9) -> dict[int, dict[str, float]]:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.6, (seeds, images))
    return {s: {f"im{j}": float(base[s, j] + shift + 0.002 * ((s + j) % 3)) for j in range(images)}
            for s in range(seeds)}


def test_the_bar_is_met_only_above_it_with_the_interval_above_zero(capsys) -> None:
    scores = {"control": _scores(0.0), "stage 1": _scores(-0.01), "stage": _scores(2 * BAR), "lr": _scores(0.001)}
    stages = {arm: [{"best_epoch": 1}] for arm in scores}
    assert table(ARGS, scores, stages) == ["stage"]
    assert "| lr |" in capsys.readouterr().out

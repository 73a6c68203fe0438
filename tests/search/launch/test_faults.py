"""Trials that all diverge: each shows why, the search exits non-zero (nothing trained), export says why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from search.cli.main import main
from trainable.config import ModelConfig
from trainable.learn.model import build_model

pytestmark = pytest.mark.slow


def test_diverging_trials_fail_with_epoch_and_lr_and_the_search_finishes(ray_local, demo_dir: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    nan_weights = tmp_path / "nan.pt"
    model = build_model(ModelConfig(backbone="tiny", weights="none"), 6)
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                for k, v in model.state_dict().items()}, nan_weights)  # any input now gives a NaN loss
    code = main(["run", "--data", str(demo_dir), "--backbone", "tiny", "--weights", str(nan_weights),
                 "--tile-size", "32", "--crops-per-epoch", "16", "--trials", "2", "--epochs-range", "2", "2",
                 "--density-range", "0.01", "0.1", "--storage", str(tmp_path), "--name", "nan"])
    assert code == 1, "a search in which no trial finished an epoch exits non-zero"
    capsys.readouterr()
    assert main(["results", str(tmp_path / "nan"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "diverged" and row["epochs_run"] == 0
        said = float(row["error"].split("with lr=")[1].split(";")[0])
        assert "loss became nan at epoch 1 with lr=" in row["error"] and said == pytest.approx(row["lr"], rel=1e-5)
        assert "lower the learning rate" in row["error"]
    assert main(["export", str(tmp_path / "nan"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "no trial of this search has finished an epoch" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()

"""``run --warm-start``: earlier trials into the new study as completed trials (Optuna's add_trial), where their
settings lie inside the new space; another problem refused; the results and the study show them."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from search.cli.args_to_settings import search_settings_from_args
from search.cli.main import main, parse
from search.errors import SearchError
from search.files import WARM_START_FILE
from search.launch.warm_start import WARM_ATTR, add_to_study, collect, space_params
from search.results.budget import Budgets

# as conftest's train_dir was trained: tiny network, 32-px tiles, 48 crops, lr 3e-3, density 0.05, 2 epochs
LIKE_TRAIN_DIR = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "48", "--cpus-per-trial", "1"]


def _settings(demo_dir: Path, tmp_path: Path, *flags: str):
    return search_settings_from_args(parse(["run", "--data", str(demo_dir), *LIKE_TRAIN_DIR, "--storage",
                                            str(tmp_path), *flags]))


def test_a_train_run_inside_the_space_is_taken_with_its_best_score(demo_dir: Path, train_dir: Path,
                                                                   tmp_path: Path) -> None:
    settings = _settings(demo_dir, tmp_path, "--lr-range", "1e-3", "1e-2", "--density-range", "0.01", "0.1",
                         "--epochs-range", "1", "3", "--warm-start", str(train_dir))
    (warm,), left_out = collect(settings)
    assert left_out == [] and warm.params == {"train/lr": pytest.approx(3e-3), "train/epochs": 2,
                                              "points/density": pytest.approx(0.05)}
    assert 0 < warm.values[0] <= 1 and warm.row["status"] == "warm start" and str(train_dir) in warm.source
    study = optuna.create_study(direction="maximize")
    add_to_study(study, [warm])
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == warm.values[0]
    assert trial.user_attrs[WARM_ATTR] == warm.source and trial.distributions["train/lr"].log
    assert trial.constraints == {}, "no budget: no constraint"
    hours = warm.row["annotation_hours"]
    budgeted = optuna.create_study(direction="maximize")
    add_to_study(budgeted, [warm], Budgets(annotation_hours=hours / 2))
    assert budgeted.trials[0].constraints == {"annotation_hours": pytest.approx(hours / 2)}, "past the new budget"


def test_a_trial_outside_the_space_or_not_comparable_is_left_out_saying_why(demo_dir: Path, train_dir: Path,
                                                                            tmp_path: Path) -> None:
    settings = _settings(demo_dir, tmp_path, "--lr-range", "1e-5", "1e-4", "--warm-start", str(train_dir))
    warm, (why,) = collect(settings)
    assert warm == [] and "train/lr 0.003 outside [1e-05, 0.0001]" in why
    other = search_settings_from_args(parse(["run", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "64",
                                             "--storage", str(tmp_path), "--warm-start", str(train_dir)]))
    warm, (why,) = collect(other)
    assert warm == [] and "data.tile_size 32" in why
    fixed = _settings(demo_dir, tmp_path, "--lr", "3e-3", "--density", "0.05", "--epochs", "2")
    cfg = {"train": {"lr": 3e-3, "epochs": 2}, "points": {"mode": "density", "density": 0.05}}
    assert space_params(cfg, fixed.space) == ({}, {}), "fixed values equal to the trial's: inside"
    assert "train/lr 0.001 (fixed at 0.003)" in space_params({**cfg, "train": {"lr": 1e-3, "epochs": 2}},
                                                            fixed.space)


def test_a_run_on_other_data_is_refused_naming_the_difference(demo_dir: Path, train_dir: Path,
                                                              tmp_path: Path) -> None:
    other = tmp_path / "data"
    assert main(["demo-data", str(other), "--images", "6", "--size", "32"]) == 0
    settings = search_settings_from_args(parse(["run", "--data", str(other), *LIKE_TRAIN_DIR, "--storage",
                                                str(tmp_path / "s"), "--warm-start", str(train_dir)]))
    with pytest.raises(SearchError, match=r"--warm-start .*: its runs have data\.root .* this search .*data"):
        collect(settings)


@pytest.mark.slow
def test_a_warm_started_search_starts_from_the_earlier_run(ray_local, demo_dir: Path, train_dir: Path,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--data", str(demo_dir), *LIKE_TRAIN_DIR, "--lr-range", "1e-3", "1e-2", "--density-range",
                 "0.01", "0.1", "--epochs-range", "1", "2", "--trials", "2", "--storage", str(tmp_path),
                 "--name", "warm", "--warm-start", str(train_dir), "--weights", "auto",  # auto: resolved first
                 "--max-annotation-hours", "1e-6"]) == 0  # every trial past it: none is the best

    out = capsys.readouterr().out
    assert "warm start: 1 earlier trial(s) in the study" in out
    record = json.loads((tmp_path / "warm" / WARM_START_FILE).read_text())
    assert len(record["taken"]) == 1 and record["left_out"] == []
    from search.results.importance import load_study

    study = load_study(str(tmp_path / "warm"))
    assert sum(WARM_ATTR in t.user_attrs for t in study.trials) == 1 and len(study.trials) == 3
    assert main(["results", str(tmp_path / "warm"), "--output", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows].count("warm start") == 1 and len(rows) == 3
    assert all(r["over_budget"] for r in rows), "the new trials and the earlier one, against the new budget"

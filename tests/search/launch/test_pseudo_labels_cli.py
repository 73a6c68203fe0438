"""``--pseudo-labels`` and ``--unlabeled-images`` through ``pointtune train`` and ``run``: the flags, the search space,
the folder a run writes, a search whose trials get different thresholds, and the real DeepLabV3 path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from search.cli.args_to_settings import search_settings_from_args
from search.cli.main import main, parse
from search.launch.space import SearchSpaceSampler
from search.results.experiment import load_experiment
from trainable.learn.checkpoint import load_checkpoint

TINY = ["--backbone", "tiny", "--tile-size", "32", "--lr", "3e-3", "--density", "0.02", "--crops-per-epoch", "16",
        "--batch-size", "4"]


def test_a_copy_of_a_dataset_image_under_another_name_is_refused_as_unlabeled(
        demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    shutil.copy(sorted((demo_dir / "images").glob("*.png"))[-1], sites / "elsewhere.png")
    out = tmp_path / "run"
    assert main(["train", "--data", str(demo_dir), *TINY, "--epochs", "1", "--pseudo-labels", "0.3",
                 "--unlabeled-images", str(sites), "--out", str(out)]) == 2
    assert "elsewhere.png: has the same pixels as the dataset's image" in capsys.readouterr().err
    assert not out.exists()


def test_train_with_pseudo_labels_and_unlabeled_images(demo_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    from trainable.data.demo import generate_demo_data

    other = generate_demo_data(tmp_path / "other", num_images=2, size=64, seed=3)
    sites = tmp_path / "sites" / "images"
    sites.mkdir(parents=True)
    for path in (other / "images").glob("*.png"):
        shutil.copy(path, sites / f"site_{path.name}")
    out = tmp_path / "run"
    assert main(["train", "--data", str(demo_dir), *TINY, "--epochs", "1", "--pseudo-labels", "0.3",
                 "--unlabeled-images", str(sites.parent), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "then 1 more on clicks + pseudo-labels at threshold 0.3" in printed
    assert "epoch 1/2 " in printed and "epoch 2/2 (stage 2: " in printed
    history = pd.read_csv(out / "metrics.csv")
    assert history["epoch"].tolist() == [1, 2] and history["stage"].tolist() == [1, 2]
    assert history["pseudo_labelled_fraction"].iloc[0] == 0 < history["pseudo_labelled_fraction"].iloc[1]
    best = int(history.loc[history["val_f1"].idxmax(), "epoch"])
    assert history["best_epoch"].iloc[-1] == best and load_checkpoint(out / "best.pt")["epoch"] == best
    assert load_checkpoint(out / "best.pt")["config"]["train"]["pseudo_labels"] == 0.3
    # the model adapts to the site to be mapped before its test score (AdaBN on --unlabeled-images)
    assert load_checkpoint(out / "best.pt")["adapted_bn"]["folder"] == str(sites.parent)
    assert "re-estimated on the 2 image(s)" in printed
    assert main(["train", "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has finished its 2 epoch(s)" in err and "cannot be made longer" in err and "give --epochs" not in err
    (row,) = [r for r in load_experiment(str(out))]
    assert row.status == "finished"
    assert main(["results", str(out), "--output", "json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["epochs"] == 2 == shown["epochs_run"] and shown["pseudo_labels"] == 0.3
    cut = tmp_path / "cut"  # the same run stopped in its first stage: both stages are still to come
    shutil.copytree(out, cut)
    pd.read_csv(out / "metrics.csv").head(1).to_csv(cut / "metrics.csv", index=False)
    assert load_experiment(str(cut))[0].status == "interrupted"
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out)]) == 2
    assert "is in its second, self-training stage (epoch 2; each stage has 1)" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--unlabeled-images", "."], "--pseudo-labels THRESHOLD"),
    (["--pseudo-labels", "0"], "argument --pseudo-labels: 0: use a value in (0, 1]"),
    (["--pseudo-labels", "1.5"], "argument --pseudo-labels: 1.5: use a value in (0, 1]"),
])
def test_train_refuses_pseudo_label_settings_that_cannot_work(demo_dir: Path, tmp_path: Path, flags: list[str],
                                                              message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(demo_dir), *TINY, *flags, "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


def _space(argv: list[str]):
    return search_settings_from_args(parse(argv))


def test_run_searches_the_threshold_uniformly_or_fixes_it(demo_dir: Path, capsys: pytest.CaptureFixture) -> None:
    searched = _space(["run", "--data", str(demo_dir), "--pseudo-labels-range", "0.6", "0.9"])
    assert searched.space.pseudo_labels == (0.6, 0.9)
    assert searched.base.train.pseudo_labels == 0.9 and searched.base.train.stages == 2  # the base holds the top
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    fixed = SearchSpaceSampler(searched.space)(trial)
    dist = trial.distributions["train/pseudo_labels"]
    assert isinstance(dist, optuna.distributions.FloatDistribution) and not dist.log
    assert (dist.low, dist.high) == (0.6, 0.9) and "train/pseudo_labels" not in fixed
    one = _space(["run", "--data", str(demo_dir), "--pseudo-labels", "0.8"])
    trial = optuna.create_study().ask()
    assert SearchSpaceSampler(one.space)(trial)["train/pseudo_labels"] == 0.8 and not trial.distributions.get(
        "train/pseudo_labels")
    none = _space(["run", "--data", str(demo_dir)])
    assert none.space.pseudo_labels is None and none.base.train.pseudo_labels is None
    assert main(["run", "--data", str(demo_dir), "--pseudo-labels-range", "0", "0.5"]) == 2
    assert "argument --pseudo-labels-range: 0: use a value in (0, 1]" in capsys.readouterr().err
    assert main(["run", "--data", str(demo_dir), "--unlabeled-images", str(demo_dir)]) == 2
    assert "--pseudo-labels-range LO HI" in capsys.readouterr().err


def test_run_searches_the_second_stages_settings_where_given(demo_dir: Path) -> None:
    searched = _space(["run", "--data", str(demo_dir), "--pseudo-labels", "0.8", "--pseudo-lr-factor-range", "0.05",
                       "0.5", "--teacher-decay-range", "0.9", "0.999", "--pseudo-class-share", "0.3",
                       "--pseudo-weight-range", "0.1", "2"])
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    fixed = SearchSpaceSampler(searched.space)(trial)
    dist = trial.distributions
    for name, log, span in (("pseudo_lr_factor", True, (0.05, 0.5)), ("teacher_decay", False, (0.9, 0.999)),
                            ("pseudo_weight", True, (0.1, 2.0))):
        assert dist[f"train/{name}"].log == log and (dist[f"train/{name}"].low, dist[f"train/{name}"].high) == span
    assert fixed["train/pseudo_class_share"] == 0.3 and "train/pseudo_class_share" not in dist
    assert searched.base.train.pseudo_class_share == 0.3
    plain = _space(["run", "--data", str(demo_dir), "--pseudo-labels-range", "0.6", "0.9"])
    trial = optuna.create_study().ask()
    SearchSpaceSampler(plain.space)(trial)
    assert set(trial.distributions) == {"train/lr", "train/epochs", "points/density", "train/pseudo_labels"}
    assert plain.base.train.pseudo_lr_factor == 1.0 and plain.base.train.teacher_decay is None


def test_train_keeps_the_second_stages_settings_in_its_model(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(demo_dir), *TINY, "--epochs", "1", "--pseudo-labels", "0.3",
                 "--pseudo-lr-factor", "0.5", "--teacher-decay", "0.9", "--pseudo-class-share", "0.4",
                 "--pseudo-weight", "2", "--out", str(out)]) == 0
    train = load_checkpoint(out / "best.pt")["config"]["train"]
    assert [train[k] for k in ("pseudo_lr_factor", "teacher_decay", "pseudo_class_share", "pseudo_weight")] == [
        0.5, 0.9, 0.4, 2.0]
    assert pd.read_csv(out / "metrics.csv")["stage"].tolist() == [1, 2]


def test_asha_counts_the_second_stage_in_its_budget(demo_dir: Path, tmp_path: Path) -> None:
    from search.launch.tuner import tune_config

    asha = ["run", "--data", str(demo_dir), "--epochs", "3", "--scheduler", "asha", "--storage", str(tmp_path)]
    assert tune_config(_space([*asha, "--name", "two", "--pseudo-labels-range", "0.7", "0.9"]), 1).scheduler._max_t == 6
    assert tune_config(_space([*asha, "--name", "one"]), 1).scheduler._max_t == 3


@pytest.mark.slow
def test_a_search_gives_its_trials_different_thresholds(ray_local, demo_dir: Path, tmp_path: Path) -> None:
    assert main(["run", "--data", str(demo_dir), *TINY, "--epochs", "1", "--trials", "2", "--sampler", "random",
                 "--cpus-per-trial", "1", "--pseudo-labels-range", "0.3", "0.9", "--storage", str(tmp_path),
                 "--name", "pseudo"]) == 0
    records = load_experiment(str(tmp_path / "pseudo"))
    thresholds = [r.config["train"]["pseudo_labels"] for r in records]
    assert len(set(thresholds)) == 2 and all(0.3 <= t <= 0.9 for t in thresholds)
    for r in records:
        assert r.status == "finished" and r.history["stage"].tolist() == [1, 2]
        assert r.history["best_epoch"].iloc[-1] == r.history.loc[r.history["val_f1"].idxmax(), "epoch"]


@pytest.mark.slow
def test_the_real_deeplabv3_walks_the_second_stage(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "real"
    assert main(["train", "--data", str(demo_dir), "--backbone", "mobilenet_v3_large", "--weights", "none",
                 "--tile-size", "32", "--batch-size", "4", "--crops-per-epoch", "8", "--epochs", "1",
                 "--density", "0.05", "--pseudo-labels", "0.2", "--out", str(out)]) == 0
    history = pd.read_csv(out / "metrics.csv")
    assert history["stage"].tolist() == [1, 2] and history["val_f1"].notna().all()
    assert history["pseudo_labelled_fraction"].iloc[0] == 0 < history["pseudo_labelled_fraction"].iloc[1] <= 1

"""Flags, YAML configs and the search space: no Ray, no training."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.cli.args_to_settings import search_settings_from_args
from search.cli.main import main, parse
from search.launch.settings import SearchSettings
from search.launch.space import SearchSpaceSampler, build_param_space
from trainable.defaults import profile


def _settings(argv: list[str]) -> SearchSettings:
    return search_settings_from_args(parse(argv))


def test_yaml_config_sets_defaults_and_flags_override_it(demo_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "search.yaml"
    cfg.write_text(f"data: {demo_dir}\ntrials: 7\nlr-range: [0.0001, 0.01]\nepochs_range: [2, 5]\n"
                   "backbone: tiny\ntile_size: 32\n")
    s = _settings(["run", "--config", str(cfg), "--trials", "3", "--storage", str(tmp_path)])
    assert s.trials == 3, "the flag overrides the YAML value"
    assert s.trials_given, "given on the command line"
    assert s.space.lr == (1e-4, 1e-2) and s.space.epochs == (2, 5)
    assert s.base.model.backbone == "tiny" and s.base.data.tile_size == 32 and s.base.data.root == str(demo_dir)
    assert s.storage == str(tmp_path.resolve())


def test_unknown_yaml_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("trials: 3\nlearning_rate: 0.1\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "unknown setting(s) ['learning_rate']" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--lr-range", "0.01", "0.001"], "--lr-range 0.01 0.001: give the low end first (LO <= HI)"),
    (["--density-range", "0", "0.1"], "argument --density-range: 0: use a value in (0, 1]"),
    (["--density-range", "0.1", "2"], "argument --density-range: 2: use a value in (0, 1]"),
    (["--epochs-range", "3", "1"], "--epochs-range 3 1: give the low end first"),
    (["--trials", "0"], "argument --trials: 0: use a value in [1, 100000]"),
    (["--gpus-per-trial", "1.5"], "whole number"),
])
def test_empty_or_out_of_bounds_ranges_exit_2(demo_dir: Path, flags: list[str], message: str,
                                               capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--data", str(demo_dir), *flags]) == 2
    assert message in capsys.readouterr().err


def _suggested(settings: SearchSettings) -> tuple[dict, dict]:
    """What the search space sampler suggests to a fresh Optuna trial: (distributions, fixed values)."""
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    fixed = SearchSpaceSampler(settings.space)(trial)
    return trial.distributions, fixed


def test_search_space_suggests_the_searched_distributions(demo_dir: Path) -> None:
    s = _settings(["run", "--data", str(demo_dir), "--lr-range", "1e-5", "1e-2", "--density-range", "0.001", "0.1",
                   "--epochs-range", "2", "6"])
    dists, fixed = _suggested(s)
    lr, density, epochs = dists["train/lr"], dists["points/density"], dists["train/epochs"]
    assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log and (lr.low, lr.high) == (1e-5, 1e-2)
    assert density.log and (density.low, density.high) == (1e-3, 0.1)
    assert isinstance(epochs, optuna.distributions.IntDistribution) and (epochs.low, epochs.high) == (2, 6)
    assert fixed == {"points/mode": "density"}
    assert build_param_space(s)["data"]["root"] == str(demo_dir)
    dists, fixed = _suggested(_settings(["run", "--data", str(demo_dir), "--clicks-per-object-range", "1", "3",
                                         "--epochs-range", "4", "4"]))
    assert (dists["points/clicks_per_object"].low, dists["points/clicks_per_object"].high) == (1, 3)
    assert "points/density" not in dists and fixed == {"points/mode": "per_instance", "train/epochs": 4}


def test_augmentation_is_searched_where_asked_and_fixed_otherwise(demo_dir: Path) -> None:
    """--color-jitter-range and --scale-jitter-range are uniform, --search-standardize a choice; a fixed value is a
    constant; given to neither, they stay the base config's (off)."""
    s = _settings(["run", "--data", str(demo_dir), "--color-jitter-range", "0", "0.4", "--scale-jitter", "0.5",
                   "--search-standardize"])
    dists, fixed = _suggested(s)
    jitter = dists["data/color_jitter"]
    assert isinstance(jitter, optuna.distributions.FloatDistribution) and not jitter.log
    assert (jitter.low, jitter.high) == (0.0, 0.4) and fixed["data/scale_jitter"] == 0.5
    assert isinstance(dists["data/standardize"], optuna.distributions.CategoricalDistribution)
    plain = _settings(["run", "--data", str(demo_dir)])
    dists, fixed = _suggested(plain)
    assert not any(k.startswith("data/") for k in [*dists, *fixed])
    assert (plain.base.data.color_jitter, plain.base.data.scale_jitter, plain.base.data.standardize) == (0, 0, False)


def test_asha_makes_the_epoch_count_a_budget_unless_asked(demo_dir: Path) -> None:
    asha = _settings(["run", "--data", str(demo_dir), "--epochs-range", "2", "9", "--scheduler", "asha",
                      "--grace-period", "2", "--reduction-factor", "2"])
    assert asha.space.epochs == (9, 9) and (asha.grace_period, asha.reduction_factor) == (2, 2)
    both = _settings(["run", "--data", str(demo_dir), "--epochs-range", "2", "9", "--scheduler", "asha",
                      "--asha-search-epochs"])
    assert both.space.epochs == (2, 9)


def test_yaml_values_go_through_each_flags_type(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "search.yaml"
    cfg.write_text(f"data: {demo_dir}\nlr_range: [1e-5, 1e-2]\nclass_weights: true\nmetric: val_miou\n")
    s = _settings(["run", "--config", str(cfg)])  # YAML reads 1e-5 as a string: the flag's own type converts it
    assert s.space.lr == (1e-5, 1e-2) and s.base.points.class_weights and s.objective == "best_val_miou"
    for bad, message in (("lr_range: [1e-5, fast]", "lr_range: 'fast' is not a number"),
                         ("lr_range: 0.1", "lr_range: 0.1 must be a list of 2 values"),
                         ("scheduler: hyperband", "scheduler: 'hyperband' is not one of none, asha"),
                         ("class_weights: 3", "class_weights: 3 must be true or false")):
        cfg.write_text(bad + "\n")
        assert main(["run", "--config", str(cfg)]) == 2
        assert message in capsys.readouterr().err, bad


def test_resume_refuses_flags_it_would_ignore(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--resume", "--name", "x", "--lr-range", "1e-4", "1e-3", "--epochs-range", "1", "2"]) == 2
    err = capsys.readouterr().err
    assert "would ignore --epochs-range, --lr-range" in err and "start a new search" in err
    args = parse(["run", "--resume", "--name", "x", "--trials", "9", "--retry-failed", "--storage", "s"])
    assert args.trials == 9 and args.retry_failed


def test_settings_round_trip_through_yaml_dict(demo_dir: Path) -> None:
    s = _settings(["run", "--data", str(demo_dir), "--clicks-per-object-range", "1", "3", "--name", "x"])
    assert SearchSettings.from_dict(s.to_dict()) == s


def test_no_data_means_demo_scenes_and_demo_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    s = _settings(["run"])
    assert s.base.data.format == "demo" and Path(s.base.data.root).parent == tmp_path
    demo = profile(demo=True)
    assert s.trials == demo["trials"] == 6 and s.base.data.tile_size == demo["tile_size"] == 64


def test_run_with_bad_data_exits_2_before_ray_or_any_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    import search.launch.run

    def no_ray(address: str | None) -> None:
        raise AssertionError("the run started or joined Ray")

    monkeypatch.setattr(search.launch.run, "start_ray", no_ray)  # the test session's shared instance may be up already
    ray_before = ray.is_initialized()
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "semantic").mkdir()
    (data / "images" / "a.png").write_bytes(b"not an image")
    (data / "semantic" / "b.png").write_bytes(b"")
    storage = tmp_path / "results"
    assert main(["run", "--data", str(data), "--format", "demo", "--storage", str(storage), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "a.png: image has no mask" in err and "b.png: mask has no image" in err
    assert ray.is_initialized() == ray_before and not storage.exists()


def test_run_takes_fixed_values_as_one_value_ranges(demo_dir: Path) -> None:
    s = _settings(["run", "--data", str(demo_dir), "--lr", "1e-3", "--density", "0.05", "--epochs", "3"])
    assert (s.space.lr, s.space.density, s.space.epochs) == ((1e-3, 1e-3), (0.05, 0.05), (3, 3))
    dists, fixed = _suggested(s)
    assert dists == {} and fixed == {"train/lr": 1e-3, "train/epochs": 3, "points/mode": "density",
                                     "points/density": 0.05}
    clicks = _settings(["run", "--data", str(demo_dir), "--clicks-per-object", "2", "--lr-range", "1e-4", "1e-2"])
    assert clicks.space.clicks_per_object == (2, 2) and clicks.space.modes == ("per_instance",)
    assert clicks.space.lr == (1e-4, 1e-2)
    both = _settings(["run", "--data", str(demo_dir), "--clicks-per-object", "2", "--density", "0.05"])
    assert both.space.modes == ("density", "per_instance"), "as --clicks-per-object-range 2 2 with --density-range"


@pytest.mark.parametrize("flags, message", [
    (["--lr", "1e-3", "--lr-range", "1e-4", "1e-2"], "--lr 0.001 and --lr-range 0.0001 0.01: give one of them"),
    (["--epochs", "3", "--epochs-range", "1", "4"], "--epochs 3 and --epochs-range 1 4"),
    (["--density", "0.05", "--density-range", "0.01", "0.1"], "--density 0.05 and --density-range 0.01 0.1"),
    (["--clicks-per-object", "2", "--clicks-per-object-range", "1", "3"],
     "--clicks-per-object 2 and --clicks-per-object-range 1 3"),
])
def test_a_fixed_value_and_its_range_together_are_refused(demo_dir: Path, flags: list[str], message: str,
                                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--data", str(demo_dir), *flags]) == 2
    assert message in capsys.readouterr().err


def test_warmup_is_checked_against_the_fewest_epochs_a_trial_may_get(demo_dir: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--data", str(demo_dir), "--warmup-epochs", "2", "--epochs-range", "1", "4"]) == 2
    err = capsys.readouterr().err
    assert "--warmup-epochs 2 must be below the low end of --epochs-range 1 4" in err
    assert _settings(["run", "--data", str(demo_dir), "--warmup-epochs", "11", "--epochs-range", "12", "20"])
    asha = _settings(["run", "--data", str(demo_dir), "--warmup-epochs", "2", "--epochs-range", "1", "4",
                      "--scheduler", "asha"])
    assert asha.space.epochs == (4, 4), "with ASHA every trial's schedule spans the top of the range"


def test_train_takes_a_yaml_config_as_run_does(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from search.cli.args_to_settings import trial_config_from_args

    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"data: {demo_dir}\nbackbone: tiny\ntile_size: 32\nlr: 3e-3\nepochs: 5\n")
    args = parse(["train", "--config", str(cfg), "--epochs", "2"])
    trial, _ = trial_config_from_args(args)
    assert (trial.train.lr, trial.train.epochs, trial.model.backbone) == (3e-3, 2, "tiny"), "the flag overrides"
    assert trial.data.tile_size == 32 and trial.data.root == str(demo_dir)
    cfg.write_text("trials: 3\n")
    assert main(["train", "--config", str(cfg)]) == 2
    assert "unknown setting(s) ['trials']; use the flag names of `pointtune train --help`" in capsys.readouterr().err


def test_flags_without_a_command_are_a_search(tmp_path: Path) -> None:
    """README's demo: `pointtune --backbone mobilenet_v3_large` is `pointtune run --backbone mobilenet_v3_large`."""
    args = parse(["--backbone", "mobilenet_v3_large"])
    assert args.command == "run" and args.backbone == "mobilenet_v3_large"
    args = parse(["-v", "--data", str(tmp_path), "--trials", "2"])
    assert args.command == "run" and args.verbose and args.trials == 2
    assert parse([]).command == "run" and parse(["results", str(tmp_path)]).command == "results"


def test_gpus_per_trial_is_auto_unless_given(demo_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert parse(["run"]).gpus_per_trial == "auto"
    assert _settings(["run", "--data", str(demo_dir)]).gpus_per_trial == "auto"
    assert _settings(["run", "--data", str(demo_dir), "--gpus-per-trial", "0"]).gpus_per_trial == 0.0
    with pytest.raises(SystemExit) as exit_:
        parse(["run", "--data", str(demo_dir), "--gpus-per-trial", "some"])
    assert exit_.value.code == 2
    assert "'some': give auto, or GPUs per trial" in capsys.readouterr().err


@pytest.mark.parametrize("cluster, launchable, gpus, why", [
    ({"CPU": 16.0, "GPU": 4.0}, {}, 1.0, "Ray sees 4 GPU(s)"),
    ({"CPU": 2.0}, {}, 0.0, "no GPU on this machine or cluster"),
    ({"CPU": 0.0}, {"gpu_worker": {"CPU": 8.0, "GPU": 1.0}, "cpu_worker": {"CPU": 8.0}}, 1.0,
     "no GPU is up, and the autoscaler can start gpu_worker (1 GPU)"),
    ({"CPU": 4.0}, {"cpu_worker": {"CPU": 8.0}}, 0.0, "no GPU on this machine or cluster"),
])
def test_gpus_per_trial_auto_gives_a_gpu_where_the_cluster_has_them(cluster: dict, launchable: dict, gpus: float,
                                                                    why: str) -> None:
    from search.launch.settings import choose_gpus_per_trial

    assert choose_gpus_per_trial(cluster, launchable) == (gpus, why)


def test_gpus_per_trial_auto_is_resolved_once_and_said(demo_dir: Path) -> None:
    from search.launch.settings import resolve_gpus

    auto = _settings(["run", "--data", str(demo_dir)])
    resolved, line = resolve_gpus(auto, {"CPU": 8.0, "GPU": 1.0}, {})
    assert resolved.gpus_per_trial == 1.0 and line.startswith("GPUs: 1 per trial (--gpus-per-trial auto: Ray sees")
    resolved, line = resolve_gpus(auto, {"CPU": 2.0}, {})
    assert resolved.gpus_per_trial == 0.0 and line.startswith("GPUs: none (--gpus-per-trial auto: no GPU")
    given = _settings(["run", "--data", str(demo_dir), "--gpus-per-trial", "0.5"])
    assert resolve_gpus(given, {"GPU": 8.0}, {}) == (given, None), "a number given stays"
    assert SearchSettings.from_dict(auto.to_dict()) == auto
@pytest.mark.parametrize("where", ["storage", "inside storage", "name", "resume"])
def test_storage_or_search_folder_that_is_a_file_exits_2_before_ray(where: str, demo_dir: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import search.launch.run

    def no_ray(address: str | None) -> None:
        raise AssertionError("the run started or joined Ray")

    monkeypatch.setattr(search.launch.run, "start_ray", no_ray)  # the test session's shared instance may be up already
    blocker = tmp_path / "results"
    blocker.write_text("a file")
    storage = {"storage": blocker, "inside storage": blocker / "sub"}.get(where, tmp_path)
    name = "results" if where in ("name", "resume") else "x"
    argv = ["run", "--storage", str(storage), "--name", name]
    argv += ["--resume"] if where == "resume" else ["--data", str(demo_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    flag = f"--name {name}" if where in ("name", "resume") else f"--storage {storage}"
    assert f"{flag}: {blocker} is a file, not a folder" in err and "a storage URI" in err, err
    assert "Traceback" not in err and blocker.read_text() == "a file"

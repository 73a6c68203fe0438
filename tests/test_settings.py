"""Flags, YAML configs and the search space: no Ray, no training."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune

from search.cli import main, parse
from search.settings import DEMO_DEFAULTS, SearchSettings, search_settings_from_args
from search.space import build_param_space


def _settings(argv: list[str]) -> SearchSettings:
    return search_settings_from_args(parse(argv))


def test_yaml_config_sets_defaults_and_flags_override_it(demo_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "search.yaml"
    cfg.write_text(f"data: {demo_dir}\ntrials: 7\nlr-range: [0.0001, 0.01]\nepochs_range: [2, 5]\n"
                   "backbone: tiny\ntile_size: 32\n")
    s = _settings(["run", "--config", str(cfg), "--trials", "3", "--storage", str(tmp_path)])
    assert s.trials == 3, "the flag overrides the YAML value"
    assert s.space.lr == (1e-4, 1e-2) and s.space.epochs == (2, 5)
    assert s.base.model.backbone == "tiny" and s.base.data.tile_size == 32 and s.base.data.root == str(demo_dir)
    assert s.storage == str(tmp_path.resolve())


def test_unknown_yaml_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("trials: 3\nlearning_rate: 0.1\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "unknown setting(s) ['learning_rate']" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--lr-range", "0.01", "0.001"], "--lr-range 0.01 0.001: need 0 < LO <= HI < 1"),
    (["--density-range", "0", "0.1"], "--density-range 0 0.1"),
    (["--density-range", "0.1", "2"], "--density-range 0.1 2"),
    (["--epochs-range", "3", "1"], "--epochs-range 3 1"),
    (["--trials", "0"], "--trials 0"),
    (["--gpus-per-trial", "1.5"], "whole number"),
])
def test_empty_or_out_of_bounds_ranges_exit_2(demo_dir: Path, flags: list[str], message: str,
                                               capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--data", str(demo_dir), *flags]) == 2
    assert message in capsys.readouterr().err


def test_param_space_has_the_searched_distributions(demo_dir: Path, tmp_path: Path) -> None:
    s = _settings(["run", "--data", str(demo_dir), "--lr-range", "1e-5", "1e-2", "--density-range", "0.001", "0.1",
                   "--epochs-range", "2", "6"])
    space = build_param_space(s)
    lr, density, epochs = space["train"]["lr"], space["points"]["density"], space["train"]["epochs"]
    assert isinstance(lr, tune.search.sample.Float) and (lr.lower, lr.upper) == (1e-5, 1e-2)
    assert isinstance(lr.sampler, tune.search.sample.LogUniform)
    assert isinstance(density.sampler, tune.search.sample.LogUniform)
    assert (epochs.lower, epochs.upper) == (2, 7), "tune.randint excludes its upper bound: HI + 1"
    assert space["data"]["root"] == str(demo_dir)
    per_instance = build_param_space(_settings(["run", "--data", str(demo_dir), "--points-range", "1", "3"]))
    assert per_instance["points"]["mode"] == "per_instance"
    searched = per_instance["points"]["points_per_instance"]
    assert (searched.lower, searched.upper) == (1, 4)


def test_settings_round_trip_through_yaml_dict(demo_dir: Path) -> None:
    s = _settings(["run", "--data", str(demo_dir), "--points-range", "1", "3", "--name", "x"])
    assert SearchSettings.from_dict(s.to_dict()) == s


def test_no_data_means_demo_scenes_and_demo_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    s = _settings(["run"])
    assert s.base.data.format == "demo" and Path(s.base.data.root).parent == tmp_path
    assert s.trials == DEMO_DEFAULTS["trials"] and s.base.data.tile_size == DEMO_DEFAULTS["tile_size"]


def test_run_with_bad_data_exits_2_before_ray_or_any_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import ray

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "semantic").mkdir()
    (data / "images" / "a.png").write_bytes(b"not an image")
    (data / "semantic" / "b.png").write_bytes(b"")
    storage = tmp_path / "results"
    assert main(["run", "--data", str(data), "--format", "demo", "--storage", str(storage), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "a.png: image has no mask" in err and "b.png: mask has no image" in err
    assert not ray.is_initialized() and not storage.exists()

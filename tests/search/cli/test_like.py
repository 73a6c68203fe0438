"""``train --like RUN`` (search/cli/like.py): the flags not given take RUN's settings; the flags given stay."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from search.cli.like import apply_like
from search.cli.main import parse
from search.files import TRAIN_CONFIG
from trainable.config import ConfigError, TrialConfig


def a_run(folder: Path, **sections: dict) -> Path:
    """A `pointtune train` folder as `--like` reads it: its config.yaml."""
    folder.mkdir(parents=True)
    cfg = TrialConfig().replace(**sections)
    (folder / TRAIN_CONFIG).write_text(yaml.safe_dump(cfg.to_dict()))
    return folder


def test_flags_left_out_take_the_runs_settings_and_flags_given_stay(tmp_path: Path) -> None:
    run = a_run(tmp_path / "r0", data={"root": str(tmp_path / "data"), "tile_size": 96, "flips": False},
                points={"density": 0.003, "seed": 7}, model={"backbone": "tiny"},
                train={"lr": 3e-3, "epochs": 9, "lr_schedule": "cosine", "unlabeled_loss": "entropy"})
    args = parse(["train", "--like", str(run), "--epochs", "2", "--out", str(tmp_path / "r1")])
    apply_like(args)
    assert args.data == str(tmp_path / "data") and args.tile_size == 96 and args.no_flips
    assert args.density == 0.003 and args.clicks_per_object is None and args.seed == 7
    assert args.backbone == "tiny" and args.lr == 3e-3 and args.lr_schedule == "cosine"
    assert args.unlabeled_loss == ["entropy"]
    assert args.epochs == 2, "a flag given overrides the run's setting"


def test_a_per_object_run_gives_its_clicks_per_object_unless_a_density_is_given(tmp_path: Path) -> None:
    run = a_run(tmp_path / "r0", points={"mode": "per_instance", "clicks_per_object": 3})
    args = parse(["train", "--like", str(run)])
    apply_like(args)
    assert args.clicks_per_object == 3 and args.density is None
    args = parse(["train", "--like", str(run), "--density", "0.01"])
    apply_like(args)
    assert args.clicks_per_object is None and args.density == 0.01


def test_your_clicks_in_place_of_simulated_ones_keep_the_clicks_default_density(tmp_path: Path) -> None:
    run = a_run(tmp_path / "r0", points={"density": 0.003})
    args = parse(["train", "--like", str(run), "--clicks", str(tmp_path / "round1.csv")])
    apply_like(args)
    assert args.density is None, "--clicks' own default (every click kept), not the run's simulated density"
    assert args.clicks == str(tmp_path / "round1.csv")


def test_a_missing_run_and_like_with_resume_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--like .*nothere"):
        apply_like(parse(["train", "--like", str(tmp_path / "nothere")]))
    run = a_run(tmp_path / "r0")
    with pytest.raises(ConfigError, match="with --resume"):
        apply_like(parse(["train", "--like", str(run), "--resume", "--out", str(tmp_path / "r1")]))

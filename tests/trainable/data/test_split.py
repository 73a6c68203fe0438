"""Splits: seeded by scene with their own seed, from a split file, from separate folders; leakage warnings."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from search.cli.args_to_settings import trial_config_from_args
from search.cli.main import parse
from trainable.config import ConfigError, DataConfig
from trainable.data.index import build_index as load_dataset
from trainable.data.split import leakage_warnings, seeded_split, split_from_lists

GROUPS = [f"scene{k // 3}" for k in range(30)]  # 10 scenes of 3 images


def _scenes_of(idx: tuple[int, ...]) -> set[str]:
    return {GROUPS[i] for i in idx}


def test_seeded_split_keeps_scenes_whole_and_fills_each_part() -> None:
    split = seeded_split(GROUPS, val_fraction=0.2, test_fraction=0.1, seed=0)
    assert sorted(split.train + split.val + split.test) == list(range(30)), "every image in exactly one part"
    assert not _scenes_of(split.train) & _scenes_of(split.val) and not _scenes_of(split.train) & _scenes_of(split.test)
    assert not _scenes_of(split.val) & _scenes_of(split.test)
    assert (len(split.val), len(split.test)) == (6, 3), "round(0.2 * 30) images, in whole scenes; 0.1 * 30 = 3"
    assert seeded_split(GROUPS, 0.2, 0.1, seed=0) == split
    assert seeded_split(GROUPS, 0.2, 0.1, seed=1) != split


def test_no_test_part_when_asked_for_none_or_too_few_scenes(caplog: pytest.LogCaptureFixture) -> None:
    assert seeded_split(GROUPS, 0.2, 0.0, seed=0).test == ()
    with caplog.at_level(logging.WARNING):
        two = seeded_split(["a", "a", "b"], 0.2, 0.1, seed=0)
    assert two.test == () and two.val and two.train and "too few for a test part" in caplog.text
    with pytest.raises(ConfigError, match="form one scene"):
        seeded_split(["a", "a"], 0.2, 0.1, seed=0)


def test_the_annotator_seed_does_not_move_the_split(demo_dir: Path) -> None:
    """`--seed` seeds clicks, init and search; only `--split-seed` moves the validation and test scenes."""
    splits = {}
    for flags in ([], ["--seed", "1"], ["--split-seed", "1"]):
        cfg, _ = trial_config_from_args(parse(["train", "--data", str(demo_dir), "--tile-size", "32", *flags]))
        splits[tuple(flags)] = load_dataset(cfg.data).split
    assert splits[()] == splits[("--seed", "1")]
    assert splits[()] != splits[("--split-seed", "1")]


def test_split_file_names_stems_or_scenes(tmp_path: Path) -> None:
    stems = [f"img{i}" for i in range(30)]
    split = split_from_lists(stems, GROUPS, {"train": ["scene0", "scene1", "img9"], "val": ["scene5"],
                                             "test": ["img20", "img21"]}, "s.yaml")
    assert split.train == (0, 1, 2, 3, 4, 5, 9) and split.val == (15, 16, 17) and split.test == (20, 21)
    with pytest.raises(ConfigError, match="match no image stem or scene of the data"):
        split_from_lists(stems, GROUPS, {"train": ["scene0", "nowhere"], "val": ["scene1"], "test": []}, "s.yaml")
    with pytest.raises(ConfigError, match="are in two parts"):
        split_from_lists(stems, GROUPS, {"train": ["scene0"], "val": ["img0"], "test": []}, "s.yaml")


def test_split_files_through_the_cli_yaml_and_csv(demo_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "split.yaml").write_text("train: [scene000, scene001, scene002, scene003, scene004, scene005, "
                                          "scene006, scene007]\nval: [scene008, scene009]\ntest: [scene010]\n")
    (tmp_path / "split.csv").write_text("name,split\n" + "".join(
        f"scene{i:03d},{'train' if i < 8 else 'val' if i < 10 else 'test'}\n" for i in range(11)))
    for name in ("split.yaml", "split.csv"):
        cfg, _ = trial_config_from_args(parse(["train", "--data", str(demo_dir), "--tile-size", "32",
                                               "--split", str(tmp_path / name)]))
        assert cfg.data.split == str(tmp_path / name)
        split = load_dataset(cfg.data).split
        assert (split.train, split.val, split.test) == (tuple(range(8)), (8, 9), (10,)), name



@pytest.mark.parametrize("value, message", [
    ("oficial", "--split oficial: neither auto, official, seeded nor an existing split file; did you mean --split "
                "official? a split file is a YAML/JSON file"),
    ("Seeded", "did you mean --split seeded?"),
    ("random", "--split random: neither auto, official, seeded nor an existing split file; a split file is"),
    ("parts.yaml", "--split parts.yaml: no such file; give a YAML/JSON file with train/val/test lists or a CSV of "
                   "name,split rows, or one of auto, official, seeded"),
    (".", "--split . is a folder: give a YAML/JSON file"),
])
def test_a_split_that_is_no_choice_and_no_file_is_refused_early(demo_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, value: str,
                                                               message: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        trial_config_from_args(parse(["train", "--data", str(demo_dir), "--split", value]))
    assert message in str(err.value)


def test_a_split_file_named_like_a_choice_is_a_file(demo_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mysplit").write_text("train: [scene000]\nval: [scene001]\n")
    cfg, _ = trial_config_from_args(parse(["train", "--data", str(demo_dir), "--split", "mysplit"]))
    assert cfg.data.split == str(tmp_path / "mysplit")

def test_separate_validation_and_test_folders(demo_dir: Path, tmp_path: Path) -> None:
    parts = {}
    for name, stems in (("train", range(0, 8)), ("val", range(8, 10)), ("test", range(10, 12))):
        root = parts[name] = tmp_path / name
        for sub in ("images", "semantic", "instance"):
            (root / sub).mkdir(parents=True)
            for i in stems:
                shutil.copy(demo_dir / sub / f"scene{i:03d}.png", root / sub)
        shutil.copy(demo_dir / "classes.yaml", root)
    data = load_dataset(DataConfig(root=str(parts["train"]), val_dir=str(parts["val"]), test_dir=str(parts["test"]),
                                   tile_size=32))
    stems = lambda d, idx: [d.entries[i].stem for i in idx]  # noqa: E731
    assert stems(data, data.split.train) == [f"scene{i:03d}" for i in range(8)]
    assert stems(data, data.split.val) == ["scene008", "scene009"]
    assert stems(data, data.split.test) == ["scene010", "scene011"]
    only_test = load_dataset(DataConfig(root=str(parts["train"]), test_dir=str(parts["test"]), tile_size=32))
    assert stems(only_test, only_test.split.test) == ["scene010", "scene011"]
    assert only_test.split.val and set(only_test.split.val) < set(range(8)), "validation carved from --data"


@pytest.mark.parametrize("stems, pattern, expected", [
    (["tile1_part001", "tile1_part002", "tile2_part001", "tile2_part002"], None, "look like numbered parts"),
    (["image_part_001", "image_part_002", "image_part_003", "image_part_004"], None, "look like numbered parts"),
    (["scene000", "scene001", "scene002", "scene003"], None, None),  # numbered scenes, not parts
    (["100694", "102122", "10452", "107781"], None, None),  # bare ids (DeepGlobe), not parts of scene "1"
    (["a", "b", "c", "d"], r"^(tile\d+)_", "matches no file name"),
])
def test_leakage_warnings(stems: list[str], pattern: str | None, expected: str | None) -> None:
    warnings = leakage_warnings(stems, stems, pattern)
    assert (expected is None and not warnings) or (expected is not None and expected in " ".join(warnings))

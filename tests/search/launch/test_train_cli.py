"""``pointtune train`` end to end, in-process through ``main(argv)``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from search.cli.main import main
from trainable.learn.checkpoint import load_checkpoint


def test_train_learns_from_points_well_above_chance(demo_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "4",
                 "--lr", "3e-3", "--density", "0.05", "--crops-per-epoch", "96", "--out", str(out)])
    assert code == 0
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for key in ("train_loss", "train_f1", "val_loss", "val_oa", "val_precision", "val_recall", "val_f1",
                "val_miou", "val_f1_road", "val_f1_car", "clicks_per_image", "labelled_fraction"):
        assert key in rows[0], key
    best = max(float(r["val_f1"]) for r in rows)
    assert best > 0.45, f"6 classes: chance macro F1 is below 0.17, got {best}"
    assert abs(float(rows[0]["labelled_fraction"]) - 0.05) < 0.005
    state = load_checkpoint(out / "best.pt")
    assert state["metrics"]["val_f1"] == pytest.approx(best) and state["config"]["train"]["lr"] == 3e-3
    assert load_checkpoint(out / "last.pt")["epoch"] == 4
    printed = capsys.readouterr().out
    assert "epoch 4/4" in printed and "val F1 per class: road" in printed


def test_the_model_never_sees_the_masks(demo_dir: Path, tmp_path: Path) -> None:
    """Same images, masks scrambled: predictions of a fixed model cannot depend on the masks."""
    import shutil

    from trainable.config import DataConfig, ModelConfig, TrialConfig
    from trainable.data.index import build_index
    from trainable.inputs import build_inputs

    other = tmp_path / "scrambled"
    shutil.copytree(demo_dir, other)
    for path in (other / "semantic").glob("*.png"):
        m = np.asarray(Image.open(path))
        Image.fromarray(np.where(m < 6, (m + 1) % 6, m).astype(np.uint8)).save(path)
    batches = []
    for root in (demo_dir, other):
        cfg = TrialConfig(data=DataConfig(root=str(root), tile_size=32), model=ModelConfig(backbone="tiny"))
        batches.append(next(iter(build_inputs(build_index(cfg.data), cfg).val_loader)))
    batch, scrambled = batches
    assert batch["image"].shape[1] == 3 and torch.equal(batch["image"], scrambled["image"])
    assert not torch.equal(batch["mask"], scrambled["mask"])


@pytest.mark.real
def test_deeplabv3_through_the_cli(demo_dir: Path, tmp_path: Path) -> None:
    assert main(["train", "--data", str(demo_dir), "--backbone", "mobilenet_v3_large", "--weights", "none",
                 "--tile-size", "32", "--epochs", "1", "--crops-per-epoch", "16", "--out", str(tmp_path)]) == 0
    state = load_checkpoint(tmp_path / "last.pt")
    assert "classifier.4.weight" in state["model"] and state["model"]["classifier.4.weight"].shape[0] == 6


@pytest.mark.real
def test_a_trailing_batch_of_one_crop_trains_with_deeplabv3(demo_dir: Path, tmp_path: Path) -> None:
    """3 crops in batches of 2 (as 9 in batches of 8): the second batch gets a second crop, since one crop cannot
    train DeepLabV3's BatchNorm."""
    assert main(["train", "--data", str(demo_dir), "--backbone", "mobilenet_v3_large", "--weights", "none",
                 "--tile-size", "32", "--epochs", "1", "--batch-size", "2", "--crops-per-epoch", "3",
                 "--out", str(tmp_path)]) == 0
    with (tmp_path / "metrics.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1]


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_batch_of_one_is_refused_naming_the_backbone(demo_dir: Path, tmp_path: Path, command: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    assert main([command, "--data", str(demo_dir), "--backbone", "mobilenet_v3_large", "--weights", "none",
                 "--batch-size", "1", "--out" if command == "train" else "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--batch-size: 1: use a value in [2, 100000] (crops per batch (at least 2: BatchNorm)" in err
    assert not list(tmp_path.iterdir()), "refused before anything is written"


def test_dubai_end_to_end(dubai_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "--data", str(dubai_dir), "--format", "dubai_aerial", "--backbone", "tiny",
                 "--resize", "0.25", "--tile-size", "64", "--epochs", "2", "--crops-per-epoch", "32",
                 "--lr", "1e-3", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch 2/2" in printed and "val F1 per class: building" in printed


def test_bad_input_exits_2_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(tmp_path / "missing"), "--format", "demo", "--out", str(tmp_path)]) == 2
    assert "missing does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("dangling link", "images/scene001.png: is a broken symbolic link (its target gone.png does not exist); fix the "
                      "link or remove it"),
    ("data is a file", "data.zip is a file, not a folder: --data takes a dataset's folder"),
    ("split typo", "--split oficial: neither auto, official, seeded nor an existing split file; did you mean --split "
                   "official?"),
])
def test_data_mistakes_exit_2_naming_the_file_or_setting(demo_dir: Path, tmp_path: Path, case: str, message: str,
                                                        capsys: pytest.CaptureFixture) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    flags = ["--data", str(data)]
    if case == "dangling link":
        (data / "images" / "scene001.png").unlink()
        (data / "images" / "scene001.png").symlink_to("gone.png")
    elif case == "data is a file":
        (tmp_path / "data.zip").write_bytes(b"PK")
        flags = ["--data", str(tmp_path / "data.zip")]
    else:
        flags += ["--split", "oficial"]
    assert main(["train", *flags, "--backbone", "tiny", "--tile-size", "32", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "mask has no image" not in err


def test_a_density_that_leaves_an_image_without_points_is_refused(demo_dir: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32",
                 "--density", "0.00001", "--out", str(tmp_path)]) == 2
    assert "no labelled point" in capsys.readouterr().err


def test_clicks_per_instance_with_class_weights(demo_dir: Path, tmp_path: Path) -> None:
    assert main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "1",
                 "--clicks-per-object", "1", "--class-weights", "--crops-per-epoch", "16",
                 "--out", str(tmp_path)]) == 0
    with (tmp_path / "metrics.csv").open() as f:
        row = next(csv.DictReader(f))
    # one click per building, tree and car, one per background region: tens per 64-px scene, not thousands
    assert 5 <= float(row["clicks_per_image"]) <= 200 and float(row["labelled_fraction"]) < 0.05
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["config"]["points"]["mode"] == "per_instance" and state["config"]["points"]["class_weights"]


def test_off_a_terminal_train_says_its_estimate_then_how_far_it_is(demo_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """Output to a file: the time estimate before the first epoch, then plain progress lines (every batch here:
    the interval is set to 0) with the epoch, the batch, crops/s and the time left, while training, validating
    (2 validation images of 64 px: 8 tiles, 2 batches of 4) and scoring the test images; no terminal control codes."""
    import search.launch.console

    monkeypatch.setattr(search.launch.console, "PLAIN_EVERY_S", 0.0)
    assert main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "2",
                 "--lr", "3e-3", "--density", "0.05", "--crops-per-epoch", "48", "--batch-size", "4",
                 "--out", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().out.splitlines()
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/2  train_loss"))
    estimate = next(i for i, line in enumerate(lines) if line.startswith("time estimate: "))
    assert estimate < first_epoch and "on this machine's CPUs (a training step of tiny on 4 crops of 32 px" in \
        lines[estimate]
    training = [line for line in lines if re.fullmatch(r"epoch [12]/2: batch [1-9]\d*/12, [\d.]+ crops/s, ~\d+ s left "
                                                       r"in the epoch, ~\d+ s in the run", line)]
    assert {line[:10] for line in training} == {"epoch 1/2:", "epoch 2/2:"}, lines
    assert lines.index(next(line for line in training if line.startswith("epoch 2/2"))) > first_epoch
    assert any(re.fullmatch(r"epoch 1/2: validating 1/2, [\d.]+ tiles/s, ~\d+ s left in the epoch, "
                            r"~\d+ s in the run", line) for line in lines), lines
    assert "test score: image 0/1" in lines and "test score: image 1/1" in lines
    assert not any("\x1b[" in line for line in lines)

"""LandCover.ai v1: split.py's chips (output/<id>.jpg, <id>_m.png, official lists) or the orthophotos alone."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from formats.sample import check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.config import DataConfig
from trainable.data.index import build_index

pytest.importorskip("rasterio", reason="the LandCover.ai orthophotos are GeoTIFFs: the optional extra pointtune[geo]")
CHIPS = {"M-33-20-D-c-4-2_0": "train", "M-33-20-D-c-4-2_1": "train", "M-34-5-A-b-1-3_0": "train",
         "M-34-5-A-b-1-3_1": "val", "N-33-60-D-d-1-2_0": "test", "M-33-20-D-c-4-2_2": "train"}
UNLISTED = "M-33-20-D-c-4-2_2"  # in no list: training, with a warning
ORTHOPHOTOS = ("M-33-20-D-c-4-2", "M-34-5-A-b-1-3", "N-33-60-D-d-1-2")


def _chips(root: Path) -> dict[str, np.ndarray]:
    """What split.py writes: JPEG chips and 3-channel grey PNG masks (cv2), and the lists of chip ids."""
    expected = {}
    for k, chip in enumerate(CHIPS):
        raw, classes = class_layout(32, list(range(5)), None, 7 if k == 0 else None)  # no ignore value: 0 is a class
        save(root / "output" / f"{chip}.jpg", noisy_image(classes, seed=k))
        save(root / "output" / f"{chip}_m.png", np.repeat(raw[..., None], 3, axis=2))
        expected[chip] = classes
    for name, part in (("train.txt", "train"), ("val.txt", "val"), ("test.txt", "test")):
        listed = [c for c, p in CHIPS.items() if p == part and c != UNLISTED] + (
            ["N-33-60-D-d-1-2_1"] if part == "test" else [])
        (root / name).write_text("\n".join(listed) + "\n")  # N-33-60-D-d-1-2_1 is missing: left out, with a warning
    return expected


def _orthophotos(root: Path) -> dict[str, np.ndarray]:
    expected = {}
    for k, name in enumerate(ORTHOPHOTOS):
        raw, classes = class_layout(48, list(range(5)), None, 9 if k == 1 else None)
        save(root / "images" / f"{name}.tif", noisy_image(classes, seed=k))
        save(root / "masks" / f"{name}.tif", raw)
        expected[name] = classes
    return expected


def test_landcoverai_chips(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "landcover.ai"
    expected = _chips(root)
    _orthophotos(root)  # the zip's orthophotos beside output/: the chips are read
    with caplog.at_level(logging.WARNING, logger="trainable.data.formats.landcoverai"):
        check_format(root, "landcoverai", expected, CHIPS, tmp_path)
    assert "1 chip(s) named" in caplog.text and "N-33-60-D-d-1-2_1" in caplog.text
    assert "1 chip(s) in" in caplog.text and UNLISTED in caplog.text
    index = build_index(DataConfig(root=str(root), format="landcoverai", tile_size=16))
    assert {e.stem: e.group for e in index.entries} == {c: c.rsplit("_", 1)[0] for c in CHIPS}, \
        "a chip's scene is its orthophoto"


def test_landcoverai_orthophotos(tmp_path: Path) -> None:
    root = tmp_path / "landcover.ai"
    expected = _orthophotos(root)
    check_format(root, "landcoverai", expected, None, tmp_path)  # no output/: no official split
    _chips(root)
    check_format(root, "landcoverai:orthophotos", expected, None, tmp_path / "again")


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ["train", "--data", str(tmp_path), "--format", "landcoverai", "--out", str(tmp_path / "o")]
    assert main(run) == 2
    err = capsys.readouterr().err
    assert "is not laid out as LandCover.ai v1" in err and "no output/<name>_<k>.jpg chips and no images/" in err
    assert "output/<name>_<k>_m.png" in err and "masks/<name>.tif" in err, "both layouts are shown"
    save(tmp_path / "images" / "M-33-20-D-c-4-2.tif", np.zeros((32, 32, 3), np.uint8))
    assert main(run) == 2
    assert "the masks of the orthophotos are missing" in capsys.readouterr().err
    (tmp_path / "output").mkdir()
    assert main(run) == 2
    assert "landcoverai:orthophotos" in capsys.readouterr().err
    save(tmp_path / "output" / "M-33-20-D-c-4-2_0.jpg", np.zeros((32, 32, 3), np.uint8))
    assert main(run) == 2
    assert "M-33-20-D-c-4-2_0.jpg: chip has no chip mask <id>_m.png" in capsys.readouterr().err

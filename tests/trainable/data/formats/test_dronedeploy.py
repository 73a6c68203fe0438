"""DroneDeploy: RGB(A) orthos and colour labels per scene, magenta ignored, the scene lists of libs/config.py; or
the grey chips of images2chips.py with train.txt/valid.txt."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from formats.sample import STRAY, check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.config import DataConfig
from trainable.data.formats.dronedeploy import CLASSES, IGNORE, TEST, TRAIN, VAL
from trainable.data.index import build_index
from trainable.learn.checkpoint import load_checkpoint

pytest.importorskip("rasterio", reason="the DroneDeploy orthos are GeoTIFFs: the optional extra pointtune[geo]")
COLOURS = [c for _, c in CLASSES]
SCENES = {TRAIN[0]: "train", TRAIN[1]: "train", TRAIN[2]: "train", VAL[0]: "val", TEST[0]: "test",
          "0123456789_UNLISTEDINSPIRE": "train"}  # a scene in no list: training, with a warning


def _scenes(base: Path) -> dict[str, np.ndarray]:
    expected = {}
    for k, scene in enumerate(SCENES):
        raw, classes = class_layout(40, COLOURS, IGNORE, STRAY if k == 0 else None)
        image = noisy_image(classes, seed=k)
        if k != 1:  # an alpha band, transparent where the label is magenta; scene 1 is plain RGB
            image = np.dstack([image, np.where(np.all(raw == IGNORE, axis=-1), 0, 255).astype(np.uint8)])
        save(base / "images" / f"{scene}-ortho.tif", image)
        save(base / "elevations" / f"{scene}-elev.tif", np.zeros((40, 40), np.float32))  # not used
        save(base / "labels" / f"{scene}-label.png", raw)
        expected[scene] = classes
    return expected


def test_dronedeploy_scenes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "dd"
    expected = _scenes(root / "dataset-medium")
    with caplog.at_level(logging.WARNING, logger="trainable.data.formats.dronedeploy"):
        check_format(root, "dronedeploy", expected, SCENES, tmp_path)
    assert "1 scene(s)" in caplog.text and "0123456789_UNLISTEDINSPIRE" in caplog.text
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    assert state["config"]["model"]["in_channels"] == 3, "the alpha band is not an input"
    assert list(state["config"]["data"]["bands"]) == [1, 2, 3], "the export and evaluate read the same bands"


def test_the_official_split_has_94_30_30_scenes() -> None:
    assert (len(TRAIN), len(VAL), len(TEST)) == (94, 30, 30) and len(set(TRAIN) | set(VAL) | set(TEST)) == 154


def test_dronedeploy_chips(tmp_path: Path) -> None:
    base = tmp_path / "dd" / "dataset-sample"
    chips = [f"{TRAIN[0]}-000000", f"{TRAIN[0]}-000001", f"{TRAIN[1]}-000000", f"{TRAIN[2]}-000000",
             f"{VAL[0]}-000000", f"{VAL[1]}-000000"]
    expected = {}
    for k, chip in enumerate(chips):  # class k in all three channels (cv2.imwrite); no magenta: such chips are skipped
        raw, classes = class_layout(32, list(range(6)), None, 6 if k == 0 else None)
        save(base / "image-chips" / f"{chip}.png", noisy_image(classes, seed=k))
        save(base / "label-chips" / f"{chip}.png", np.repeat(raw[..., None], 3, axis=2))
        expected[chip] = classes
    (base / "train.txt").write_text("".join(f"{c}.png\n" for c in chips[:3]))  # TRAIN[2] unlisted: by its scene
    (base / "valid.txt").write_text("".join(f"{c}.png\n" for c in chips[4:]))
    (base / "test.txt").write_text("")  # test scenes are not chipped
    # without a test part the official validation part is held out for the test score (carved validation)
    parts = {c: "test" if c.startswith(VAL[0]) or c.startswith(VAL[1]) else "train" for c in chips}
    check_format(tmp_path / "dd", "dronedeploy:chips", expected, parts, tmp_path)
    index = build_index(DataConfig(root=str(tmp_path / "dd"), format="dronedeploy:chips", tile_size=16))
    assert {e.stem: e.group for e in index.entries} == {c: c[:-7] for c in chips}, "a chip's scene is its scene"


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ["train", "--data", str(tmp_path), "--format", "dronedeploy", "--out", str(tmp_path / "o")]
    assert main(run) == 2
    err = capsys.readouterr().err
    assert "is not laid out as DroneDeploy segmentation benchmark" in err and "dataset-medium" in err
    assert "no images/ and labels/ (nor image-chips/ and label-chips/)" in err
    assert "labels/<scene>-label.png" in err and "image-chips/<scene>-NNNNNN.png" in err, "the layout is shown"
    save(tmp_path / "dataset-medium" / "images" / f"{TRAIN[0]}-ortho.tif", np.zeros((32, 32, 4), np.uint8))
    assert main(run) == 2
    assert "no labels/<scene>-label.png" in (err := capsys.readouterr().err) and "labels are missing" in err
    assert main([*run[:4], "dronedeploy:chips", *run[5:]]) == 2
    assert "no image-chips/<scene>-NNNNNN.png" in capsys.readouterr().err

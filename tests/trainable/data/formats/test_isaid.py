"""iSAID: the release's folders or the devkit's, 16 colours with background a class, RGB-packed instance ids, val
held out."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from formats.sample import STRAY, check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.config import DataConfig
from trainable.data.formats.isaid import COLOURS
from trainable.data.index import build_index
from trainable.data.sources import LabelSource

IMAGES = {"P0000": "train", "P0002": "train", "P0011": "train", "P0003": "val", "P0019": "val"}


def _instances(classes: np.ndarray) -> np.ndarray:
    """Instance ids: one per object class band (ids above 255 use G), one beyond 65535 (B); background 0."""
    ids = np.where((classes > 0) & (classes < len(COLOURS)), classes.astype(np.int64) * 4099, 0)
    ids[20:, classes[0] == len(COLOURS) - 1] = 2 * 65536 + 5  # a second harbor
    return ids


def _rgb(ids: np.ndarray) -> np.ndarray:
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def _isaid(root: Path, devkit: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    expected, ids = {}, {}
    for k, (stem, split) in enumerate(IMAGES.items()):
        raw, classes = class_layout(40, list(COLOURS.values()), None, STRAY if k == 0 else None)
        save(root / split / "images" / f"{stem}.png", noisy_image(classes, seed=k))
        if devkit:
            semantic = instance = root / split / "images"
        else:  # the release: masks in an inner images/ folder for train, directly in the mask folders for val
            inner = "images" if split == "train" else ""
            semantic, instance = root / split / "Semantic_masks" / inner, root / split / "Instance_masks" / inner
        save(semantic / f"{stem}_instance_color_RGB.png", raw)
        ids[stem] = _instances(classes)
        save(instance / f"{stem}_instance_id_RGB.png", _rgb(ids[stem]))
        expected[stem] = classes
    save(root / "test" / "images" / "P0006.png", np.zeros((40, 40, 3), np.uint8))  # no masks: not used
    return expected, ids


@pytest.mark.parametrize("devkit", [False, True], ids=["release", "devkit"])
def test_isaid(tmp_path: Path, devkit: bool) -> None:
    expected, ids = _isaid(tmp_path / "iSAID", devkit)
    check_format(tmp_path / "iSAID", "isaid", expected, {s: "train" if p == "train" else "test"
                                                         for s, p in IMAGES.items()}, tmp_path)
    index = build_index(DataConfig(root=str(tmp_path / "iSAID"), format="isaid", tile_size=16))
    assert index.classes.names[0] == "background" and index.classes.num_classes == 16
    for e in index.entries:
        assert np.array_equal(LabelSource(e.files, index.classes, 1.0, "instance").array(), ids[e.stem]), e.stem


def test_isaid_background_out(tmp_path: Path) -> None:
    from trainable.data.formats import parse_format

    fmt, options = parse_format("isaid:background-out")
    assert fmt.classes(options).exclude_from_mean == ("background",)


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "isaid"]
    assert main(train) == 2
    err = capsys.readouterr().err
    assert "is not laid out as iSAID" in err and "no train/ or val/ folder" in err
    assert "{train,val}/Semantic_masks/images/P0000_instance_color_RGB.png" in err, "the expected layout is shown"
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "images" / "part1.zip").touch()
    assert main(train) == 2
    err = capsys.readouterr().err
    assert "train/images holds no P*.png images: unzip the DOTA-v1.0 train images (part*.zip) there" in err
    assert "val is missing" in err
    save(tmp_path / "train" / "images" / "P0000.png", np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "train" / "Semantic_masks").mkdir()
    (tmp_path / "train" / "Semantic_masks" / "images.zip").touch()
    assert main(train) == 2
    assert "no P*_instance_color_RGB.png in" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "train" / "Semantic_masks")
    _isaid(tmp_path, devkit=True)
    (tmp_path / "val" / "images" / "P0019_instance_id_RGB.png").unlink()
    (tmp_path / "train" / "images" / "P0002_instance_color_RGB.png").unlink()
    assert main(train) == 2, "a partial download"
    err = capsys.readouterr().err
    assert "P0019.png: image has no instance mask P0019_instance_id_RGB.png" in err
    assert "P0002.png: image has no semantic mask" in err

"""OpenEarthMap: <region>/images and <region>/labels GeoTIFFs, 0 = unknown ignored, lists of bare file names."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from formats.sample import check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.config import DataConfig
from trainable.data.formats.openearthmap import FORMAT
from trainable.data.index import build_index

pytest.importorskip("rasterio", reason="OpenEarthMap ships GeoTIFFs: the optional extra pointtune[geo]")
# region names hold "_" and "-"; the region is everything before the last _<n>
TILES = {"aachen_1": "train", "aachen_2": "train", "chiclayo_3": "train", "al_qurnah_10": "val",
         "kujawsko-pomorskie_20": "test"}


def _openearthmap(base: Path) -> dict[str, np.ndarray]:
    expected = {}
    for k, stem in enumerate(TILES):
        region = stem.rsplit("_", 1)[0]
        raw, classes = class_layout(32, list(range(1, 9)), 0, 9 if k == 0 else None)
        save(base / region / "images" / f"{stem}.tif", noisy_image(classes, seed=k))
        save(base / region / "labels" / f"{stem}.tif", raw)
        expected[stem] = classes
    # a test image whose label is withheld, and an xBD-derived label whose image was not compiled: both left out
    save(base / "kujawsko-pomorskie" / "images" / "kujawsko-pomorskie_21.tif", np.zeros((32, 32, 3), np.uint8))
    save(base / "adelaide" / "labels" / "adelaide_1.tif", np.ones((32, 32), np.uint8))
    lists = {"train.txt": ["aachen_1.tif", "aachen_2.tif", "chiclayo_3.tif", "adelaide_1.tif"],
             "val.txt": ["al_qurnah_10.tif"], "test.txt": ["kujawsko-pomorskie_20.tif", "kujawsko-pomorskie_21.tif"]}
    for name, files in lists.items():
        (base / name).write_text("\n".join(files) + "\n")
    return expected


def test_openearthmap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "oem"
    expected = _openearthmap(root / "OpenEarthMap_wo_xBD")  # as the zip unzips: one folder inside --data
    with caplog.at_level(logging.WARNING, logger="trainable.data.formats.openearthmap"):
        files, problems = FORMAT.files(root, frozenset())
    assert not problems and len(files) == 5
    assert "1 label(s)" in caplog.text and "adelaide_1.tif" in caplog.text and "compile_xbd.py" in caplog.text
    assert "1 image(s)" in caplog.text and "kujawsko-pomorskie_21.tif" in caplog.text
    check_format(root, "openearthmap", expected, TILES, tmp_path)
    index = build_index(DataConfig(root=str(root), format="openearthmap", tile_size=16))
    groups = {e.stem: e.group for e in index.entries}
    assert groups == {s: s.rsplit("_", 1)[0] for s in TILES}, "the region is the scene"


def test_without_test_labels_the_official_val_part_is_held_out(tmp_path: Path) -> None:
    """As released: the test labels are withheld, so val.txt is scored and validation is carved from train.txt."""
    _openearthmap(tmp_path / "oem")
    (tmp_path / "oem" / "kujawsko-pomorskie" / "labels" / "kujawsko-pomorskie_20.tif").unlink()
    index = build_index(DataConfig(root=str(tmp_path / "oem"), format="openearthmap", tile_size=16,
                                   val_fraction=0.25))
    roles = {index.entries[i].stem: role for role in ("train", "val", "test") for i in index.split.part(role)}
    assert "kujawsko-pomorskie_20" not in roles and roles["al_qurnah_10"] == "test"
    carved = {s for s, r in roles.items() if r == "val"}
    assert carved and carved <= {s for s, p in TILES.items() if p == "train"}, roles


def test_without_the_lists_the_split_is_seeded_by_region(tmp_path: Path) -> None:
    expected = _openearthmap(tmp_path / "oem")
    for name in ("train.txt", "val.txt", "test.txt"):
        (tmp_path / "oem" / name).unlink()
    check_format(tmp_path / "oem", "openearthmap", expected, None, tmp_path)


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "aachen").mkdir()
    assert main(["train", "--data", str(tmp_path), "--format", "openearthmap", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is not laid out as OpenEarthMap" in err and "no <region>/images/ or <region>/labels/" in err
    assert "<region>/labels/<region>_<n>.tif" in err and "train.txt, val.txt, test.txt" in err, "the layout is shown"
    save(tmp_path / "aachen" / "images" / "aachen_1.tif", np.zeros((32, 32, 3), np.uint8))
    assert main(["train", "--data", str(tmp_path), "--format", "openearthmap", "--out", str(tmp_path / "o")]) == 2
    assert "the labels are missing" in capsys.readouterr().err
    save(tmp_path / "aachen" / "labels" / "aachen_2.tif", np.zeros((32, 32), np.uint8))
    assert main(["train", "--data", str(tmp_path), "--format", "openearthmap", "--out", str(tmp_path / "o")]) == 2
    assert "none of the 1 <region>/images/*.tif" in capsys.readouterr().err

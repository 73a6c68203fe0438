"""ISPRS Vaihingen: top/ orthophotos and labels of the same file names elsewhere, full or eroded, official split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats.sample import STRAY, check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.data.formats.potsdam import ISPRS_CLASSES
from trainable.data.formats.vaihingen import TEST, TRAIN

pytest.importorskip("rasterio", reason="the Vaihingen orthophotos are GeoTIFFs: the optional extra pointtune[geo]")
AREAS = {1: "train", 3: "train", 5: "train", 2: "test", 4: "test"}
ZIP = "ISPRS_semantic_labeling_Vaihingen"


def _vaihingen(root: Path, labels: str, eroded: bool, areas: dict[int, str] = AREAS) -> dict[str, np.ndarray]:
    """The unzipped image archive in ``root/ISPRS_semantic_labeling_Vaihingen/`` and the labels in ``root/labels``
    (``.`` for the COMPLETE zips unzipped flat into ``root``)."""
    expected = {}
    colours = [c["value"] for c in ISPRS_CLASSES]
    for k, area in enumerate(areas):
        raw, classes = class_layout(32, colours, [0, 0, 0] if eroded else None, STRAY if k == 0 else None)
        name = f"top_mosaic_09cm_area{area}"
        save(root / ZIP / "top" / f"{name}.tif", noisy_image(classes, seed=k))  # IR-R-G, 3 bands
        save(root / ZIP / "dsm" / f"dsm_09cm_matching_area{area}.tif", np.full((32, 32), 250, np.uint8))
        save(root / labels / (f"{name}_noBoundary.tif" if eroded else f"{name}.tif"), raw)
        expected[f"area{area}"] = classes
    return expected


def test_vaihingen_full_labels_from_the_parent_folder(tmp_path: Path) -> None:
    root = tmp_path / "vaihingen"
    expected = _vaihingen(root, ".", eroded=False)
    for area in (1, 3):  # the participants' copies of training labels too: the COMPLETE ones are taken, no clash
        save(root / ZIP / "gts_for_participants" / f"top_mosaic_09cm_area{area}.tif",
             class_layout(32, [c["value"] for c in ISPRS_CLASSES], None)[0])
    check_format(root, "vaihingen", expected, {f"area{a}": p for a, p in AREAS.items()}, tmp_path)


def test_vaihingen_eroded_in_the_unzipped_folder_with_area9(tmp_path: Path) -> None:
    root = tmp_path / "vaihingen"
    expected = _vaihingen(root, ZIP, eroded=True)
    save(root / ZIP / "top_mosaic_09cm_area9_noBoundary.tif", np.zeros((32, 32, 3), np.uint8))  # in the real zip
    check_format(root / ZIP, "vaihingen:eroded,clutter-out", expected, {f"area{a}": p for a, p in AREAS.items()},
                 tmp_path)


def test_vaihingen_participants_labels_leave_the_test_areas_out(tmp_path: Path) -> None:
    root = tmp_path / "vaihingen"
    expected = _vaihingen(root, f"{ZIP}/gts_eroded_for_participants", eroded=True,
                          areas={a: p for a, p in AREAS.items() if p == "train"})
    for area in (2, 4):  # test orthophotos without labels, as in the participants' release
        save(root / ZIP / "top" / f"top_mosaic_09cm_area{area}.tif", np.zeros((32, 32, 3), np.uint8))
    check_format(root, "vaihingen:eroded", expected, {s: "train" for s in expected}, tmp_path)


def test_the_official_split_has_16_training_and_17_test_areas() -> None:
    assert len(TRAIN) == 16 and len(TEST) == 17 and not set(TRAIN) & set(TEST)


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--format"]
    (tmp_path / "top").mkdir()
    assert main([*train, "vaihingen"]) == 2
    err = capsys.readouterr().err
    assert "is not laid out as ISPRS Vaihingen" in err and "no top/top_mosaic_09cm_areaN.tif found" in err
    assert "top_mosaic_09cm_areaN_noBoundary.tif" in err, "the expected layout is shown"
    for area in (1, 3):
        save(tmp_path / "top" / f"top_mosaic_09cm_area{area}.tif", np.zeros((32, 32, 3), np.uint8))
    assert main([*train, "vaihingen"]) == 2
    assert "unzip ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip there" in capsys.readouterr().err
    save(tmp_path / "top_mosaic_09cm_area1_noBoundary.tif", np.zeros((32, 32, 3), np.uint8))
    assert main([*train, "vaihingen"]) == 2, "eroded labels are not the full ones"
    save(tmp_path / "top_mosaic_09cm_area1.tif", np.zeros((32, 32, 3), np.uint8))
    assert main([*train, "vaihingen"]) == 2, "a partial download"
    err = capsys.readouterr().err
    assert "top_mosaic_09cm_area3.tif: orthophoto has no label" in err, err

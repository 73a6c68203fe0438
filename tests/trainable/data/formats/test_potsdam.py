"""ISPRS Potsdam: orthophotos and labels as the archives unzip, the six colours, eroded boundaries, official split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats.sample import STRAY, check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.data.formats.potsdam import ISPRS_CLASSES, TEST, TRAIN

pytest.importorskip("rasterio", reason="the Potsdam orthophotos are GeoTIFFs: the optional extra pointtune[geo]")
TILES = {"2_10": "train", "3_11": "train", "6_7": "train", "2_13": "test", "7_13": "test"}


def _potsdam(root: Path, eroded: bool) -> dict[str, np.ndarray]:
    expected = {}
    colours = [c["value"] for c in ISPRS_CLASSES]
    for k, tile in enumerate(TILES):
        raw, classes = class_layout(32, colours, [0, 0, 0] if eroded else None, STRAY if k == 0 else None)
        name = f"top_potsdam_{tile}"
        save(root / "4_Ortho_RGBIR" / f"{name}_RGBIR.tif", noisy_image(classes, bands=4, seed=k))
        save(root / "2_Ortho_RGB" / f"{name}_RGB.tif", noisy_image(classes, seed=k))
        label = f"{name}_label_noBoundary.tif" if eroded else f"{name}_label.tif"
        save(root / ("5_Labels_all_noBoundary" if eroded else "5_Labels_all") / label, raw)
        expected[name] = classes
    return expected


def _evaluate_as_trained(model: Path, root: Path, capsys: pytest.CaptureFixture) -> dict:
    """`evaluate MODEL --data DIR` without --format: the model's format (with its options) reads the folder."""
    import json

    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", str(root), "--output", "json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["test_images"] == 2, "the official test tiles"
    scored = json.loads((model / "test_scores.json").read_text())
    assert scores["test_f1"] == pytest.approx(scored["test_f1"]), "the score train made of its test part"
    return scores


def test_potsdam_full_labels_rgb(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    expected = _potsdam(tmp_path / "potsdam", eroded=False)
    check_format(tmp_path / "potsdam", "potsdam", expected, {f"top_potsdam_{t}": p for t, p in TILES.items()},
                 tmp_path)
    scores = _evaluate_as_trained(tmp_path / "run", tmp_path / "potsdam", capsys)
    assert "test_f1_clutter" in scores


def test_potsdam_eroded_rgbir_four_bands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    expected = _potsdam(tmp_path / "potsdam", eroded=True)
    check_format(tmp_path / "potsdam", "potsdam:rgbir,eroded,clutter-out", expected,
                 {f"top_potsdam_{t}": p for t, p in TILES.items()}, tmp_path)
    from trainable.learn.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "run" / "best.pt")
    assert state["config"]["model"]["in_channels"] == 4 and state["classes"]["exclude_from_mean"] == ["clutter"]
    # the options too: the eroded labels (5_Labels_all_noBoundary), four bands (RGBIR), clutter out of the means
    _evaluate_as_trained(tmp_path / "run", tmp_path / "potsdam", capsys)


def test_the_official_split_has_24_training_and_14_test_tiles() -> None:
    assert len(TRAIN) == 24 and len(TEST) == 14 and not set(TRAIN) & set(TEST)


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "2_Ortho_RGB").mkdir()
    assert main(["train", "--data", str(tmp_path), "--format", "potsdam", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is not laid out as ISPRS Potsdam" in err and "no 2_Ortho_RGB/top_potsdam_R_C_RGB.tif" in err
    assert "5_Labels_all/top_potsdam_R_C_label.tif" in err, "the expected layout is shown"
    save(tmp_path / "2_Ortho_RGB" / "top_potsdam_2_10_RGB.tif", np.zeros((8, 8, 3), np.uint8))
    assert main(["train", "--data", str(tmp_path), "--format", "potsdam", "--out", str(tmp_path / "o")]) == 2
    assert "unzip 5_Labels_all.zip there" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--format", "potsdam:rgbx", "--out", str(tmp_path / "o")]) == 2
    assert "unknown option(s) rgbx" in capsys.readouterr().err


def test_the_38_tiles_are_scenes_of_their_own_without_a_leakage_warning() -> None:
    """Names like top_potsdam_2_10 look like numbered parts; the format says each tile is a scene."""
    from trainable.data.formats import parse_format
    from trainable.data.split import leakage_warnings

    stems = [f"top_potsdam_{t}" for t in TRAIN + TEST]
    pattern = parse_format("potsdam")[0].describe(frozenset())["group_pattern"]
    assert leakage_warnings(stems, stems, None), "without the format's pattern the names would warn"
    assert leakage_warnings(stems, stems, pattern) == []

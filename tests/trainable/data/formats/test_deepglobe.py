"""DeepGlobe Land Cover: train/<id>_sat.jpg + <id>_mask.png, colours binarized at 128, black ignored, no split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats.sample import check_format, class_layout, noisy_image, save
from search.cli.main import main
from trainable.config import DataConfig
from trainable.data.formats.deepglobe import CLASSES
from trainable.data.index import build_index
from trainable.data.sources import decode_image

COLOURS = [c["value"] for c in CLASSES["classes"]]
IDS = (100694, 102122, 10452, 119, 855)  # as random as the real ids (many share a first digit)
RED = (200, 40, 30)  # binarized to (255, 0, 0): in no class


def _deepglobe(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    expected, images = {}, {}
    for k, image_id in enumerate(IDS):
        raw, classes = class_layout(40, COLOURS, [0, 0, 0], RED if k == 0 else None)
        raw[(classes == 2) & (np.arange(40)[:, None] < 6)] = (250, 3, 251)  # compression noise: still rangeland
        raw[(classes == 5) & (np.arange(40)[:, None] > 30)] = (140, 200, 128)  # barren
        raw[0, 0] = (20, 90, 127)  # near black: ignored
        images[str(image_id)] = noisy_image(classes, seed=k)
        save(folder / f"{image_id}_sat.jpg", images[str(image_id)])
        save(folder / f"{image_id}_mask.png", raw)
        expected[str(image_id)] = classes
    return expected, images


@pytest.mark.parametrize("inside", ["train", "."], ids=["archive", "flat"])
def test_deepglobe(tmp_path: Path, inside: str) -> None:
    root = tmp_path / "deepglobe"
    expected, images = _deepglobe(root / inside)
    for part in ("valid", "test"):  # satellite images only: not used
        save(root / part / "5_sat.jpg", np.zeros((40, 40, 3), np.uint8))
    check_format(root, "deepglobe", expected, None, tmp_path)
    index = build_index(DataConfig(root=str(root), format="deepglobe", tile_size=16))
    assert len(index.notes) == 1, "only the stray colour is noted (ids are not numbered parts of scenes)"
    assert "#FF0000" in index.notes[0], index.notes
    for e in index.entries:  # the JPEGs load (quality 100: within a few levels of what was written)
        pixels = decode_image(e.files, 1.0, ())
        assert pixels.shape == (40, 40, 3) and np.abs(pixels.astype(int) - images[e.stem]).mean() < 3


def test_a_wrong_folder_gets_the_expected_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "deepglobe"]
    (tmp_path / "train").mkdir()
    assert main(train) == 2
    err = capsys.readouterr().err
    assert "is not laid out as DeepGlobe Land Cover" in err and "no <id>_sat.jpg found in" in err
    assert "train/<id>_mask.png" in err, "the expected layout is shown"
    save(tmp_path / "valid" / "5_sat.jpg", np.zeros((40, 40, 3), np.uint8))
    assert main([*train[:2], str(tmp_path / "valid"), *train[3:]]) == 2
    assert "no <id>_mask.png beside the <id>_sat.jpg images" in capsys.readouterr().err
    _deepglobe(tmp_path / "train")
    (tmp_path / "train" / "855_mask.png").unlink()
    assert main(train) == 2, "a partial download"
    assert "855_sat.jpg: satellite image has no mask" in capsys.readouterr().err

"""`pointtune predict` with what the model stores: its resize (the masks keep the input's size) and tile size,
checked against the known masks of images whose pixels show their class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from search.cli.main import main

COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])


def easy_data(root: Path, images: int = 8, size: int = 64, seed: int = 0) -> Path:
    """Scenes of four quadrants, each one class of three shown by its colour (with noise): a tiny network learns
    them in two short epochs, so a prediction can be held to the known mask."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "semantic").mkdir()
    for k in range(images):
        mask = np.zeros((size, size), np.uint8)
        half = size // 2
        for y in (0, half):
            for x in (0, half):
                mask[y:y + half, x:x + half] = rng.integers(0, 3)
        image = COLOURS[mask] + rng.integers(-20, 20, (size, size, 3))
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(root / "images" / f"img{k:02d}.png")
        Image.fromarray(mask).save(root / "semantic" / f"img{k:02d}.png")
    classes = [{"name": n, "value": i} for i, n in enumerate(("red", "green", "blue"))]
    (root / "classes.yaml").write_text(yaml.safe_dump({"classes": classes}))
    return root


def test_a_model_trained_on_resized_images_predicts_masks_of_the_input_size(tmp_path: Path) -> None:
    data = easy_data(tmp_path / "easy")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--backbone", "tiny", "--resize", "0.5", "--tile-size", "16",
                 "--epochs", "2", "--lr", "1e-2", "--density", "0.05", "--crops-per-epoch", "32",
                 "--out", str(out)]) == 0
    # a scene larger than the training images, of an odd size: two images side by side, cropped
    images = [np.asarray(Image.open(data / "images" / f"img0{k}.png")) for k in (0, 1)]
    masks = [np.asarray(Image.open(data / "semantic" / f"img0{k}.png")) for k in (0, 1)]
    scene, truth = np.concatenate(images, 1)[:61, :117], np.concatenate(masks, 1)[:61, :117]
    Image.fromarray(scene).save(tmp_path / "scene.png")
    assert main(["predict", str(out), str(tmp_path / "scene.png"), "--out", str(tmp_path / "pred")]) == 0
    predicted = np.asarray(Image.open(tmp_path / "pred" / "scene_classes.png"))
    assert predicted.shape == truth.shape == (61, 117)
    assert (predicted == truth).mean() > 0.9, (predicted == truth).mean()
    colour = np.asarray(Image.open(tmp_path / "pred" / "scene_colour.png"))
    assert colour.shape == (61, 117, 3)


def test_predict_refuses_an_out_that_is_a_file_and_a_model_that_is_none(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "taken").write_text("x")
    assert main(["predict", str(tmp_path), "a.png", "--out", str(tmp_path / "taken")]) == 2
    assert f"--out {tmp_path / 'taken'} is a file: give a folder" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "a.png", "--out", str(tmp_path / "pred")]) == 2
    err = capsys.readouterr().err
    assert "neither a `pointtune train` folder" in err and "a model file written by `pointtune export`" in err
    assert not (tmp_path / "pred").exists(), "nothing made for a model that is none"

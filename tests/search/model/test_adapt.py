"""AdaBN (``--adapt-bn DIR``, ``search/model/adapt.py``): BatchNorm running statistics re-estimated on a folder's
images, nothing else; on images like the training ones the prediction barely moves; evaluate, predict and train
use it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from search.cli.main import main
from search.model.adapt import adaptation_note, adapted
from search.model.predict import model_from_payload, normalizer_of_export
from search.model.source import resolve_model
from trainable.config import DataConfig
from trainable.learn.tiled import predict_probabilities

STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def _other_site(demo_dir: Path, folder: Path) -> Path:
    """The demo scenes as another sensor would see them: darker, with another colour balance."""
    folder.mkdir()
    for p in sorted((demo_dir / "images").glob("*.png")):
        pixels = np.asarray(Image.open(p).convert("RGB"), np.float32)
        Image.fromarray(np.clip(pixels * [0.5, 0.7, 1.2] + 20, 0, 255).astype(np.uint8)).save(folder / p.name)
    return folder


def test_adabn_changes_only_batchnorm_running_statistics(train_dir: Path, demo_dir: Path, tmp_path: Path) -> None:
    payload = resolve_model(train_dir).payload
    new = adapted(payload, str(_other_site(demo_dir, tmp_path / "site")), "cpu")
    assert set(new["model"]) == set(payload["model"])
    changed = {k for k in payload["model"] if not torch.equal(new["model"][k], payload["model"][k])}
    assert changed and all(k.endswith(STATISTICS) for k in changed)  # weights, biases, BN affine: untouched
    assert any(k.endswith("running_mean") for k in changed)
    assert new["adapted_bn"]["images"] == 12 and new["adapted_bn"]["batches"] >= 1
    assert "adapted_bn" not in payload and adaptation_note(new) and adaptation_note(payload) is None
    assert model_from_payload(new)  # the statistics load into the network


def _predicted(payload: dict, demo_dir: Path) -> np.ndarray:
    model, tile = model_from_payload(payload), int(payload["tile_size"])
    out = []
    for p in sorted((demo_dir / "images").glob("*.png"))[:6]:
        image = np.asarray(Image.open(p).convert("RGB"))
        probs = predict_probabilities(model, image, tile, payload["num_classes"], torch.device("cpu"), 8,
                                      normalizer_of_export(payload))
        out.append(probs.argmax(0).numpy())
    return np.stack(out)


def test_adabn_on_images_like_the_training_ones_barely_moves_the_prediction(train_dir: Path, demo_dir: Path,
                                                                           tmp_path: Path) -> None:
    """The model's own statistics were re-estimated on training crops before its best epoch was validated: those of
    the same scenes cut into the grid are close, and so are the predictions; those of another site's are not."""
    payload = resolve_model(train_dir).payload
    before = _predicted(payload, demo_dir)
    agreement = (before == _predicted(adapted(payload, str(demo_dir), "cpu"), demo_dir)).mean()
    assert agreement > 0.9, agreement  # 0.973 here
    elsewhere = adapted(payload, str(_other_site(demo_dir, tmp_path / "site")), "cpu")
    assert (before == _predicted(elsewhere, demo_dir)).mean() < agreement - 0.1  # 0.683: the test can tell


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_evaluate_and_predict_adapt_without_changing_the_model_file(train_dir: Path, demo_dir: Path,
                                                                    tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    site = _other_site(demo_dir, tmp_path / "site")
    before = _sha(train_dir / "best.pt")
    assert main(["evaluate", str(train_dir), "--data", str(demo_dir), "--adapt-bn", str(site), "--output",
                 "json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert 0 <= scores["test_f1"] <= 1
    assert main(["predict", str(train_dir), str(site / "scene000.png"), "--out", str(tmp_path / "masks"),
                 "--adapt-bn", str(site)]) == 0
    assert (tmp_path / "masks" / "scene000_classes.png").is_file()
    assert _sha(train_dir / "best.pt") == before


def test_train_scores_and_keeps_the_model_adapted_to_the_folder(demo_dir: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    site = _other_site(demo_dir, tmp_path / "site")
    out = tmp_path / "run"
    assert main(["train", "--data", str(demo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "1",
                 "--crops-per-epoch", "16", "--adapt-bn", str(site), "--color-jitter", "0.2", "--scale-jitter",
                 "0.5", "--standardize", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "re-estimated on the 12 image(s)" in said
    model = torch.load(out / "best.pt", weights_only=True)
    assert model["adapted_bn"]["folder"] == str(site) and model["test_metrics"]["test_images"] >= 1
    assert model["normalization"]["standardize"] is True
    assert model["config"]["data"]["adapt_bn"] == str(site)
    assert json.loads((out / "test_scores.json").read_text())["test_f1"] == model["test_metrics"]["test_f1"]


def test_the_unlabeled_images_are_the_folder_adapted_to_unless_adapt_bn_names_one() -> None:
    assert DataConfig(root="d").adaptation_folder is None
    assert DataConfig(root="d", unlabeled_images="site").adaptation_folder == "site"
    assert DataConfig(root="d", unlabeled_images="site", adapt_bn="other").adaptation_folder == "other"

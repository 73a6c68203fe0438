"""The path a user takes, with a real DeepLabV3 (MobileNetV3 at 32-px tiles, ResNet-50 for one step): `run` on this
CPU through the time estimate -> `results` -> `export` -> `evaluate` -> `predict` -> `report`, and the ResNet-50
train-mode step at the smallest batch it takes.

The stand-in `tiny` network serves most tests; these run every command a user types with the network users run.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from search.cli.main import main
from search.model.source import read_export
from search.results.experiment import load_experiment

pytestmark = [pytest.mark.slow, pytest.mark.real]

REAL = ["--backbone", "mobilenet_v3_large", "--weights", "none", "--tile-size", "32", "--batch-size", "4",
        "--crops-per-epoch", "8", "--cpus-per-trial", "1"]


@pytest.fixture(scope="module")
def real_search(ray_local, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2-trial search with DeepLabV3-MobileNetV3 on this CPU (`--gpus-per-trial auto` finds no GPU here), and
    what its driver printed."""
    storage = tmp_path_factory.mktemp("real")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--data", str(demo_dir), *REAL, "--trials", "2", "--max-concurrent", "2", "--epochs", "1",
                     "--density-range", "0.02", "0.1", "--storage", str(storage), "--name", "real"])
    assert code == 0, printed.getvalue()[-3000:]
    return storage / "real", printed.getvalue()


def test_a_deeplabv3_search_on_cpu_goes_through_the_time_estimate(real_search: tuple[Path, str]) -> None:
    experiment, printed = real_search
    assert "GPUs: none" in printed, "auto found no GPU on this machine and said so"
    assert "time estimate: " in printed and "mobilenet_v3_large on 4 crops of 32 px" in printed
    records = load_experiment(str(experiment))
    assert len(records) == 2 and {r.status for r in records} == {"finished"}
    for r in records:
        assert r.config["model"]["backbone"] == "mobilenet_v3_large"
        assert r.history["epoch"].tolist() == [1] and r.history["val_f1"].between(0, 1).all()


def test_results_export_evaluate_predict_report_on_its_model(real_search: tuple[Path, str], demo_dir: Path,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    experiment, _ = real_search
    assert main(["results", str(experiment), "--output", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(r["status"] == "finished" for r in rows)

    model = tmp_path / "best.pt"
    assert main(["export", str(experiment), "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", str(demo_dir), "--output", "json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    searched = json.loads((experiment / "test_scores.json").read_text())
    # the same model on the same held-out images by the same rules: the search's one test score, again
    assert scores["test_images"] == searched["test_images"] >= 1
    assert scores["test_f1"] == pytest.approx(searched["test_f1"], abs=1e-6)
    assert scores["test_miou"] == pytest.approx(searched["test_miou"], abs=1e-6)

    image = sorted((demo_dir / "images").iterdir())[0]
    assert main(["predict", str(model), str(image), "--out", str(tmp_path / "pred")]) == 0
    classes = np.asarray(Image.open(tmp_path / "pred" / f"{image.stem}_classes.png"))
    colour = np.asarray(Image.open(tmp_path / "pred" / f"{image.stem}_colour.png"))
    truth = np.asarray(Image.open(demo_dir / "semantic" / f"{image.stem}.png"))
    assert classes.shape == truth.shape
    palette = np.array(read_export(model)["class_colours"], np.uint8)
    assert np.array_equal(colour, palette[classes]), "the colour mask draws the class mask in the model's colours"

    report = tmp_path / "report.html"
    assert main(["report", str(experiment), "--out", str(report)]) == 0
    html = report.read_text()
    assert all(r.trial_id in html for r in load_experiment(str(experiment)))
    assert "mobilenet_v3_large" in html and "confusion" in html.lower()


def test_suggest_on_its_model_then_a_round_trained_on_the_answers(real_search: tuple[Path, str], demo_dir: Path,
                                                                  tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """Where to click next with the real network: suggest -> (the simulated annotator) -> train --clicks -> results
    of both folders as one frontier of rounds."""
    experiment, _ = real_search
    clicks = tmp_path / "next.csv"
    assert main(["suggest", str(experiment), "--clicks-per-image", "3", "--answer-from-masks",
                 "--out", str(clicks)]) == 0  # no --data: the folder the search trained on
    assert f"no --data given: the folder the model was trained on, {demo_dir}" in capsys.readouterr().err
    rows = clicks.read_text().splitlines()
    header = rows[0].split(",")
    assert header[:4] == ["image", "x", "y", "class"] and "score" in header and "round" in header
    train_images = len(read_export(experiment / "best_model.pt")["split"]["train"])
    assert len(rows) - 1 == 3 * train_images and all(r.split(",")[3] for r in rows[1:]), "every click answered"
    out = tmp_path / "round1"
    assert main(["train", "--like", str(experiment), "--epochs", "1", "--clicks", str(clicks), "--out", str(out)]) == 0
    best = read_export(experiment / "best_model.pt")["config"]
    trained = yaml.safe_load((out / "config.yaml").read_text())
    assert trained["model"]["backbone"] == "mobilenet_v3_large" and trained["data"]["root"] == str(demo_dir)
    assert trained["train"]["lr"] == best["train"]["lr"] and trained["data"]["tile_size"] == 32, "the best trial's"
    assert trained["train"]["epochs"] == 1 and trained["points"]["density"] == 1.0, "given, and --clicks' default"
    recorded = json.loads((out / "clicks.json").read_text())
    assert recorded["clicks"] == 3 * train_images and recorded["round"] == 1
    capsys.readouterr()
    assert main(["results", str(experiment), str(out), "--output", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert len(table) == 3 and [r["folder"] for r in table] == ["real", "real", "round1"]
    assert table[2]["round"] == 1 and table[2]["clicks_file"] == "next.csv", "the round the train folder recorded"


def test_resnet50_trains_at_batch_2_and_its_model_predicts(demo_dir: Path, tmp_path: Path) -> None:
    """The default network in train mode at the smallest batch its BatchNorm takes, then its model predicted."""
    out = tmp_path / "r50"
    assert main(["train", "--data", str(demo_dir), "--backbone", "resnet50", "--weights", "none", "--tile-size", "32",
                 "--batch-size", "2", "--crops-per-epoch", "2", "--epochs", "1", "--val-clicks", "0",
                 "--out", str(out)]) == 0
    image = sorted((demo_dir / "images").iterdir())[0]
    assert main(["predict", str(out), str(image), "--out", str(tmp_path / "pred")]) == 0
    classes = np.asarray(Image.open(tmp_path / "pred" / f"{image.stem}_classes.png"))
    assert classes.shape == np.asarray(Image.open(image)).shape[:2]

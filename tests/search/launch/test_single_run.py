"""`pointtune train`'s folder is a model: scored once on its test part, taken by evaluate / predict / export /
results / report, resumed to the same result as an uninterrupted run, and never left looking like a running one."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from search.cli.main import EXIT_INTERNAL, main
from search.model.source import read_export
from search.results.experiment import train_status

TRAIN = ["--backbone", "tiny", "--tile-size", "32", "--lr", "3e-3", "--density", "0.05", "--crops-per-epoch", "16"]
SAME = ("train_loss", "val_loss", "val_f1", "val_oa", "best_val_f1", "lr_last")  # what does not depend on timing


def _train(argv: list[str]) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(argv)
    return code, printed.getvalue()


@pytest.fixture(scope="module")
def trained(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2-epoch run on the demo scenes (9 training, 2 validation, 1 test image) and what it printed."""
    out = tmp_path_factory.mktemp("train") / "run"
    code, printed = _train(["train", "--data", str(demo_dir), *TRAIN, "--epochs", "2", "--out", str(out)])
    assert code == 0, printed
    return out, printed


def _json(capsys: pytest.CaptureFixture, argv: list[str]) -> dict | list:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_the_folder_is_a_model_scored_once_on_its_test_part(trained: tuple[Path, str], demo_dir: Path,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, printed = trained
    payload = read_export(out / "best.pt")
    metrics = pd.read_csv(out / "metrics.csv")
    best = metrics.loc[metrics["val_f1"].idxmax()]
    assert payload["format"] == "pointtune-model/1" and payload["epoch"] == best["epoch"]
    assert payload["metrics"]["val_f1"] == pytest.approx(best["val_f1"]) and len(payload["split"]["test"]) == 1
    scored = json.loads((out / "test_scores.json").read_text())
    assert scored["epoch"] == payload["epoch"] and scored["test_scorings"] == 1 and scored["test_images"] == 1
    assert payload["test_metrics"]["test_f1"] == pytest.approx(scored["test_f1"])
    line = (f"test score of its model (1 held-out image(s), scored once): F1 {scored['test_f1']:.4f}, mIoU "
            f"{scored['test_miou']:.4f}, OA {scored['test_oa']:.4f} (validation val_f1 {best['val_f1']:.4f})")
    assert line in printed
    # evaluate scores the same test part by the same code, from the folder or its best.pt
    for model in (out, out / "best.pt"):
        scores = _json(capsys, ["evaluate", str(model), "--data", str(demo_dir), "--output", "json"])
        assert scores["test_f1"] == pytest.approx(scored["test_f1"]) and scores["test_images"] == 1
    assert main(["export", str(out), "--out", str(tmp_path / "m.pt")]) == 0
    exported = read_export(tmp_path / "m.pt")
    assert exported["test_metrics"] == payload["test_metrics"]
    assert all(torch.equal(exported["model"][k], v) for k, v in payload["model"].items())
    assert main(["export", str(out), "--trial", "x", "--out", str(tmp_path / "n.pt")]) == 2
    assert "one run, no trials" in capsys.readouterr().err
    (row,) = _json(capsys, ["results", str(out), "--format", "json"])
    assert row["status"] == "finished" and row["best_val_f1"] == pytest.approx(best["val_f1"])


def test_the_advice_it_prints_works(trained: tuple[Path, str], demo_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    _, printed = trained
    commands = re.findall(r"^(?:use it:)?\s+(pointtune \S+ .*?)(?:\s{3}\(.*\))?$", printed, re.M)
    assert [c.split()[1] for c in commands] == ["predict", "evaluate", "report"], printed
    image = next((demo_dir / "images").iterdir())
    for command in commands:
        argv = shlex.split(command.replace("IMAGE...", str(image)).replace("DIR", str(demo_dir))
                           .replace("predictions/", str(tmp_path / "pred")))[1:]
        assert main(argv if argv[0] != "report" else [*argv, "--out", str(tmp_path / "r.html")]) == 0, command
    assert Image.open(tmp_path / "pred" / f"{image.stem}_classes.png").size == Image.open(image).size
    assert "test: 12 image(s)" in capsys.readouterr().out


def test_an_out_that_holds_a_run_is_refused_and_resume_takes_no_other_setting(
        trained: tuple[Path, str], demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, _ = trained
    assert main(["train", "--data", str(demo_dir), *TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} already holds a training run" in err and "add --resume to continue it" in err
    assert main(["train", "--resume", "--out", str(out), "--lr", "0.1"]) == 2
    assert "it would ignore --lr" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has finished its 2 epoch(s)" in err and "--epochs N (more than 2)" in err
    assert main(["train", "--resume", "--out", str(out), "--epochs", "1"]) == 2
    assert "--epochs can only extend it" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["train", "--data", str(demo_dir), *TRAIN, "--out", str(tmp_path / "file")]) == 2
    assert "is a file: give a folder (it is made if missing)" in capsys.readouterr().err
    assert main(["predict", str(out), str(next((demo_dir / "images").iterdir())), "--out",
                 str(tmp_path / "file")]) == 2
    assert "is a file: give a folder (it is made if missing)" in capsys.readouterr().err


def test_a_resumed_run_equals_the_uninterrupted_one(demo_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    import search.launch.train

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _train(["train", "--data", str(demo_dir), *TRAIN, "--epochs", "3", "--out", str(whole)])[0] == 0
    shown = search.launch.train.format_epoch

    def stop_at_epoch_2(metrics: dict, epochs: int) -> str:
        if metrics["epoch"] == 2:  # after last.pt of epoch 2 is written, before its row: the harder case
            raise KeyboardInterrupt
        return shown(metrics, epochs)

    monkeypatch.setattr(search.launch.train, "format_epoch", stop_at_epoch_2)
    assert _train(["train", "--data", str(demo_dir), *TRAIN, "--epochs", "3", "--out", str(cut)])[0] == 130
    assert "train --resume --out" in capsys.readouterr().err
    assert len(pd.read_csv(cut / "metrics.csv")) == 1 and not (cut / "test_scores.json").exists()
    (row,) = _json(capsys, ["results", str(cut), "--format", "json"])
    assert row["status"] == "interrupted" and "pointtune train --resume" in row["error"]
    monkeypatch.setattr(search.launch.train, "format_epoch", shown)
    code, printed = _train(["train", "--resume", "--out", str(cut)])
    assert code == 0 and "resuming" in printed and "epoch 2/3" in printed and "epoch 3/3" in printed
    a, b = pd.read_csv(whole / "metrics.csv"), pd.read_csv(cut / "metrics.csv")
    assert list(b["epoch"]) == [1, 2, 3] and list(b.columns) == list(a.columns)
    pd.testing.assert_frame_equal(a[list(SAME)], b[list(SAME)])
    one, two = read_export(whole / "best.pt"), read_export(cut / "best.pt")
    assert one["epoch"] == two["epoch"] and all(torch.equal(one["model"][k], v) for k, v in two["model"].items())
    assert one["test_metrics"] == two["test_metrics"] and not (cut / "outcome.txt").exists()
    code, printed = _train(["train", "--resume", "--out", str(cut), "--epochs", "4"])
    assert code == 0 and "the schedule now spans 4 epochs" in printed
    assert list(pd.read_csv(cut / "metrics.csv")["epoch"]) == [1, 2, 3, 4]


def test_a_run_that_fails_is_not_left_looking_like_a_running_one(demo_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    import trainable.trial

    real, calls = trainable.trial.train_one_epoch, []

    def fails_at(epoch: int):
        def train_one_epoch(*args, **kwargs):
            calls.append(1)
            if len(calls) == epoch:
                raise RuntimeError("out of memory (simulated)")
            return real(*args, **kwargs)
        return train_one_epoch

    monkeypatch.setattr(trainable.trial, "train_one_epoch", fails_at(1))
    code, _ = _train(["train", "--data", str(demo_dir), *TRAIN, "--epochs", "2", "--out", str(tmp_path / "early")])
    assert code == EXIT_INTERNAL and "RuntimeError: out of memory (simulated)" in capsys.readouterr().err
    assert not (tmp_path / "early").exists(), "nothing recorded: no folder left behind"
    calls.clear()
    monkeypatch.setattr(trainable.trial, "train_one_epoch", fails_at(2))
    code, _ = _train(["train", "--data", str(demo_dir), *TRAIN, "--epochs", "2", "--out", str(tmp_path / "late")])
    assert code == EXIT_INTERNAL
    capsys.readouterr()
    (row,) = _json(capsys, ["results", str(tmp_path / "late"), "--format", "json"])
    assert row["status"] == "failed" and "RuntimeError: out of memory (simulated)" in row["error"]
    assert not (tmp_path / "late" / "running.json").exists()
    page = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "late"), "--no-model", "--out", str(page)]) == 0
    assert 'data-status="failed"' in page.read_text() and 'data-status="running"' not in page.read_text()


def test_the_status_of_a_train_folder(tmp_path: Path) -> None:
    """A killed run (its process gone) is interrupted; a live one is running; outcome.txt says the rest."""
    history = pd.DataFrame({"epoch": [1]})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    running = tmp_path / "running.json"
    running.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    status, why = train_status(tmp_path, history, 3)
    assert status == "interrupted" and f"pointtune train --resume --out {tmp_path}" in why
    running.write_text(json.dumps({"host": socket.gethostname(), "pid": __import__("os").getpid()}))
    assert train_status(tmp_path, history, 3) == ("running", None)
    assert train_status(tmp_path, pd.DataFrame({"epoch": [1, 2, 3]}), 3) == ("finished", None)
    (tmp_path / "outcome.txt").write_text("diverged: training diverged: loss became nan at epoch 2\n")
    assert train_status(tmp_path, history, 3)[0] == "diverged"


def test_evaluate_on_the_data_it_was_trained_on_needs_only_data(demo_dir: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """The model's --test-dir comes with it when --data is the folder it was trained on (its --clicks likewise)."""
    import shutil

    parts = {}
    for name, stems in (("train", range(0, 10)), ("test", range(10, 12))):
        root = parts[name] = tmp_path / name
        for sub in ("images", "semantic"):
            (root / sub).mkdir(parents=True)
            for i in stems:
                shutil.copy(demo_dir / sub / f"scene{i:03d}.png", root / sub)
        shutil.copy(demo_dir / "classes.yaml", root)
    out = tmp_path / "run"
    code, printed = _train(["train", "--data", str(parts["train"]), "--test-dir", str(parts["test"]), *TRAIN,
                            "--epochs", "1", "--out", str(out)])
    assert code == 0 and "test score of its model (2 held-out image(s), scored once)" in printed
    scores = _json(capsys, ["evaluate", str(out), "--data", str(parts["train"]), "--output", "json"])
    assert scores["test_images"] == 2
    assert scores["test_f1"] == pytest.approx(read_export(out / "best.pt")["test_metrics"]["test_f1"])


@pytest.mark.real
def test_deeplabv3_train_evaluate_predict(demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The real network through the path a user takes: train (with its test score), evaluate, predict (about 2 s
    here, 25 s on a machine busy with other searches: not marked slow)."""
    out = tmp_path / "run"
    code, printed = _train(["train", "--data", str(demo_dir), "--backbone", "mobilenet_v3_large", "--weights", "none",
                            "--tile-size", "32", "--batch-size", "4", "--crops-per-epoch", "8", "--epochs", "1",
                            "--out", str(out)])
    assert code == 0 and "test score of its model (1 held-out image(s), scored once)" in printed
    payload = read_export(out / "best.pt")
    assert payload["backbone"] == "mobilenet_v3_large" and payload["test_metrics"]["test_images"] == 1
    scores = _json(capsys, ["evaluate", str(out), "--data", str(demo_dir), "--output", "json"])
    assert scores["test_f1"] == pytest.approx(payload["test_metrics"]["test_f1"])
    (stem,) = payload["split"]["test"]
    image = demo_dir / "images" / f"{stem}.png"
    assert main(["predict", str(out), str(image), "--out", str(tmp_path / "pred")]) == 0
    predicted = np.asarray(Image.open(tmp_path / "pred" / f"{stem}_classes.png"))
    truth = np.asarray(Image.open(demo_dir / "semantic" / f"{stem}.png"))
    valid = truth < 6
    assert predicted.shape == truth.shape
    # overlapping blended tiles against evaluate's grid of tiles: the same model, nearly the same answers
    assert abs((predicted[valid] == truth[valid]).mean() - scores["test_oa"]) < 0.15

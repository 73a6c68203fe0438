"""results / export / predict / plot on a finished search whose best epoch is known in advance.

The trainable here is scripted: a real small model and real pointtune checkpoints, but validation F1 values
fixed per epoch, so the right answers (best trial, best epoch, which trial failed) are known.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import ray.cloudpickle
import torch
from PIL import Image
from ray import tune

from search.cli.main import EXIT_INTERNAL, main
from search.model.predict import load_exported, predict_array
from trainable.learn.checkpoint import CheckpointError, load_checkpoint, read_torch_file

pytestmark = pytest.mark.slow
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/

# per trial: validation F1 per epoch; None = the trial diverges at that epoch
SCRIPTS = {"best-not-last": [0.30, 0.70, 0.50], "steady": [0.20, 0.40, 0.60], "diverges": [0.90, None]}


def scripted_trial(config: dict) -> None:
    from trainable.config import TrialConfig
    from trainable.data.formats import format_classes
    from trainable.learn.checkpoint import save_checkpoint
    from trainable.learn.model import build_model

    cfg = TrialConfig.from_dict({k: v for k, v in config.items() if k != "script"})
    classes = format_classes("demo")
    torch.manual_seed(len(config["script"]))
    model = build_model(cfg.model, classes.num_classes)
    for epoch, f1 in enumerate(SCRIPTS[config["script"]], start=1):
        if f1 is None:  # what run_trial reports when the loss becomes NaN
            reason = f"training diverged: loss became nan at epoch {epoch} with lr={cfg.train.lr:g}"
            tune.report({"epoch": epoch, "train_loss": float("nan"), "trial_outcome": "diverged",
                         "trial_error": reason})
            return
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))  # every epoch's weights differ
        metrics = {"epoch": epoch, "val_f1": f1, "val_miou": f1 / 2, "val_oa": f1 + 0.1, "val_loss": 1 - f1,
                   "val_precision": f1, "val_recall": f1, "train_loss": 1.0 / epoch, "train_f1": f1, "train_oa": f1,
                   "train_precision": f1, "train_recall": f1, "clicks_per_image": 42.0}
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(d, {"model": model.state_dict(), "optimizer": {}, "epoch": epoch,
                                "config": cfg.to_dict(), "classes": classes.to_dict(), "metrics": metrics})
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


@pytest.fixture(scope="module")
def experiment(ray_local, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig

    cfg = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=32),
                      model=ModelConfig(backbone="tiny", weights="none"), train=TrainConfig(epochs=3))
    storage = tmp_path_factory.mktemp("results")
    # reuse_actors, as pointtune's searches: the third trial runs in a finished trial's process (no second import)
    tuner = tune.Tuner(scripted_trial, param_space={**cfg.to_dict(), "script": tune.grid_search(list(SCRIPTS))},
                       tune_config=tune.TuneConfig(reuse_actors=True),
                       run_config=tune.RunConfig(name="scripted", storage_path=str(storage), verbose=0))
    tuner.fit()
    return storage / "scripted"


def _json(capsys: pytest.CaptureFixture, argv: list[str]) -> list[dict]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_results_in_every_format_list_every_trial_with_its_best_f1(experiment: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    rows = _json(capsys, ["results", str(experiment), "--format", "json"])
    by_best = [(r["best_val_f1"], r["best_epoch"], r["status"], r["epochs_run"]) for r in rows]
    assert by_best == [(0.9, 1, "diverged", 1), (0.7, 2, "finished", 3), (0.6, 3, "finished", 3)]
    assert [r["last_val_f1"] for r in rows] == [0.9, 0.5, 0.6]
    failed = rows[0]
    assert "training diverged: loss became nan at epoch 2 with lr=0.0001" in failed["error"]
    assert {"trial_id", "status", "lr", "density", "clicks_per_image", "epochs", "epochs_run", "best_val_f1",
            "best_epoch", "last_val_f1", "error"} <= set(failed)
    assert main(["results", str(experiment), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["best_val_f1"]) for r in table] == [0.9, 0.7, 0.6]
    assert main(["results", str(experiment), "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| trial_id | status |") and len(md) == 5
    assert main(["results", str(experiment)]) == 0
    assert "diverged" in capsys.readouterr().out


def test_one_trials_history(experiment: Path, capsys: pytest.CaptureFixture) -> None:
    rows = _json(capsys, ["results", str(experiment), "--format", "json"])
    trial = next(r["trial_id"] for r in rows if r["best_val_f1"] == 0.7)
    history = _json(capsys, ["results", str(experiment), "--trial", trial, "--format", "json"])
    assert [(h["epoch"], h["val_f1"]) for h in history] == [(1, 0.3), (2, 0.7), (3, 0.5)]


def test_export_takes_the_best_epoch_not_the_last_and_skips_diverged_trials(experiment: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "best.pt"
    assert main(["export", str(experiment), "--out", str(out)]) == 0
    payload = torch.load(out, weights_only=True)
    assert payload["epoch"] == 2 and payload["metrics"]["val_f1"] == 0.7
    assert payload["class_names"][0] == "road" and payload["tile_size"] == 32 and payload["backbone"] == "tiny"
    assert payload["normalization"]["mean"] == pytest.approx([0.485 * 255, 0.456 * 255, 0.406 * 255])
    assert payload["hyperparameters"]["lr"] == pytest.approx(1e-4) and payload["pointtune_version"]
    trial_dir = next(p.parent for p in experiment.glob("*/params.json")
                     if json.loads(p.read_text())["script"] == "best-not-last")
    source = next(load_checkpoint(c) for c in trial_dir.glob("checkpoint_*") if load_checkpoint(c)["epoch"] == 2)
    model, _ = load_exported(out)
    from trainable.config import ModelConfig
    from trainable.learn.model import build_model

    reference = build_model(ModelConfig(backbone="tiny", weights="none"), 6)
    reference.load_state_dict(source["model"])
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)["out"], reference.eval()(x)["out"])


def test_predict_writes_masks_of_the_image_size(experiment: Path, tmp_path: Path) -> None:
    model_file = tmp_path / "m.pt"
    assert main(["export", str(experiment), "--out", str(model_file)]) == 0
    image = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 101, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(model_file), str(image), "--out", str(tmp_path / "pred")]) == 0
    classes = np.asarray(Image.open(tmp_path / "pred" / "big_classes.png"))
    colour = np.asarray(Image.open(tmp_path / "pred" / "big_colour.png"))
    assert classes.shape == (70, 101) and colour.shape == (70, 101, 3)
    model, meta = load_exported(model_file)
    # the scripted model is untrained: what it should write is what it predicts, tile by tile as predict reads
    from search.model.predict import normalizer_of_export

    expected = predict_array(model, np.asarray(Image.open(image)), meta["tile_size"], 6, torch.device("cpu"),
                             normalizer=normalizer_of_export(meta))
    assert np.array_equal(classes, expected)
    palette = np.array(meta["class_colours"], dtype=np.uint8)
    assert np.array_equal(colour, palette[classes])


def test_the_search_folder_is_a_model_for_evaluate_and_predict(experiment: Path, demo_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    """A MODEL argument may name the search: its best trial's best epoch, the model `export` writes."""
    assert main(["export", str(experiment), "--out", str(tmp_path / "m.pt")]) == 0
    capsys.readouterr()
    scores = [_json(capsys, ["evaluate", str(model), "--data", str(demo_dir), "--split", "all", "--output", "json"])
              for model in (experiment, tmp_path / "m.pt")]
    assert scores[0] == scores[1] and scores[0]["test_images"] == 12
    image = next((demo_dir / "images").iterdir())
    masks = []
    for k, model in enumerate((experiment, tmp_path / "m.pt")):
        assert main(["predict", str(model), str(image), "--out", str(tmp_path / f"p{k}")]) == 0
        masks.append(np.asarray(Image.open(tmp_path / f"p{k}" / f"{image.stem}_classes.png")))
    assert np.array_equal(*masks)


def test_tiled_prediction_matches_a_whole_image_pass_away_from_tile_borders(experiment: Path,
                                                                            tmp_path: Path) -> None:
    assert main(["export", str(experiment), "--out", str(tmp_path / "m.pt")]) == 0
    model, _meta = load_exported(tmp_path / "m.pt")
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    tiled = predict_array(model, image, 32, 6, torch.device("cpu"))
    from search.model.predict import normalizer_of_export

    with torch.no_grad():
        whole = model(normalizer_of_export(_meta)(image)[None])["out"][0].argmax(0).numpy()
    inner = (slice(4, -4), slice(4, -4))
    assert (tiled[inner] == whole[inner]).mean() > 0.97


def test_plot_writes_non_empty_pngs(experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plot", str(experiment), "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.glob("*.png")}
    assert {"val_f1_per_epoch.png", "best_score_vs_settings.png", "frontier.png", "best_trial_curves.png",
            "best_trial_per_class.png"} <= names, "no parallel coordinates: the scripted trials' settings are the same"
    for p in tmp_path.glob("*.png"):
        with Image.open(p) as im:
            assert im.size[0] > 300 and np.asarray(im.convert("L")).std() > 5, p


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the plain pickle written on purpose
def test_damaged_or_unsafe_files_are_refused(tmp_path: Path, experiment: Path) -> None:
    good = tmp_path / "good.pt"
    assert main(["export", str(experiment), "--out", str(good)]) == 0
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        read_torch_file(truncated)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"model": {}, "payload": _Unsafe()}, unsafe)
    with pytest.raises(CheckpointError, match="needs arbitrary Python code"):
        read_torch_file(unsafe)
    blocked = tmp_path / "blocked.pt"  # a module torch blocks outright is worded differently by torch
    torch.save({"model": {}, "payload": _CallsGetpid()}, blocked)
    with pytest.raises(CheckpointError, match="needs arbitrary Python code") as refused:
        read_torch_file(blocked)
    assert "getpid" in str(refused.value) and "weights_only` set to `False" not in str(refused.value)
    raw_pickle = tmp_path / "raw.pkl"  # a plain pickle, not torch's zip: refused too, as unreadable
    raw_pickle.write_bytes(pickle.dumps(_Unsafe()))
    for content in (b"", b"base:\n  data:\n    root: x\n", Path(__file__).read_bytes(), os.urandom(512)):
        other = tmp_path / "other.pt"
        other.write_bytes(content)
        for path in (other, raw_pickle):
            with pytest.raises(CheckpointError, match=r"is damaged or truncated, or not a PyTorch file at all"):
                read_torch_file(path)
    assert not _Unsafe.executed


def test_predict_with_a_file_that_is_not_a_model_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = tmp_path / "pointtune_settings.yaml"
    settings.write_text("base:\n  data:\n    root: x\n")
    image = tmp_path / "tile.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["predict", str(settings), str(image), "--out", str(tmp_path / "out")]) == 2
    assert f"{settings} is damaged or truncated, or not a PyTorch file" in capsys.readouterr().err
    state_dict = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.ones(1)}, state_dict)
    assert main(["predict", str(state_dict), str(image), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "is not a model written by pointtune" in err and "a model file written by `pointtune export`" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_export_writes_atomically(tmp_path: Path, experiment: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    def crash(obj: object, f: object) -> None:
        f.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    assert main(["export", str(experiment), "--out", str(tmp_path / "x.pt")]) == EXIT_INTERNAL
    assert "RuntimeError: disk full" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


class _Unsafe:
    executed = False

    def __reduce__(self):
        return (_mark_executed, ())


class _CallsGetpid:
    def __reduce__(self):
        return (os.getpid, ())


def _mark_executed() -> None:
    _Unsafe.executed = True


def test_results_and_export_read_a_storage_uri(experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """file:// goes through the same pyarrow filesystem code as s3:// and gs://."""
    uri = f"file://{experiment}"
    rows = _json(capsys, ["results", uri, "--format", "json"])
    assert [r["best_val_f1"] for r in rows] == [0.9, 0.7, 0.6]
    assert main(["export", uri, "--out", str(tmp_path / "m.pt")]) == 0
    assert torch.load(tmp_path / "m.pt", weights_only=True)["epoch"] == 2

"""`pointtune evaluate`: an exported model scored on data, checked against a model whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from search.cli.main import main
from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig
from trainable.data.formats import format_classes
from trainable.data.index import build_index
from trainable.data.sources import LabelSource
from trainable.learn.checkpoint import atomic_torch_save
from trainable.learn.model import build_model


def _always(cls: int, path: Path, split: dict[str, list[str]]) -> Path:
    """An export whose network predicts class ``cls`` everywhere (a 1x1 head with only a bias)."""
    classes = format_classes("demo")
    model = build_model(ModelConfig(backbone="tiny", weights="none"), classes.num_classes)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.arange(classes.num_classes) == cls)
    payload = {"format": "pointtune-model/1", "model": model.state_dict(), "backbone": "tiny", "in_channels": 3,
               "normalization": {"mean": [124.0, 116.0, 104.0], "std": [58.0, 57.0, 57.0]},
               "num_classes": classes.num_classes, "class_names": list(classes.names),
               "class_colours": [list(c) for c in classes.colours], "classes": classes.to_dict(), "tile_size": 32,
               "resize": 1.0, "split": split}
    atomic_torch_save(payload, path)
    return path


def test_scores_of_a_model_that_always_says_road(demo_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32), split=False)
    stems = data.stems
    model = _always(0, tmp_path / "road.pt", {"train": stems[:8], "val": stems[8:10], "test": stems[10:]})
    masks_of = [LabelSource(e.files, data.classes, 1.0).array() for e in data.entries]
    for part, images in (("all", masks_of), ("test", masks_of[10:])):
        assert main(["evaluate", str(model), "--data", str(demo_dir), "--part", part, "--output", "json"]) == 0
        scores = json.loads(capsys.readouterr().out)
        masks = np.concatenate([m.ravel() for m in images])
        masks = masks[masks != IGNORE_INDEX]
        share = float((masks == 0).mean())  # road's share of the scored pixels = OA = road's precision
        present = len(np.unique(masks))
        prefix = "test"
        assert scores[f"{prefix}_images"] == len(images)
        assert scores[f"{prefix}_oa"] == pytest.approx(share)
        assert scores[f"{prefix}_f1_road"] == pytest.approx(2 * share / (share + 1))
        assert scores[f"{prefix}_f1"] == pytest.approx(2 * share / (share + 1) / present), "other classes: 0"
        assert scores[f"{prefix}_recall_road"] == pytest.approx(1.0)
    assert main(["evaluate", str(model), "--data", str(demo_dir), "--split", "val"]) == 0  # the former spelling
    table = capsys.readouterr().out
    assert table.startswith("val: 2 image(s)") and "road" in table and "building" in table


def test_a_split_naming_images_the_folder_lacks_is_refused(demo_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    model = _always(1, tmp_path / "m.pt", {"train": [], "val": [], "test": ["elsewhere_001"]})
    assert main(["evaluate", str(model), "--data", str(demo_dir)]) == 2
    err = capsys.readouterr().err
    assert "1 test image(s) of the model's split are not in" in err and "--part all" in err
    assert main(["evaluate", str(model), "--data", str(demo_dir), "--part", "val"]) == 2
    assert "records no 'val' images" in capsys.readouterr().err


def test_test_images_with_only_clicks_are_scored_on_them_with_points(demo_dir: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """`evaluate --clicks`: the test images have no dense mask, only the user's clicks (a CSV, as `train --clicks`
    takes); a model that always says road scores the share of road among those clicks."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    index = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32), split=False)
    stems = index.stems
    model = _always(0, tmp_path / "road.pt", {"train": stems[:8], "val": stems[8:10], "test": stems[10:]})
    rng = np.random.default_rng(0)
    rows, labels = ["image,x,y,class"], []
    for e in index.entries[10:]:
        mask = LabelSource(e.files, index.classes, 1.0).array()
        ys, xs = np.nonzero(mask != IGNORE_INDEX)
        for k in rng.choice(len(ys), 25, replace=False):
            rows.append(f"{e.stem},{xs[k]},{ys[k]},{int(mask[ys[k], xs[k]])}")
            labels.append(int(mask[ys[k], xs[k]]))
        (data / "semantic" / Path(e.files.mask).name).unlink()
    (tmp_path / "clicks.csv").write_text("\n".join(rows) + "\n")
    assert main(["evaluate", str(model), "--data", str(data)]) == 2
    assert "image has no mask" in capsys.readouterr().err, "without the clicks: nothing says what is there"
    assert main(["evaluate", str(model), "--data", str(data), "--clicks", str(tmp_path / "clicks.csv"),
                 "--output", "json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["test_images"] == 2 and "test_f1" not in scores, "no dense mask: scored on the clicks only"
    assert scores["test_clicks_oa"] == pytest.approx(np.mean(np.array(labels) == 0))
    assert scores["test_clicks_recall_road"] == pytest.approx(1.0)
    assert main(["evaluate", str(model), "--data", str(data), "--clicks", str(tmp_path / "clicks.csv")]) == 0
    assert capsys.readouterr().out.startswith("test: 2 image(s) (on the clicks)  oa ")


def test_without_data_the_model_is_scored_on_the_folder_it_was_trained_on(demo_dir: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    data = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32), split=False)
    model = _always(0, tmp_path / "road.pt", {"train": [], "val": [], "test": data.stems[10:]})
    payload = torch.load(model, weights_only=False)
    payload["config"] = {"data": {"root": str(demo_dir), "format": "demo"}}
    atomic_torch_save(payload, model)
    assert main(["evaluate", str(model), "--output", "json"]) == 0
    out, err = capsys.readouterr()
    assert f"no --data given: the folder the model was trained on, {demo_dir}" in err
    assert json.loads(out)["test_images"] == len(data.stems) - 10
    payload["config"]["data"]["root"] = str(tmp_path / "moved")
    atomic_torch_save(payload, model)
    assert main(["evaluate", str(model)]) == 2
    assert f"({tmp_path / 'moved'}) is not there any more: give --data DIR" in capsys.readouterr().err
    del payload["config"]
    atomic_torch_save(payload, model)
    assert main(["evaluate", str(model)]) == 2
    assert "does not record the folder it was trained on: give --data DIR" in capsys.readouterr().err

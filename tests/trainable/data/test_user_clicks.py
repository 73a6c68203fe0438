"""Users' own clicks in the data layer: masks optional, nested selection of their clicks, click validation on
held-out clicks, metrics that need dense masks refused without them, rank agreement; and an end-to-end search with
clicks and no dense mask at all."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from search.cli.main import main
from search.model.predict import read_export
from search.results.experiment import load_experiment
from search.results.tables import best_scores, describe_agreement, rank_agreement, trials_table
from trainable.config import ConfigError, DataConfig, PointConfig, TrialConfig
from trainable.data.classes import ClassDescription
from trainable.data.index import build_index, resolve_classes
from trainable.data.sources import LabelSource
from trainable.inputs import build_inputs, check_metric_for_data, training_ids
from trainable.labels.clicks import ClickSource, validation_points

FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "16", "--batch-size", "4"]


def clicks_folder(demo_dir: Path, root: Path, per_image: int = 24, masks_for: tuple[str, ...] = (),
                  objects: bool = False) -> tuple[Path, Path]:
    """The demo images with clicks in a CSV read off their masks (``per_image`` random pixels each); dense masks
    kept only for the stems in ``masks_for``. Returns (data folder, CSV)."""
    shutil.copytree(demo_dir / "images", root / "images")
    classes = resolve_classes(str(demo_dir), "demo", None)
    rows = []
    rng = np.random.default_rng(0)
    for image in sorted((demo_dir / "images").iterdir()):
        mask = _mask(demo_dir, image.stem, classes)
        ys, xs = np.nonzero(mask != 255)
        pick = rng.choice(ys.size, per_image, replace=False)
        for n, k in enumerate(pick):
            row = [image.name, int(xs[k]), int(ys[k]), classes.names[mask[ys[k], xs[k]]]]
            rows.append([*row, n // 3] if objects else row)  # objects: three clicks each
        if image.stem in masks_for:
            (root / "semantic").mkdir(exist_ok=True)
            shutil.copy(demo_dir / "semantic" / f"{image.stem}.png", root / "semantic" / f"{image.stem}.png")
    shutil.copy(demo_dir / "classes.yaml", root / "classes.yaml")
    path = root / "clicks.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x", "y", "class", *(["object"] if objects else [])])
        w.writerows(rows)
    return root, path


def _mask(demo_dir: Path, stem: str, classes: ClassDescription) -> np.ndarray:
    from trainable.data.layout import ImageFiles

    files = ImageFiles(stem, str(demo_dir / "images" / f"{stem}.png"), str(demo_dir / "semantic" / f"{stem}.png"))
    return np.asarray(LabelSource(files, classes, 1.0).array())


def _cfg(data: DataConfig, **points) -> TrialConfig:
    return TrialConfig(data=data, points=PointConfig(**points))


def test_clicks_without_masks_index_and_select_nested_shares(demo_dir: Path, tmp_path: Path) -> None:
    root, path = clicks_folder(demo_dir, tmp_path / "d", objects=True)
    data = DataConfig(root=str(root), tile_size=32, clicks=str(path))
    index = build_index(data)
    assert not index.has_masks and len(index.user_clicks) == len(index.entries) == 12
    train = training_ids(index)
    low = ClickSource(index, _cfg(data, density=0.25), train)
    high = ClickSource(index, _cfg(data, density=0.5), train)
    full = ClickSource(index, _cfg(data, density=1.0), train)
    for k in range(len(train)):
        a, b, c = (set(s.points(k).index.tolist()) for s in (low, high, full))
        assert a <= b <= c and len(a) == 6 and len(b) == 12 and len(c) == 24, "shares of 24 clicks, nested"
    one = ClickSource(index, _cfg(data, mode="per_instance", clicks_per_object=1), train)
    two = ClickSource(index, _cfg(data, mode="per_instance", clicks_per_object=2), train)
    stem = index.entries[train[0]].stem
    given = index.user_clicks[stem]
    first = {int(given.index[i]) for i in range(0, 24, 3)}  # the first click of each of the 8 objects
    assert set(one.points(0).index.tolist()) == first
    assert first < set(two.points(0).index.tolist()) and two.points(0).count == 16
    stats = full.stats()
    assert stats.clicks_per_image == 24 and not stats.images_without_points


def test_validation_clicks_are_held_out_and_score_every_epoch(demo_dir: Path, tmp_path: Path) -> None:
    """Simulated validation clicks sit on validation images only, N per image, on the mask's labels; the user's
    clicks on validation scenes never reach a training crop."""
    data = DataConfig(root=str(demo_dir), format="demo", tile_size=32, val_clicks=10)
    index = build_index(data)
    cfg = _cfg(data, density=0.05)
    val = list(index.split.val)
    points = validation_points(index, cfg, val)
    assert [p.count for p in points] == [10] * len(val)
    for p, i in zip(points, val, strict=True):
        mask = _mask(demo_dir, index.entries[i].stem, index.classes)
        np.testing.assert_array_equal(mask.ravel()[p.index], p.label)
    assert validation_points(index, cfg.replace(data={"val_clicks": 0}), val) is None

    root, path = clicks_folder(demo_dir, tmp_path / "d")
    users = DataConfig(root=str(root), tile_size=32, clicks=str(path))
    index = build_index(users)
    cfg = _cfg(users, density=1.0)
    inputs = build_inputs(index, cfg)
    val_stems = set(inputs.val_stems)
    assert val_stems and not val_stems & set(inputs.train_stems)
    assert not val_stems & {index.entries[i].stem for i in training_ids(index)}
    held = validation_points(index, cfg, list(index.split.val))
    assert sum(p.count for p in held) == 24 * len(val_stems), "every one of the user's validation clicks is scored"
    batch = next(iter(inputs.val_loader))
    assert "points" in batch and (batch["mask"] == 255).all(), "no dense mask: only clicks to score"


def test_a_dense_metric_needs_dense_validation_masks(demo_dir: Path, tmp_path: Path) -> None:
    root, path = clicks_folder(demo_dir, tmp_path / "d")
    index = build_index(DataConfig(root=str(root), tile_size=32, clicks=str(path)))
    cfg = TrialConfig(data=DataConfig(root=str(root), clicks=str(path)))
    with pytest.raises(ConfigError, match="--metric val_clicks_f1"):
        check_metric_for_data(cfg, index)
    check_metric_for_data(cfg.replace(train={"metric": "val_clicks_f1"}), index)
    dense = build_index(DataConfig(root=str(demo_dir), format="demo", tile_size=32))
    with pytest.raises(ConfigError, match="--val-clicks 0"):
        check_metric_for_data(TrialConfig().replace(train={"metric": "val_clicks_f1"}, data={"val_clicks": 0}), dense)


def test_rank_agreement_of_a_hand_made_table() -> None:
    """Ranks by points 1 2 3 4 5, by dense masks 2 1 3 4 5: Spearman 1 - 6*2/(5*24) = 0.9, Kendall (9-1)/10 = 0.8."""
    scores = pd.DataFrame({"trial_id": list("abcdef"),
                           "val_clicks_f1": [0.1, 0.2, 0.3, 0.4, 0.5, np.nan],
                           "val_f1": [0.25, 0.2, 0.3, 0.45, 0.6, 0.9]})
    a = rank_agreement(scores)
    assert a["trials"] == 5 and a["spearman"] == pytest.approx(0.9) and a["kendall"] == pytest.approx(0.8)
    assert a["same_best"] and a["best_by_clicks"] == "e"
    scores.loc[3, "val_clicks_f1"] = 0.55
    a = rank_agreement(scores)
    assert not a["same_best"] and (a["best_by_clicks"], a["best_by_dense"]) == ("d", "e")
    assert "clicks pick trial d, dense masks e" in describe_agreement(a)
    assert rank_agreement(scores.iloc[:2]) is None, "two trials are no ranking"


def test_train_reports_dense_and_point_validation_with_an_unlabelled_loss(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["train", "--data", str(demo_dir), "--format", "demo", *FAST, "--epochs", "1", "--density", "0.02",
                 "--val-clicks", "20", "--unlabeled-loss", "gated_crf", "--unlabeled-weight", "0.5",
                 "--out", str(out)])
    assert code == 0
    metrics = pd.read_csv(out / "metrics.csv")
    for key in ("val_f1", "val_clicks_f1", "val_clicks_miou", "val_clicks_f1_road", "train_loss"):
        assert key in metrics and np.isfinite(metrics[key]).all(), key
    assert main(["train", "--data", str(demo_dir), "--unlabeled-loss", "entropy", "gated_crf", "--out",
                 str(tmp_path / "x")]) == 2, "one run, one loss"


@pytest.mark.slow
def test_a_search_on_clicks_without_any_dense_mask_then_export(ray_local, demo_dir: Path, tmp_path: Path) -> None:
    root, path = clicks_folder(demo_dir, tmp_path / "d", per_image=30)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--data", str(root), "--clicks", str(path), *FAST, "--cpus-per-trial", "1",
                     "--metric", "val_clicks_f1", "--trials", "3", "--epochs-range", "1", "2",
                     "--density-range", "0.3", "1.0", "--unlabeled-loss", "none", "entropy",
                     "--storage", str(tmp_path / "res"), "--name", "clicks"])
    out = printed.getvalue()
    assert code == 0, out
    records = load_experiment(str(tmp_path / "res" / "clicks"))
    df = trials_table(records)
    assert df.best_val_clicks_f1.notna().all() and df.val_f1.isna().all(), "scored on clicks only"
    assert set(df.unlabeled_loss) <= {"none", "entropy"}
    assert best_scores(records).val_f1.isna().all()
    assert "test score of its model" in out and "(on your clicks)" in out
    from search.results.rounds import clicks_sha256, read_record

    record = read_record(str(tmp_path / "res" / "clicks"))  # the search records the clicks file it searched on
    assert record["sha256"] == clicks_sha256(str(path)) and record["round"] == 0 and record["clicks"] > 0
    import subprocess
    import sys

    experiment = str(tmp_path / "res" / "clicks")
    check = ("import sys, contextlib, io\nfrom search.cli.main import main\n"
             f"with contextlib.redirect_stdout(io.StringIO()): assert main(['results', {experiment!r}]) == 0\n"
             "heavy = [m for m in ('torch', 'ray') if m in sys.modules]\nassert not heavy, heavy")
    subprocess.run([sys.executable, "-c", check], check=True)  # `results` reads the folder without Ray or torch
    model = tmp_path / "best.pt"
    assert main(["export", str(tmp_path / "res" / "clicks"), "--out", str(model)]) == 0
    payload = read_export(model)
    assert payload["metrics"]["val_clicks_f1"] == pytest.approx(df.best_val_clicks_f1.iloc[0])
    assert payload["hyperparameters"]["unlabeled_loss"] == df.unlabeled_loss.iloc[0]
    assert isinstance(payload["model"], dict) and all(isinstance(v, torch.Tensor) for v in payload["model"].values())


def test_help_imports_neither_torch_nor_ray() -> None:
    """``pointtune --help`` answers at once: the CLI, its settings and its errors import no torch or Ray."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\nfrom search.cli.main import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "heavy = [m for m in ('torch', 'ray', 'torchvision', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)

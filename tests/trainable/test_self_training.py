"""Self-training's second stage on the demo scenes with the tiny network and 32-px tiles: which images and pixels
get pseudo-labels, what the stage trains on, what it reports, and a resume inside it."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainable.config import (
    IGNORE_INDEX,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    TrialConfig,
    planned_epochs,
)
from trainable.data.demo import generate_demo_data
from trainable.data.index import DatasetIndex, build_index
from trainable.data.node_cache import NodeCache
from trainable.errors import DatasetError
from trainable.inputs import build_inputs, resolve_for_data
from trainable.learn.model import build_model
from trainable.learn.pseudo import confident
from trainable.learn.run_record import finished_state
from trainable.learn.tiled import predict_probabilities
from trainable.self_training import SecondStage, second_stage, stage_two_images
from trainable.trial import run_trial


def _cfg(root: Path, threshold: float | None = 0.5, unlabeled: Path | None = None, epochs: int = 1,
         **stage_two) -> TrialConfig:
    return TrialConfig(data=DataConfig(root=str(root), tile_size=32, crops_per_epoch=16,
                                       unlabeled_images=str(unlabeled) if unlabeled else None),
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(epochs=epochs, lr=3e-3, num_threads=1, pseudo_labels=threshold,
                                         batch_size=4, **stage_two)).validate()


def _stage(cfg: TrialConfig, cache: Path) -> tuple[DatasetIndex, SecondStage, torch.nn.Module]:
    """The second stage made by a tiny network fresh from its seeded init (no training needed to test which pixels it
    labels), with a node cache of its own."""
    data = build_index(cfg.data)
    cfg = resolve_for_data(cfg, data)
    inputs = build_inputs(data, cfg)
    torch.manual_seed(0)
    model = build_model(cfg.model, data.classes.num_classes)
    cache.mkdir(exist_ok=True)
    return data, second_stage(data, cfg, inputs, model, model.state_dict(), torch.device("cpu"),
                              NodeCache(cache)), model


@pytest.fixture(scope="module")
def ignoring_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scenes with a block of every mask ignored (255: no class)."""
    root = tmp_path_factory.mktemp("ignoring") / "demo"
    shutil.copytree(demo_dir, root)
    for path in (root / "semantic").glob("*.png"):
        mask = np.array(Image.open(path))
        mask[5:20, 10:40] = 255
        Image.fromarray(mask).save(path)
    return root


def _probabilities(model: torch.nn.Module, stage: SecondStage, k: int, tile: int, classes: int) -> np.ndarray:
    crops = stage.inputs.train_crops
    h, w = crops.sizes[k]
    model.eval()
    return predict_probabilities(model, crops.images[k].read(0, 0, h, w), tile, classes, torch.device("cpu"), 4,
                                 crops.normalizer).numpy()


def test_pseudo_labels_are_the_confident_predictions_on_pixels_holding_data_of_training_images_only(
        ignoring_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(ignoring_dir, threshold=0.5)
    data, stage, model = _stage(cfg, tmp_path / "cache")
    ids, unlabeled = stage_two_images(data)
    assert sorted(ids) == sorted(data.split.train) and not unlabeled
    assert not set(ids) & (set(data.split.val) | set(data.split.test)), "a validation or test image is labelled"
    labels = stage.inputs.train_crops.clicks
    # a random network is unsure: a low threshold so that some pixels are above it and some below
    probs = [_probabilities(model, stage, k, 32, data.classes.num_classes) for k in range(len(ids))]
    threshold = float(np.quantile(np.concatenate([p.max(0).ravel() for p in probs]), 0.5))
    data, stage, model = _stage(cfg.replace(train={"pseudo_labels": threshold}), tmp_path / "cache2")
    labels = stage.inputs.train_crops.clicks
    above = below = 0
    for k, p in enumerate(probs):
        h, w = p.shape[1:]
        pseudo = labels.pseudo[k].read(0, 0, h, w)
        valid = np.array(Image.open(data.entries[ids[k]].files.mask)) != 255  # the block, and the demo's own
        assert (pseudo == confident(p, threshold, valid)).all()
        assert (pseudo[5:20, 10:40] == IGNORE_INDEX).all(), "a pseudo-label on an ignored pixel"
        assert (p.max(0)[pseudo != IGNORE_INDEX] >= threshold).all(), "a pseudo-label below the threshold"
        above += int((pseudo != IGNORE_INDEX).sum())
        below += int(((pseudo == IGNORE_INDEX) & valid).sum())
    assert above and below, "the test's threshold should leave pixels on both sides"
    assert stage.stats.labelled < above  # the clicked pixels are the clicks'


def test_clicks_win_over_pseudo_labels_in_the_second_stages_crops(demo_dir: Path, tmp_path: Path) -> None:
    data, stage, _ = _stage(_cfg(demo_dir, threshold=0.01), tmp_path / "cache")  # every pixel pseudo-labelled
    labels = stage.inputs.train_crops.clicks
    k = 0
    h, w = stage.inputs.train_crops.sizes[k]
    clicks = labels.clicks.points(k)
    merged, pseudo = labels.points(k).window(0, 0, h, w), labels.pseudo[k].read(0, 0, h, w)
    rows, cols = np.divmod(clicks.index, w)
    assert (merged[rows, cols] == clicks.label).all()
    assert (pseudo[rows, cols] != clicks.label).any(), "the network agrees with every click: nothing was tested"
    others = np.ones((h, w), bool)
    others[rows, cols] = False
    ignored = np.array(Image.open(data.entries[stage_two_images(data)[0][k]].files.mask)) == 255
    assert (merged[others] == pseudo[others]).all() and ((merged == IGNORE_INDEX) == ignored).all()


@pytest.fixture(scope="module")
def unlabeled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scenes of other sites, images only."""
    other = generate_demo_data(tmp_path_factory.mktemp("other"), num_images=2, size=64, seed=5)
    folder = tmp_path_factory.mktemp("unlabeled") / "sites"
    folder.mkdir()
    for path in sorted((other / "images").glob("*.png")):
        shutil.copy(path, folder / f"site_{path.name}")
    return folder


def test_unlabeled_images_get_pseudo_labels_only_and_join_training(demo_dir: Path, unlabeled_dir: Path,
                                                                   tmp_path: Path) -> None:
    data, stage, _ = _stage(_cfg(demo_dir, threshold=0.01, unlabeled=unlabeled_dir), tmp_path / "cache")
    assert [e.stem for e in data.unlabeled] == ["site_scene000", "site_scene001"]
    assert all(e.stem not in data.stems for e in data.unlabeled), "unlabeled images are never in the split"
    crops, labels = stage.inputs.train_crops, stage.inputs.train_crops.clicks
    clicked = labels.clicked
    assert clicked == len(data.split.train) and len(crops.images) == clicked + 2
    for k in (clicked, clicked + 1):
        assert labels.points(k).clicks is None and crops.p[k] > 0  # pseudo-labels only, and crops drawn there
        h, w = crops.sizes[k]
        assert (labels.points(k).window(0, 0, h, w) != IGNORE_INDEX).all()
    assert stage.stats.images == clicked + 2
    counts = stage.stats.class_counts  # every label of the stage, per class: pseudo-labels and clicks
    total = sum(int((labels.points(k).window(0, 0, *crops.sizes[k]) != IGNORE_INDEX).sum())
                for k in range(len(crops.images)))
    assert counts.sum() == total
    weight = stage.inputs.class_weight.numpy()  # balanced: the common classes' confident pixels do not swamp
    present = counts > 0
    assert np.allclose(weight[present] * counts[present], (weight[present] * counts[present])[0], rtol=1e-4)
    drawn = {crops._crop(np.random.default_rng((0, 1, i)))[0] for i in range(200)}
    assert {clicked, clicked + 1} <= drawn


def test_unlabeled_images_that_are_the_datasets_or_without_pseudo_labels_are_refused(demo_dir: Path,
                                                                                      tmp_path: Path) -> None:
    data = build_index(DataConfig(root=str(demo_dir), tile_size=32))
    held_out = data.entries[data.split.val[0]]
    folder = tmp_path / "twins" / "images"
    folder.mkdir(parents=True)
    shutil.copy(held_out.files.image, folder / Path(held_out.files.image).name)
    with pytest.raises(DatasetError, match="never a validation or test image"):
        build_index(DataConfig(root=str(demo_dir), tile_size=32, unlabeled_images=str(folder.parent)))
    with pytest.raises(ConfigError, match="--pseudo-labels THRESHOLD"):
        _cfg(demo_dir, threshold=None, unlabeled=folder.parent)


def test_with_your_own_clicks_the_training_images_left_unclicked_get_pseudo_labels_only(demo_dir: Path,
                                                                                       tmp_path: Path) -> None:
    plain = build_index(DataConfig(root=str(demo_dir), tile_size=32))
    clicked = [plain.entries[i].stem for i in plain.split.train[:3]]
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("image,x,y,class\n" + "".join(f"{stem},{x},{y},{c}\n" for stem in clicked
                                                   for x, y, c in ((5, 5, "road"), (40, 30, "building"))))
    cfg = _cfg(demo_dir, threshold=0.01).replace(data={"clicks": str(clicks)}, points={"density": 1.0})
    data, stage, _ = _stage(cfg.validate(), tmp_path / "cache")
    ids, _ = stage_two_images(data)
    assert [data.entries[i].stem for i in ids[:3]] == clicked and sorted(ids) == sorted(data.split.train)
    labels = stage.inputs.train_crops.clicks
    assert labels.clicked == 3 and len(stage.inputs.train_crops.images) == len(ids)
    assert all(labels.points(k).clicks is None for k in range(3, len(ids)))
    assert labels.points(0).window(5, 5, 1, 1)[0, 0] == 0 and labels.points(0).window(30, 40, 1, 1)[0, 0] == 1


def _run(cfg: TrialConfig, **kwargs) -> list[dict]:
    reported: list[dict] = []
    run_trial(cfg, lambda metrics, checkpoint_dir: reported.append(metrics), **kwargs)
    return reported


def test_the_second_stage_is_reported_after_the_first_and_the_best_epoch_spans_both(demo_dir: Path) -> None:
    one = _run(_cfg(demo_dir, threshold=None))
    two = _run(_cfg(demo_dir, threshold=0.3))
    assert [m["epoch"] for m in two] == [1, 2] and [m["stage"] for m in two] == [1, 2]
    for key in ("val_f1", "train_loss", "lr_last"):  # stage 1 is the run without self-training
        assert two[0][key] == one[0][key], key
    assert "stage" not in one[0]
    assert two[0]["pseudo_labelled_fraction"] == 0 and 0 < two[1]["pseudo_labelled_fraction"] <= 1
    assert 0 <= two[1]["pseudo_label_accuracy"] <= 1 and two[1]["pseudo_labelled_images"] > 0
    assert two[1]["lr_last"] == two[0]["lr_last"], "the schedule starts again in the second stage"
    assert planned_epochs(_cfg(demo_dir, threshold=0.3, epochs=3).to_dict()) == 6
    assert planned_epochs(_cfg(demo_dir, threshold=None, epochs=3).to_dict()) == 3
    best = max(two, key=lambda m: m["val_f1"])
    assert two[1]["best_epoch"] == best["epoch"] and two[1]["best_val_f1"] == best["val_f1"]


@pytest.mark.parametrize("stage_two", [{}, {"teacher_decay": 0.9, "pseudo_weight": 0.5, "pseudo_class_share": 0.5,
                                        "pseudo_lr_factor": 0.5}], ids=["as-it-was", "every-setting"])
def test_a_run_resumed_inside_the_second_stage_reproduces_the_uninterrupted_one(
        demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage_two: dict) -> None:
    """Resumed at the end of stage 1 (the stage-1 best weights in the state) or inside stage 2 (the weights that made
    the pseudo-labels in the state, and the mean teacher as it was; on another node, whose cache has none, the
    pseudo-labels are made again)."""
    cfg = _cfg(demo_dir, threshold=0.3, epochs=2, **stage_two)
    saved: dict[int, dict] = {}

    def keep(state: dict) -> int:
        saved[state["epoch"]] = copy.deepcopy(state)
        return 0

    whole = _run(cfg, save_state=keep)
    assert [m["stage"] for m in whole] == [1, 1, 2, 2]
    assert "pseudo_source" in saved[3] and "pseudo_source" in saved[4] and "pseudo_source" not in saved[2]
    assert ("teacher" in saved[3]) == ("teacher_decay" in stage_two) and "teacher" not in saved[2]
    if stage_two:  # the teacher saved is the one after epoch 3's steps: it has moved from the stage-1 model
        assert not torch.equal(saved[3]["teacher"]["features.0.0.weight"],
                               saved[3]["pseudo_source"]["features.0.0.weight"])
    assert ("best_model" in saved[2]) == (whole[1]["best_epoch"] != 2)
    assert not {"model", "optimizer", "pseudo_source", "best_model", "teacher"} & set(finished_state(saved[4]))
    monkeypatch.setenv("POINTTUNE_NODE_CACHE", str(tmp_path / "another-node"))
    for after in (2, 3):
        rest = _run(cfg, resume=copy.deepcopy(saved[after]))
        assert [m["epoch"] for m in rest] == list(range(after + 1, 5))
        for key in ("val_f1", "train_loss", "pseudo_labelled_fraction", "best_val_f1", "best_epoch"):
            assert [m[key] for m in rest] == [m[key] for m in whole[after:]], (after, key)


def test_the_second_stages_learning_rate_is_the_factor_times_the_firsts(demo_dir: Path) -> None:
    plain = _run(_cfg(demo_dir, threshold=0.3))
    slow = _run(_cfg(demo_dir, threshold=0.3, pseudo_lr_factor=0.25))
    assert slow[0]["val_f1"] == plain[0]["val_f1"] and slow[0]["lr_last"] == plain[0]["lr_last"]  # stage 1 alike
    assert slow[1]["lr_last"] == pytest.approx(0.25 * slow[0]["lr_last"]) and plain[1]["lr_last"] == plain[0]["lr_last"]


def test_per_class_thresholds_give_every_predicted_class_pseudo_labels(demo_dir: Path, tmp_path: Path) -> None:
    """A network fresh from its init is unsure everywhere: at 0.99 nothing is pseudo-labelled; with a per-class share
    every class it predicts somewhere gets pseudo-labels, and no class's threshold is above 0.99."""
    data, strict, model = _stage(_cfg(demo_dir, threshold=0.99), tmp_path / "strict")
    assert strict.stats.labelled == 0
    data, stage, model = _stage(_cfg(demo_dir, threshold=0.99, pseudo_class_share=0.2), tmp_path / "share")
    crops, labels = stage.inputs.train_crops, stage.inputs.train_crops.clicks
    predicted, got = set(), set()
    for k in range(len(crops.images)):
        h, w = crops.sizes[k]
        predicted |= set(_probabilities(model, stage, k, 32, data.classes.num_classes).argmax(0).ravel().tolist())
        got |= set(np.unique(labels.pseudo[k].read(0, 0, h, w)).tolist()) - {IGNORE_INDEX}
    assert len(predicted) >= 2 and got == predicted
    assert (stage.thresholds <= 0.99).all() and (stage.thresholds < 0.99).any()
    assert 0.1 < stage.stats.fraction < 0.5  # about the share asked of each class (clicks not counted)


def test_a_second_stage_with_its_own_loss_has_crops_that_say_which_labels_are_clicks(demo_dir: Path,
                                                                                      tmp_path: Path) -> None:
    _, stage, _ = _stage(_cfg(demo_dir, threshold=0.01, teacher_decay=0.9), tmp_path / "cache")
    crops = stage.inputs.train_crops
    crops.flips = crops.rotations = False
    for i in range(8):
        sample = crops[i]
        clicked, mask = sample["clicked"].numpy(), sample["mask"].numpy()
        assert clicked.dtype == bool and sample["valid"].dtype == torch.bool
        assert (mask[clicked] != IGNORE_INDEX).all() and (~clicked & (mask != IGNORE_INDEX)).any()
    k, y, x, _, _ = crops._crop(np.random.default_rng((crops.seed, crops.epoch, 0)))  # image, corner, side, labels
    window = crops.clicks.clicks.points(k).window(y, x, 32, 32) if k < crops.clicks.clicked else None
    if window is not None:
        assert (crops[0]["clicked"].numpy() == (window != IGNORE_INDEX)).all()
    _, plain, _ = _stage(_cfg(demo_dir, threshold=0.01), tmp_path / "plain")
    assert "clicked" not in plain.inputs.train_crops[0] and "valid" not in plain.inputs.train_crops[0]

"""`pointtune suggest`: the scores and the choice on hand-made arrays, then the command on the demo scenes and on a
4-band GeoTIFF, and a round of training on the answered file."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from search.cli.main import main
from search.model.click_scores import Candidates, auto_radius, choose, margin_scores, region_candidates
from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig
from trainable.data.classes import ClassDescription
from trainable.data.formats import format_classes
from trainable.data.index import build_index
from trainable.data.user_clicks import ImageRef, read_user_clicks
from trainable.learn.checkpoint import atomic_torch_save
from trainable.learn.model import build_model

# --- pure: scores and choice ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("p", "margin"), [((0.5, 0.3, 0.2), 0.8), ((1.0, 0.0, 0.0), 0.0), ((0.4, 0.4, 0.2), 1.0)])
def test_margin_is_one_minus_the_gap_between_the_two_likeliest_classes(p: tuple[float, ...], margin: float) -> None:
    cls, score = margin_scores(np.array(p, np.float32)[:, None, None])
    assert cls[0, 0] == int(np.argmax(p)) and score[0, 0] == pytest.approx(margin)


def _candidates(rows: list[int], cols: list[int], cls: list[int], score: list[float]) -> Candidates:
    n = len(rows)
    return Candidates(np.array(rows), np.array(cols), np.array(cls), np.array(score, float), np.arange(n) / n)


def test_choice_keeps_the_radius_from_new_and_old_clicks_and_takes_turns_over_classes() -> None:
    # class 0 holds the three best candidates, two of them 3 px apart; class 1 a weaker one; a click exists at (0, 0)
    c = _candidates([10, 10, 40, 20, 1], [10, 13, 40, 50, 1], [0, 0, 0, 1, 0], [0.9, 0.8, 0.7, 0.1, 1.0])
    picks = choose(c, 3, radius=5.0, taken_rows=np.array([0]), taken_cols=np.array([0]))
    assert picks.tolist() == [0, 3, 2], "class 0's best, class 1's turn, then class 0 again, skipping what is close"
    assert choose(c, 10, radius=5.0).tolist() == [4, 3, 0, 2], "without the old click (1, 1) is free, and first"
    assert len(choose(c, 10, radius=0.0)) == 5 and len(choose(c.take(np.array([0, 0])), 5, 0.0)) == 1


def test_regions_score_expected_errors_known_errors_and_checked_regions() -> None:
    cls = np.zeros((8, 12), np.int64)
    cls[:, 6:] = 1  # two regions: class 0 on the left, class 1 on the right
    doubt = np.full(cls.shape, 0.1)
    doubt[2, 2] = 0.5
    valid = np.ones(cls.shape, bool)
    key = np.zeros(cls.shape)
    found = region_candidates(cls, doubt, valid, key, (100, 200))
    assert sorted(found.score.tolist()) == pytest.approx([4.8, 4.8 + 0.4]), "sum of 1 - p_max over each region"
    left = int(np.flatnonzero(found.cls == 0)[0])
    assert (found.row[left], found.col[left]) == (102, 202), "the least sure pixel of the region's core"
    right = int(np.flatnonzero(found.cls == 1)[0])  # depth: to column 6 (the other region) and the image's edge
    assert 1 <= found.row[right] - 100 <= 6 and 7 <= found.col[right] - 200 <= 10, "away from the region's border"
    clicks = (np.array([0, 0]), np.array([0, 11]), np.array([3, 1]))  # left: another class (an error); right: agrees
    known = region_candidates(cls, doubt, valid, key, (0, 0), clicks)
    assert known.cls.tolist() == [0] and known.score.tolist() == [48.0], "a known error scores its area"


def test_auto_radius_gives_the_clicks_a_sixteenth_of_the_image() -> None:
    r = auto_radius(128, 128, 10)
    assert r == pytest.approx(11.4, abs=0.05)
    assert 10 * math.pi * (r / 2) ** 2 == pytest.approx(128 * 128 / 16)


# --- the command on the demo scenes -------------------------------------------------------------------------------


def _model_file(path: Path, split: dict[str, list[str]], in_channels: int = 3, num_classes: int = 6,
                classes: ClassDescription | None = None, mean: float = 120.0, std: float = 60.0,
                resize: float = 1.0) -> Path:
    """An export of a randomly initialised tiny network (seeded): uneven probabilities to rank."""
    classes = classes or format_classes("demo")
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="tiny", weights="none", in_channels=in_channels), num_classes)
    payload = {"format": "pointtune-model/1", "model": model.state_dict(), "backbone": "tiny",
               "in_channels": in_channels,
               "normalization": {"mean": [mean] * in_channels, "std": [std] * in_channels},
               "num_classes": num_classes, "class_names": list(classes.names),
               "class_colours": [list(c) for c in classes.colours], "classes": classes.to_dict(), "tile_size": 32,
               "resize": resize, "split": split}
    atomic_torch_save(payload, path)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> tuple[Path, Path, list[str]]:
    """A copy of the demo scenes whose masks ignore their left quarter, and a model trained (nominally) on the
    training part of their seeded split."""
    root = tmp_path_factory.mktemp("suggest") / "data"
    shutil.copytree(demo_dir, root)
    for f in (root / "semantic").iterdir():
        mask = np.array(Image.open(f))
        mask[:, :16] = IGNORE_INDEX
        Image.fromarray(mask).save(f)
    index = build_index(DataConfig(root=str(root), format="demo", tile_size=32))
    train = [index.stems[i] for i in index.split.train]
    return root, _model_file(root.parent / "model.pt", {"train": train, "val": [], "test": []}), train


def _read(path: Path, root: Path) -> dict:
    data = build_index(DataConfig(root=str(root), format="demo", tile_size=32), split=False)
    refs = [ImageRef.of(e.stem, e.files.image) for e in data.entries]
    clicks, problems = read_user_clicks(str(path), refs, data.classes)
    assert problems == []
    return clicks


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("strategy", ["regions", "margin", "pixelpick", "entropy", "random", "oracle"])
def test_the_file_parses_with_the_points_reader_and_avoids_ignored_pixels(demo: tuple, tmp_path: Path,
                                                                          strategy: str) -> None:
    root, model, train = demo
    out = tmp_path / "next.csv"
    assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "5", "--out", str(out),
                 "--strategy", strategy, "--answer-from-masks"]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["image", "x", "y", "class", "predicted", "score", "rank", "map_x", "map_y", "round"]
    assert {r["image"] for r in rows} == set(train) and len(rows) == 5 * len(train)
    assert all(int(r["x"]) >= 16 for r in rows), "the left quarter is ignored in every mask"
    clicks = _read(out, root)
    assert sum(c.count for c in clicks.values()) == len(rows)
    masks = {e.stem: np.array(Image.open(e.files.mask)) for e in build_index(
        DataConfig(root=str(root), format="demo", tile_size=32), split=False).entries}
    for r in rows:  # each answer is the dense mask's class there, read back at the same pixel
        c = clicks[r["image"]]
        k = list(c.index).index(int(r["y"]) * c.width + int(r["x"]))
        assert c.label[k] == masks[r["image"]][int(r["y"]), int(r["x"])]
    assert (strategy == "random") == all(r["predicted"] == "" for r in rows)
    if strategy == "oracle":  # the untrained model is wrong almost everywhere: every click is on an error
        assert all(r["class"] != r["predicted"] for r in rows)


def test_with_resize_the_file_gives_original_pixels_that_land_on_the_chosen_ones(demo: tuple, tmp_path: Path) -> None:
    from trainable.data.sources import LabelSource

    root, _, train = demo
    model = _model_file(tmp_path / "half.pt", {"train": train, "val": [], "test": []}, resize=0.5)
    out = tmp_path / "half.csv"
    assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "3", "--out", str(out),
                 "--strategy", "margin", "--answer-from-masks"]) == 0
    rows = _rows(out)
    assert len(rows) == 3 * len(train) and all(float(r["x"]) >= 16 for r in rows), "ignored: original columns < 16"
    data = build_index(DataConfig(root=str(root), format="demo", tile_size=32, resize=0.5), split=False)
    clicks, problems = read_user_clicks(str(out), [ImageRef.of(e.stem, e.files.image, 0.5) for e in data.entries],
                                        data.classes, 0.5)
    assert problems == [] and sum(c.count for c in clicks.values()) == len(rows)
    for e in data.entries:
        if e.stem in clicks:  # the answers are the resized mask's classes at the pixels read back
            c = clicks[e.stem]
            mask = LabelSource(e.files, data.classes, 0.5).array()
            assert c.height == 32 and np.array_equal(c.label, mask.ravel()[c.index])


def test_an_unanswered_file_names_the_clicks_to_fill(demo: tuple, tmp_path: Path) -> None:
    root, model, _ = demo
    out = tmp_path / "todo.csv"
    assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "2", "--out", str(out)]) == 0
    assert all(r["class"] == "" for r in _rows(out))
    data = build_index(DataConfig(root=str(root), format="demo", tile_size=32), split=False)
    _, problems = read_user_clicks(str(out), [ImageRef.of(e.stem, e.files.image) for e in data.entries],
                                   data.classes)
    assert len(problems) == 1 and "no class yet" in problems[0] and "fill in" in problems[0]
    geojson = tmp_path / "todo.geojson"
    assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "2", "--out", str(geojson)]) == 0
    doc = json.loads(geojson.read_text())
    assert doc["pointtune:coordinates"] == "pixel", "PNG scenes have no georeference"
    assert [f["geometry"]["coordinates"] for f in doc["features"]] == [[int(r["x"]), int(r["y"])] for r in
                                                                        _rows(out)]


def test_same_seed_same_file_and_the_radius_holds_from_old_and_new_clicks(demo: tuple, tmp_path: Path) -> None:
    root, model, train = demo
    old = tmp_path / "old.csv"
    rng = np.random.default_rng(1)
    given = [(s, int(x), int(y)) for s in train for x, y in zip(rng.integers(16, 64, 30), rng.integers(0, 64, 30),
                                                                strict=True)]
    old.write_text("image,x,y,class\n" + "".join(f"{s},{x},{y},road\n" for s, x, y in given))
    files = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        files.append(tmp_path / f"{name}.csv")
        assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "6", "--out", str(files[-1]),
                     "--clicks", str(old), "--radius", "4", "--strategy", "margin", "--seed", str(seed)]) == 0
    assert files[0].read_bytes() == files[1].read_bytes()
    rows = _rows(files[0])
    for stem in train:
        new = [(int(r["x"]), int(r["y"])) for r in rows if r["image"] == stem]
        assert len(new) == 6
        taken = [(x, y) for s, x, y in given if s == stem]
        for i, (x, y) in enumerate(new):
            assert (x, y) not in taken, "never on a pixel already clicked"
            assert all(math.dist((x, y), p) >= 4 for p in new[i + 1:] + taken), "no two clicks closer than 4 px"
    random = [tmp_path / f"r{seed}.csv" for seed in (0, 1)]
    for seed, f in enumerate(random):
        assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "3", "--out", str(f),
                     "--strategy", "random", "--seed", str(seed)]) == 0
    assert random[0].read_bytes() != random[1].read_bytes(), "the seed draws the random clicks"


def test_bad_settings_are_refused_with_what_to_do(demo: tuple, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, model, _ = demo
    base = ["suggest", str(model), "--data", str(root), "--out", str(tmp_path / "x.csv")]
    assert main([*base, "--clicks-per-image", "0"]) == 2
    assert "--clicks-per-image: 0: use a value in [1, 100000]" in capsys.readouterr().err
    assert main([*base, "--clicks-per-image", "2", "--strategy", "best"]) == 2
    assert "margin, pixelpick, regions, entropy, random, oracle" in capsys.readouterr().err
    assert main([*base, "--clicks-per-image", "2", "--strategy", "oracle"]) == 2
    err = capsys.readouterr().err
    assert "--strategy oracle" in err and "--answer-from-masks" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()
    assert main([*base[:-1], str(tmp_path / "x.txt"), "--clicks-per-image", "2"]) == 2
    assert ".csv or .geojson" in capsys.readouterr().err


def test_a_round_on_the_answered_clicks_learns_them_and_nothing_else(demo: tuple, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """Masks wrong everywhere but at the suggested pixels: training with --clicks sees the true labels there only."""
    from trainable.config import PointConfig, TrialConfig
    from trainable.inputs import training_ids
    from trainable.labels.clicks import ClickSource

    source, model, _ = demo
    root = tmp_path / "data"
    shutil.copytree(source, root)
    out = tmp_path / "suggested.csv"
    assert main(["suggest", str(model), "--data", str(root), "--clicks-per-image", "4", "--out", str(out),
                 "--answer-from-masks"]) == 0
    rows = _rows(out)
    at = {(r["image"], int(r["y"]), int(r["x"])) for r in rows}
    for f in (root / "semantic").iterdir():  # every other labelled pixel changes class
        mask = np.array(Image.open(f))
        wrong = np.where(mask == IGNORE_INDEX, mask, (mask + 1) % 6).astype(np.uint8)
        for _, y, x in [a for a in at if a[0] == f.stem]:
            wrong[y, x] = mask[y, x]
        Image.fromarray(wrong).save(f)
    data = build_index(DataConfig(root=str(root), format="demo", tile_size=32, clicks=str(out)))
    cfg = TrialConfig(data=DataConfig(root=str(root), format="demo", tile_size=32, clicks=str(out)),
                      points=PointConfig(density=1.0))
    ids = training_ids(data)
    clicks = ClickSource(data, cfg, ids)
    names = data.classes.names
    expected = {(r["image"], int(r["y"]), int(r["x"])): names.index(r["class"]) for r in rows}
    learned = {}
    for k, i in enumerate(ids):
        p = clicks.points(k)
        for flat, label in zip(p.index.tolist(), p.label.tolist(), strict=True):
            learned[(data.entries[i].stem, *divmod(flat, p.width))] = label
    assert learned == expected, "the training labels are the answered clicks, not the (wrong) dense masks"
    assert main(["train", "--data", str(root), "--clicks", str(out), "--epochs", "1", "--crops-per-epoch", "8",
                 "--tile-size", "32", "--out", str(tmp_path / "run")]) == 0
    metrics = _rows(tmp_path / "run" / "metrics.csv")
    assert float(metrics[0]["clicks_per_image"]) == pytest.approx(4.0)
    # the rounds: the suggestions of a model trained on no clicks file are round 1; the run records them; the next
    # suggestions, of that run's model, are round 2, and their sidecar says where they came from
    side = json.loads((tmp_path / "suggested.csv.json").read_text())
    assert side["round"] == 1 and {r["round"] for r in rows} == {"1"} and side["clicks"] == len(rows)
    assert side["strategy"] == "margin" and side["answer_from_masks"] and side["model"]["round"] == 0
    record = json.loads((tmp_path / "run" / "clicks.json").read_text())
    assert record["round"] == 1 and record["clicks_by_round"] == {"1": len(rows)} and record["path"] == str(out)
    assert record["sha256"] == side["sha256"], "trained on the file as suggest wrote it"
    after = tmp_path / "next.geojson"
    assert main(["suggest", str(tmp_path / "run"), "--data", str(root), "--clicks-per-image", "2", "--out",
                 str(after), "--strategy", "random", "--seed", "3"]) == 0
    side = json.loads((tmp_path / "next.geojson.json").read_text())
    assert side["round"] == 2 and side["model"]["round"] == 1 and side["model"]["clicks_sha256"] == record["sha256"]
    assert side["clicks_so_far"]["path"] == str(out), "the clicks the model was trained on, taken as the clicks so far"
    assert {f["properties"]["round"] for f in json.loads(after.read_text())["features"]} == {2}
    with out.open("a") as f:  # the clicks file changes under the run: resuming it would mix two rounds
        f.write(f"{rows[0]['image']},0,0,road,,,,,,2\n")
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--epochs", "2"]) == 2
    assert "would mix two rounds" in capsys.readouterr().err


# --- a 4-band GeoTIFF ---------------------------------------------------------------------------------------------


def test_a_four_band_geotiff_gets_map_coordinates_and_no_click_on_no_data(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    root = tmp_path / "geo"
    (root / "images").mkdir(parents=True)
    (root / "semantic").mkdir()
    (root / "classes.yaml").write_text("classes:\n  - {name: ground, value: 0}\n  - {name: roof, value: 1}\n"
                                       "ignore: [255]\n")
    transform = from_origin(500000, 4500000, 0.5, 0.5)
    rng = np.random.default_rng(0)
    for k in range(3):
        mask = np.zeros((64, 64), np.uint8)
        mask[20:44, 20:44] = 1
        image = (np.array([900, 800, 700, 2500])[None, None] * (1 + mask[..., None]) + rng.normal(0, 60, (64, 64, 4))
                 ).astype(np.uint16)
        image[:, 48:] = 0  # no-data
        profile = {"driver": "GTiff", "height": 64, "width": 64, "crs": "EPSG:32633", "transform": transform}
        with rasterio.open(root / "images" / f"s{k}.tif", "w", count=4, dtype="uint16", nodata=0, **profile) as dst:
            dst.write(image.transpose(2, 0, 1))
        with rasterio.open(root / "semantic" / f"s{k}.tif", "w", count=1, dtype="uint8", **profile) as dst:
            dst.write(mask[None])
    classes = ClassDescription.load(root / "classes.yaml")
    model = _model_file(tmp_path / "m.pt", {}, in_channels=4, num_classes=2, classes=classes, mean=1500, std=800)
    geojson, table = tmp_path / "next.geojson", tmp_path / "next.csv"
    for out in (geojson, table):
        assert main(["suggest", str(model), "--data", str(root), "--part", "all", "--clicks-per-image", "6",
                     "--out", str(out), "--answer-from-masks", "--strategy", "margin"]) == 0
    doc = json.loads(geojson.read_text())
    assert doc["pointtune:coordinates"] == "map" and doc["crs"]["properties"]["name"] == "EPSG:32633"
    assert len(doc["features"]) == 18
    for f in doc["features"]:
        x, y = f["properties"]["x"], f["properties"]["y"]
        assert x < 48, "never on no-data pixels"
        assert f["geometry"]["coordinates"] == pytest.approx([500000 + 0.5 * (x + 0.5), 4500000 - 0.5 * (y + 0.5)])
    rows = _rows(table)
    assert [(float(r["map_x"]), float(r["map_y"])) for r in rows] == [tuple(f["geometry"]["coordinates"])
                                                                      for f in doc["features"]]
    refs = [ImageRef.of(f"s{k}", str(root / "images" / f"s{k}.tif")) for k in range(3)]
    for path in (geojson, table):
        clicks, problems = read_user_clicks(str(path), refs, classes)
        assert problems == [] and sum(c.count for c in clicks.values()) == 18
        back = {(s, *divmod(int(i), 64)) for s, c in clicks.items() for i in c.index}
        assert back == {(f["properties"]["image"], f["properties"]["y"], f["properties"]["x"])
                        for f in doc["features"]}, "the map coordinates land back on the suggested pixels"

"""Tests for the synthetic demo-data generator in ``trainable.data.demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from trainable.data.demo import DEMO_CLASSES, default_demo_dir, ensure_demo_data, generate_demo_data

SUBDIRS = ("images", "semantic", "instance")
INSTANCE_CLASSES = {DEMO_CLASSES.index(n) for n in ("building", "tree", "car")}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default-sized dataset shared by the read-only tests."""
    return generate_demo_data(tmp_path_factory.mktemp("demo"), seed=0)


def _load(folder: Path, sub: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted((folder / sub).glob("*.png"))]


def _decode(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout(demo_dir: Path) -> None:
    stems = {sub: sorted(p.stem for p in (demo_dir / sub).glob("*.png")) for sub in SUBDIRS}
    assert len(stems["images"]) == 24
    assert stems["images"][0] == "scene000" and stems["images"][-1] == "scene023"
    assert stems["images"] == stems["semantic"] == stems["instance"]
    with Image.open(demo_dir / "images" / "scene000.png") as im:
        assert (im.mode, im.size) == ("RGB", (128, 128))
    with Image.open(demo_dir / "semantic" / "scene000.png") as sem:
        assert (sem.mode, sem.size) == ("L", (128, 128))
    with Image.open(demo_dir / "instance" / "scene000.png") as inst:
        assert (inst.mode, inst.size) == ("RGB", (128, 128))


def test_custom_size_and_count(tmp_path: Path) -> None:
    out = generate_demo_data(tmp_path / "small", num_images=3, size=64, seed=5)
    assert out == tmp_path / "small"
    images = _load(out, "images")
    assert len(images) == 3 and all(im.shape == (64, 64, 3) for im in images)


def test_deterministic(tmp_path: Path) -> None:
    a = _snapshot(generate_demo_data(tmp_path / "a", num_images=4, seed=3))
    b = _snapshot(generate_demo_data(tmp_path / "b", num_images=4, seed=3))
    c = _snapshot(generate_demo_data(tmp_path / "c", num_images=4, seed=4))
    assert a == b
    assert a.keys() == c.keys()
    assert a["images/scene000.png"] != c["images/scene000.png"]
    assert a["semantic/scene000.png"] != c["semantic/scene000.png"]


def test_class_proportions(demo_dir: Path) -> None:
    sem = np.stack(_load(demo_dir, "semantic"))
    assert set(np.unique(sem)) <= set(range(len(DEMO_CLASSES))) | {255}
    share = {name: float(np.mean(sem == i)) for i, name in enumerate(DEMO_CLASSES)}
    assert all(v > 0 for v in share.values()), share
    assert 0.30 <= share["low_vegetation"] <= 0.60, share
    assert 0.10 <= share["road"] <= 0.30, share
    assert 0.07 <= share["building"] <= 0.25, share
    assert 0.05 <= share["tree"] <= 0.20, share
    assert 0.005 <= share["car"] <= 0.05, share
    assert share["water"] <= 0.20, share
    ignore = float(np.mean(sem == 255))
    assert 0 < ignore < 0.02


def test_instances(demo_dir: Path) -> None:
    max_id = 0
    for sem, enc in zip(_load(demo_dir, "semantic"), _load(demo_dir, "instance"), strict=True):
        ids = _decode(enc)
        assert np.all(ids[~np.isin(sem, list(INSTANCE_CLASSES))] == 0)
        for iid in np.unique(ids[ids > 0]):
            classes = np.unique(sem[ids == iid])
            assert len(classes) == 1 and int(classes[0]) in INSTANCE_CLASSES
        # every building/tree/car pixel belongs to some instance
        assert np.all(ids[np.isin(sem, list(INSTANCE_CLASSES))] > 0)
        max_id = max(max_id, int(ids.max()))
    assert max_id > 255


def test_images_follow_masks(demo_dir: Path) -> None:
    images, sems = np.stack(_load(demo_dir, "images")).astype(float), np.stack(_load(demo_dir, "semantic"))
    mean = {name: images[sems == i].mean(axis=0) for i, name in enumerate(DEMO_CLASSES)}
    assert mean["water"][2] > mean["water"][1] > mean["water"][0]  # blue-ish
    assert mean["tree"].sum() < mean["low_vegetation"].sum()  # canopy darker than grass
    assert mean["low_vegetation"][1] > mean["low_vegetation"][[0, 2]].max()  # green


def test_classes_yaml(demo_dir: Path) -> None:
    spec = yaml.safe_load((demo_dir / "classes.yaml").read_text(encoding="utf-8"))
    assert spec["mask_encoding"] == "index"
    assert spec["instance_encoding"] == "rgb"
    assert spec["group_pattern"] == r"^(scene\d+)"
    assert spec["ignore"] == [255]
    assert spec["exclude_from_mean"] == []
    assert [c["name"] for c in spec["classes"]] == list(DEMO_CLASSES)
    assert [c["value"] for c in spec["classes"]] == list(range(len(DEMO_CLASSES)))
    for entry in spec["classes"]:
        assert set(entry) == {"name", "value", "color"}
        assert len(entry["color"]) == 3 and all(0 <= v <= 255 for v in entry["color"])


def test_default_demo_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    assert default_demo_dir(7) == tmp_path / "demo-v1-seed7"
    monkeypatch.delenv("POINTTUNE_CACHE")
    assert default_demo_dir() == Path.home() / ".cache" / "pointtune" / "demo-v1-seed0"


def test_ensure_demo_data_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    first = ensure_demo_data(seed=2)
    assert first == tmp_path / "demo-v1-seed2"
    assert (first / ".complete").is_file()
    assert len(list((first / "images").glob("*.png"))) == 24
    probe = first / "images" / "scene000.png"
    mtime = probe.stat().st_mtime_ns
    assert ensure_demo_data(seed=2) == first
    assert probe.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["demo-v1-seed2"]  # no temp leftovers


def test_ensure_demo_data_regenerates_incomplete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POINTTUNE_CACHE", str(tmp_path))
    folder = ensure_demo_data(seed=0)
    reference = _snapshot(folder)
    (folder / ".complete").unlink()
    (folder / "images" / "scene003.png").unlink()  # a half-written folder
    (folder / "junk.txt").write_text("partial", encoding="utf-8")
    assert ensure_demo_data(seed=0) == folder
    assert _snapshot(folder) == reference


def test_a_demo_data_folder_is_taken_as_is_with_the_demo_settings(tmp_path: Path) -> None:
    """`pointtune demo-data DIR` then `run --data DIR`: the 128-px scenes get the demo's 64-px tiles and tiny
    backbone (real data's 256-px default tile would not fit them); a folder of one's own keeps the real defaults."""
    from search.cli.args_to_settings import search_settings_from_args
    from search.cli.main import build_parser
    from trainable.data.demo import is_demo_folder
    from trainable.data.index import build_index

    folder = generate_demo_data(tmp_path / "demo", num_images=6, size=128)
    assert is_demo_folder(folder) and not is_demo_folder(tmp_path)
    parser, _ = build_parser()
    settings = search_settings_from_args(parser.parse_args(["run", "--data", str(folder)]))
    assert (settings.base.data.tile_size, settings.base.model.backbone, settings.base.data.format) == (64, "tiny",
                                                                                                       None)
    build_index(settings.base.data)  # every scene fits the tile: no "smaller than --tile-size" problem
    (folder / "README.txt").unlink()
    settings = search_settings_from_args(parser.parse_args(["run", "--data", str(folder)]))
    assert settings.base.data.tile_size == 256 and settings.base.model.backbone == "resnet50"


def test_an_edited_classes_yaml_in_a_demo_folder_takes_effect(tmp_path: Path) -> None:
    """The demo folder keeps its marker (and the demo's settings), but its classes are its own classes.yaml's: an
    edit there is not silently replaced by the built-in demo classes."""
    from search.cli.args_to_settings import trial_config_from_args
    from search.cli.main import parse
    from trainable.data.index import DatasetError, build_index

    folder = generate_demo_data(tmp_path / "demo", num_images=4, size=64)
    classes = folder / "classes.yaml"
    classes.write_text(classes.read_text().replace("name: road", "name: street"))
    cfg, _ = trial_config_from_args(parse(["train", "--data", str(folder)]))
    assert cfg.data.tile_size == 64 and cfg.model.backbone == "tiny"
    index = build_index(cfg.data)
    assert index.classes.names[0] == "street" and index.classes.source == str(classes)
    classes.write_text(classes.read_text().replace("  - {name: low_vegetation, value: 2, color: [150, 210, 90]}\n",
                                                   ""))
    with pytest.raises(DatasetError, match="mask values 2 are not in the class description"):
        build_index(cfg.data)

"""Multi-band GeoTIFF data: read in windows, normalised per band, trained on, predicted to a GeoTIFF with its CRS;
and the checks cache, which re-checks only what changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from search.cli.main import main
from trainable.config import DataConfig, ModelConfig
from trainable.data.index import build_index, normalization
from trainable.data.sources import ImageSource
from trainable.learn.model import adapt_conv_weight, build_model, first_conv

rasterio = pytest.importorskip("rasterio", reason="GeoTIFF support is the optional extra pointtune[geo] (rasterio)")

CLASSES = "classes:\n  - {name: ground, value: 0}\n  - {name: roof, value: 1}\n  - {name: water, value: 2}\n" \
          "ignore: [255]\ngroup_pattern: '^(s\\d)_'\n"


def _write(path: Path, array: np.ndarray, crs: str = "EPSG:32633", origin: tuple[float, float] = (500000, 4500000)):
    from rasterio.transform import from_origin

    bands = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0],
                       dtype=str(array.dtype), crs=crs, transform=from_origin(*origin, 0.5, 0.5)) as dst:
        dst.write(bands)


def _scene(rng: np.random.Generator, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A 4-band uint16 scene (R, G, B, near infrared) whose classes show in its bands."""
    mask = np.zeros((size, size), np.uint8)
    mask[size // 3:, : size // 2] = 1
    mask[: size // 4, size // 2:] = 2
    base = np.array([[900, 800, 700, 2500], [2400, 2000, 1800, 1200], [300, 500, 900, 100]], np.float64)
    image = base[mask] + rng.normal(0, 60, (size, size, 4))
    return np.clip(image, 0, 65535).astype(np.uint16), mask


@pytest.fixture(scope="module")
def geo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("geo")
    (root / "images").mkdir()
    (root / "semantic").mkdir()
    (root / "classes.yaml").write_text(CLASSES)
    rng = np.random.default_rng(0)
    for k in range(8):
        image, mask = _scene(rng)
        _write(root / "images" / f"s{k // 2}_{k}.tif", image)
        _write(root / "semantic" / f"s{k // 2}_{k}.tif", mask)
    return root


def test_four_band_uint16_images_are_indexed_and_normalised_per_band(geo_dir: Path) -> None:
    index = build_index(DataConfig(root=str(geo_dir), tile_size=32))
    assert index.band_count == 4 and index.entries[0].record.dtype == "uint16"
    mean, std = normalization(index, "auto")  # not 8-bit RGB: the training split's own statistics
    pixels = np.concatenate([rasterio.open(index.entries[i].files.image).read().reshape(4, -1)
                             for i in index.split.train], axis=1)
    assert mean == pytest.approx(pixels.mean(1).tolist(), rel=1e-6)
    assert std == pytest.approx(pixels.std(1).tolist(), rel=1e-6)
    chosen = build_index(DataConfig(root=str(geo_dir), tile_size=32, bands=(4, 1)))
    assert chosen.band_count == 2
    with pytest.raises(ValueError, match="needs 3 bands"):
        normalization(index, "imagenet")


def test_windows_are_read_from_the_file_without_the_node_cache(geo_dir: Path, tmp_path: Path) -> None:
    from trainable.data.node_cache import NodeCache

    index = build_index(DataConfig(root=str(geo_dir), tile_size=32, bands=(2, 4)))
    cache = NodeCache(tmp_path / "node", bound=2**30)
    source = ImageSource(index.entries[3].files, 1.0, (2, 4), cache)
    whole = rasterio.open(index.entries[3].files.image).read([2, 4]).transpose(1, 2, 0)
    assert source.direct and np.array_equal(source.read(10, 20, 32, 40), whole[10:42, 20:60])
    assert not list(cache.root.glob("*/*.npy")), "a GeoTIFF without --resize is read in windows, not cached"
    resized = ImageSource(index.entries[3].files, 0.5, (2, 4), cache)
    assert not resized.direct and resized.read(0, 0, 48, 48).shape == (48, 48, 2)
    assert len(list(cache.root.glob("*/*.npy"))) == 1, "a resized one is decoded once into the node cache"


def test_a_widened_first_convolution_keeps_the_rgb_filters() -> None:
    rgb = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none"), 3).eval()
    state = rgb.state_dict()
    four = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none", in_channels=4), 3).eval()
    conv, _ = first_conv(four)
    conv.weight.data.copy_(adapt_conv_weight(first_conv(rgb)[0].weight.data, 4))
    four.load_state_dict({k: v for k, v in state.items() if "backbone.0.0" not in k}, strict=False)
    assert torch.equal(conv.weight[:, :3], first_conv(rgb)[0].weight) and not conv.weight[:, 3].any()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # an extra band starts silent: the widened network computes what the RGB one did
        assert torch.allclose(four(torch.cat([x, torch.randn(1, 1, 64, 64)], 1))["out"], rgb(x)["out"], atol=1e-5)
    assert adapt_conv_weight(torch.ones(2, 3, 1, 1), 1).flatten().tolist() == [3.0, 3.0]


def test_train_on_four_bands_then_predict_a_geotiff_that_keeps_its_crs(geo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(geo_dir), "--backbone", "tiny", "--tile-size", "32", "--epochs", "2",
                 "--lr", "1e-2", "--density", "0.05", "--crops-per-epoch", "48", "--out", str(out)]) == 0
    from trainable.learn.checkpoint import load_checkpoint

    state = load_checkpoint(out / "best.pt")
    assert state["config"]["model"]["in_channels"] == 4 and len(state["config"]["data"]["mean"]) == 4
    assert state["model"]["features.0.0.weight"].shape[1] == 4
    # the run's folder is a model: predict a larger scene than any tile, window by window
    scene, truth = _scene(np.random.default_rng(5), size=150)
    _write(tmp_path / "scene.tif", scene, crs="EPSG:32631", origin=(431000, 5411000))
    assert main(["predict", str(out), str(tmp_path / "scene.tif"), "--out", str(tmp_path / "pred")]) == 0
    with rasterio.open(tmp_path / "scene.tif") as src, rasterio.open(tmp_path / "pred" / "scene_classes.tif") as out_:
        assert out_.crs == src.crs and out_.transform == src.transform and (out_.width, out_.height) == (150, 150)
        classes = out_.read(1)
        assert out_.colormap(1)[1][:3] == tuple(state["classes"]["classes"][1]["color"])
    # the classes show in the bands: the trained model gets them right (measured 0.987-0.995; one class is 0.54)
    assert (classes == truth).mean() > 0.95, f"pixel accuracy {(classes == truth).mean():.3f} on an easy scene"
    with rasterio.open(tmp_path / "pred" / "scene_colour.tif") as colour:
        assert colour.count == 3 and colour.crs.to_epsg() == 32631


def test_the_checks_cache_rechecks_only_what_changed(geo_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import trainable.data.checks

    data = tmp_path / "data"
    shutil.copytree(geo_dir, data)
    checked: list[str] = []
    real = trainable.data.checks._check_one

    def counting(files, *args, **kwargs):
        checked.append(files.stem)
        return real(files, *args, **kwargs)

    monkeypatch.setattr(trainable.data.checks, "_check_one", counting)
    cfg = DataConfig(root=str(data), tile_size=32)
    first = build_index(cfg)
    assert len(checked) == 8
    checked.clear()
    assert build_index(cfg).entries == first.entries and checked == [], "nothing changed: nothing re-checked"
    image, _ = _scene(np.random.default_rng(9))
    _write(data / "images" / "s1_3.tif", image)  # one file changed (size and time)
    again = build_index(cfg)
    assert checked == ["s1_3"] and again.entries[3].record != first.entries[3].record
    bad = np.full((96, 96), 7, np.uint8)  # now a value that is no class: the check catches it
    _write(data / "semantic" / "s1_2.tif", bad)
    from trainable.data.index import DatasetError

    with pytest.raises(DatasetError, match=r"s1_2\.tif: mask values 7 are not in the class description"):
        build_index(cfg)

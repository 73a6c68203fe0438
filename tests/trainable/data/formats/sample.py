"""Writing tiny samples of public datasets in their exact layout and encoding (no third-party data is committed),
and the checks every format's test makes: pixel-by-pixel decoding, the split, stray values reported, a 1-epoch
``train`` whose epoch row, classes and bands are checked."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from search.cli.main import main
from search.launch.train import SUMMARY_KEYS
from trainable.config import IGNORE_INDEX, DataConfig, ModelConfig
from trainable.data.index import DatasetIndex, build_index
from trainable.data.sources import LabelSource
from trainable.learn.checkpoint import load_checkpoint
from trainable.learn.model import build_model

STRAY = (1, 2, 3)  # a colour (or value) that no format uses: must be counted and reported, never mapped


def class_layout(size: int, values: list, ignore, stray=None) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size) map of class indices covering every class (vertical bands), the ignore value in one corner
    and, if given, a stray value in another; and the raw mask that encodes it with ``values`` (colours or ints).

    Returns:
        (raw mask, expected class indices with ``IGNORE_INDEX`` on the ignore and stray pixels).
    """
    n = len(values)
    expected = (np.arange(size)[None, :].repeat(size, 0) * n // size).astype(np.uint8)
    colour = np.ndim(values[0]) > 0
    raw = np.zeros((size, size, 3) if colour else (size, size), np.uint8)
    for k, v in enumerate(values):
        raw[expected == k] = v
    if ignore is not None:
        raw[:3, :3] = ignore
        expected[:3, :3] = IGNORE_INDEX
    if stray is not None:
        raw[-2:, -2:] = stray
        expected[-2:, -2:] = IGNORE_INDEX
    return raw, expected


def noisy_image(expected: np.ndarray, bands: int = 3, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """An image whose pixels show their class (so a tiny CNN can learn something in one epoch)."""
    rng = np.random.default_rng(seed)
    base = (expected.astype(np.int64) * 37 + 20) % 230
    image = np.stack([base + 10 * b for b in range(bands)], axis=-1) + rng.integers(0, 15, (*expected.shape, bands))
    return image.clip(0, 255).astype(dtype)


def save(path: Path, array: np.ndarray) -> None:
    """A PNG/JPEG with PIL, a TIFF with rasterio when it is installed (else PIL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            import rasterio

            from trainable.data.rasters import has_rasterio

            has_rasterio()  # its warning filter: the sample TIFFs carry no georeference, as many label files
        except ImportError:
            Image.fromarray(array).save(path)
            return
        bands = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                           count=bands.shape[0], dtype=str(array.dtype)) as dst:
            dst.write(bands)
        return
    Image.fromarray(array).save(path, quality=100) if path.suffix.lower() == ".jpg" else Image.fromarray(array).save(
        path)


def check_format(root: Path, fmt: str, expected: dict[str, np.ndarray], parts: dict[str, str] | None,
                 tmp_path: Path, stray_files: int = 1, train_args: tuple[str, ...] = ()) -> None:
    """Decoding pixel by pixel, the official parts, the stray report, and a 1-epoch train on the sample (its epoch
    row, classes and bands: ``check_trained``).

    Args:
        expected: stem -> expected class indices.
        parts: stem -> "train"/"val"/"test" of the official split (None: the format has none).
        stray_files: how many masks hold a stray value (reported in the index's notes).
    """
    index = build_index(DataConfig(root=str(root), format=fmt, tile_size=16, val_fraction=0.25))
    assert sorted(index.stems) == sorted(expected), (sorted(index.stems), sorted(expected))
    for e in index.entries:
        mask = LabelSource(e.files, index.classes, 1.0).array()
        assert np.array_equal(mask, expected[e.stem]), f"{e.stem} decoded wrong"
    if stray_files:
        note = " ".join(index.notes)
        assert f"in {stray_files} file(s) hold values in no class" in note and "ignored, not mapped" in note, note
    if parts is not None:
        found = {index.entries[i].stem: role for role in ("train", "val", "test") for i in index.split.part(role)}
        tests = {s for s, p in parts.items() if p == "test"}
        assert {s for s, r in found.items() if r == "test"} == tests, "the official test part is kept for evaluate"
        official_val = {s for s, p in parts.items() if p == "val"}
        if official_val:
            assert {s for s, r in found.items() if r == "val"} == official_val, "the official validation part"
        else:
            assert all(parts[s] == "train" for s, r in found.items() if r == "val"), \
                "validation is carved from the official training part"
        assert all(parts[s] == "train" for s, r in found.items() if r == "train")
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--format", fmt, "--backbone", "tiny", "--tile-size", "16",
                 "--epochs", "1", "--crops-per-epoch", "16", "--density", "0.2", "--val-fraction", "0.25",
                 *train_args, "--out", str(out)]) == 0
    check_trained(out, fmt, index)


def check_trained(out: Path, fmt: str, index: DatasetIndex) -> None:
    """A 1-epoch ``train`` folder: its epoch row (epoch 1, every metric finite, a validation F1 per class), and a
    model that reads the format's bands and predicts its classes."""
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and int(rows[0]["epoch"]) == 1, rows
    row = rows[0]
    for key in SUMMARY_KEYS:
        assert math.isfinite(float(row[key])), f"{key} is {row[key]}"
    assert all(0 <= float(row[k]) <= 1 for k in ("val_oa", "val_f1", "val_miou", "train_f1"))
    assert {f"val_f1_{name}" for name in index.classes.names} <= set(row), "a validation F1 per class"
    state = load_checkpoint(out / "best.pt")
    assert state["epoch"] == 1 and state["config"]["data"]["format"] == fmt
    assert [c["name"] for c in state["classes"]["classes"]] == list(index.classes.names)
    assert tuple(state["config"]["data"]["bands"]) == index.bands
    bands, num_classes = index.band_count, index.classes.num_classes
    assert state["config"]["model"]["in_channels"] == bands
    model = build_model(ModelConfig(**state["config"]["model"]), num_classes)
    model.load_state_dict(state["model"])  # strict: the saved weights are a network of these bands and classes
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, bands, 16, 16))["out"].shape == (1, num_classes, 16, 16)

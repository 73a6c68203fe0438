"""``pointtune predict``: seamless tiled inference with a model (``search/model/source.py``) over images of any size.

A scene is processed block by block (``trainable.learn.tiled``: ``BLOCK`` pixels a side, each read with a margin of
half a tile so that blocks meet without seams), so no full-scene float array is ever made: a GeoTIFF is read in
windows and written in windows, as GeoTIFFs with the input's CRS and transform; PNG and JPEG in, PNG out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from search.errors import SearchError
from search.model.model_file import read_export
from search.model.source import resolve_model
from trainable.config import ModelConfig
from trainable.data.index import IMAGENET_MEAN, IMAGENET_STD
from trainable.data.rasters import has_rasterio, is_tiff, raster_info, read_image, read_window
from trainable.data.tiles import Normalizer
from trainable.defaults import default
from trainable.learn.model import build_model
from trainable.learn.tiled import BLOCK, blend_window, blocks, predict_blocks, predict_probabilities  # noqa: F401
from trainable.trial import pick_device

# BLOCK, blend_window, blocks and predict_probabilities live in trainable.learn.tiled (a trial's pseudo-labels use
# them too); they are named here as well for the callers of this module (suggest)

def model_from_payload(meta: dict[str, Any]) -> nn.Module:
    """The network of an export, in eval mode."""
    model = build_model(ModelConfig(backbone=meta["backbone"], weights="none",
                                    in_channels=int(meta.get("in_channels", 3))), meta["num_classes"])
    model.load_state_dict(meta["model"])
    return model.eval()


def normalizer_of_export(meta: dict[str, Any]) -> Normalizer:
    """The normalisation the model was trained with (exports before per-band statistics: ImageNet on 8-bit RGB)."""
    norm = meta.get("normalization", {})
    mean, std = norm.get("mean"), norm.get("std")
    if not mean or max(mean) < 1.0:  # the first exports stored ImageNet's statistics on the [0, 1] scale
        mean, std = [m * 255 for m in IMAGENET_MEAN], [s * 255 for s in IMAGENET_STD]
    return Normalizer(mean, std)


def load_exported(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network of a model file and the file's contents."""
    meta = read_export(path)
    return model_from_payload(meta), meta


def predict_array(model: nn.Module, image: np.ndarray, tile: int, num_classes: int, device: torch.device,
                  batch_size: int = default("batch_size"), normalizer: Normalizer | None = None) -> np.ndarray:
    """(H, W, B) pixels -> (H, W) uint8 class indices from half-overlapping tiles with blended probabilities."""
    probs = predict_probabilities(model, image, tile, num_classes, device, batch_size, normalizer)
    return probs.argmax(0).numpy().astype(np.uint8)


def predict_scene(read: Any, height: int, width: int, write: Any, model: nn.Module, meta: dict[str, Any],
                  device: torch.device, batch_size: int, probabilities: bool = False) -> None:
    """Predict a scene block by block with a model file's tile size, resize and normalisation
    (``trainable.learn.tiled.predict_blocks``): ``read(y, x, h, w)`` gives pixels, ``write(y, x, classes)`` takes
    the (h, w) uint8 class indices of the block at (y, x), or with ``probabilities`` its (C, h, w) float32 class
    probabilities."""
    predict_blocks(read, height, width, write, model, int(meta["tile_size"]), meta["num_classes"], device, batch_size,
                   normalizer_of_export(meta), float(meta.get("resize", 1.0)), probabilities)


def _predict_geotiff(path: str, out_dir: Path, model: nn.Module, meta: dict[str, Any], device: torch.device,
                     batch_size: int, palette: np.ndarray) -> list[Path]:
    """A GeoTIFF in windows -> STEM_classes.tif (class indices, with a colour map) and STEM_colour.tif (RGB), both
    with the input's CRS and transform."""
    import rasterio

    bands = tuple(meta.get("bands", ())) or None
    targets = [out_dir / f"{Path(path).stem}_classes.tif", out_dir / f"{Path(path).stem}_colour.tif"]
    with rasterio.open(path) as src:
        profile = {"driver": "GTiff", "height": src.height, "width": src.width, "crs": src.crs,
                   "transform": src.transform, "dtype": "uint8", "compress": "deflate", "tiled": True,
                   "blockxsize": 256, "blockysize": 256}
        with rasterio.open(targets[0], "w", count=1, **profile) as classes_out, \
                rasterio.open(targets[1], "w", count=3, photometric="RGB", **profile) as colour_out:
            def write(y: int, x: int, classes: np.ndarray) -> None:
                from rasterio.windows import Window

                window = Window(x, y, classes.shape[1], classes.shape[0])
                classes_out.write(classes[None], window=window)
                colour_out.write(palette[classes].transpose(2, 0, 1), window=window)

            predict_scene(lambda y, x, h, w: read_window(path, y, x, h, w, bands, handle=src), src.height,
                          src.width, write, model, meta, device, batch_size)
            classes_out.write_colormap(1, {i: (*map(int, c), 255) for i, c in enumerate(palette)})
    return targets


def _predict_image(path: str, out_dir: Path, model: nn.Module, meta: dict[str, Any], device: torch.device,
                   batch_size: int, palette: np.ndarray) -> list[Path]:
    """A PNG/JPEG (or a TIFF without rasterio) -> STEM_classes.png and STEM_colour.png."""
    image = read_image(path, tuple(meta.get("bands", ())) or None)
    classes = np.zeros(image.shape[:2], np.uint8)

    def write(y: int, x: int, block: np.ndarray) -> None:
        classes[y:y + block.shape[0], x:x + block.shape[1]] = block

    predict_scene(lambda y, x, h, w: image[y:y + h, x:x + w], image.shape[0], image.shape[1], write, model, meta,
                  device, batch_size)
    targets = [out_dir / f"{Path(path).stem}_classes.png", out_dir / f"{Path(path).stem}_colour.png"]
    Image.fromarray(classes).save(targets[0])
    Image.fromarray(palette[classes]).save(targets[1])
    return targets


def output_folder(out: str | Path, make: bool = True) -> Path:
    """``--out``, made if needed (``make``).

    Raises:
        SearchError: it names a file, or cannot be made.
    """
    out_dir = Path(out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise SearchError(f"--out {out} is a file: give a folder for the masks (it is made if needed)")
    if not make:
        return out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SearchError(f"cannot make the --out folder {out} ({type(e).__name__}: {e})") from None
    return out_dir


def predict_files(model_arg: str, images: list[str], out: str, device_name: str = "auto",
                  batch_size: int = default("batch_size"),
                  progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Class indices and colours for each image (GeoTIFF for GeoTIFF input, PNG otherwise) with the model that
    ``model_arg`` names (``resolve_model``), at its tile size, resize, bands and normalisation; returns the paths.
    ``progress(images done, images)`` is told after each image."""
    output_folder(out, make=False)  # a file there: said before the model is read
    meta = resolve_model(model_arg).payload
    out_dir = output_folder(out)
    model = model_from_payload(meta)
    device = pick_device(device_name)
    model.to(device)
    palette = np.array(meta["class_colours"], dtype=np.uint8)
    written: list[Path] = []
    for done, name in enumerate(images, 1):
        try:
            info = raster_info(str(Path(name).expanduser()))
        except Exception as e:  # noqa: BLE001  missing, truncated, not an image
            raise SearchError(f"cannot read image {name} ({type(e).__name__}: {e})") from None
        bands = len(meta.get("bands", ())) or info.bands
        if bands != int(meta.get("in_channels", 3)):
            raise SearchError(f"{name} has {bands} band(s) but the model takes {meta.get('in_channels', 3)}: give "
                              "images like those it was trained on")
        predict = _predict_geotiff if is_tiff(name) and has_rasterio() else _predict_image
        try:
            written += predict(str(Path(name).expanduser()), out_dir, model, meta, device, batch_size, palette)
        except OSError as e:
            raise SearchError(f"cannot read image {name} ({type(e).__name__}: {e})") from None
        if progress is not None:
            progress(done, len(images))
    return written

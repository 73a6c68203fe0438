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
from PIL.PngImagePlugin import PngInfo
from torch import nn

from search.errors import SearchError
from search.model.model_file import read_export
from search.model.source import model_inputs, resolve_model
from search.outputs import SOFTWARE, plan_files_in, plan_folder, record_written
from trainable.config import ModelConfig
from trainable.data import storage
from trainable.data.index import IMAGENET_MEAN, IMAGENET_STD
from trainable.data.rasters import has_rasterio, is_tiff, raster_info, read_image, read_window
from trainable.data.tiles import Normalizer
from trainable.defaults import default
from trainable.errors import CheckpointError
from trainable.learn.model import build_model
from trainable.learn.tiled import BLOCK, blend_window, blocks, predict_blocks, predict_probabilities  # noqa: F401
from trainable.trial import pick_device

# BLOCK, blend_window, blocks and predict_probabilities live in trainable.learn.tiled (a trial's pseudo-labels use
# them too); they are named here as well for the callers of this module (suggest)

def model_from_payload(meta: dict[str, Any]) -> nn.Module:
    """The network of an export, in eval mode."""
    model = build_model(ModelConfig(backbone=meta["backbone"], weights="none",
                                    in_channels=int(meta.get("in_channels", 3))), meta["num_classes"])
    try:
        model.load_state_dict(meta["model"])
    except RuntimeError as e:  # weights of another network, or of another number of classes or bands
        raise CheckpointError(f"the model file's weights do not fit its {meta['backbone']} of "
                              f"{meta['num_classes']} classes and {meta.get('in_channels', 3)} band(s) (a file "
                              f"damaged or edited: {str(e).splitlines()[0]}); export the model again") from None
    return model.eval()


def export_statistics(meta: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The per-band mean and std the model was trained with, in the files' units (exports before per-band
    statistics: ImageNet's on 8-bit RGB)."""
    norm = meta.get("normalization", {})
    mean, std = norm.get("mean"), norm.get("std")
    if not mean or max(mean) < 1.0:  # the first exports stored ImageNet's statistics on the [0, 1] scale
        mean, std = [m * 255 for m in IMAGENET_MEAN], [s * 255 for s in IMAGENET_STD]
    return list(mean), list(std)


def normalizer_of_export(meta: dict[str, Any]) -> Normalizer:
    """The normalisation the model was trained with (``export_statistics``), and its per-tile standardisation."""
    return Normalizer(*export_statistics(meta), bool(meta.get("normalization", {}).get("standardize", False)))


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
    targets = mask_names(path, out_dir)
    with rasterio.open(path) as src, storage.replacing(targets[0]) as classes_tmp, \
            storage.replacing(targets[1]) as colour_tmp:
        profile = {"driver": "GTiff", "height": src.height, "width": src.width, "crs": src.crs,
                   "transform": src.transform, "dtype": "uint8", "compress": "deflate", "tiled": True,
                   "blockxsize": 256, "blockysize": 256}
        with rasterio.open(classes_tmp, "w", count=1, **profile) as classes_out, \
                rasterio.open(colour_tmp, "w", count=3, photometric="RGB", **profile) as colour_out:
            for written in (classes_out, colour_out):
                written.update_tags(TIFFTAG_SOFTWARE=SOFTWARE.format(kind="predict"))
            def write(y: int, x: int, classes: np.ndarray) -> None:
                from rasterio.windows import Window

                window = Window(x, y, classes.shape[1], classes.shape[0])
                classes_out.write(classes[None], window=window)
                colour_out.write(palette[classes].transpose(2, 0, 1), window=window)

            predict_scene(lambda y, x, h, w: read_window(path, y, x, h, w, bands, handle=src), src.height,
                          src.width, write, model, meta, device, batch_size)
            classes_out.write_colormap(1, {i: (*map(int, c), 255) for i, c in enumerate(palette)})
    for target in targets:
        record_written(target)
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
    targets = mask_names(path, out_dir)
    info = PngInfo()
    info.add_text("Software", SOFTWARE.format(kind="predict"))
    for target, pixels in zip(targets, (classes, palette[classes]), strict=True):
        with storage.replacing(target) as tmp:
            Image.fromarray(pixels).save(tmp, pnginfo=info)
        record_written(target)
    return targets


def mask_names(image: str, out_dir: Path) -> list[Path]:
    """The class-index and colour masks ``predict`` writes for ``image``: GeoTIFF for a GeoTIFF (with rasterio),
    PNG otherwise."""
    suffix = ".tif" if is_tiff(image) and has_rasterio() else ".png"
    return [out_dir / f"{Path(image).stem}_classes{suffix}", out_dir / f"{Path(image).stem}_colour{suffix}"]


def predict_files(model_arg: str, images: list[str], out: str, device_name: str = default("device"),
                  batch_size: int = default("batch_size"), progress: Callable[[int, int], None] | None = None,
                  adapt: tuple[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None) -> list[Path]:
    """Class indices and colours for each image (GeoTIFF for GeoTIFF input, PNG otherwise) with the model that
    ``model_arg`` names (``resolve_model``), at its tile size, resize, bands and normalisation; returns the paths.
    ``progress(images done, images)`` is told after each image. ``adapt``: a folder of images and what adapts the
    model's contents to them before it predicts (``--adapt-bn``: ``search.model.adapt.adapted``, which the command
    gives: that module imports this one)."""
    device = pick_device(device_name)  # said before a model of hundreds of MB is read, as is a wrong --out
    reads = [("the model", model_arg), *([("the folder of images BatchNorm adapts to", adapt[0])] if adapt else [])]
    plan_masks(out, images, reads)
    meta = resolve_model(model_arg).payload
    out_dir = plan_masks(out, images, [*reads, *model_inputs(model_arg, meta)])
    for name in images:  # every image readable, with the model's bands, before anything is written
        check_image(name, meta)
    if adapt is not None:
        meta = adapt[1](meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model_from_payload(meta)
    model.to(device)
    palette = np.array(meta["class_colours"], dtype=np.uint8)
    written: list[Path] = []
    for done, name in enumerate(images, 1):
        predict = _predict_geotiff if is_tiff(name) and has_rasterio() else _predict_image
        try:
            written += predict(str(Path(name).expanduser()), out_dir, model, meta, device, batch_size, palette)
        except OSError as e:
            raise SearchError(f"cannot read image {name} ({type(e).__name__}: {e})") from None
        if progress is not None:
            progress(done, len(images))
    return written


def check_image(name: str, meta: dict[str, Any]) -> None:
    """An image ``predict`` can segment with the model: readable, with the bands the model reads.

    Raises:
        SearchError: naming the image and what is wrong.
    """
    try:
        info = raster_info(str(Path(name).expanduser()))
    except Exception as e:  # noqa: BLE001  missing, truncated, not an image
        raise SearchError(f"cannot read image {name} ({type(e).__name__}: {e})") from None
    wanted, bands = int(meta.get("in_channels", 3)), tuple(meta.get("bands", ()))
    if bands and max(bands) > info.bands:
        raise SearchError(f"{name} has {info.bands} band(s), but the model reads bands {list(bands)}: give images "
                          "like those it was trained on")
    if not bands and info.bands != wanted:
        raise SearchError(f"{name} has {info.bands} band(s), but the model takes {wanted}: give images like those "
                          "it was trained on")
    check_scale(name, info, meta)


def check_scale(name: str, info: Any, meta: dict[str, Any]) -> None:
    """Pixels in the range the model was trained on: an image of reflectances in [0, 1] given to a model of 8-bit
    images (normalised with means of about 100) would be segmented into nonsense without a word.

    Raises:
        SearchError: naming the image, its range and the model's.
    """
    trained_mean = max(export_statistics(meta)[0])
    if not info.dtype.startswith("float") or trained_mean <= 2.0:
        return
    side = min(info.height, info.width, 512)
    pixels = read_window(name, 0, 0, side, side) if is_tiff(name) and has_rasterio() else read_image(name)
    if float(np.nanmax(pixels)) <= 1.0:
        raise SearchError(f"{name} holds values in [0, 1] ({info.dtype}), but the model was trained on values up to "
                          f"about 255 (its mean per band is up to {trained_mean:.0f}): scale the image to the range "
                          "of the images it was trained on")


def plan_masks(out: str, images: list[str], reads: list[tuple[str, str | None]]) -> Path:
    """``--out`` checked as an output folder (``search.outputs``) and every mask it will hold as a new file or one
    ``predict`` wrote before; two images of one name would write the same masks.

    Raises:
        SearchError: naming the path or the images.
    """
    stems: dict[str, str] = {}
    for name in images:
        if (other := stems.setdefault(Path(name).stem, name)) != name:
            raise SearchError(f"{other} and {name} have the same name: their masks would be the same files in --out; "
                              "predict them into two folders")
    reads = [*reads, *(("an image to segment", name) for name in images)]
    out_dir = plan_folder(out, "--out", "predict", reads)
    plan_files_in(out_dir, [p.name for name in images for p in mask_names(name, out_dir)], "--out", "predict",
                  reads)
    return out_dir

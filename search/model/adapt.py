"""AdaBN (``--adapt-bn DIR``): a model's BatchNorm statistics re-estimated on the images of a folder, without labels,
before it predicts (Li et al. 2016, *Revisiting batch normalization for practical domain adaptation*).

The folder's images (in ``DIR`` or ``DIR/images/``) are read as the model was trained (bands, resize, normalisation
and standardisation, tile size) and cut into the grid ``evaluate`` scores, every pixel once. Every BatchNorm's
running statistics are reset and averaged with equal weight over all those batches
(``trainable.learn.loop.recalibrate_batchnorm``, which also re-estimates them on training batches before each
validation). Only the running means and variances (and their batch counts) change: no weight, no bias. The model's
contents then hold the new statistics and say where they come from (``adapted_bn``); ``train`` and ``run`` keep
them in the model file they score on the test part.

Whether it helps is measured, not assumed: ``benchmarks/cross_site.py`` (README, "Another site").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from search.errors import SearchError
from trainable.data import storage
from trainable.data.layout import ImageFiles, image_only_files
from trainable.defaults import default

FLAG = "--adapt-bn"


def _size(image: str, resize: float) -> tuple[int, int]:
    from trainable.data.rasters import raster_info

    info = raster_info(image)
    return max(1, round(info.height * resize)), max(1, round(info.width * resize))


def adaptation_images(folder: str, meta: dict[str, Any], flag: str = FLAG) -> list[ImageFiles]:
    """The images of ``folder`` (in it, or in its ``images/``), each readable with the bands the model reads, at the
    model's scale and at least one tile in size. ``meta``: a model file's contents (or as much of them: ``bands``,
    ``in_channels``, ``normalization``, ``tile_size``, ``resize``).

    Raises:
        SearchError: naming the folder or the image and what to do.
    """
    from search.model.predict import check_image

    if not storage.is_dir(folder):
        raise SearchError(f"{flag} {folder} is not a folder: give a folder of images of the site to adapt to (in it, "
                          "or in its images/ folder)")
    files, problems = image_only_files(folder, part="adaptation")
    problems = [p for p in problems if "has no image files" not in p]
    if problems:
        raise SearchError(f"{flag} {folder}: {problems[0]}" + (f" (and {len(problems) - 1} more)"
                                                                  if len(problems) > 1 else ""))
    if not files:
        raise SearchError(f"{flag} {folder} holds no image (.png, .jpg, .tif): give a folder of images of the site to "
                          "adapt to, with the bands of the model's")
    tile, resize = int(meta["tile_size"]), float(meta.get("resize", 1.0))
    for f in files:
        try:
            check_image(f.image, meta)
        except SearchError as e:
            raise SearchError(f"{flag}: {e}") from None
        if min(_size(f.image, resize)) < tile:
            raise SearchError(f"{flag}: {f.image} is smaller than the model's tile ({tile} px"
                              f"{f' at resize {resize:g}' if resize != 1 else ''}): give larger images")
    return files


def adaptation_flag(data: Any) -> str:
    """The flag that named a run's adaptation folder (``DataConfig.adaptation_folder``), for its messages."""
    return FLAG if data.adapt_bn else "--unlabeled-images"


def adaptation_meta(cfg: Any) -> dict[str, Any]:
    """What ``adaptation_images`` checks a folder against, from a run's resolved config (before any model exists)."""
    return {"bands": list(cfg.data.bands), "in_channels": cfg.model.in_channels, "tile_size": cfg.data.tile_size,
            "resize": cfg.data.resize, "normalization": {"mean": list(cfg.data.mean), "std": list(cfg.data.std)}}


def adapted(payload: dict[str, Any], folder: str, device_name: str = "auto", batch_size: int = default("batch_size"),
            progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """A copy of a model file's contents whose BatchNorm running statistics are re-estimated on the images of
    ``folder`` (the module docstring), with ``adapted_bn``: the folder, its images, tiles and batches.

    Raises:
        SearchError: the folder's images cannot serve (``adaptation_images``), or give no batch of two tiles.
    """
    from torch.utils.data import DataLoader

    from search.model.predict import model_from_payload, normalizer_of_export
    from trainable.data.sources import ImageSource
    from trainable.data.tiles import GridTiles
    from trainable.learn.loop import recalibrate_batchnorm
    from trainable.learn.run_record import cpu_copy
    from trainable.trial import pick_device

    files = adaptation_images(folder, payload)
    device = pick_device(device_name)
    resize, bands = float(payload.get("resize", 1.0)), tuple(payload.get("bands", ()))
    tiles = GridTiles([ImageSource(f, resize, bands) for f in files], [None] * len(files),
                      [_size(f.image, resize) for f in files], normalizer_of_export(payload),
                      int(payload["tile_size"]))
    loader = DataLoader(tiles, batch_size=batch_size)
    model = model_from_payload(payload).to(device)
    if progress is not None:
        progress(0, len(files))
    used = recalibrate_batchnorm(model, loader, device, len(loader))
    if progress is not None:
        progress(len(files), len(files))
    if used == 0:
        raise SearchError(f"{FLAG} {folder}: its {len(files)} image(s) make {len(tiles)} tile(s) of "
                          f"{payload['tile_size']} px, and re-estimating BatchNorm statistics needs batches of two or "
                          "more: give more or larger images, or a --batch-size of 2 or more")
    out = copy.copy(payload)
    out["model"] = cpu_copy(model.state_dict())
    out["adapted_bn"] = {"folder": folder, "images": len(files), "tiles": len(tiles), "batches": used}
    return out


def adaptation_note(payload: dict[str, Any]) -> str | None:
    """A line saying the model's BatchNorm statistics are those of another folder's images, or None."""
    done = payload.get("adapted_bn")
    if not done:
        return None
    return (f"the model's BatchNorm statistics are re-estimated on the {done['images']} image(s) of {done['folder']} "
            f"({FLAG})")

"""Users' clicks as a folder of sparse label rasters (``.png``, ``.tif``, ``.tiff``, ``.bmp``), one per image with the
image's stem. A clicked pixel holds its class's mask value, decoded with the class description as dense masks are
(class indices or grey levels for ``mask_encoding: index``, colours for ``rgb``); every other pixel holds the
background:

- index encoding: ``ignore_value`` (255 by default) or one of the description's ignore values. Any other value that
  is no class is reported (a click of an unknown class). ``ignore_value`` may not be a class's value.
- colour encoding: a pixel is a click when its colour is a class colour. Black, the grey ``(ignore_value,) * 3``
  (white by default) and the description's ignore colours are background, except those that are a class's colour
  (Potsdam's "impervious surfaces" is white: paint its clicks on black). Any other colour is reported: a stray
  colour is more likely a click painted with the wrong colour than background. An alpha channel is dropped (a
  transparent pixel counts by its colour, which is black in most painting programs).

A raster must have its image's size in pixels. Its clicks come in row-major order (a raster holds no annotation
order). A raster labelling more than ``MAX_LABELLED_SHARE`` of its pixels is reported: that is a dense mask (or a
canvas painted in a class's colour), not clicks. Rasters give no object ids.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import PurePosixPath

import numpy as np

from trainable.config import IGNORE_INDEX
from trainable.data import storage
from trainable.data.classes import ClassDescription, describe_values
from trainable.data.layout import MASK_SUFFIXES
from trainable.data.rasters import read_mask_raw
from trainable.data.sources import decode_mask
from trainable.data.user_clicks_checks import Collected, ImageRef, Problems

RASTER_SUFFIXES = MASK_SUFFIXES
MAX_LABELLED_SHARE = 0.5  # a sparse label raster labelling more of its pixels is a dense mask, not clicks


def _background(classes: ClassDescription, ignore_value: int) -> tuple[ClassDescription | None, str | None]:
    """The description with the rasters' background among its ignore values, or a problem."""
    if classes.mask_encoding == "rgb":
        grey = (ignore_value << 16) | (ignore_value << 8) | ignore_value if 0 <= ignore_value <= 255 else 0
        extra = tuple(v for v in (0, grey) if v not in classes.values and v not in classes.ignore_values)
    else:
        if ignore_value in classes.values:
            name = classes.names[classes.values.index(ignore_value)]
            return None, (f"ignore value {ignore_value} (the background of sparse label rasters) is the value of "
                          f"class {name!r}; give the rasters another background value and pass it as ignore value")
        extra = () if ignore_value in classes.ignore_values else (ignore_value,)
    return dataclasses.replace(classes, ignore_values=classes.ignore_values + tuple(dict.fromkeys(extra))), None


def read_rasters(folder: str, out: Collected, classes: ClassDescription, ignore_value: int,
                 problems: Problems) -> None:
    """The clicks of every raster in ``folder`` named like an image, into ``out``; what is wrong, into ``problems``."""
    desc, trouble = _background(classes, ignore_value)
    if desc is None:
        problems.add(folder, "", trouble or "", "background")
        return
    per_stem: dict[str, list[str]] = defaultdict(list)
    for f in storage.list_files(folder):
        if PurePosixPath(f).suffix.lower() in RASTER_SUFFIXES:
            per_stem[PurePosixPath(f).stem].append(f)
    for stem, files in per_stem.items():
        path = files[0]
        if len(files) > 1:
            problems.add(path, "", f"{len(files)} rasters are named {stem} ({', '.join(files)}); keep one",
                         "duplicate")
            continue
        ref = out.refs.get(stem)
        if ref is None:
            problems.add(path, "", f"no image is named {stem} among {out.describe_images()}; name the raster "
                         "like its image or remove it", "unknown image")
            continue
        decoded = _labels(path, ref, desc, ignore_value, problems)
        if decoded is None:
            continue
        flat = np.flatnonzero(decoded.ravel() != IGNORE_INDEX)
        if flat.size > MAX_LABELLED_SHARE * decoded.size:
            problems.add(path, "", f"labels {flat.size} of {decoded.size} pixels: a dense mask (or a background "
                         "painted in a class's value), not clicks; leave unclicked pixels at the background "
                         f"({'black or grey ' if desc.mask_encoding == 'rgb' else ''}{ignore_value})", "dense")
            continue
        rows, cols = np.divmod(flat, ref.orig_width)
        out.add(stem, rows, cols, decoded.ravel()[flat], None)


def _labels(path: str, ref: ImageRef, desc: ClassDescription, ignore_value: int,
            problems: Problems) -> np.ndarray | None:
    """The raster's class indices (``IGNORE_INDEX`` off the clicks), or None when it cannot be used (a problem
    says why); pixels of values in no class are reported and left out."""
    try:
        raw = read_mask_raw(path)
    except Exception as e:  # noqa: BLE001  PIL and rasterio raise OSError, SyntaxError, RasterioIOError ...
        problems.add(path, "", f"cannot read this raster ({type(e).__name__}: {e}); re-export or remove it",
                     "unreadable")
        return None
    if raw.shape[:2] != (ref.orig_height, ref.orig_width):
        problems.add(path, "", f"raster is {raw.shape[1]}x{raw.shape[0]} but its image {ref.image} is "
                     f"{ref.orig_width}x{ref.orig_height}; a click raster must match its image pixel for pixel",
                     "size")
        return None
    try:
        decoded, unknown, stray = decode_mask(desc.prepare_raw(raw), desc)
    except ValueError as e:
        problems.add(path, "", str(e), "encoding")
        return None
    if unknown.size:
        background = (f"black, grey {ignore_value} or an ignore colour" if desc.mask_encoding == "rgb"
                      else f"{ignore_value} or an ignore value")
        problems.add(path, "", f"{stray} pixel(s) hold values in no class ({describe_values(unknown, desc)}): "
                     f"not used as clicks; a clicked pixel holds its class's value in the class description "
                     f"({desc.source}), every other pixel the background ({background})", "unknown class")
    return decoded

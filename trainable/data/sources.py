"""Where a trial reads an image's pixels, mask and instance ids: windows, never the whole dataset in memory.

An image is read in windows straight from its GeoTIFF (rasterio) when no ``--resize`` applies; otherwise (PNG,
JPEG, a resized TIFF, a TIFF without rasterio) it is decoded once per node into the node cache, whose files are
read in windows. Masks are decoded to class indices once per node (1 byte per pixel), instance ids too. The cache
keys are made here, from the files' sizes and times and every setting the decode depends on, so the driver's checks
can fill the cache the trials read.
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np

from trainable.config import IGNORE_INDEX
from trainable.data.classes import ClassDescription, decode_instances, decode_semantic
from trainable.data.layout import ImageFiles
from trainable.data.node_cache import NodeCache, NpyFile, key_of
from trainable.data.rasters import file_key, has_rasterio, is_tiff, read_image, read_mask_raw, read_window, resize_array
from trainable.errors import DatasetError

ROWS_PER_BLOCK = 256  # masks are decoded to class indices in blocks of rows: bounded temporaries


def _readable(what: str, path: str, make: Any) -> Any:
    """``make()``, with a read failure turned into an error that says which node and what to do."""
    try:
        return make()
    except OSError as e:
        raise DatasetError(path, [f"{path}: this {what} cannot be read on node {socket.gethostname()} "
                                  f"({type(e).__name__}: {e}); every node that runs trials must see --data at the "
                                  "same path (a shared mount, or a URI such as s3://...), and files must not change "
                                  "during a search"]) from None


def image_key(files: ImageFiles, resize: float, bands: tuple[int, ...]) -> str:
    return key_of("image", file_key(files.image), resize, bands)


def mask_key(files: ImageFiles, classes: ClassDescription, resize: float) -> str:
    return key_of("mask", file_key(files.mask), resize, classes.fingerprint)


def instance_key(files: ImageFiles, classes: ClassDescription, resize: float) -> str:
    return key_of("instance", file_key(files.instance), resize, classes.instance_encoding)


def decode_image(files: ImageFiles, resize: float, bands: tuple[int, ...]) -> np.ndarray:
    """``(H, W, B)`` pixels of the chosen bands, resized."""
    return resize_array(read_image(files.image, bands or None), resize, nearest=False)


def decode_mask(raw: np.ndarray, classes: ClassDescription) -> tuple[np.ndarray, np.ndarray, int]:
    """Class indices (``IGNORE_INDEX`` on ignored pixels and on values in no class), the values in no class and how
    many pixels hold them, block by block of rows."""
    out = np.empty(raw.shape[:2], np.uint8)
    unknown, count = [], 0
    for y in range(0, raw.shape[0], ROWS_PER_BLOCK):
        out[y:y + ROWS_PER_BLOCK], bad, n = decode_semantic(raw[y:y + ROWS_PER_BLOCK], classes)
        unknown.append(bad)
        count += n
    return out, np.unique(np.concatenate(unknown)) if unknown else np.empty(0, np.int64), count


def mask_indices(files: ImageFiles, classes: ClassDescription, resize: float) -> np.ndarray:
    """``(H, W)`` uint8 class indices of the mask, resized (values in no class become ``IGNORE_INDEX``)."""
    mask, _, _ = decode_mask(classes.prepare_raw(read_mask_raw(files.mask)), classes)
    return resize_array(mask, resize, nearest=True)


def instance_ids(files: ImageFiles, classes: ClassDescription, resize: float) -> np.ndarray:
    """``(H, W)`` int32 instance ids (0: none), resized."""
    ids = decode_instances(read_mask_raw(files.instance), classes.instance_encoding)
    return resize_array(ids.astype(np.int32), resize, nearest=True)


class ImageSource:
    """Windows of one image (``(h, w, B)`` in the file's dtype), read as the module docstring says."""

    def __init__(self, files: ImageFiles, resize: float, bands: tuple[int, ...], cache: NodeCache | None = None):
        self.files, self.resize, self.bands, self.cache = files, resize, bands, cache
        self.direct = resize == 1.0 and is_tiff(files.image) and has_rasterio()
        self._cached: NpyFile | None = None
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:  # a DataLoader worker opens its own files
        return {**self.__dict__, "_cached": None, "_handle": None}

    def cached(self) -> NpyFile:
        """The decoded (resized) image in the node cache."""
        if self._cached is None:
            cache = self.cache or NodeCache()
            self._cached = _readable("image", self.files.image, lambda: cache.cached_npy(
                image_key(self.files, self.resize, self.bands), lambda: decode_image(self.files, self.resize,
                                                                                     self.bands)))
        return self._cached

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        if not self.direct:
            return self.cached().read(y, x, h, w)
        if self._handle is None:
            import rasterio

            self._handle = _readable("image", self.files.image,
                                     lambda: rasterio.open(self.files.image.removeprefix("file://")))
        return read_window(self.files.image, y, x, h, w, self.bands or None, handle=self._handle)


class LabelSource:
    """The class indices (or instance ids) of one image, decoded once per node and memory-mapped."""

    def __init__(self, files: ImageFiles, classes: ClassDescription, resize: float, what: str = "mask",
                 cache: NodeCache | None = None):
        self.files, self.classes, self.resize, self.what, self.cache = files, classes, resize, what, cache
        self._cached: NpyFile | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cached": None}

    def cached(self) -> NpyFile:
        if self._cached is None:
            cache = self.cache or NodeCache()
            if self.what == "mask":
                self._cached = _readable("mask", self.files.mask, lambda: cache.cached_npy(
                    mask_key(self.files, self.classes, self.resize),
                    lambda: mask_indices(self.files, self.classes, self.resize)))
            else:
                self._cached = _readable("instance mask", self.files.instance, lambda: cache.cached_npy(
                    instance_key(self.files, self.classes, self.resize),
                    lambda: instance_ids(self.files, self.classes, self.resize)))
        return self._cached

    def array(self) -> np.ndarray:
        """The whole array (read anew: callers use it once, e.g. to simulate clicks)."""
        return self.cached().load()

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        return self.cached().read(y, x, h, w)


def no_label(shape: tuple[int, int]) -> np.ndarray:
    return np.full(shape, IGNORE_INDEX, np.uint8)


class ValidPixels:
    """Which pixels of an image hold data: not ignored in its dense mask (when it has one), not no-data in its
    GeoTIFF (a nodata value, an internal mask or an alpha band); ``read`` answers on the grid a trial reads (after
    ``--resize``)."""

    def __init__(self, files: ImageFiles, classes: ClassDescription, resize: float, cache: NodeCache | None = None):
        self.mask = LabelSource(files, classes, resize, "mask", cache) if files.mask is not None else None
        self.image, self.resize = files.image, resize
        self._nodata: Any = False  # False: not looked at yet; None: the image declares no no-data

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_nodata": False}

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """(h, w) bool: True where the pixel holds data."""
        ok = np.ones((h, w), bool)
        if self.mask is not None:
            ok &= self.mask.read(y, x, h, w) != IGNORE_INDEX
        if self._nodata is False:
            self._nodata = _nodata_reader(self.image, self.resize)
        if self._nodata is not None:
            ok &= self._nodata(y, x, h, w)
        return ok


def _nodata_reader(path: str, scale: float) -> Any:
    """``read(y, x, h, w) -> (h, w) bool`` (False: no-data) for a GeoTIFF that declares no-data; None for any other
    image (PNG and JPEG: their alpha is dropped, every pixel holds data)."""
    if not (is_tiff(path) and has_rasterio()):
        return None
    import rasterio
    from rasterio.enums import MaskFlags
    from rasterio.windows import Window

    local = path.removeprefix("file://")
    with rasterio.open(local) as src:
        if all(flags == [MaskFlags.all_valid] for flags in src.mask_flag_enums):
            return None
        whole = None if scale == 1.0 else resize_array(src.dataset_mask(), scale, nearest=True) > 0

    def read(y: int, x: int, h: int, w: int) -> np.ndarray:
        if whole is not None:
            return whole[y:y + h, x:x + w]
        with rasterio.open(local) as src:
            return src.dataset_mask(window=Window(x, y, w, h)) > 0

    return read

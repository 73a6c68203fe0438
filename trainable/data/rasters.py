"""Reading rasters: image headers, whole decodes (for the checks and the node cache), and windows (for trials).

Images are ``(H, W, B)`` arrays of any band count and dtype (uint8, uint16, float32, ...). PNG and JPEG go through
PIL (a palette image becomes RGB, an alpha channel is dropped); GeoTIFF through rasterio when it is installed (the
optional extra ``pointtune[geo]``), which also reads windows of a file without decoding the rest, and PIL otherwise.
Paths may be local or URIs (``s3://``, ``gs://``, ``file://``): PIL reads those through pyarrow, rasterio through
GDAL's own network drivers.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from trainable.data import storage

Image.MAX_IMAGE_PIXELS = None  # remote-sensing scenes are large by nature; the checks bound what is decoded at once
TIFF_SUFFIXES = (".tif", ".tiff")
# PIL modes -> (bands, dtype) of what ``read_image`` returns
_PIL_MODES = {"1": (1, "uint8"), "L": (1, "uint8"), "LA": (1, "uint8"), "P": (3, "uint8"), "PA": (3, "uint8"),
              "RGB": (3, "uint8"), "RGBA": (3, "uint8"), "CMYK": (3, "uint8"), "YCbCr": (3, "uint8"),
              "I;16": (1, "uint16"), "I;16B": (1, "uint16"), "I": (1, "int32"), "F": (1, "float32")}


def has_rasterio() -> bool:
    try:
        import rasterio.errors
    except ImportError:
        return False
    # label files of public datasets often carry no georeference; for pixels that is no matter
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    return True


def is_tiff(path: str) -> bool:
    return path.lower().endswith(TIFF_SUFFIXES)


@dataclass(frozen=True)
class RasterInfo:
    height: int
    width: int
    bands: int
    dtype: str
    crs: str | None = None  # WKT, when the file is georeferenced
    transform: tuple[float, ...] | None = None  # affine (a, b, c, d, e, f)


def _local_or_bytes(path: str) -> Any:
    """What PIL can open: a local path, or the bytes of a URI."""
    if not storage.is_uri(path) or path.startswith("file://"):
        return path.removeprefix("file://")
    return io.BytesIO(storage.read_bytes(path))


def _rasterio_path(path: str) -> str:
    return path.removeprefix("file://")


def raster_info(path: str) -> RasterInfo:
    """Size, bands and dtype from the file's header (nothing decoded)."""
    if is_tiff(path) and has_rasterio():
        import rasterio

        with rasterio.open(_rasterio_path(path)) as src:
            transform = tuple(src.transform)[:6] if src.crs is not None else None
            return RasterInfo(src.height, src.width, src.count, src.dtypes[0],
                              src.crs.to_wkt() if src.crs is not None else None, transform)
    with Image.open(_local_or_bytes(path)) as im:
        bands, dtype = _PIL_MODES.get(im.mode, (len(im.getbands()), "uint8"))
        return RasterInfo(im.height, im.width, bands, dtype)


def read_image(path: str, bands: tuple[int, ...] | None = None) -> np.ndarray:
    """The whole image as ``(H, W, B)``; ``bands`` are 1-based band numbers (None: every band)."""
    if is_tiff(path) and has_rasterio():
        import rasterio

        with rasterio.open(_rasterio_path(path)) as src:
            data = src.read(list(bands) if bands else None)  # (B, H, W)
        return np.ascontiguousarray(data.transpose(1, 2, 0))
    with Image.open(_local_or_bytes(path)) as im:
        im.load()  # the full decode happens here, so a truncated file fails now, with its name
        if im.mode in ("P", "PA", "RGBA", "CMYK", "YCbCr"):
            im = im.convert("RGB")
        elif im.mode in ("LA", "1"):
            im = im.convert("L")
        array = _pil_to_array(im)
    array = array[..., None] if array.ndim == 2 else array
    return array[..., [b - 1 for b in bands]] if bands else array


def _pil_to_array(im: Image.Image, rows: int = 256) -> np.ndarray:
    """A decoded PIL image as a numpy array, converted in bands of rows (``np.asarray`` would first make a bytes
    copy of the whole image)."""
    first = np.asarray(im.crop((0, 0, im.width, min(rows, im.height))))
    out = np.empty((im.height, *first.shape[1:]), first.dtype)
    out[:first.shape[0]] = first
    for y in range(rows, im.height, rows):
        out[y:y + rows] = np.asarray(im.crop((0, y, im.width, min(y + rows, im.height))))
    return out


def read_window(path: str, y: int, x: int, h: int, w: int, bands: tuple[int, ...] | None = None,
                handle: Any = None) -> np.ndarray:
    """``(h, w, B)`` pixels of a GeoTIFF at row ``y``, column ``x``, without decoding the rest (rasterio).

    ``handle`` is an open rasterio dataset to reuse (a trial keeps one per file).
    """
    from rasterio.windows import Window

    src = handle
    if src is None:
        import rasterio

        src = rasterio.open(_rasterio_path(path))
    try:
        data = src.read(list(bands) if bands else None, window=Window(x, y, w, h))
    finally:
        if handle is None:
            src.close()
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def read_mask_raw(path: str) -> np.ndarray:
    """A mask's stored values: ``(H, W)`` for a one-band mask, ``(H, W, 3)`` for a colour one (palette PNGs give
    their colours; grey-level RGB files stay ``(H, W, 3)``: the class description says how to read them)."""
    if is_tiff(path) and has_rasterio():
        data = read_image(path)
        return data[..., 0] if data.shape[-1] == 1 else data[..., :3]
    with Image.open(_local_or_bytes(path)) as im:
        im.load()
        if im.mode in ("P", "PA", "RGBA", "LA", "CMYK", "YCbCr"):
            im = im.convert("RGB" if im.mode in ("P", "PA", "RGBA", "CMYK", "YCbCr") else "L")
        return _pil_to_array(im)


def resize_array(a: np.ndarray, scale: float, nearest: bool) -> np.ndarray:
    """Scale an ``(H, W)`` or ``(H, W, B)`` array by ``scale`` (sizes rounded, at least 1 px), band by band."""
    if scale == 1.0:
        return a
    h, w = a.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    if a.ndim == 3:
        return np.stack([resize_array(a[..., b], scale, nearest) for b in range(a.shape[2])], axis=-1)
    if a.dtype in (np.int64, np.int32, np.uint32):  # ids: PIL's 32-bit integer mode
        return np.asarray(Image.fromarray(a.astype(np.int32), mode="I").resize(size, resample)).astype(a.dtype)
    if a.dtype in (np.uint8,):
        return np.asarray(Image.fromarray(a).resize(size, resample))
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(size, resample)).astype(a.dtype)


def file_key(path: str) -> tuple[str, int, int]:
    """What identifies a file's content for the caches: its path, size and modification time."""
    return storage.stat(path)

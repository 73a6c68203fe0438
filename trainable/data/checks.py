"""Checking a dataset's files once, before any training: every image, mask and instance file decoded (a few at a
time, in threads: memory bounded by the largest files, not by the dataset), every problem collected with the file
and what to do. What the checks learn per image (size, bands, class pixel counts, band sums) is an ``ImageRecord``
of a few hundred bytes; the records are kept in a checks cache keyed by each file's size and modification time, so
the next search on the same data re-checks only the files that changed. Decoding is also the moment to fill this
node's cache of decoded rasters (``warm``), which trials on the same node then read instead of decoding again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainable.config import DataConfig
from trainable.data.classes import ClassDescription, describe_values
from trainable.data.layout import ImageFiles
from trainable.data.node_cache import NodeCache, key_of
from trainable.data.rasters import file_key, raster_info, read_mask_raw, resize_array
from trainable.data.sources import decode_image, decode_mask, image_key, instance_ids, instance_key, mask_key

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageRecord:
    """What the checks learned about one image (sizes after ``--resize``, statistics of the chosen bands)."""

    height: int
    width: int
    bands: int  # in the file
    dtype: str
    class_pixels: tuple[int, ...]  # valid mask pixels per class (empty without a mask)
    band_sum: tuple[float, ...]
    band_sumsq: tuple[float, ...]
    stray_pixels: int = 0  # mask pixels whose value is in no class (a built-in format ignores and reports them)
    stray_values: tuple[int, ...] = ()  # the first few of those values


def _check_one(files: ImageFiles, classes: ClassDescription, cfg: DataConfig, bands: tuple[int, ...],
               warm: NodeCache | None) -> tuple[ImageRecord | None, list[str]]:
    """Decode and check one image and its masks; optionally leave the decoded arrays in the node cache."""
    try:
        info = raster_info(files.image)
        if bands and max(bands) > info.bands:
            return None, [f"{files.image}: has {info.bands} band(s), but --bands {','.join(map(str, bands))} asks "
                          f"for band {max(bands)}; choose bands 1 to {info.bands}"]
        image = decode_image(files, 1.0, bands)
    except Exception as e:  # noqa: BLE001  PIL and rasterio raise OSError, SyntaxError, RasterioIOError ...
        return None, [f"{files.image}: cannot read this image ({type(e).__name__}: {e}); re-export or remove it"]
    mask, unknown, stray, instances, problems = _check_masks(files, classes, image.shape[:2])
    if problems:
        return None, problems
    image = resize_array(image, cfg.resize, nearest=False)
    if min(image.shape[:2]) < cfg.tile_size:
        return None, [f"{files.image}: image is {image.shape[1]}x{image.shape[0]} (after resize {cfg.resize}), "
                      f"smaller than --tile-size {cfg.tile_size}; use a smaller tile size"]
    counts: tuple[int, ...] = ()
    if mask is not None:
        mask = resize_array(mask, cfg.resize, nearest=True)
        counts = class_counts(mask, classes.num_classes)
    sums, squares = _band_sums(image)
    record = ImageRecord(image.shape[0], image.shape[1], info.bands, str(image.dtype), counts, sums, squares,
                         stray if mask is not None else 0, tuple(int(v) for v in unknown[:5]) if mask is not None
                         else ())
    if warm is not None:
        warm.cached_npy(image_key(files, cfg.resize, bands), lambda: image)
        if mask is not None:
            warm.cached_npy(mask_key(files, classes, cfg.resize), lambda: mask)
        if instances is not None:
            warm.cached_npy(instance_key(files, classes, cfg.resize),
                            lambda: instance_ids(files, classes, cfg.resize))
    return record, []


def _check_masks(files: ImageFiles, classes: ClassDescription, size: tuple[int, ...]
                 ) -> tuple[np.ndarray | None, np.ndarray, int, Any, list[str]]:
    """The image's mask as class indices (with the values in no class and how many pixels hold them) and its raw
    instance mask, each checked against the image's ``size``; and the problems found."""
    problems: list[str] = []
    mask = instances = None
    stray, unknown = 0, np.empty(0, np.int64)
    for what, path in (("mask", files.mask), ("instance mask", files.instance)):
        if path is None:
            continue
        try:
            raw = read_mask_raw(path)
        except Exception as e:  # noqa: BLE001
            problems.append(f"{path}: cannot read this {what} ({type(e).__name__}: {e}); re-export or remove it")
            continue
        if raw.shape[:2] != size:
            problems.append(f"{path}: {what} is {raw.shape[1]}x{raw.shape[0]} but its image "
                            f"{Path(files.image).name} is {size[1]}x{size[0]}; masks must match their "
                            "image pixel for pixel")
            continue
        if what == "mask":
            try:
                mask, unknown, stray = decode_mask(classes.prepare_raw(raw), classes)
            except ValueError as e:
                problems.append(f"{path}: {e}")
                continue
            if unknown.size and classes.unknown == "error":
                problems.append(f"{path}: mask values {describe_values(unknown, classes)} are not in the class "
                                f"description ({classes.source}); add them as classes or to 'ignore'")
        else:
            instances = raw
    return mask, unknown, stray, instances, problems


def class_counts(mask: np.ndarray, num_classes: int, block: int = 1 << 20) -> tuple[int, ...]:
    """Pixels per class of a class-index mask (ignored pixels left out), counted in blocks: ``np.bincount`` would
    first copy the whole mask to 64-bit integers."""
    flat = mask.ravel()
    counts = np.zeros(256, np.int64)
    for start in range(0, flat.size, block):
        counts += np.bincount(flat[start:start + block], minlength=256)
    return tuple(int(c) for c in counts[:num_classes])


def _band_sums(image: np.ndarray, rows: int = 128) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band sum and sum of squares, in blocks of rows (float64 temporaries stay small)."""
    total = np.zeros(image.shape[2])
    squares = np.zeros(image.shape[2])
    for y in range(0, image.shape[0], rows):
        block = image[y:y + rows].reshape(-1, image.shape[2]).astype(np.float64)
        total += block.sum(0)
        squares += (block**2).sum(0)
    return tuple(total.tolist()), tuple(squares.tolist())


def _checks_cache_path(root: str) -> Path:
    folder = Path(os.environ.get("POINTTUNE_CACHE") or Path.home() / ".cache" / "pointtune") / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key_of('checks', root)}.json"


def _record_key(files: ImageFiles, classes: ClassDescription, cfg: DataConfig, bands: tuple[int, ...]) -> str:
    keys = [file_key(p) for p in (files.image, files.mask, files.instance) if p is not None]
    return key_of(keys, classes.fingerprint, cfg.resize, bands)


def _record_from(d: dict[str, Any]) -> ImageRecord:
    return ImageRecord(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_files(root: str, files: list[ImageFiles], classes: ClassDescription, cfg: DataConfig,
                warm: NodeCache | None = None, progress: Progress | None = None,
                workers: int | None = None) -> tuple[list[ImageRecord | None], list[str]]:
    """Check every image (the ones the checks cache knows unchanged are taken from it); returns one record per
    image (None where there are problems) and every problem."""
    bands = tuple(cfg.bands)
    cache_path = _checks_cache_path(root)
    try:
        known = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except (OSError, ValueError):
        known = {}
    keys = [_record_key(f, classes, cfg, bands) for f in files]
    records: list[ImageRecord | None] = [_record_from(known[k]) if k in known else None for k in keys]
    todo = [i for i, r in enumerate(records) if r is None or min(r.height, r.width) < cfg.tile_size]
    problems: list[str] = []
    done = len(files) - len(todo)
    if progress:
        progress(done, len(files))
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL and rasterio decode without the GIL
        for i, (record, trouble) in zip(todo, pool.map(lambda i: _check_one(files[i], classes, cfg, bands, warm),
                                                       todo), strict=True):
            records[i] = record
            problems += trouble
            done += 1
            if progress:
                progress(done, len(files))
    fresh = {k: dataclasses.asdict(r) for k, r in zip(keys, records, strict=True) if r is not None}
    if fresh != known:
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(fresh))
        tmp.replace(cache_path)
    return records, problems


def grouped(problems: list[str], shown: int = 3) -> list[str]:
    """``PATH: what`` problems that say the same of more than ``shown`` files (``--bands 5`` on 3-band images, one
    unknown mask value everywhere), said once with their count and the first files; the others as they are."""
    by_text: dict[str, list[str]] = {}
    for problem in problems:
        path, _, text = problem.partition(": ")
        by_text.setdefault(text, []).append(path)
    out = []
    for text, paths in by_text.items():
        if len(paths) <= shown:
            out += [f"{path}: {text}" for path in paths]
        else:
            out.append(f"{len(paths)} files ({', '.join(paths[:shown])}, ...): {text}")
    return out


def band_mismatches(files: list[ImageFiles], records: list[ImageRecord | None], bands: tuple[int, ...] | list[int]
                    ) -> list[str]:
    """A problem for each image whose band count or type differs from most images' (the bands read: ``--bands``
    picks the same count from every image), naming both."""
    kinds = [(len(bands) or r.bands, r.dtype) if r is not None else None for r in records]
    counts = Counter(k for k in kinds if k is not None)
    if len(counts) < 2:
        return []
    (common, n), = counts.most_common(1)
    odd = [(f.image, k) for f, k in zip(files, kinds, strict=True) if k is not None and k != common]
    return [f"{path}: has {b} band(s) of {t}, while {n} of the {sum(counts.values())} images have {common[0]} "
            f"band(s) of {common[1]}; every image of a dataset must have the same bands: convert it to "
            f"{common[0]} band(s) of {common[1]}{' (RGB)' if common == (3, 'uint8') else ''} or remove it"
            for path, (b, t) in odd]

"""The dataset as the driver holds it: an index of files, sizes, scenes, the split and statistics, never pixels.

``build_index`` finds the files (the generic layout, or a built-in format's own), then checks every one before any
training: it decodes each image, mask and instance file (a few at a time, in threads: memory bounded by the largest
files, not by the dataset), and reports every problem found in one error naming each file and what to do. What the
checks learn per image (size, bands, class pixel counts, band sums) is what the driver keeps: a few hundred bytes
per image. It is also written to a checks cache keyed by each file's size and modification time, so the next
search on the same data re-checks only the files that changed. Decoding is also the moment to fill this node's
cache of decoded rasters (``warm``), which trials on the same node then read instead of decoding again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainable.config import DataConfig
from trainable.data import storage
from trainable.data.classes import ClassDescription, describe_values
from trainable.data.layout import ImageFiles, folder_files
from trainable.data.node_cache import NodeCache, key_of
from trainable.data.rasters import file_key, raster_info, read_mask_raw, resize_array
from trainable.data.sources import decode_image, decode_mask, image_key, instance_ids, instance_key, mask_key
from trainable.data.split import Split, leakage_warnings, make_split
from trainable.errors import DatasetError

log = logging.getLogger(__name__)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
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


@dataclass(frozen=True)
class IndexEntry:
    files: ImageFiles
    group: str
    record: ImageRecord

    @property
    def stem(self) -> str:
        return self.files.stem

    @property
    def pixels(self) -> int:
        return self.record.height * self.record.width


@dataclass
class DatasetIndex:
    """A checked dataset: files, scenes, split and statistics. What a search ships to its trials (small)."""

    root: str
    classes: ClassDescription
    entries: list[IndexEntry]
    split: Split
    resize: float = 1.0
    bands: tuple[int, ...] = ()  # 1-based bands read from every image; () = all of them
    notes: list[str] = field(default_factory=list)  # warnings of the checks, shown by the driver
    user_clicks: dict[str, Any] | None = None  # --clicks: the user's clicks per image stem (user_points.ImageClicks)

    @property
    def has_masks(self) -> bool:
        """Every image has a dense mask (else only clicks say what is where)."""
        return self.masked(range(len(self.entries)))

    def masked(self, indices: Iterable[int]) -> bool:
        """These images all have dense masks."""
        return all(self.entries[i].files.mask is not None for i in indices)

    @property
    def stems(self) -> list[str]:
        return [e.stem for e in self.entries]

    @property
    def band_count(self) -> int:
        return len(self.bands) or (self.entries[0].record.bands if self.entries else 3)

    def class_pixels(self, indices: tuple[int, ...] | list[int]) -> np.ndarray:
        """(C,) valid pixels per class over these images."""
        counts = np.zeros(self.classes.num_classes, np.int64)
        for i in indices:
            if self.entries[i].record.class_pixels:
                counts += np.asarray(self.entries[i].record.class_pixels, np.int64)
        return counts

    def band_statistics(self, indices: tuple[int, ...] | list[int]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-band mean and standard deviation over these images (the training split), in the files' units."""
        n = sum(self.entries[i].pixels for i in indices)
        total = np.sum([self.entries[i].record.band_sum for i in indices], axis=0)
        squares = np.sum([self.entries[i].record.band_sumsq for i in indices], axis=0)
        mean = total / max(n, 1)
        std = np.sqrt(np.maximum(squares / max(n, 1) - mean**2, 0.0))
        return tuple(float(m) for m in mean), tuple(float(max(s, 1e-6)) for s in std)


def normalization(index: DatasetIndex, mode: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band (mean, std) that inputs are normalised with, in the files' units.

    ``imagenet``: ImageNet's RGB statistics (for 8-bit RGB images and ImageNet-pretrained weights); ``dataset``: the
    training split's own statistics, band by band; ``auto``: imagenet for 3-band 8-bit images, dataset otherwise.
    """
    dtype = index.entries[0].record.dtype
    if mode == "auto":
        mode = "imagenet" if index.band_count == 3 and dtype == "uint8" else "dataset"
    if mode == "imagenet":
        if index.band_count != 3:
            raise ValueError(f"--normalize imagenet needs 3 bands, the data has {index.band_count}; use dataset")
        scale = 255.0 if dtype == "uint8" else 1.0
        return tuple(m * scale for m in IMAGENET_MEAN), tuple(s * scale for s in IMAGENET_STD)
    return index.band_statistics(index.split.train or tuple(range(len(index.entries))))


def _check_one(files: ImageFiles, classes: ClassDescription, cfg: DataConfig, bands: tuple[int, ...],
               warm: NodeCache | None) -> tuple[ImageRecord | None, list[str]]:
    """Decode and check one image and its masks; optionally leave the decoded arrays in the node cache."""
    problems: list[str] = []
    try:
        info = raster_info(files.image)
        if bands and max(bands) > info.bands:
            return None, [f"{files.image}: has {info.bands} band(s), but --bands {','.join(map(str, bands))} asks "
                          f"for band {max(bands)}; choose bands 1 to {info.bands}"]
        image = decode_image(files, 1.0, bands)
    except Exception as e:  # noqa: BLE001  PIL and rasterio raise OSError, SyntaxError, RasterioIOError ...
        return None, [f"{files.image}: cannot read this image ({type(e).__name__}: {e}); re-export or remove it"]
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
        if raw.shape[:2] != image.shape[:2]:
            problems.append(f"{path}: {what} is {raw.shape[1]}x{raw.shape[0]} but its image "
                            f"{Path(files.image).name} is {image.shape[1]}x{image.shape[0]}; masks must match their "
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


def check_roots(cfg: DataConfig) -> str:
    """The data folders exist (a cheap check, before weights are fetched or files decoded); returns the root.

    Raises:
        DatasetError: naming each folder that is missing or a file.
    """
    missing = []
    for flag, path in (("--data", cfg.root), ("--val-dir", cfg.val_dir), ("--test-dir", cfg.test_dir)):
        if path is None or storage.is_dir(path):
            continue
        holds = ("images/ and semantic/" if flag != "--data" else "images/, semantic/ and classes.yaml"
                 if not cfg.format else f"the {cfg.format} dataset as it ships (`pointtune formats` shows its layout)")
        missing.append(f"{flag} {path} is a file, not a folder: {flag} takes a dataset's folder, which holds {holds}"
                       if storage.exists(path) else f"{flag} {path} does not exist: pass a folder that holds {holds}")
    if missing:
        raise DatasetError(cfg.root, missing)
    return cfg.root


def list_dataset_files(cfg: DataConfig, classes: ClassDescription) -> tuple[list[ImageFiles], list[str], list[str]]:
    """Every image of ``--data`` (as its ``--format`` lays it out, or the generic layout) and of ``--val-dir`` /
    ``--test-dir``, with its files; the problems found; and per image the part its folder puts it in (``val``,
    ``test``, or ``""``).

    Raises:
        LayoutError: the folder is not laid out as its format expects.
    """
    files: list[ImageFiles] = []
    problems: list[str] = []
    folder_parts: list[str] = []
    if cfg.format:
        from trainable.data.formats import parse_format

        fmt, options = parse_format(cfg.format)
        files, problems = fmt.files(Path(cfg.root), options)
    else:
        files, problems = folder_files(cfg.root, masks_required=not cfg.clicks)
    folder_parts = [""] * len(files)
    for part, folder in (("val", cfg.val_dir), ("test", cfg.test_dir)):
        if folder is None:
            continue
        found, trouble = folder_files(folder, masks_required=not cfg.clicks)
        files += found
        folder_parts += [part] * len(found)
        problems += [f"--{part}-dir: {t}" for t in trouble]
    seen: dict[str, int] = {}
    for f in files:
        seen[f.stem] = seen.get(f.stem, 0) + 1
    problems += [f"image name {stem!r} is in more than one of --data, --val-dir and --test-dir; names must be unique"
                 for stem, n in seen.items() if n > 1]
    return files, problems, folder_parts


def build_index(cfg: DataConfig, split: bool = True, warm: NodeCache | None = None,
                progress: Progress | None = None) -> DatasetIndex:
    """Find, check and split a dataset (module docstring).

    Args:
        cfg: where the data is and how it is read.
        split: make the split (False: every image in the training part, for scoring a model on a folder).
        warm: a node cache to leave the decoded rasters in (the driver's node runs trials too).
        progress: called with (images checked, images) as the checks go.

    Raises:
        DatasetError: every problem found (missing pairs, unreadable files, size mismatches, unknown values).
        ClassDescriptionError: the class description is missing or malformed.
        ConfigError: the split cannot be made.
    """
    root = check_roots(cfg)
    if cfg.format and not cfg.bands:  # the bands a format reads by default (say, an ortho's RGB without its alpha)
        from trainable.data.formats import parse_format

        cfg = dataclasses.replace(cfg, bands=parse_format(cfg.format)[0].bands)
    classes = ClassDescription.resolve(root, cfg.format, cfg.classes_file)
    files, problems, folder_parts = list_dataset_files(cfg, classes)
    records, trouble = check_files(root, files, classes, cfg, warm, progress)
    problems += grouped(trouble)
    if not problems:
        problems += band_mismatches(files, records, cfg.bands)
    if problems:
        raise DatasetError(root, problems)
    entries = [IndexEntry(f, classes.group_of(f.stem), r) for f, r in zip(files, records, strict=True)]
    user_clicks = None
    if cfg.clicks:
        entries, user_clicks, notes_of_clicks = with_user_clicks(cfg, entries, classes)
    stems, groups = [e.stem for e in entries], [e.group for e in entries]
    notes = leakage_warnings(stems, groups, classes.group_pattern) if split else []
    parts = (make_split(stems, groups, cfg, folder_parts, [f.part for f in files]) if split
             else Split(tuple(range(len(entries))), ()))
    notes += stray_notes(entries, classes)
    if cfg.clicks:
        notes += notes_of_clicks
    index = DatasetIndex(root, classes, entries, parts, cfg.resize, tuple(cfg.bands), notes, user_clicks)
    for note in notes:
        log.warning("%s: %s", root, note)
    log.info("checked %d images in %s (%d classes, %s): %s", len(entries), root, classes.num_classes,
             classes.source, parts.describe())
    return index


def with_user_clicks(cfg: DataConfig, entries: list[IndexEntry], classes: ClassDescription
                     ) -> tuple[list[IndexEntry], dict[str, Any], list[str]]:
    """Read the user's clicks (``--clicks``) for the checked images; images with neither clicks nor a dense mask
    are left out (with a note): nothing would say what is in them.

    Raises:
        DatasetError: the click file(s) have problems (each named with its file and line or feature).
    """
    from trainable.labels.user_clicks import ImageRef, read_user_points

    refs = [ImageRef.of(e.stem, e.files.image, cfg.resize) for e in entries]
    clicks, problems = read_user_points(cfg.clicks, refs, classes, cfg.resize)
    if problems:
        raise DatasetError(cfg.clicks, problems)
    kept = [e for e in entries if e.stem in clicks or e.files.mask is not None]
    notes = []
    if len(kept) < len(entries):
        left = [e.stem for e in entries if e not in kept]
        notes.append(f"{len(left)} image(s) have neither clicks in {cfg.clicks} nor a dense mask and are left out "
                     f"({', '.join(left[:5])}{' ...' if len(left) > 5 else ''})")
    if not clicks:
        raise DatasetError(cfg.clicks, [f"{cfg.clicks}: no click falls on any image of {cfg.root}; check the image "
                                        "names (stems) the clicks refer to"])
    return kept, clicks, notes


def stray_notes(entries: list[IndexEntry], classes: ClassDescription) -> list[str]:
    """A note for masks holding values in no class (counted, ignored, never mapped to a class)."""
    stray = [e for e in entries if e.record.stray_pixels]
    if not stray:
        return []
    total = sum(e.record.stray_pixels for e in stray)
    values = sorted({v for e in stray for v in e.record.stray_values})
    worst = max(stray, key=lambda e: e.record.stray_pixels)
    return [f"{total} mask pixel(s) in {len(stray)} file(s) hold values in no class "
            f"({describe_values(np.asarray(values), classes)}): ignored, not mapped to a class; most in "
            f"{worst.files.mask} ({worst.record.stray_pixels} px)"]


def index_summary(index: DatasetIndex) -> dict[str, Any]:
    """A few numbers about the index, for logs and benchmarks."""
    return {"images": len(index.entries), "pixels": sum(e.pixels for e in index.entries),
            "bands": index.band_count, "dtype": index.entries[0].record.dtype if index.entries else ""}

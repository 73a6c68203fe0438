"""Reading a segmentation dataset folder once, checking it, and splitting it by scene.

Layout (files matched by stem)::

    root/images/NAME.{png,jpg,jpeg,tif,tiff}   RGB tiles
    root/semantic/NAME.png                     dense masks (class indices, grey levels, or colours)
    root/instance/NAME.png                     optional instance ids (one id per pixel, or R + 256 G + 65536 B)
    root/classes.yaml                          optional class description (or --classes / --format)

Everything is decoded once into memory (``SegmentationData``); a search ships it to trials through Ray's object
store, so no trial re-reads or re-decodes the files. Every problem found is reported in one error.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from trainable.classes import ClassDescription, decode_instances, decode_semantic, describe_values
from trainable.config import DataConfig
from trainable.split import Split, leakage_warnings, make_split

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")


class DatasetError(ValueError):
    """The dataset folder has problems; ``problems`` lists each one with its file and what to do."""

    def __init__(self, root: str | Path, problems: list[str]):
        self.problems = problems
        shown = "\n  - ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        super().__init__(f"dataset {root}: {len(problems)} problem(s):\n  - {shown}{more}")


@dataclass
class Sample:
    """One decoded image with its masks."""

    stem: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8 class indices, IGNORE_INDEX where ignored
    instances: np.ndarray | None  # (H, W) int32 instance ids, 0 = none
    group: str  # scene id; all images of a scene fall on one side of the split


@dataclass
class SegmentationData:
    """A whole decoded dataset: what a search puts once into the object store."""

    root: str
    classes: ClassDescription
    samples: list[Sample]
    split: Split
    # training points computed once by a search's driver, keyed by what they depend on (see inputs.points_key)
    points_cache: dict[Any, list[np.ndarray]] = field(default_factory=dict)
    # for a density search: each training image's first clicks up to the top density (see inputs.click_orders_key)
    click_orders: dict[Any, list[Any]] = field(default_factory=dict)

    @property
    def stems(self) -> list[str]:
        return [s.stem for s in self.samples]


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes and p.is_file()}


def open_image(path: Path, mode: str | None) -> np.ndarray:
    """Decode a whole image file (a truncated one fails here), converted to ``mode`` when given."""
    with Image.open(path) as im:
        im.load()  # force the full decode here so a truncated file fails now, with its name
        if mode is not None and im.mode != mode:
            im = im.convert(mode)
        return np.asarray(im)


def resize_array(a: np.ndarray, scale: float, resample: Image.Resampling) -> np.ndarray:
    """Scale an image, mask or instance map by ``scale`` (sizes rounded, at least 1 px)."""
    if scale == 1.0:
        return a
    h, w = a.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if a.dtype == np.int64 or a.dtype == np.int32:  # instance ids: PIL needs 32-bit mode "I"
        return np.asarray(Image.fromarray(a.astype(np.int32), mode="I").resize(size, resample)).astype(a.dtype)
    return np.asarray(Image.fromarray(a).resize(size, resample))


def _read_semantic(path: Path, classes: ClassDescription) -> np.ndarray:
    if classes.mask_encoding == "rgb":
        return open_image(path, "RGB")  # palette PNGs -> their colours
    raw = open_image(path, None)
    if raw.ndim == 3:
        if not (np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 0], raw[..., 2])):
            raise ValueError("holds colours but the class description says mask_encoding: index; "
                             "set mask_encoding: rgb and give classes as [R, G, B]")
        raw = raw[..., 0]
    return raw


def _load_one(stem: str, paths: tuple[Path, Path, Path | None], classes: ClassDescription,
              cfg: DataConfig) -> tuple[Sample | None, list[str]]:
    image_path, mask_path, inst_path = paths
    problems: list[str] = []
    arrays = {}
    for what, path, reader in (("image", image_path, lambda p: open_image(p, "RGB")),
                               ("mask", mask_path, lambda p: _read_semantic(p, classes)),
                               ("instance mask", inst_path, lambda p: open_image(p, None))):
        if path is None:
            continue
        try:
            arrays[what] = reader(path)
        except ValueError as e:
            problems.append(f"{path}: {e}")
        except Exception as e:  # noqa: BLE001  PIL raises OSError, SyntaxError, DecompressionBombError ... on bad files
            problems.append(f"{path}: cannot read this {what} ({type(e).__name__}: {e}); re-export or remove it")
    if problems:
        return None, problems
    image, raw_mask = arrays["image"], arrays["mask"]
    for what, path in (("mask", mask_path), ("instance mask", inst_path)):
        if what in arrays and arrays[what].shape[:2] != image.shape[:2]:
            h, w = arrays[what].shape[:2]
            problems.append(f"{path}: {what} is {w}x{h} but its image {image_path.name} is "
                            f"{image.shape[1]}x{image.shape[0]}; masks must match their image pixel for pixel")
    if problems:
        return None, problems
    mask, unknown = decode_semantic(raw_mask, classes)
    if unknown.size:
        problems.append(f"{mask_path}: mask values {describe_values(unknown, classes)} are not in the class "
                        f"description ({classes.source}); add them as classes or to 'ignore'")
        return None, problems
    instances = None
    if "instance mask" in arrays:
        try:
            instances = decode_instances(arrays["instance mask"], classes.instance_encoding)
        except ValueError as e:
            return None, [f"{inst_path}: {e}"]
    image = resize_array(image, cfg.resize, Image.Resampling.BILINEAR)
    mask = resize_array(mask, cfg.resize, Image.Resampling.NEAREST)
    if instances is not None:
        instances = resize_array(instances.astype(np.int32), cfg.resize, Image.Resampling.NEAREST)
    if min(image.shape[:2]) < cfg.tile_size:
        problems.append(f"{image_path}: image is {image.shape[1]}x{image.shape[0]} (after resize {cfg.resize}), "
                        f"smaller than --tile-size {cfg.tile_size}; use a smaller tile size")
    return Sample(stem, image, mask, instances, classes.group_of(stem)), problems


def _load_folder(root: Path, classes: ClassDescription, cfg: DataConfig,
                 workers: int) -> tuple[list[Sample], list[str]]:
    """Every image/mask pair of one folder, decoded and checked; returns the samples and the problems found."""
    if not root.is_dir():
        return [], [f"data folder {root} does not exist: pass a folder with images/ and semantic/"]
    images = _by_stem(root / "images", IMAGE_SUFFIXES)
    masks = _by_stem(root / "semantic", MASK_SUFFIXES)
    instances = _by_stem(root / "instance", MASK_SUFFIXES)
    if not images and not masks:
        return [], [f"{root} has no images/ and semantic/ files ({', '.join(IMAGE_SUFFIXES)}): put RGB tiles in "
                    "images/ and their masks, same file names, in semantic/"]
    problems = [f"{images[s]}: image has no mask semantic/{s}.png; add it or remove the image"
                for s in sorted(set(images) - set(masks))]
    problems += [f"{masks[s]}: mask has no image images/{s}.*; add it or remove the mask"
                 for s in sorted(set(masks) - set(images))]
    stems = sorted(set(images) & set(masks))
    jobs = {s: (images[s], masks[s], instances.get(s)) for s in stems}
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes without the GIL
        loaded = list(pool.map(lambda s: _load_one(s, jobs[s], classes, cfg), stems))
    return [sample for sample, _ in loaded if sample is not None], problems + [p for _, ps in loaded for p in ps]


def check_roots(cfg: DataConfig) -> Path:
    """The data folders exist (a cheap check, before weights are fetched or files decoded); returns the root.

    Raises:
        DatasetError: naming each missing folder.
    """
    root = Path(cfg.root).expanduser()
    missing = [f"{flag} {p} does not exist: pass a folder with images/ and semantic/"
               for flag, p in (("data folder", cfg.root), ("--val-dir", cfg.val_dir), ("--test-dir", cfg.test_dir))
               if p is not None and not Path(p).expanduser().is_dir()]
    if missing:
        raise DatasetError(root, missing)
    return root


def load_dataset(cfg: DataConfig, workers: int = 4, split: bool = True) -> SegmentationData:
    """Read, decode and check every image and mask of ``cfg.root`` (and ``val_dir``/``test_dir``), and split it
    (``split=False``: every image in the training part, for scoring a model on a folder).

    Raises:
        DatasetError: listing every problem (missing pairs, unreadable files, size mismatches, unknown values).
        ClassDescriptionError: the class description is missing or malformed.
        ConfigError: the split cannot be made (one scene only, a split file naming unknown images).
    """
    root = check_roots(cfg)
    classes = ClassDescription.resolve(root, cfg.format, cfg.classes_file)
    samples, problems, roles = [], [], []
    for role, folder in (("", cfg.root), ("val", cfg.val_dir), ("test", cfg.test_dir)):
        if folder is None:
            continue
        found, trouble = _load_folder(Path(folder).expanduser(), classes, cfg, workers)
        samples += found
        roles += [role] * len(found)
        problems += [f"--{role}-dir: {t}" if role else t for t in trouble]
    seen: dict[str, int] = {}
    for s in samples:
        seen[s.stem] = seen.get(s.stem, 0) + 1
    problems += [f"image name {stem!r} is in more than one of --data, --val-dir and --test-dir; names must be unique"
                 for stem, n in seen.items() if n > 1]
    if problems:
        raise DatasetError(root, problems)
    stems, groups = [s.stem for s in samples], [s.group for s in samples]
    for warning in leakage_warnings(stems, groups, classes.group_pattern) if split else ():
        log.warning("%s: %s", root, warning)
    parts = make_split(stems, groups, cfg, roles) if split else Split(tuple(range(len(samples))), ())
    log.info("loaded %d images from %s (%d classes, %s): %s", len(samples), root, classes.num_classes,
             classes.source, parts.describe())
    return SegmentationData(str(root.resolve()), classes, samples, parts)

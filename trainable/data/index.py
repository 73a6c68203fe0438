"""The dataset as the driver holds it: an index of files, sizes, scenes, the split and statistics, never pixels.

``build_index`` finds the files (the generic layout, or a built-in format's own) and its class description, then
checks every file before any training (``trainable.data.checks``: every problem found is reported in one error
naming each file and what to do), reads the user's clicks (``--clicks``) and makes the split. What the checks learn
per image (size, bands, class pixel counts, band sums) is what the driver keeps: a few hundred bytes per image.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainable.config import DataConfig
from trainable.data import storage
from trainable.data.checks import ImageRecord, Progress, band_mismatches, check_files, grouped
from trainable.data.classes import ClassDescription, ClassDescriptionError, describe_values
from trainable.data.formats import all_formats, format_classes, parse_format
from trainable.data.layout import ImageFiles, folder_files
from trainable.data.node_cache import NodeCache
from trainable.data.split import Split, leakage_warnings, make_split
from trainable.data.unlabeled import unlabeled_entries
from trainable.data.user_clicks import ImageRef, read_user_clicks
from trainable.errors import DatasetError

log = logging.getLogger(__name__)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    user_clicks: dict[str, Any] | None = None  # --clicks: the user's clicks per image stem (user_clicks.ImageClicks)
    # --unlabeled-images: images for pseudo-labels only, beside the entries (never in the split or the statistics)
    unlabeled: list[IndexEntry] = field(default_factory=list)

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


def resolve_classes(root: str | Path, format: str | None, classes_file: str | None) -> ClassDescription:
    """The class description of a dataset: its ``--classes`` file, else its ``--format``'s, else
    ``root/classes.yaml``.

    Raises:
        ClassDescriptionError: none of them, or a malformed one.
    """
    if classes_file:
        return ClassDescription.load(classes_file)
    if format:
        return format_classes(format)
    beside = Path(root) / "classes.yaml"
    if beside.is_file():
        return ClassDescription.load(beside)
    raise ClassDescriptionError(
        f"no class description for {root}: put a classes.yaml in that folder, pass --classes FILE, "
        f"or --format one of {', '.join(all_formats())} (`pointtune formats` describes them)")


def other_description(path: Path, classes: ClassDescription, flag: str) -> list[str]:
    """A folder's own ``classes.yaml`` that describes its masks otherwise than the data's: its masks would be read
    with the data's description without a word."""
    if not path.is_file():
        return []
    own = ClassDescription.load(path)
    if (own.names, own.values, set(own.ignore_values)) == (classes.names, classes.values, set(classes.ignore_values)):
        return []
    return [f"{flag}: {path} describes the masks otherwise ({', '.join(own.names)}) than the data's description "
            f"{classes.source} ({', '.join(classes.names)}): the folders of one run share one description; make "
            "them agree (or remove the folder's own)"]


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
        problems += other_description(Path(folder) / "classes.yaml", classes, f"--{part}-dir")
    seen: dict[str, int] = {}
    for f in files:
        seen[f.stem] = seen.get(f.stem, 0) + 1
    problems += [f"image name {stem!r} is in more than one of --data, --val-dir and --test-dir; names must be unique"
                 for stem, n in seen.items() if n > 1]
    return files, problems, folder_parts


def build_index(cfg: DataConfig, split: bool = True, warm: NodeCache | None = None,
                progress: Progress | None = None, classes: ClassDescription | None = None) -> DatasetIndex:
    """Find, check and split a dataset (module docstring).

    Args:
        cfg: where the data is and how it is read.
        split: make the split (False: every image in the training part, for scoring a model on a folder).
        warm: a node cache to leave the decoded rasters in (the driver's node runs trials too).
        progress: called with (images checked, images) as the checks go.
        classes: the class description to read the masks with, instead of the one ``cfg`` names (a model's own).

    Raises:
        DatasetError: every problem found (missing pairs, unreadable files, size mismatches, unknown values).
        ClassDescriptionError: the class description is missing or malformed.
        ConfigError: the split cannot be made.
    """
    root = check_roots(cfg)
    if cfg.format and not cfg.bands:  # the bands a format reads by default (say, an ortho's RGB without its alpha)
        cfg = dataclasses.replace(cfg, bands=parse_format(cfg.format)[0].bands)
    classes = classes or resolve_classes(root, cfg.format, cfg.classes_file)
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
    extra_files, extra_records = unlabeled_entries(cfg, classes, files, records, warm, progress)
    unlabeled = [IndexEntry(f, f.stem, r) for f, r in zip(extra_files, extra_records, strict=True)]
    index = DatasetIndex(root, classes, entries, parts, cfg.resize, tuple(cfg.bands), notes, user_clicks, unlabeled)
    for note in notes:
        log.warning("%s: %s", root, note)
    log.info("checked %d images in %s (%d classes, %s): %s%s", len(entries), root, classes.num_classes,
             classes.source, parts.describe(), f"; {len(unlabeled)} unlabeled image(s)" if unlabeled else "")
    return index


def with_user_clicks(cfg: DataConfig, entries: list[IndexEntry], classes: ClassDescription
                     ) -> tuple[list[IndexEntry], dict[str, Any], list[str]]:
    """Read the user's clicks (``--clicks``) for the checked images; images with neither clicks nor a dense mask
    are left out (with a note): nothing would say what is in them.

    Raises:
        DatasetError: the click file(s) have problems (each named with its file and line or feature).
    """
    refs = [ImageRef.of(e.stem, e.files.image, cfg.resize) for e in entries]
    clicks, problems = read_user_clicks(cfg.clicks, refs, classes, cfg.resize)
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

"""Images without clicks (``--unlabeled-images DIR``): scenes of the sites to be mapped, learnt from through
pseudo-labels in a self-training second stage only (``trainable.self_training``).

They are checked as the dataset's images are (readable, at least a tile, the same bands and type as the dataset's)
and kept beside the index (``DatasetIndex.unlabeled``), never in its entries: no split, class statistics,
normalisation, validation or test score ever sees them. A name or file that is also an image of ``--data``,
``--val-dir`` or ``--test-dir`` is refused, and so is a copy of one under another name (the same size and band
sums, which the checks compute anyway): an image of the validation or test part must never be pseudo-labelled, and
one of the training part already is.
"""

from __future__ import annotations

from pathlib import Path

from trainable.config import DataConfig
from trainable.data import storage
from trainable.data.checks import ImageRecord, Progress, band_mismatches, check_files, grouped
from trainable.data.classes import ClassDescription
from trainable.data.layout import ImageFiles, image_only_files
from trainable.data.node_cache import NodeCache
from trainable.errors import DatasetError


def _where(path: str) -> str:
    return path if storage.is_uri(path) else str(Path(path).resolve())


def overlaps(unlabeled: list[ImageFiles], dataset: list[ImageFiles]) -> list[str]:
    """A problem for each unlabeled image that is also an image of the dataset (by file or by name)."""
    by_file, by_stem = {_where(f.image): f for f in dataset}, {f.stem: f for f in dataset}
    problems = []
    for f in unlabeled:
        twin = by_file.get(_where(f.image))
        same = "is the same file as" if twin is not None else "has the name of"
        twin = twin or by_stem.get(f.stem)
        if twin is not None:
            problems.append(f"{f.image}: {same} the dataset's image {twin.image}; --unlabeled-images must hold other "
                            "images (scenes with no clicks, never a validation or test image): remove it from the "
                            "folder")
    return problems


def _pixels(record: ImageRecord) -> tuple:
    """What the checks learned of an image's pixels: two images with the same are copies of one another."""
    return record.height, record.width, record.band_sum, record.band_sumsq


def copies(unlabeled: list[ImageFiles], found: list[ImageRecord | None], dataset: list[ImageFiles],
           records: list[ImageRecord]) -> list[str]:
    """A problem for each unlabeled image whose pixels are a dataset image's (a copy under another name): same size
    and the same sums of every band and of its squares."""
    by_pixels = {_pixels(r): f for f, r in zip(dataset, records, strict=True)}
    return [f"{f.image}: has the same pixels as the dataset's image {by_pixels[_pixels(r)].image} (a copy); "
            "--unlabeled-images must hold other images (scenes with no clicks, never a validation or test image): "
            "remove it from the folder"
            for f, r in zip(unlabeled, found, strict=True) if r is not None and _pixels(r) in by_pixels]


def unlabeled_entries(cfg: DataConfig, classes: ClassDescription, dataset: list[ImageFiles],
                      records: list[ImageRecord], warm: NodeCache | None = None,
                      progress: Progress | None = None) -> tuple[list[ImageFiles], list[ImageRecord]]:
    """The images of ``cfg.unlabeled_images``, checked, with their records (none without that folder).

    Args:
        cfg: the data settings (``unlabeled_images``, ``bands``, ``resize``, ``tile_size``).
        classes: the dataset's class description (the checks' cache key).
        dataset: the files of the dataset's images, and ``records`` theirs (the bands the others must match).
        warm: a node cache to leave the decoded images in.
        progress: told (images checked, images).

    Raises:
        DatasetError: every problem found, each with its file and what to do.
    """
    folder = cfg.unlabeled_images
    if not folder:
        return [], []
    if not storage.is_dir(folder):
        raise DatasetError(folder, [f"--unlabeled-images {folder} is not a folder: give a folder of images (in it, or "
                                    "in its images/ folder)"])
    files, problems = image_only_files(folder)
    problems += overlaps(files, dataset)
    if problems:
        raise DatasetError(folder, problems)
    found, trouble = check_files(folder, files, classes, cfg, warm, progress)
    problems = grouped(trouble) + copies(files, found, dataset, records)
    if not problems:  # the odd ones out against the dataset's images: the unlabeled folder is the smaller part
        mismatched = band_mismatches([*dataset, *files], [*records, *found], cfg.bands)
        problems = [p for p in mismatched if any(p.startswith(f"{f.image}:") for f in files)]
        if len(mismatched) > len(problems):  # the folder's images outnumber the dataset's: say it of the folder
            problems = [f"--unlabeled-images {folder}: its images' bands or type differ from the dataset's; every "
                        "image must have the dataset's bands (--bands picks the same ones from each)"]
    if problems:
        raise DatasetError(folder, problems)
    return files, [r for r in found if r is not None]

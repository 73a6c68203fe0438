"""Which files make a dataset: each image with its mask, instance ids and (where a dataset defines one) its split part.

The generic layout (files matched by stem)::

    root/images/NAME.{png,jpg,jpeg,tif,tiff}   images, any band count and dtype
    root/semantic/NAME.{png,tif,tiff,bmp}      dense masks (class indices, grey levels, or colours)
    root/instance/NAME.{png,tif,tiff,bmp}      optional instance ids (one id per pixel, or R + 256 G + 65536 B)

Built-in dataset formats list their own files (``trainable/formats``) into the same ``ImageFiles`` records.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from trainable.data import storage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class ImageFiles:
    """One image of a dataset and the files that go with it (paths or URIs)."""

    stem: str
    image: str
    mask: str | None = None
    instance: str | None = None
    part: str = ""  # "train", "val" or "test" where the dataset's layout says so (official split, --val-dir), else ""


def broken_link(path: str) -> str | None:
    """What is wrong with a symbolic link that leads to no file (a loop, or a target that is gone), else None."""
    p = Path(path)
    if storage.is_uri(path) or not p.is_symlink() or p.exists():
        return None
    try:
        p.resolve(strict=True)
    except RuntimeError:  # Python < 3.13
        return "a symbolic link that loops back on itself"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
    return f"a broken symbolic link (its target {os.readlink(p)} does not exist)"


def _entries(folder: str) -> list[str]:
    """Every name directly in a folder, files and links (a broken link too), sorted; [] where there is none."""
    if storage.is_uri(folder):
        return storage.list_files(folder)
    p = Path(folder)
    return sorted(str(f) for f in p.iterdir() if f.is_file() or f.is_symlink()) if p.is_dir() else []


def _by_stem(folder: str, suffixes: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """The files of ``folder`` with one of ``suffixes`` by stem, and by stem the problem of each file that cannot be
    paired (a broken or looping link, a second file of one stem)."""
    found: dict[str, str] = {}
    trouble: dict[str, str] = {}
    for path in _entries(folder):
        name = PurePosixPath(path)
        if name.suffix.lower() not in suffixes:
            continue
        broken = broken_link(path)
        if broken:
            trouble[name.stem] = f"{path}: is {broken}; fix the link or remove it"
        elif name.stem in found:
            trouble[name.stem] = (f"{path}: {PurePosixPath(found[name.stem]).name} has the same name; keep one of "
                                  "them (files are paired by name without the extension)")
        else:
            found[name.stem] = path
    return found, trouble


def _lossy_masks(folder: str, stems: set[str]) -> dict[str, str]:
    """By stem, a problem for each JPEG in ``semantic/`` named like an image: lossy compression changes classes."""
    return {PurePosixPath(path).stem: f"{path}: masks cannot be JPEG (lossy compression changes class values at "
                                      "every edge); save it as PNG or TIFF" for path in _entries(folder)
            if PurePosixPath(path).suffix.lower() in (".jpg", ".jpeg") and PurePosixPath(path).stem in stems}


def folder_files(root: str, part: str = "", masks_required: bool = True) -> tuple[list[ImageFiles], list[str]]:
    """The image/mask pairs of a folder in the generic layout, and the problems found (a file without its pair, a
    broken link, two files of one name, a JPEG mask, an empty images/ or semantic/ folder).

    Args:
        root: the folder (a path or URI).
        part: the split part every image of this folder belongs to (``--val-dir``: ``val``), or ``""``.
        masks_required: an image without a mask is a problem (False for data with clicks and no dense masks).
    """
    images, bad_images = _by_stem(f"{root}/images", IMAGE_SUFFIXES)
    masks, bad_masks = _by_stem(f"{root}/semantic", MASK_SUFFIXES)
    instances, bad_instances = _by_stem(f"{root}/instance", MASK_SUFFIXES)
    hidden = {**bad_instances, **bad_masks, **bad_images}
    problems = sorted(set(bad_images.values()) | set(bad_masks.values()) | set(bad_instances.values()))
    if not hidden:
        if not images and not masks:
            return [], [f"{root} has no images/ and semantic/ files ({', '.join(IMAGE_SUFFIXES)}): put the images "
                        "in images/ and their masks, same file names, in semantic/"]
        if not images:
            return [], [f"{root}/images has no image files ({', '.join(IMAGE_SUFFIXES)}) but semantic/ has "
                        f"{len(masks)} mask(s): put each mask's image in images/, with the same file name"]
        if not masks and masks_required:
            return [], [f"{root}/semantic has no mask files ({', '.join(MASK_SUFFIXES)}) but images/ has "
                        f"{len(images)} image(s): put each image's dense mask in semantic/, with the same file name, "
                        "or give --clicks FILE with clicks on the images"]
    if masks_required:
        missing = set(images) - set(masks) - set(hidden)
        lossy = _lossy_masks(f"{root}/semantic", missing)
        problems += [lossy.get(s) or f"{images[s]}: image has no mask semantic/{s}.png; add it or remove the image"
                     for s in sorted(missing)]
    problems += [f"{masks[s]}: mask has no image images/{s}.*; add it or remove the mask"
                 for s in sorted(set(masks) - set(images) - set(hidden))]
    stems = sorted(set(images) & set(masks)) if masks_required else sorted(images)
    return [ImageFiles(s, images[s], masks.get(s), instances.get(s), part) for s in stems], problems


def image_only_files(folder: str, part: str = "unlabeled") -> tuple[list[ImageFiles], list[str]]:
    """The images of a folder that has no masks (``--unlabeled-images``): in ``folder/images/`` when there is one,
    else directly in ``folder``; and the problems found (a broken link, two files of one name, no image at all)."""
    where = f"{folder}/images" if storage.is_dir(f"{folder}/images") else folder
    images, trouble = _by_stem(where, IMAGE_SUFFIXES)
    problems = sorted(trouble.values())
    if not images and not problems:
        problems.append(f"{where} has no image files ({', '.join(IMAGE_SUFFIXES)}): put the images to pseudo-label "
                        "there, or in an images/ folder inside it")
    return [ImageFiles(s, images[s], part=part) for s in sorted(images)], problems

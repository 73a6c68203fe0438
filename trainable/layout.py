"""Which files make a dataset: each image with its mask, instance ids and (where a dataset defines one) its split part.

The generic layout (files matched by stem)::

    root/images/NAME.{png,jpg,jpeg,tif,tiff}   images, any band count and dtype
    root/semantic/NAME.{png,tif,tiff,bmp}      dense masks (class indices, grey levels, or colours)
    root/instance/NAME.{png,tif,tiff,bmp}      optional instance ids (one id per pixel, or R + 256 G + 65536 B)

Built-in dataset formats list their own files (``trainable/formats``) into the same ``ImageFiles`` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from trainable import storage

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


def _by_stem(folder: str, suffixes: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for path in storage.list_files(folder):
        name = PurePosixPath(path)
        if name.suffix.lower() in suffixes:
            found[name.stem] = path
    return found


def folder_files(root: str, part: str = "", masks_required: bool = True) -> tuple[list[ImageFiles], list[str]]:
    """The image/mask pairs of a folder in the generic layout, and the problems found (a file without its pair).

    Args:
        root: the folder (a path or URI).
        part: the split part every image of this folder belongs to (``--val-dir``: ``val``), or ``""``.
        masks_required: an image without a mask is a problem (False for data with clicks and no dense masks).
    """
    images = _by_stem(f"{root}/images", IMAGE_SUFFIXES)
    masks = _by_stem(f"{root}/semantic", MASK_SUFFIXES)
    instances = _by_stem(f"{root}/instance", MASK_SUFFIXES)
    if not images and not masks:
        return [], [f"{root} has no images/ and semantic/ files ({', '.join(IMAGE_SUFFIXES)}): put the images in "
                    "images/ and their masks, same file names, in semantic/"]
    problems = []
    if masks_required:
        problems += [f"{images[s]}: image has no mask semantic/{s}.png; add it or remove the image"
                     for s in sorted(set(images) - set(masks))]
    problems += [f"{masks[s]}: mask has no image images/{s}.*; add it or remove the mask"
                 for s in sorted(set(masks) - set(images))]
    stems = sorted(set(images) & set(masks)) if masks_required else sorted(images)
    return [ImageFiles(s, images[s], masks.get(s), instances.get(s), part) for s in stems], problems

"""LandCover.ai v1: the 512-px chips its bundled split.py writes (with the official lists), or the orthophotos."""

from __future__ import annotations

import logging
from pathlib import Path

from trainable.data.formats import Format, need, pair_by_stem
from trainable.data.layout import ImageFiles

log = logging.getLogger(__name__)
# v1 (torchgeo's LandCoverAI, "specifically for Version 1"); colours are torchgeo's plot colours, not in the data
CLASSES = {"mask_encoding": "index", "unknown": "ignore", "ignore": [],
           "group_pattern": r"^(.+)_\d+$",  # a chip M-33-20-D-c-4-2_0 is part of the orthophoto M-33-20-D-c-4-2
           "classes": [{"name": "background", "value": 0, "color": [0, 0, 0]},  # a class, not ignored
                       {"name": "building", "value": 1, "color": [97, 74, 74]},
                       {"name": "woodland", "value": 2, "color": [38, 115, 0]},
                       {"name": "water", "value": 3, "color": [0, 197, 255]},
                       {"name": "road", "value": 4, "color": [207, 207, 207]}]}
LISTS = {"train.txt": "train", "val.txt": "val", "test.txt": "test"}


def _chips(root: Path) -> tuple[list[ImageFiles], list[str]]:
    """``output/<id>.jpg`` + ``output/<id>_m.png``, parts from the lists of chip ids."""
    images = {p.stem: p for p in (root / "output").glob("*.jpg")}
    masks = {p.stem[:-2]: p for p in (root / "output").glob("*_m.png")}
    need(bool(images) or bool(masks), f"output/ in {root} holds no <name>_<k>.jpg and <name>_<k>_m.png chips (run "
                                      "the bundled split.py again, or read images/ and masks/ with --format "
                                      "landcoverai:orthophotos)")
    files, problems = pair_by_stem(images, masks, image_word="chip", mask_word="chip mask <id>_m.png")
    parts = {}
    for name, part in LISTS.items():
        if (root / name).is_file():
            parts.update((line.strip(), part) for line in (root / name).read_text().splitlines() if line.strip())
    if not parts:
        log.warning("%s has no train.txt, val.txt or test.txt: no official split (seeded by orthophoto)", root)
    missing = sorted(set(parts) - {f.stem for f in files})
    if missing:  # split.py stopped half-way, or a subset was copied
        log.warning("%d chip(s) named in %s's train.txt/val.txt/test.txt are not in output/ (e.g. %s): left out",
                    len(missing), root, missing[0])
    unlisted = [f.stem for f in files if f.stem not in parts]
    if parts and unlisted:
        log.warning("%d chip(s) in %s/output are in none of train.txt, val.txt, test.txt (e.g. %s): used for training",
                    len(unlisted), root, unlisted[0])
    return [ImageFiles(f.stem, f.image, f.mask, None, parts.get(f.stem, "")) for f in files], problems


def _orthophotos(root: Path) -> tuple[list[ImageFiles], list[str]]:
    """The 41 orthophotos ``images/<name>.tif`` + ``masks/<name>.tif``: no official split (it lists chips)."""
    images = {p.stem: p for p in (root / "images").glob("*.tif")}
    masks = {p.stem: p for p in (root / "masks").glob("*.tif")}
    need(bool(images), f"no output/<name>_<k>.jpg chips and no images/<name>.tif orthophotos in {root} (unzip "
                       "landcover.ai.v1.zip there; its split.py writes the chips)")
    need(bool(masks), f"no masks/<name>.tif in {root}: the masks of the orthophotos are missing")
    return pair_by_stem(images, masks, image_word="orthophoto")


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    if (root / "output").is_dir() and "orthophotos" not in options:
        return _chips(root)
    return _orthophotos(root)


FORMAT = Format(
    name="landcoverai", title="LandCover.ai v1", source="https://landcover.ai.linuxpolska.com/ (landcover.ai.v1.zip)",
    licence="CC BY-NC-SA 4.0; imagery from the Head Office of Geodesy and Cartography, Poland",
    layout="output/<name>_<k>.jpg      512x512 RGB chips, written by the bundled split.py (used when output/ is "
           "there)\n"
           "output/<name>_<k>_m.png    their masks: 0 background (a class), 1 building, 2 woodland, 3 water, 4 road\n"
           "train.txt, val.txt, test.txt   chip ids (M-33-20-D-c-4-2_0), in the same folder\n"
           "or, without output/ (split.py not run): images/<name>.tif (RGB GeoTIFF, ~9000x9500) and masks/<name>.tif "
           "(1 band, 0-4)",
    split="official for the chips: train.txt for training, val.txt for validation, test.txt held out for the test "
          "score; scenes are orthophotos. The orthophotos alone have none (seeded by orthophoto)",
    describe=lambda options: CLASSES, list_files=list_files,
    options={"orthophotos": "read images/ and masks/ (whole orthophotos, in windows) even when output/ holds chips"})

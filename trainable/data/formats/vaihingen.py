"""ISPRS Vaihingen (2D semantic labelling contest), from its unzipped archives."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from trainable.data.formats import Format, need, pair_by_stem
from trainable.data.formats.potsdam import isprs_classes
from trainable.data.layout import ImageFiles

log = logging.getLogger(__name__)
TRAIN = (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37)
TEST = (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)
PART = {**{f"area{a}": "train" for a in TRAIN}, **{f"area{a}": "test" for a in TEST}}
IMAGES = "ISPRS_semantic_labeling_Vaihingen.zip"
LABELS = {False: ("ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip", "gts_for_participants"),
          True: ("ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip", "gts_eroded_for_participants")}


def _areas(root: Path, suffix: str, in_top: bool) -> dict[str, Path]:
    """``top_mosaic_09cm_areaN{suffix}.tif`` under ``root`` by area (``areaN``): the orthophotos (in a ``top/``
    folder) or the labels (anywhere else: they have the orthophotos' file names). Where both a ``*_for_participants``
    label and a COMPLETE one exist, the COMPLETE one is taken (the same reference; the COMPLETE zip has all 33)."""
    found: dict[str, Path] = {}
    paths = sorted(root.rglob(f"top_mosaic_09cm_area*{suffix}.tif"), key=lambda p: ("_for_participants" in str(p), p))
    for p in paths:
        m = re.match(rf"top_mosaic_09cm_area(\d+){suffix}$", p.stem)
        if m and (p.parent.name == "top") == in_top:
            found.setdefault(f"area{int(m.group(1))}", p)
    return found


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    """Orthophotos from ``top/`` (``root`` may be the unzipped ``ISPRS_semantic_labeling_Vaihingen/`` or its parent),
    labels wherever their zip was unzipped below ``root``; images named ``areaN``."""
    eroded = "eroded" in options
    images = _areas(root, "", in_top=True)
    need(bool(images), f"no top/top_mosaic_09cm_areaN.tif found under {root} (unzip {IMAGES} there)")
    suffix = "_noBoundary" if eroded else ""
    archive, participants = LABELS[eroded]
    # the eroded zip also holds an area9 label without an orthophoto (mmsegmentation deletes it): only the 33 areas
    masks = {a: p for a, p in _areas(root, suffix, in_top=False).items() if a in PART}
    need(bool(masks), f"no top_mosaic_09cm_areaN{suffix}.tif labels (outside top/) found under {root} (unzip "
                      f"{archive} there, or put {participants}/ beside top/)")
    if not any(PART[a] == "test" for a in masks):
        # the participants' release (gts_for_participants/) holds the 16 training labels only: the test areas are left
        # out rather than reported as images without labels
        log.warning("%s: no label of the %d official test areas found (as in the participants' release, %s/): "
                    "their orthophotos are left out; unzip %s there to score on them", root, len(TEST), participants,
                    archive)
        images = {a: p for a, p in images.items() if PART.get(a) != "test"}
    files, problems = pair_by_stem(images, masks, image_word="orthophoto", mask_word="label")
    return [ImageFiles(f.stem, f.image, f.mask, None, PART.get(f.stem, "")) for f in files], problems


FORMAT = Format(
    name="vaihingen", title="ISPRS Vaihingen", source="https://www.isprs.org/education/benchmarks/UrbanSemLab/",
    licence="ISPRS benchmark data: research use, on request, no redistribution",
    layout="top/top_mosaic_09cm_areaN.tif                 IR-R-G orthophotos, 3 bands (from "
           f"{IMAGES}; the folder or its parent)\n"
           "top_mosaic_09cm_areaN.tif (not in top/)       colour labels, from ..._ground_truth_COMPLETE.zip (or "
           "gts_for_participants/: training areas only)\n"
           "top_mosaic_09cm_areaN_noBoundary.tif          eroded labels (option eroded), from "
           "..._ground_truth_eroded_COMPLETE.zip or gts_eroded_for_participants/\n"
           "(images are named areaN, e.g. in --split files; dsm/ is not used)",
    split="official: 16 training areas, 17 test areas (kept for evaluate); validation carved from training by area",
    describe=isprs_classes, list_files=list_files,
    options={"eroded": "the eroded _noBoundary references: boundaries (black) ignored",
             "clutter-out": "clutter left out of the macro means"})

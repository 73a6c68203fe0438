"""ISPRS Potsdam (2D semantic labelling contest), from its unzipped archives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainable.data.formats import Format, need, pair_by_stem
from trainable.data.layout import ImageFiles

TRAIN = ("2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10", "5_11", "5_12", "6_7", "6_8",
         "6_9", "6_10", "6_11", "6_12", "7_7", "7_8", "7_9", "7_10", "7_11", "7_12")
TEST = ("2_13", "2_14", "3_13", "3_14", "4_13", "4_14", "4_15", "5_13", "5_14", "5_15", "6_13", "6_14", "6_15", "7_13")
ORTHOS = {"rgb": ("2_Ortho_RGB", "RGB"), "irrg": ("3_Ortho_IRRG", "IRRG"), "rgbir": ("4_Ortho_RGBIR", "RGBIR")}
# the six colours of the ISPRS benchmark (Potsdam and Vaihingen)
ISPRS_CLASSES = [{"name": "impervious_surfaces", "value": [255, 255, 255]}, {"name": "building", "value": [0, 0, 255]},
                 {"name": "low_vegetation", "value": [0, 255, 255]}, {"name": "tree", "value": [0, 255, 0]},
                 {"name": "car", "value": [255, 255, 0]}, {"name": "clutter", "value": [255, 0, 0]}]


def isprs_classes(options: frozenset[str]) -> dict[str, Any]:
    """The ISPRS colours; the eroded ("noBoundary") references mark boundaries black: ignored, as the benchmark does."""
    return {"mask_encoding": "rgb", "classes": ISPRS_CLASSES, "ignore": [[0, 0, 0]] if "eroded" in options else [],
            "exclude_from_mean": ["clutter"] if "clutter-out" in options else [], "unknown": "ignore"}


def _ortho(options: frozenset[str]) -> str:
    chosen = [o for o in ORTHOS if o in options]
    need(len(chosen) <= 1, f"choose one of the orthophotos {', '.join(ORTHOS)}, not {', '.join(chosen)}")
    return chosen[0] if chosen else "rgb"


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    folder, suffix = ORTHOS[_ortho(options)]
    images = {m.group(1): p for p in root.rglob(f"top_potsdam_*_{suffix}.tif")
              if (m := re.match(rf"top_potsdam_(\d+_\d+)_{suffix}$", p.stem))}
    need(bool(images), f"no {folder}/top_potsdam_R_C_{suffix}.tif found under {root} (unzip {folder}.zip there)")
    label = "_label_noBoundary" if "eroded" in options else "_label"
    masks = {m.group(1): p for p in root.rglob(f"top_potsdam_*{label}.tif")
             if (m := re.match(rf"top_potsdam_(\d+_\d+){label}$", p.stem))}
    archive = "5_Labels_all_noBoundary.zip" if "eroded" in options else "5_Labels_all.zip"
    need(bool(masks), f"no top_potsdam_R_C{label}.tif found under {root} (unzip {archive} there)")
    files, problems = pair_by_stem(images, masks, image_word="ortho", mask_word="label")
    part = {**dict.fromkeys(TRAIN, "train"), **dict.fromkeys(TEST, "test")}
    return [ImageFiles(f"top_potsdam_{f.stem}", f.image, f.mask, None, part.get(f.stem, "")) for f in files], problems


FORMAT = Format(
    name="potsdam", title="ISPRS Potsdam", source="https://www.isprs.org/education/benchmarks/UrbanSemLab/",
    licence="ISPRS benchmark data: research use, on request, no redistribution",
    layout="2_Ortho_RGB/top_potsdam_R_C_RGB.tif          6000x6000 RGB (or 3_Ortho_IRRG/..._IRRG.tif, "
           "4_Ortho_RGBIR/..._RGBIR.tif: 4 bands)\n"
           "5_Labels_all/top_potsdam_R_C_label.tif       colour labels (or 5_Labels_all_noBoundary/"
           "..._label_noBoundary.tif: eroded)\n"
           "(the label zips may also be unzipped flat into the folder)",
    split="official: 24 training tiles, 14 test tiles (kept for evaluate); validation carved from training by tile",
    # the benchmark's unit is the tile: each is a scene of its own (names like top_potsdam_2_10 are not parts)
    describe=lambda options: {**isprs_classes(options), "group_pattern": r"^(top_potsdam_\d+_\d+)$"},
    list_files=list_files,
    options={"rgb": "RGB orthophotos (default)", "irrg": "IR-R-G orthophotos", "rgbir": "4-band R-G-B-IR orthophotos",
             "eroded": "the eroded _label_noBoundary references: boundaries (black) ignored",
             "clutter-out": "clutter left out of the macro means"})

"""iSAID (instance segmentation in aerial images, DOTA-v1.0 images): as released, or as its devkit lays it out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainable.data.formats import Format, need, pair_by_stem
from trainable.data.layout import ImageFiles

# the devkit's colours (labels.py), in the order of its ids 0-15 and of mmsegmentation's class indices
COLOURS = {"background": (0, 0, 0), "ship": (0, 0, 63), "storage_tank": (0, 63, 63), "baseball_diamond": (0, 63, 0),
           "tennis_court": (0, 63, 127), "basketball_court": (0, 63, 191), "ground_track_field": (0, 63, 255),
           "bridge": (0, 127, 63), "large_vehicle": (0, 127, 127), "small_vehicle": (0, 0, 127),
           "helicopter": (0, 0, 191), "swimming_pool": (0, 0, 255), "roundabout": (0, 191, 127),
           "soccer_ball_field": (0, 127, 191), "plane": (0, 127, 255), "harbor": (0, 100, 155)}
SEMANTIC, INSTANCE = "_instance_color_RGB", "_instance_id_RGB"
PARTS = {"train": "train", "val": "test"}  # the test masks are withheld: val is the held-out part here


def isaid_classes(options: frozenset[str]) -> dict[str, Any]:
    """Background (black) is class 0, as in mmsegmentation: the devkit marks it ignoreInEval because it scores
    instances, but a segmentation model must be taught what is no object (most of every image), so it is a class
    here and left out of the macro means only with ``background-out``. Instance ids: R + 256 G + 65536 B."""
    return {"mask_encoding": "rgb", "instance_encoding": "rgb", "unknown": "ignore", "ignore": [],
            "classes": [{"name": n, "value": list(c)} for n, c in COLOURS.items()],
            "exclude_from_mean": ["background"] if "background-out" in options else [],
            # the devkit's patches (P0002_0_800_0_800.png) of one image are one scene
            "group_pattern": r"^(P\d+)"}


def _masks(folders: list[Path], suffix: str) -> dict[str, Path]:
    """``NAME{suffix}.png`` in the first of ``folders`` holding any, by NAME."""
    for folder in folders:
        found = {p.name[:-len(suffix) - 4]: p for p in sorted(folder.glob(f"*{suffix}.png"))}
        if found:
            return found
    return {}


def _split_files(base: Path, part: str) -> tuple[list[ImageFiles], list[str]]:
    """One split folder, as released (``images/``, ``Semantic_masks/[images/]``, ``Instance_masks/[images/]``) or as
    the devkit lays it out (images and both masks together in ``images/``): each kind of mask is taken from the first
    of these folders that holds any."""
    images_dir = base / "images"
    images = {p.stem: p for p in sorted(images_dir.glob("*.png")) if not p.stem.endswith((SEMANTIC, INSTANCE))}
    if not images:
        return [], [f"{images_dir} holds no P*.png images: unzip the DOTA-v1.0 {base.name} images (part*.zip) there"]
    masks = _masks([base / "Semantic_masks" / "images", base / "Semantic_masks", images_dir], SEMANTIC)
    if not masks:
        return [], [f"no P*{SEMANTIC}.png in {base}/Semantic_masks/images/, {base}/Semantic_masks/ or {images_dir}/: "
                    f"unzip the iSAID semantic masks of {base.name} in {base / 'Semantic_masks'}"]
    files, problems = pair_by_stem(images, masks, mask_word="semantic mask")
    # instance masks are optional (without them clicks go to connected regions of each class), but all or none
    ids = _masks([base / "Instance_masks" / "images", base / "Instance_masks", images_dir], INSTANCE)
    problems += [f"{images[f.stem]}: image has no instance mask {f.stem}{INSTANCE}.png; add it or remove the image"
                 for f in files if ids and f.stem not in ids]
    return [ImageFiles(f.stem, f.image, f.mask, str(ids[f.stem]) if f.stem in ids else None, part)
            for f in files], problems


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    need((root / "train").is_dir() or (root / "val").is_dir(), f"no train/ or val/ folder in {root}")
    files, problems = [], []
    for split, part in PARTS.items():
        if not (root / split).is_dir():
            problems.append(f"{root / split} is missing: put the iSAID {split} images and masks there")
            continue
        found, trouble = _split_files(root / split, part)
        files += found
        problems += trouble
    return files, problems


FORMAT = Format(
    name="isaid", title="iSAID", source="https://captain-whu.github.io/iSAID/ (images: DOTA-v1.0)",
    licence="academic use only, no commercial use; Google Earth imagery under Google's terms",
    layout="{train,val}/images/P0000.png                                     RGB images (DOTA-v1.0)\n"
           "{train,val}/Semantic_masks/images/P0000_instance_color_RGB.png   colour masks (or in Semantic_masks/)\n"
           "{train,val}/Instance_masks/images/P0000_instance_id_RGB.png      instance ids, optional (or in "
           "Instance_masks/)\n"
           "or the devkit's: {train,val}/images/ holding P0000.png, P0000_instance_color_RGB.png and "
           "P0000_instance_id_RGB.png\n"
           "(test/ has no masks: not used)",
    split="official: train for training (validation carved from it), val held out for the test score (the "
          "official test masks are withheld)",
    describe=isaid_classes, list_files=list_files,
    options={"background-out": "background left out of the macro means (the devkit scores the 15 object classes)"})

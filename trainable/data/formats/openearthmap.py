"""OpenEarthMap (Zenodo 7223446): region folders of GeoTIFF images and labels, with the official lists."""

from __future__ import annotations

import logging
from pathlib import Path

from trainable.data.formats import Format, need
from trainable.data.layout import ImageFiles

log = logging.getLogger(__name__)
# values and colours of bao18/open_earth_map@oem/utils.py (class_grey_oem, class_rgb_oem), the paper's class names
CLASSES = {"mask_encoding": "index", "unknown": "ignore", "ignore": [0],
           "group_pattern": r"^(.+)_\d+$",  # region names hold "_" and "-": the region is all before the last _<n>
           "classes": [{"name": "bareland", "value": 1, "color": [128, 0, 0]},
                       {"name": "rangeland", "value": 2, "color": [0, 255, 36]},
                       {"name": "developed_space", "value": 3, "color": [148, 148, 148]},
                       {"name": "road", "value": 4, "color": [255, 255, 255]},
                       {"name": "tree", "value": 5, "color": [34, 97, 38]},
                       {"name": "water", "value": 6, "color": [0, 69, 255]},
                       {"name": "agriculture_land", "value": 7, "color": [75, 181, 73]},
                       {"name": "building", "value": 8, "color": [222, 31, 7]}]}
LISTS = {"train.txt": "train", "val.txt": "val", "test.txt": "test"}


def _base(root: Path) -> Path:
    """The folder of the region folders: ``root``, or the one ``OpenEarthMap*`` folder in it (as the zip unzips)."""
    if any(root.glob("*/images")) or any(root.glob("*/labels")):
        return root
    inner = sorted(p for p in root.glob("OpenEarthMap*") if p.is_dir())
    return inner[0] if len(inner) == 1 else root


def official_parts(base: Path) -> dict[str, str]:
    """File name (``aachen_1.tif``) -> part, from the lists of bare file names; {} (with a warning) without them."""
    parts = {}
    for name, part in LISTS.items():
        if (base / name).is_file():
            parts.update((line.strip(), part) for line in (base / name).read_text().splitlines() if line.strip())
    if not parts:
        log.warning("%s has no train.txt, val.txt or test.txt: no official split (seeded by region)", base)
    return parts


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    base = _base(root)
    images = {p.name: p for p in base.glob("*/images/*.tif")}
    labels = {p.name: p for p in base.glob("*/labels/*.tif")}
    need(bool(images) or bool(labels), f"no <region>/images/ or <region>/labels/ folders of .tif files in {base} "
                                       "(unzip OpenEarthMap.zip there)")
    need(bool(images), f"no <region>/images/<region>_<n>.tif in {base}: the images are missing")
    need(bool(labels), f"no <region>/labels/<region>_<n>.tif in {base}: the labels are missing")
    no_image = sorted(set(labels) - set(images))
    no_label = sorted(set(images) - set(labels))
    if no_image:  # the xBD-derived regions ship labels only: their images are made by the repository's script
        log.warning("%d label(s) in %s have no image (e.g. %s; the xBD-derived regions' images are made with "
                    "data/compile_xbd.py of github.com/bao18/open_earth_map): left out", len(no_image), base,
                    labels[no_image[0]].relative_to(base))
    if no_label:  # the test labels were withheld for the challenge
        log.warning("%d image(s) in %s have no label (e.g. %s; withheld test labels?): left out", len(no_label),
                    base, images[no_label[0]].relative_to(base))
    paired = sorted(set(images) & set(labels))
    need(bool(paired), f"none of the {len(images)} <region>/images/*.tif in {base} has its <region>/labels/ file")
    parts = official_parts(base)
    unlisted = [n for n in paired if n not in parts]
    if parts and unlisted:
        log.warning("%d image(s) of %s are in none of train.txt, val.txt, test.txt (e.g. %s): used for training",
                    len(unlisted), base, unlisted[0])
    return [ImageFiles(images[n].stem, str(images[n]), str(labels[n]), None, parts.get(n, "")) for n in paired], []


FORMAT = Format(
    name="openearthmap", title="OpenEarthMap", source="https://open-earth-map.org (Zenodo 7223446)",
    licence="CC BY-NC-SA 4.0; the xBD-derived regions' images under xBD's terms",
    layout="<region>/images/<region>_<n>.tif   3-band uint8 GeoTIFF (regions hold _ and -: aachen, al_qurnah, "
           "kujawsko-pomorskie)\n"
           "<region>/labels/<region>_<n>.tif   1 band: 0 unknown (ignored), 1-8 classes\n"
           "train.txt, val.txt, test.txt       bare file names (aachen_1.tif), beside the region folders\n"
           "(images without a label, e.g. withheld test labels, and labels without an image, e.g. xBD-derived "
           "regions not compiled, are left out with a warning)",
    split="official: train.txt for training, val.txt for validation, test.txt held out for the test score (without "
          "test labels, val.txt is held out and validation is carved from training); scenes are regions",
    describe=lambda options: CLASSES, list_files=list_files)

"""DeepGlobe Land Cover Classification (CVPR 2018 challenge): the labelled train/ folder of its archive."""

from __future__ import annotations

from pathlib import Path

from trainable.data.formats import Format, need, pair_by_stem
from trainable.data.layout import ImageFiles

# "The values of the mask image may not be the exact target color values due to compression. When converting to
# labels, please binarize each R/G/B channel at threshold 128." (the challenge). After it only red (255, 0, 0) is in
# no class: counted, reported and ignored (torchgeo matches colours exactly and maps everything else to urban).
CLASSES = {"mask_encoding": "rgb", "threshold": 128, "unknown": "ignore",
           "ignore": [[0, 0, 0]],  # "unknown" (clouds and others): not an active class of the challenge's mIoU
           "classes": [{"name": "urban", "value": [0, 255, 255]}, {"name": "agriculture", "value": [255, 255, 0]},
                       {"name": "rangeland", "value": [255, 0, 255]}, {"name": "forest", "value": [0, 255, 0]},
                       {"name": "water", "value": [0, 0, 255]}, {"name": "barren", "value": [255, 255, 255]}]}


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    """``<id>_sat.jpg`` + ``<id>_mask.png`` in ``root/train/`` (the archive's layout) or directly in ``root``; the
    ``valid/`` and ``test/`` folders hold images only (their masks were never released): not used."""
    folder = root / "train" if (root / "train").is_dir() else root
    images = {p.name[:-len("_sat.jpg")]: p for p in sorted(folder.glob("*_sat.jpg"))}
    need(bool(images), f"no <id>_sat.jpg found in {folder} (unzip the DeepGlobe land cover archive in {root}: it "
                       "holds train/, valid/ and test/)")
    masks = {p.name[:-len("_mask.png")]: p for p in sorted(folder.glob("*_mask.png"))}
    need(bool(masks), f"no <id>_mask.png beside the <id>_sat.jpg images in {folder}: only train/ has masks (valid/ and "
                      "test/ have none); point --data at train/ or the folder holding it")
    return pair_by_stem(images, masks, image_word="satellite image", mask_word="mask")


FORMAT = Format(
    name="deepglobe", title="DeepGlobe Land Cover",
    source="https://competitions.codalab.org/competitions/18468 (Kaggle: "
           "balraj98/deepglobe-land-cover-classification-dataset)",
    licence="DeepGlobe rules, DigitalGlobe internal use and annotation licence agreements",
    layout="train/<id>_sat.jpg     2448x2448 RGB JPEG (or the pairs directly in the folder)\n"
           "train/<id>_mask.png    colour masks, each channel binarized at 128; black (unknown) ignored\n"
           "(valid/ and test/ have no masks: not used)",
    split="", describe=lambda options: CLASSES, list_files=list_files)

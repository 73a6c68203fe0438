"""Dubai aerial imagery (Humans in the Loop / MBRSC): as it ships (Tile N folders) or flattened."""

from __future__ import annotations

import re
from pathlib import Path

from trainable.data.formats import Format, need, pair_by_stem, yaml_classes
from trainable.data.layout import ImageFiles, folder_files


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    """``images/`` + ``semantic/`` (flattened: ``tile1_part001``), or the Kaggle zip's ``Tile N/images/`` and
    ``Tile N/masks/`` (under ``Semantic segmentation dataset/`` or not), named ``tileN_partPPP`` here."""
    if (root / "images").is_dir():
        return folder_files(str(root))
    base = root / "Semantic segmentation dataset" if (root / "Semantic segmentation dataset").is_dir() else root
    tiles = sorted(p for p in base.glob("Tile *") if p.is_dir())
    need(bool(tiles), f"no images/ folder and no 'Tile N' folders in {base}")
    images, masks = {}, {}
    for tile in tiles:
        n = int(re.sub(r"\D", "", tile.name) or 0)
        for p in (tile / "images").glob("*.jpg"):
            images[f"tile{n}_part{int(re.sub(r'[^0-9]', '', p.stem) or 0):03d}"] = p
        for p in (tile / "masks").glob("*.png"):
            masks[f"tile{n}_part{int(re.sub(r'[^0-9]', '', p.stem) or 0):03d}"] = p
    need(bool(images), f"the Tile folders of {base} hold no images/*.jpg")
    return pair_by_stem(images, masks)


FORMAT = Format(
    name="dubai_aerial", title="Dubai aerial imagery (Humans in the Loop / MBRSC)",
    source="https://humansintheloop.org/resources/datasets/semantic-segmentation-dataset/ (Kaggle: "
           "humansintheloop/semantic-segmentation-of-aerial-imagery)",
    licence="CC0 1.0 (public domain), as given on the dataset page", split="",
    layout="Semantic segmentation dataset/Tile N/images/image_part_00P.jpg   RGB JPEG\n"
           "Semantic segmentation dataset/Tile N/masks/image_part_00P.png    colour masks (some palette PNGs)\n"
           "or flattened: images/tileN_partPPP.jpg and semantic/tileN_partPPP.png",
    describe=yaml_classes("dubai_aerial"), list_files=list_files)

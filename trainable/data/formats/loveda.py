"""LoveDA (land cover domain adaptation), from Train.zip, Val.zip and Test.zip unzipped side by side."""

from __future__ import annotations

from pathlib import Path

from trainable.data.formats import Format, need
from trainable.data.layout import ImageFiles

CLASSES = {"mask_encoding": "index", "unknown": "ignore", "ignore": [0],
           "classes": [{"name": "background", "value": 1, "color": [255, 255, 255]},
                       {"name": "building", "value": 2, "color": [255, 0, 0]},
                       {"name": "road", "value": 3, "color": [255, 255, 0]},
                       {"name": "water", "value": 4, "color": [0, 0, 255]},
                       {"name": "barren", "value": 5, "color": [159, 129, 183]},
                       {"name": "forest", "value": 6, "color": [0, 255, 0]},
                       {"name": "agriculture", "value": 7, "color": [255, 195, 128]}]}
PARTS = {"Train": "train", "Val": "test"}  # the official test masks are withheld: Val is the held-out part here


def list_files(root: Path, options: frozenset[str]) -> tuple[list[ImageFiles], list[str]]:
    scenes = [s for s in ("Urban", "Rural") if s.lower() in options] or ["Urban", "Rural"]
    need((root / "Train").is_dir() or (root / "Val").is_dir(), f"no Train/ or Val/ folder in {root}")
    files, problems = [], []
    for split, part in PARTS.items():
        for scene in scenes:
            images = root / split / scene / "images_png"
            if not images.is_dir():
                problems.append(f"{images} is missing: unzip {split}.zip in {root} (it holds {split}/{scene}/"
                                "images_png and masks_png)")
                continue
            for image in sorted(images.glob("*.png")):
                mask = root / split / scene / "masks_png" / image.name
                if not mask.is_file():
                    problems.append(f"{image}: image has no mask {mask}; add it or remove the image")
                    continue
                files.append(ImageFiles(f"{scene.lower()}_{image.stem}", str(image), str(mask), None, part))
    return files, problems


FORMAT = Format(
    name="loveda", title="LoveDA", source="https://github.com/Junjue-Wang/LoveDA (Zenodo 5706578)",
    licence="CC BY-NC-SA 4.0",
    layout="Train/{Urban,Rural}/images_png/N.png   1024x1024 RGB\n"
           "Train/{Urban,Rural}/masks_png/N.png    0 no-data (ignored), 1-7 classes\n"
           "Val/{Urban,Rural}/images_png, masks_png   (Test/ has no masks: not used)",
    split="official: Train for training (validation carved from it), Val held out for the test score (the "
          "official Test masks are withheld)",
    describe=lambda options: CLASSES, list_files=list_files,
    options={"urban": "the urban scenes only", "rural": "the rural scenes only"})

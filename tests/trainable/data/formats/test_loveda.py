"""LoveDA: Train/Val/Test x Urban/Rural folders, 0 = no-data ignored, Val held out (Test masks are withheld)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from formats.sample import check_format, class_layout, noisy_image, save


def _loveda(root: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    expected, parts = {}, {}
    k = 0
    for split, part in (("Train", "train"), ("Val", "test")):
        for scene in ("Urban", "Rural"):
            for _ in range(2 if split == "Train" else 1):
                raw, classes = class_layout(32, list(range(1, 8)), 0, 9 if k == 0 else None)
                image_id = f"{1000 + k}"
                save(root / split / scene / "images_png" / f"{image_id}.png", noisy_image(classes, seed=k))
                save(root / split / scene / "masks_png" / f"{image_id}.png", raw)
                expected[f"{scene.lower()}_{image_id}"] = classes
                parts[f"{scene.lower()}_{image_id}"] = part
                k += 1
    save(root / "Test" / "Urban" / "images_png" / "9999.png", np.zeros((32, 32, 3), np.uint8))  # no mask: unused
    return expected, parts


def test_loveda(tmp_path: Path) -> None:
    expected, parts = _loveda(tmp_path / "loveda")
    check_format(tmp_path / "loveda", "loveda", expected, parts, tmp_path)


def test_loveda_rural_only(tmp_path: Path) -> None:
    expected, parts = _loveda(tmp_path / "loveda")
    rural = {s: e for s, e in expected.items() if s.startswith("rural")}
    check_format(tmp_path / "loveda", "loveda:rural", rural, {s: parts[s] for s in rural}, tmp_path,
                 stray_files=0)

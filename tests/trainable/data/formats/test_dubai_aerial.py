"""Dubai aerial imagery as the Kaggle zip ships it: Tile N/images/*.jpg and Tile N/masks/*.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from formats.sample import STRAY, check_format, class_layout, noisy_image, save

COLOURS = [[60, 16, 152], [132, 41, 246], [110, 193, 228], [254, 221, 58], [226, 169, 41]]


def test_dubai_as_shipped(tmp_path: Path) -> None:
    root = tmp_path / "Semantic segmentation dataset"
    expected = {}
    for tile in range(1, 4):
        for part in (1, 2):
            raw, classes = class_layout(32, COLOURS, [155, 155, 155], STRAY if (tile, part) == (1, 1) else None)
            save(root / f"Tile {tile}" / "images" / f"image_part_00{part}.jpg", noisy_image(classes, seed=tile))
            save(root / f"Tile {tile}" / "masks" / f"image_part_00{part}.png", raw)
            expected[f"tile{tile}_part00{part}"] = classes
    check_format(tmp_path, "dubai_aerial", expected, None, tmp_path)
    from trainable.config import DataConfig
    from trainable.data.index import build_index

    index = build_index(DataConfig(root=str(tmp_path), format="dubai_aerial", tile_size=16))
    groups = {e.stem: e.group for e in index.entries}
    assert groups["tile2_part001"] == groups["tile2_part002"] == "tile2", "a tile's parts are one scene"
    assert np.unique([groups[s] for s in groups]).size == 3

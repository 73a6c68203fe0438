"""Reading what the driver checked, on a node: windows from the node cache, and a clear error when a node cannot."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from trainable.config import DataConfig
from trainable.data.index import DatasetError, build_index
from trainable.data.node_cache import NodeCache
from trainable.data.rasters import read_image
from trainable.data.sources import ImageSource, LabelSource


def test_windows_of_a_cached_png_are_its_pixels(demo_dir: Path, tmp_path: Path) -> None:
    index = build_index(DataConfig(root=str(demo_dir), tile_size=32))
    files = index.entries[2].files
    cache = NodeCache(tmp_path / "node", bound=2**30)
    source = ImageSource(files, 1.0, (), cache)
    whole = read_image(files.image)
    assert not source.direct and np.array_equal(source.read(5, 9, 20, 30), whole[5:25, 9:39])
    assert np.array_equal(source.read(50, 50, 20, 20), whole[50:64, 50:64]), "windows stop at the border"
    mask = LabelSource(files, index.classes, 1.0, cache=cache)
    assert np.array_equal(mask.read(0, 0, 64, 64), mask.array())


def test_a_node_that_cannot_see_the_data_says_so(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    index = build_index(DataConfig(root=str(data), tile_size=32))
    shutil.rmtree(data)  # as on a node without the mount
    with pytest.raises(DatasetError, match=r"cannot be read on node .* every node that runs trials must see --data"):
        ImageSource(index.entries[0].files, 1.0, (), NodeCache(tmp_path / "node", bound=2**30)).read(0, 0, 8, 8)


@pytest.mark.parametrize("resize", [1.0, 0.5])
def test_valid_pixels_are_not_the_no_data_of_a_geotiff_at_any_resize(tmp_path: Path,
                                                                      resize: float) -> None:
    rasterio = pytest.importorskip("rasterio", reason="GeoTIFF no-data needs the optional extra pointtune[geo]")
    from rasterio.transform import from_origin

    from trainable.data.classes import ClassDescription
    from trainable.data.layout import ImageFiles
    from trainable.data.sources import ValidPixels

    image = np.full((3, 40, 40), 100, np.uint8)
    image[:, :10, :] = 0  # the top rows hold no data
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=40, count=3, dtype="uint8", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 4500000, 0.5, 0.5)) as dst:
        dst.write(image)
    classes = ClassDescription.from_dict({"classes": [{"name": "a", "value": 0}], "ignore": [255]})
    valid = ValidPixels(ImageFiles("scene", str(path)), classes, resize)
    side, edge = int(40 * resize), int(10 * resize)
    got = valid.read(0, 0, side, side)
    assert got.shape == (side, side) and not got[:edge].any() and got[edge:].all()
    png = tmp_path / "plain.png"
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 7, np.uint8)).save(png)
    assert ValidPixels(ImageFiles("plain", str(png)), classes, 1.0).read(0, 0, 40, 40).all()  # no no-data in PNG

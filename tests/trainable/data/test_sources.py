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

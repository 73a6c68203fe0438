"""A trial's clicks from the node cache: the same as simulated directly, shared by a search's trials, windowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainable.config import IGNORE_INDEX, DataConfig, PointConfig, TrialConfig
from trainable.data.index import build_index
from trainable.data.node_cache import NodeCache
from trainable.data.sources import LabelSource
from trainable.labels.clicks import ClickSource, sparse_from
from trainable.labels.points import annotator_seed, density_points, instance_points


@pytest.fixture
def cache(tmp_path: Path) -> NodeCache:
    return NodeCache(tmp_path / "node", bound=2**30)


def _direct(index, i: int, points: PointConfig) -> np.ndarray:
    e = index.entries[i]
    mask = LabelSource(e.files, index.classes, 1.0).array()
    seed = annotator_seed(points, e.stem)
    if points.mode == "density":
        return density_points(np.asarray(mask), points.density, seed)
    ids = LabelSource(e.files, index.classes, 1.0, "instance").array()
    return instance_points(np.asarray(mask), np.asarray(ids), points.clicks_per_object, points.background_share,
                           points.min_region_pixels, seed)


@pytest.mark.parametrize("points", [
    PointConfig(density=0.02, order_up_to=0.05),
    PointConfig(mode="per_instance", clicks_per_object=2, clicks_up_to=3),
    PointConfig(mode="per_instance", clicks_per_object=1, background_share=0.3, clicks_up_to=3, share_up_to=0.8),
])
def test_cached_clicks_are_the_directly_simulated_ones(demo_dir: Path, cache: NodeCache, points: PointConfig) -> None:
    """What each node caches covers the whole searched range; every setting in it selects the clicks it would have
    simulated alone (density and per-object clicks nest, background shares too)."""
    index = build_index(DataConfig(root=str(demo_dir), tile_size=32))
    cfg = TrialConfig(data=index_cfg(demo_dir), points=points)
    source = ClickSource(index, cfg, list(index.split.train), cache)
    for k, i in enumerate(index.split.train):
        p = source.points(k)
        h, w = p.height, p.width
        assert np.array_equal(p.window(0, 0, h, w), _direct(index, i, points)), index.entries[i].stem


def index_cfg(demo_dir: Path) -> DataConfig:
    return DataConfig(root=str(demo_dir), tile_size=32)


def test_a_searchs_trials_share_one_entry_per_image_and_read_it(demo_dir: Path, cache: NodeCache) -> None:
    index = build_index(index_cfg(demo_dir))
    train = list(index.split.train)
    low = TrialConfig(data=index_cfg(demo_dir), points=PointConfig(density=0.01, order_up_to=0.1))
    high = low.replace(points={"density": 0.1})
    ClickSource(index, low, train, cache).stats()
    entries = sorted(cache.root.glob("*/*.npz"))
    assert len(entries) == len(train), "one click order per training image"
    ClickSource(index, high, train, cache).stats()
    assert sorted(cache.root.glob("*/*.npz")) == entries, "the other density reads the same entries"
    with np.load(entries[0]) as z:  # the cache is what a trial reads: tamper with one entry
        arrays = dict(z)
    arrays["indices"] = arrays["indices"][:1].repeat(arrays["indices"].size)
    np.savez(entries[0], **arrays)
    counts = [ClickSource(index, high, train, cache).points(k).count for k in range(len(train))]
    assert 1 in counts and max(counts) > 1


def test_a_window_of_sparse_points_is_the_window_of_the_labels() -> None:
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, (37, 53)).astype(np.uint8)
    chosen = rng.choice(mask.size, 300, replace=False)
    labels = np.full(mask.size, IGNORE_INDEX, np.uint8)
    labels[chosen] = mask.ravel()[chosen]
    labels = labels.reshape(mask.shape)
    points = sparse_from(mask, chosen)
    for y, x, h, w in ((0, 0, 37, 53), (5, 7, 16, 16), (21, 37, 16, 16), (36, 52, 1, 1)):
        assert np.array_equal(points.window(y, x, h, w), labels[y:y + h, x:x + w]), (y, x)


def test_the_driver_caches_up_to_the_top_of_the_searched_range(demo_dir: Path) -> None:
    from search.launch.preflight import preflight
    from search.launch.settings import SearchSettings, SearchSpace

    for space, expected in (({"density": (1e-3, 0.1)}, {"order_up_to": 0.1}),
                            ({"clicks_per_object": (1, 3)}, {"clicks_up_to": 3})):
        settings = SearchSettings(base=TrialConfig(data=index_cfg(demo_dir)), space=SearchSpace(**space))
        prepared = preflight(settings, build_index(settings.base.data))
        assert {k: getattr(prepared.base.points, k) for k in expected} == expected
        assert prepared.base.data.mean and prepared.base.model.in_channels == 3


def test_a_search_refuses_a_density_that_leaves_an_image_without_a_click(demo_dir: Path) -> None:
    from search.launch.preflight import density_check
    from trainable.config import ConfigError

    index = build_index(index_cfg(demo_dir))
    density_check(index, 0.01)
    smallest = min(sum(index.entries[i].record.class_pixels) for i in index.split.train)
    with pytest.raises(ConfigError, match=r"leaves .* training image.* with no labelled point"):
        density_check(index, 0.4 / smallest)

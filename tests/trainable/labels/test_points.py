from __future__ import annotations

import itertools

import numpy as np
import pytest

from trainable.config import IGNORE_INDEX, PointConfig
from trainable.data.classes import decode_instances
from trainable.labels.points import (
    ClickOrder,
    class_weights_from_counts,
    click_order,
    density_points,
    instance_points,
    point_stats,
    simulate_points,
)


def _mask(h: int = 40, w: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 4, size=(h, w)).astype(np.uint8)
    m[:5, :] = IGNORE_INDEX  # an ignored strip
    return m


@pytest.mark.parametrize("density", [0.001, 0.01, 0.1, 0.5])
def test_density_hits_target_within_rounding(density: float) -> None:
    m = _mask()
    pts = density_points(m, density, seed=3)
    valid = int((m != IGNORE_INDEX).sum())
    assert int((pts != IGNORE_INDEX).sum()) == round(density * valid)


def test_density_points_are_nested_deterministic_and_on_valid_pixels() -> None:
    m = _mask()
    low, high = density_points(m, 0.02, seed=7), density_points(m, 0.2, seed=7)
    low_idx, high_idx = set(np.flatnonzero(low != IGNORE_INDEX)), set(np.flatnonzero(high != IGNORE_INDEX))
    assert low_idx and low_idx < high_idx
    assert np.array_equal(low, density_points(m, 0.02, seed=7))
    assert not np.array_equal(low, density_points(m, 0.02, seed=8))
    labelled = high != IGNORE_INDEX
    assert not labelled[:5].any(), "points fell on ignored pixels"
    assert np.array_equal(high[labelled], m[labelled]), "point labels must be the dense mask's classes"


def test_a_click_orders_prefix_is_the_same_whatever_length_was_asked() -> None:
    m = _mask()
    full = click_order(m, (2, 5), limit=m.size)
    assert full.size == (m != IGNORE_INDEX).sum() and len(set(full.tolist())) == full.size
    for k in (0, 1, 17, 300, full.size):
        assert np.array_equal(click_order(m, (2, 5), k), full[:k])


def test_cached_click_orders_give_the_same_points_for_every_density_they_cover() -> None:
    m = _mask()
    order = ClickOrder.of(m, (0, 3), max_density=0.1)
    for d in (0.001, 0.01, 0.05, 0.1):
        assert order.covers(d) and np.array_equal(order.points(m, d), density_points(m, d, (0, 3)))
    assert not order.covers(0.2)
    assert np.array_equal(ClickOrder.of(m, (0, 3), 1.0).points(m, 1.0), m)


def test_density_one_is_full_supervision() -> None:
    m = _mask()
    assert np.array_equal(density_points(m, 1.0, seed=0), m)


def _objects() -> tuple[np.ndarray, np.ndarray]:
    """Background class 0 with three rectangular objects of class 1 and 2, instance ids 1000+."""
    mask = np.zeros((60, 60), np.uint8)
    inst = np.zeros((60, 60), np.int64)
    for k, (y, x, h, w, c) in enumerate([(5, 5, 11, 15, 1), (30, 30, 21, 9, 2), (40, 5, 7, 7, 1)]):
        mask[y:y + h, x:x + w] = c
        inst[y:y + h, x:x + w] = 1000 + 300 * k  # ids beyond 255 as in RGB-encoded masks
    return mask, inst


def test_one_click_per_instance_at_its_most_interior_pixel() -> None:
    mask, inst = _objects()
    pts = instance_points(mask, inst, per_instance=1, background_share=0.0, min_region_pixels=16, seed=0)
    ys, xs = np.nonzero(pts != IGNORE_INDEX)
    ids = inst[ys, xs]
    assert sorted(ids.tolist()) == [1000, 1300, 1600], "exactly one click per instance, none on background"
    centres = {1000: (10, 12), 1300: (40, 34), 1600: (43, 8)}
    for y, x, i in zip(ys, xs, ids, strict=True):
        cy, cx = centres[int(i)]
        assert abs(y - cy) <= 1 and abs(x - cx) <= 1, f"click of {i} at {(y, x)} is not the object's centre"


def test_k_clicks_per_instance_and_background_regions() -> None:
    mask, inst = _objects()
    pts = instance_points(mask, inst, per_instance=3, background_share=None, min_region_pixels=16, seed=0)
    labelled = pts != IGNORE_INDEX
    for obj in (1000, 1300, 1600):
        assert int((labelled & (inst == obj)).sum()) == 3
    assert int((labelled & (inst == 0)).sum()) == 3, "one background region -> k clicks"


def test_background_share_sets_the_proportion_of_background_clicks() -> None:
    mask, inst = _objects()
    pts = instance_points(mask, inst, per_instance=2, background_share=0.75, min_region_pixels=16, seed=1)
    labelled = pts != IGNORE_INDEX
    objects, background = int((labelled & (inst > 0)).sum()), int((labelled & (inst == 0)).sum())
    assert objects == 6 and background == 18  # 0.75 / 0.25 = 3 background clicks per object click


def test_rgb_encoded_instance_ids_decode() -> None:
    ids = np.array([[0, 1000], [70000, 255 + 256 * 3]])
    rgb = np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=-1).astype(np.uint8)
    assert np.array_equal(decode_instances(rgb, "rgb"), ids)
    with pytest.raises(ValueError, match="instance_encoding"):
        decode_instances(rgb, "id")


def test_regions_stand_in_without_instance_masks() -> None:
    mask = np.zeros((30, 30), np.uint8)
    mask[:, 15:] = 1
    mask[2:4, 2:4] = 2  # a 4-px speck: below min_region_pixels, no click
    cfg = PointConfig(mode="per_instance", clicks_per_object=1)
    pts = simulate_points(mask, None, cfg, "img0")
    assert sorted(pts[pts != IGNORE_INDEX].tolist()) == [0, 1]


def _labelled(points: np.ndarray) -> set[int]:
    return set(np.flatnonzero(points != IGNORE_INDEX).tolist())


def test_objects_are_class_and_instance_pairs_when_ids_restart_per_class() -> None:
    """A building and a car that share instance id 1 (ids counted per class) are two objects, clicked apart."""
    mask = np.zeros((40, 40), np.uint8)
    inst = np.zeros((40, 40), np.int64)
    mask[5:15, 5:15], inst[5:15, 5:15] = 1, 1  # building 1
    mask[5:15, 15:25], inst[5:15, 15:25] = 2, 1  # car 1, touching it
    pts = instance_points(mask, inst, per_instance=1, background_share=0.0, min_region_pixels=16, seed=(0, 1))
    clicked = pts[pts != IGNORE_INDEX]
    assert sorted(clicked.tolist()) == [1, 2], "one click in the building and one in the car, not one for both"


@pytest.mark.parametrize("share", [None, 0.5])
def test_clicks_per_object_are_nested_in_k(share: float | None) -> None:
    mask, inst = _objects()
    runs = [_labelled(instance_points(mask, inst, k, share, 16, (4, 2))) for k in (1, 2, 3, 5)]
    assert all(a < b for a, b in itertools.pairwise(runs)), "the clicks for K are a subset of those for K+1"


def test_an_objects_clicks_do_not_depend_on_other_objects() -> None:
    """Clicks are seeded per (seed, image, object): adding an object elsewhere leaves this one's clicks alone."""
    mask, inst = _objects()
    before = instance_points(mask, inst, 4, 0.0, 16, (0, 9))
    mask2, inst2 = mask.copy(), inst.copy()
    mask2[50:58, 40:58], inst2[50:58, 40:58] = 2, 7777  # a new car
    after = instance_points(mask2, inst2, 4, 0.0, 16, (0, 9))
    first = inst == 1000
    assert _labelled(np.where(first, before, IGNORE_INDEX)) == _labelled(np.where(first, after, IGNORE_INDEX))
    other_seed = instance_points(mask, inst, 4, 0.0, 16, (1, 9))
    assert _labelled(np.where(first, before, IGNORE_INDEX)) != _labelled(np.where(first, other_seed, IGNORE_INDEX))


def test_cached_instance_clicks_give_every_setting_they_cover() -> None:
    from trainable.labels.points import InstanceClicks

    mask, inst = _objects()
    clicks = InstanceClicks.of(mask, inst, (3, 1), k_max=4, share_max=0.8, min_region_pixels=16)
    for k in (1, 2, 4):
        for share in (None, 0.0, 0.3, 0.8):
            direct = instance_points(mask, inst, k, share, 16, (3, 1))
            assert np.array_equal(clicks.points(mask, k, share), direct), (k, share)
    assert not clicks.covers(5, None) and not clicks.covers(2, 0.9)


def test_point_stats_and_class_weights() -> None:
    dense = [np.zeros((10, 10), np.uint8), np.ones((10, 10), np.uint8)]
    sparse = [np.full((10, 10), IGNORE_INDEX, np.uint8) for _ in dense]
    sparse[0][0, :4] = 0
    stats = point_stats(sparse, dense, num_classes=3)
    assert stats.clicks_per_image == 2.0 and stats.labelled_fraction == pytest.approx(4 / 200)
    assert stats.class_counts == (4, 0, 0) and stats.images_without_points == (1,)
    w = class_weights_from_counts((10, 30, 0))
    assert w[2] == 0 and w[0] / w[1] == pytest.approx(3.0) and w[:2].mean() == pytest.approx(1.0)

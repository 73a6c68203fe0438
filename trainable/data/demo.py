"""Deterministic synthetic aerial scenes for demos, smoke tests and tutorials.

Every scene is drawn mask-first: shapes are rasterised into the class and
instance masks, and the RGB image is rendered from those masks plus texture and
noise, so the labels match the pixels exactly. Later shapes overwrite earlier
ones in all three layers. The output uses the layout of a real dataset:
``images/``, ``semantic/``, ``instance/`` (id = R + 256*G + 65536*B) and
``classes.yaml``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from trainable.defaults import default

logger = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("road", "building", "low_vegetation", "tree", "car", "water")
ROAD, BUILDING, LOW_VEG, TREE, CAR, WATER = range(6)
IGNORE = 255
MARKER = ".complete"
_DISPLAY = (
    (128, 128, 128), (200, 60, 40), (150, 210, 90), (20, 110, 40), (250, 220, 30), (40, 90, 220)
)
_ROOFS = np.array(  # terracotta, brick, grey, concrete, slate, sand
    [[150, 70, 55], [178, 98, 72], [120, 120, 126], [190, 186, 176], [82, 86, 96], [200, 188, 150]], np.float32
)
_CARS = np.array(  # red, blue, white, yellow, black, silver
    [[215, 30, 30], [30, 70, 200], [240, 240, 240], [240, 200, 20], [25, 25, 30], [170, 176, 186]], np.float32
)
# Texture per class (row 6 = ignore): (per-pixel grain std, low-frequency std).
_TEXTURE = np.array([[8, 5], [4, 3], [11, 14], [20, 12], [3, 0], [2, 5], [14, 10]], dtype=np.float32)


class _Canvas:
    """Mutable scene state: class mask, instance mask and flat (untextured) colours."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.scale = size, rng, size / 128.0
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.sem = np.full((size, size), LOW_VEG, np.uint8)
        self.inst = np.zeros((size, size), np.int32)
        self.rgb = np.empty((size, size, 3), np.float32)
        self.rgb[:] = np.array([92, 132, 58]) * rng.uniform(0.9, 1.1)
        self.next_id = 1000
        self.roads: list[tuple[np.ndarray, np.ndarray, float]] = []

    def paint(self, where: Any, cls: int, color: Any, instance: bool = False) -> None:
        """Write one class (and optionally a fresh instance id) at ``where`` in every layer."""
        self.sem[where], self.rgb[where] = cls, color
        self.inst[where] = self.next_id if instance else 0
        self.next_id += int(instance)

    def fraction(self, cls: int) -> float:
        """Return the share of pixels currently labelled ``cls``."""
        return np.count_nonzero(self.sem == cls) / self.sem.size

    def blob(self, cy: float, cx: float, radius: float, wobble: float) -> np.ndarray:
        """Return a full-size mask of an irregular round blob (computed in a window)."""
        n, pad = self.size, int(radius * (1 + 3 * wobble)) + 2
        y0, y1 = max(int(cy) - pad, 0), min(int(cy) + pad, n)
        x0, x1 = max(int(cx) - pad, 0), min(int(cx) + pad, n)
        mask = np.zeros((n, n), bool)
        if y0 >= y1 or x0 >= x1:
            return mask
        dy, dx = self.yy[y0:y1, x0:x1] - cy, self.xx[y0:y1, x0:x1] - cx
        theta = np.arctan2(dy, dx)
        amp, phase = self.rng.uniform(0, wobble, 3), self.rng.uniform(0, 2 * np.pi, 3)
        rim = radius * (1 + sum(a * np.sin(k * theta + p) for k, a, p in zip((2, 3, 5), amp, phase, strict=True)))
        mask[y0:y1, x0:x1] = np.hypot(dy, dx) < rim
        return mask


def _draw_water(c: _Canvas) -> None:
    """Sometimes add a smooth, irregular pond or lake."""
    if c.rng.random() < 0.4:
        cy, cx = c.rng.uniform(0.1, 0.9, 2) * c.size
        color = np.array([38, 72, 104]) * c.rng.uniform(0.85, 1.15)
        c.paint(c.blob(cy, cx, c.size * c.rng.uniform(0.13, 0.22), 0.3), WATER, color)


def _draw_roads(c: _Canvas) -> None:
    """Add 1-3 near-axis-aligned asphalt bands (dashed centre line on wide ones); they cross water."""
    n_roads, s = int(c.rng.integers(1, 4)), c.scale
    width = float(np.clip(c.size * c.rng.uniform(0.17, 0.25) / n_roads, 7 * s, 22 * s))
    taken: list[tuple[int, float]] = []
    for _ in range(n_roads):
        vertical = int(c.rng.integers(0, 2))
        for _attempt in range(10):
            offset = c.rng.uniform(0.15, 0.85) * c.size
            if all(o != vertical or abs(off - offset) > width + 12 * s for o, off in taken):
                break
        taken.append((vertical, offset))
        theta = vertical * np.pi / 2 + c.rng.uniform(-0.2, 0.2)
        dx, dy = np.cos(theta), np.sin(theta)
        px, py = c.size / 2 - dy * (offset - c.size / 2), c.size / 2 + dx * (offset - c.size / 2)
        u = (c.xx - px) * dx + (c.yy - py) * dy
        v = -(c.xx - px) * dy + (c.yy - py) * dx
        c.paint(np.abs(v) < width / 2, ROAD, c.rng.uniform(92, 118) + c.rng.uniform(-4, 4, 3))
        if width >= 10 * s:
            c.rgb[(np.abs(v) < 0.8 * s) & (np.mod(u, 12 * s) < 6 * s)] = (215, 215, 200)
        c.roads.append((u, v, width))


def _draw_buildings(c: _Canvas) -> None:
    """Add gable-shaded rectangular roofs with a shadow edge, kept off roads, water and each other."""
    target, s, m = c.rng.uniform(0.12, 0.2), c.scale, max(int(round(2 * c.scale)), 1)
    for _ in range(150):
        if c.fraction(BUILDING) >= target:
            break
        h, w = (c.rng.integers(8, 27, 2) * s).astype(int)
        y0, x0 = int(c.rng.integers(-m, c.size - h + m)), int(c.rng.integers(-m, c.size - w + m))
        y1, x1 = min(y0 + h, c.size), min(x0 + w, c.size)
        y0, x0 = max(y0, 0), max(x0, 0)
        if np.any(c.sem[max(y0 - m, 0):y1 + m, max(x0 - m, 0):x1 + m] != LOW_VEG):
            continue
        roof = _ROOFS[c.rng.integers(len(_ROOFS))] * c.rng.uniform(0.9, 1.1)
        c.paint((slice(y0, y1), slice(x0, x1)), BUILDING, roof, instance=True)
        ym, xm = (y0 + y1) // 2, (x0 + x1) // 2
        half = (slice(y0, ym), slice(x0, x1)) if w >= h else (slice(y0, y1), slice(x0, xm))
        c.rgb[half] *= 1.12  # the sunlit side of a gable roof
        c.rgb[max(y1 - m, y0):y1, x0:x1] *= 0.55  # shadow edge (bottom and right)
        c.rgb[y0:y1, max(x1 - m, x0):x1] *= 0.55


def _draw_trees(c: _Canvas) -> None:
    """Add groves of round, radially shaded crowns on grass; crowns may overhang roofs."""
    target, s = c.rng.uniform(0.1, 0.15), c.scale
    cy = cx = 0.0
    for i in range(300):
        if c.fraction(TREE) >= target:
            break
        if i == 0 or c.rng.random() < 0.35:  # start a new grove on open grass
            free = np.flatnonzero(c.sem == LOW_VEG)
            if free.size == 0:
                break
            cy, cx = divmod(float(free[c.rng.integers(free.size)]), c.size)
        cy, cx = cy + c.rng.normal(0, 6 * s), cx + c.rng.normal(0, 6 * s)
        radius = c.rng.uniform(3, 7) * s
        mask = c.blob(cy, cx, radius, 0.15) & np.isin(c.sem, (LOW_VEG, TREE, BUILDING))
        shade = 1.2 - 0.5 * np.hypot(c.yy[mask] - cy, c.xx[mask] - cx) / radius
        c.paint(mask, TREE, np.array([34, 74, 30]) * c.rng.uniform(0.85, 1.15) * shade[:, None], True)


def _draw_cars(c: _Canvas) -> None:
    """Add small cars fully on asphalt, aligned with their road, in lanes, never touching."""
    target, s = c.rng.uniform(0.012, 0.025), c.scale
    for _ in range(120):
        if c.fraction(CAR) >= target:
            break
        u, v, width = c.roads[int(c.rng.integers(len(c.roads)))]
        length, breadth = c.rng.uniform(6, 9) * s, c.rng.uniform(3.5, 4.5) * s
        u0 = c.rng.uniform(-0.7, 0.7) * c.size
        v0 = c.rng.choice((-1, 1)) * width / 4 if width >= 12 * s else 0.0
        across = np.abs(v - v0) < breadth / 2
        body = across & (np.abs(u - u0) < length / 2)
        room = across & (np.abs(u - u0) < length / 2 + 2 * s)
        if body.sum() < 0.6 * length * breadth or np.any(c.sem[room] != ROAD):
            continue
        c.paint(body, CAR, _CARS[c.rng.integers(len(_CARS))] * c.rng.uniform(0.9, 1.05), True)
        front = c.rng.choice((-1, 1)) * length * 0.2
        c.rgb[body & (np.abs(u - u0 - front) < length * 0.1)] *= 0.4  # windscreen


def _draw_unlabelled(c: _Canvas, force: bool) -> None:
    """Add a few small bare-soil blobs labelled 255 (unlabelled) in about half the scenes."""
    if force or c.rng.random() < 0.5:
        for _ in range(int(c.rng.integers(1, 4))):
            cy, cx = c.rng.uniform(0, c.size, 2)
            c.paint(c.blob(cy, cx, c.rng.uniform(2, 4) * c.scale, 0.2), IGNORE, (128, 106, 80))


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Return roughly unit-variance noise bilinearly upsampled from a (cells+1)^2 grid."""
    coarse = Image.fromarray(rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32))
    return np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _render(c: _Canvas) -> np.ndarray:
    """Turn the flat colours into a textured uint8 image (grain, blotches, tint, lighting)."""
    idx = np.where(c.sem == IGNORE, 6, c.sem)
    grain = c.rng.normal(0, 1, c.sem.shape).astype(np.float32)
    lum = _TEXTURE[idx, 0] * grain + _TEXTURE[idx, 1] * _smooth_noise(c.rng, c.size, 8)
    tint = _smooth_noise(c.rng, c.size, 4) * (idx == LOW_VEG)
    rgb = c.rgb + lum[..., None] + tint[..., None] * np.array([9, 7, -5], np.float32)
    rgb = (rgb + c.rng.normal(0, 2.5, rgb.shape)) * c.rng.uniform(0.9, 1.1)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


def _make_scene(
    rng: np.random.Generator, size: int, force_ignore: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one scene; returns (rgb uint8 HxWx3, class mask uint8 HxW, instance ids int32 HxW)."""
    c = _Canvas(size, rng)
    for step in (_draw_water, _draw_roads, _draw_buildings, _draw_trees, _draw_cars):
        step(c)
    _draw_unlabelled(c, force_ignore)
    return _render(c), c.sem, c.inst


DEMO_MARKER = "README.txt"  # its first words say the folder holds the demo scenes


def demo_description(folder: str | Path | None, num_images: int = 0, size: int = 0, seed: int = 0) -> str | None:
    """``pointtune demo scenes: N synthetic aerial images of SxS px (seed K)``: of the scenes in ``folder`` (its
    marker's first words; None where it has none), or of those ``generate_demo_data`` writes for the arguments."""
    if folder is None:
        return f"pointtune demo scenes: {num_images} synthetic aerial images of {size}x{size} px (seed {seed})"
    try:
        return (Path(folder) / DEMO_MARKER).read_text(encoding="utf-8").split(", written by", 1)[0]
    except OSError:
        return None


def is_demo_folder(path: str | Path) -> bool:
    """A folder written by ``generate_demo_data`` (``pointtune demo-data``)."""
    marker = Path(path) / DEMO_MARKER
    try:
        return marker.is_file() and marker.read_text(encoding="utf-8").startswith("pointtune demo scenes")
    except OSError:
        return False


def _classes_yaml() -> str:
    """Return the text of ``classes.yaml`` for the demo classes."""
    lines = ["mask_encoding: index", "instance_encoding: rgb", "group_pattern: '^(scene\\d+)'", "classes:"]
    for value, (name, color) in enumerate(zip(DEMO_CLASSES, _DISPLAY, strict=True)):
        lines.append(f"  - {{name: {name}, value: {value}, color: [{', '.join(map(str, color))}]}}")
    return "\n".join([*lines, f"ignore: [{IGNORE}]", "exclude_from_mean: []", ""])


def generate_demo_data(out_dir: str | Path, num_images: int = default("demo_images"), size: int = default("demo_size"),
                       seed: int = default("seed")) -> Path:
    """Write a synthetic aerial segmentation dataset.

    Args:
        out_dir: Target folder; ``images/``, ``semantic/``, ``instance/`` and ``classes.yaml`` go inside.
        num_images: Number of scenes, named ``scene000.png`` onwards.
        size: Side length in pixels (shape sizes scale with it; at least 32).
        seed: Non-negative seed; the same seed gives byte-identical files.

    Returns:
        ``out_dir`` as a Path.
    """
    if num_images < 1 or size < 32 or seed < 0:
        raise ValueError(f"need num_images >= 1, size >= 32, seed >= 0; got {num_images}, {size}, {seed}")
    out, start = Path(out_dir), time.perf_counter()
    for sub in ("images", "semantic", "instance"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(num_images)):
        rgb, sem, inst = _make_scene(np.random.default_rng(child), size, force_ignore=i == 0)
        encoded = np.stack([inst & 255, (inst >> 8) & 255, (inst >> 16) & 255], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(out / "images" / f"scene{i:03d}.png")
        Image.fromarray(sem).save(out / "semantic" / f"scene{i:03d}.png")
        Image.fromarray(encoded).save(out / "instance" / f"scene{i:03d}.png")
    (out / "classes.yaml").write_text(_classes_yaml(), encoding="utf-8")
    (out / DEMO_MARKER).write_text(demo_description(None, num_images, size, seed) + ", written by `pointtune "
                                   "demo-data`; `pointtune run --data` on this folder uses the demo's settings (tiny "
                                   "backbone, 64-px tiles) and the classes of classes.yaml.\n", encoding="utf-8")
    elapsed = time.perf_counter() - start
    logger.debug("wrote %d demo scenes (%dpx, seed %d) to %s in %.2fs", num_images, size, seed, out, elapsed)
    return out


def default_demo_dir(seed: int = 0) -> Path:
    """Return the demo cache folder.

    Args:
        seed: Dataset seed.

    Returns:
        ``$POINTTUNE_CACHE/demo-v1-seed{seed}``, with ``~/.cache/pointtune`` when the variable is unset.
    """
    root = os.environ.get("POINTTUNE_CACHE") or Path.home() / ".cache" / "pointtune"
    return Path(root).expanduser() / f"demo-v1-seed{seed}"


def ensure_demo_data(seed: int = 0) -> Path:
    """Return the cached demo dataset for ``seed``, generating it first if missing or incomplete.

    Generation happens in a sibling temporary folder that is renamed into place
    after the ``.complete`` marker is written, so an interrupted run never
    leaves a folder that looks finished.

    Args:
        seed: Dataset seed (24 scenes of 128x128 pixels).

    Returns:
        The folder from :func:`default_demo_dir`, holding a complete dataset.
    """
    target = default_demo_dir(seed)
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_demo_data(tmp, seed=seed)
    (tmp / MARKER).write_text(f"seed={seed}\n", encoding="utf-8")
    if not (target / MARKER).is_file():  # a stale, incomplete earlier attempt
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / MARKER).is_file():
            raise
    return target

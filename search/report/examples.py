"""The report's example images: an image, (training) the clicks it was trained with, its truth and the prediction
side by side (matplotlib: PNGs inside an SVG)."""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_DOTS = 4000  # clicks drawn per training image (a random subset beyond)
PANEL = 2.4  # inches: a panel's width
PHOTO_PX = 144  # pixels per inch of the photo embedded (1.5 times the screen's 96: sharp when zoomed a little)
IGNORED_COLOUR = (0, 0, 0)


def display_rgb(image: Any) -> Any:
    """(H, W, B) pixels of any type -> (H, W, 3) uint8 for display: the first three bands (one band: grey),
    8-bit as is, other types stretched between their 2nd and 98th percentiles per band."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    a = a[..., :3] if a.shape[2] >= 3 else np.repeat(a[..., :1], 3, axis=2)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    lo = np.nanpercentile(a, 2, axis=(0, 1))
    hi = np.nanpercentile(a, 98, axis=(0, 1))
    return (np.clip((a - lo) / np.maximum(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)


def colour_mask(mask: Any, palette: Any) -> Any:
    """Class indices -> RGB with the classes' colours; ignored pixels black."""
    out = np.full((*mask.shape, 3), IGNORED_COLOUR, np.uint8)
    valid = mask < len(palette)
    out[valid] = np.asarray(palette, np.uint8)[mask[valid]]
    return out


def example_figure(ex: dict[str, Any], palette: list[list[int]], names: list[str], train: bool) -> Any:
    """An image, (training) the clicks it was trained with, its truth and the prediction side by side, with a
    legend of the classes shown: a matplotlib Figure (the image's pixels embedded as PNG in its SVG)."""
    from matplotlib.figure import Figure  # not at import: the report's page imports this module
    from matplotlib.patches import Patch, Rectangle

    panels = [("image", ex["image"])]
    if train:
        panels.append((_clicks_title(ex), ex["image"]))
    panels += [("truth", colour_mask(ex["truth"], palette)), ("prediction", colour_mask(ex["prediction"], palette))]
    h, w = ex["truth"].shape
    photo = _shrunk(ex["image"], round(PHOTO_PX * PANEL))
    fig = Figure(figsize=(PANEL * len(panels), PANEL * h / max(w, 1) + 1.1), layout="constrained")
    for k, (ax, (name, pixels)) in enumerate(zip(fig.subplots(1, len(panels), squeeze=False)[0], panels,
                                                  strict=True)):
        # embedded as they are ("none": not resampled): the photo shrunk once, the masks at their size (crisp,
        # they compress to little)
        ax.imshow(photo if pixels is ex["image"] else pixels, interpolation="none", extent=(-0.5, w - 0.5, h - 0.5,
                                                                                            -0.5))
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if train and k == 1:
            ax.add_patch(Rectangle((-0.5, -0.5), w, h, color="white", alpha=0.45, lw=0))
            if not ex["dense"]:
                _click_dots(ax, ex["clicks"], palette)
    handles = [Patch(facecolor=np.asarray(colour) / 255, edgecolor="#8a93a3", label=name)
               for colour, name in _legend_entries(ex, palette, names)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6) or 1, fontsize=7,
               frameon=False)
    fig.suptitle(_example_title(ex, train), fontsize=9)
    return fig


def _shrunk(rgb: Any, width: int) -> Any:
    """(H, W, 3) uint8 pixels shrunk to ``width`` (area average) where wider."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.BOX)
    return np.asarray(image)


def _example_title(ex: dict[str, Any], train: bool) -> str:
    """Which image, the window shown of a larger one, and the prediction's pixel accuracy there."""
    y0, x0, wh, ww = ex["window"]
    where = ("" if [wh, ww] == ex["size"]
             else f" (window {ww}x{wh} at x={x0}, y={y0} of {ex['size'][1]}x{ex['size'][0]})")
    acc = "" if ex["accuracy"] is None else f": pixel accuracy {ex['accuracy']:.3f}"
    return f"{'training' if train else 'validation'} image {ex['stem']}{where}{acc}"


def _clicks_title(ex: dict[str, Any]) -> str:
    if ex["dense"]:
        return "trained on every pixel (density 1)"
    drawn = len(ex["clicks"][0])
    return f"{drawn} click(s) here of {ex['clicks_total']}" + ("" if drawn <= MAX_DOTS else f", {MAX_DOTS} drawn")


def _legend_entries(ex: dict[str, Any], palette: list[list[int]], names: list[str]) -> list[tuple[Any, str]]:
    """(colour, name) of each class in the truth or the prediction, and of ignored pixels where the truth has any."""
    present = sorted({int(v) for v in np.unique(ex["truth"]) if v < len(names)}
                     | {int(v) for v in np.unique(ex["prediction"]) if v < len(names)})
    entries = [(palette[i], names[i]) for i in present]
    if (ex["truth"] >= len(names)).any():
        entries.append((list(IGNORED_COLOUR), "ignored (not scored)"))
    return entries


def _click_dots(ax: Any, clicks: tuple[Any, Any, Any], palette: list[list[int]]) -> None:
    """The clicks (rows, columns, classes) as dots in their classes' colours; at most ``MAX_DOTS`` of them (a fixed
    random subset beyond)."""
    ys, xs, labels = clicks
    if len(ys) > MAX_DOTS:
        keep = np.random.default_rng(0).choice(len(ys), MAX_DOTS, replace=False)
        ys, xs, labels = ys[keep], xs[keep], labels[keep]
    colours = [palette[c] if c < len(palette) else list(IGNORED_COLOUR) for c in np.asarray(labels).tolist()]
    ax.scatter(xs, ys, s=9, c=np.asarray(colours, dtype=float).reshape(-1, 3) / 255, edgecolors="black",
               linewidths=0.4)

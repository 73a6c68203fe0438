"""The report's example images: an image, (training) the clicks it was trained with, its truth and the prediction
side by side, as PNGs inside an SVG."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from search.report.svg import Figure, text, text_width

MAX_DOTS = 4000  # clicks drawn per training image (a random subset beyond)
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


def _png_uri(rgb: Any, width: int | None = None) -> str:
    """(H, W, 3) uint8 pixels as a ``data:image/png;base64,...`` URI (PIL); ``width``: shrunk to it (area
    average) where wider."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if width is not None and image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.BOX)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


SIDE, GAP, MARGIN, TOP = 230, 10, 10, 48  # px: a panel's width, between panels, around them, above them


def draw_example(ex: dict[str, Any], palette: list[list[int]], names: list[str], train: bool) -> str:
    """An image, (training) the clicks it was trained with, its truth and the prediction side by side, with a
    legend of the classes shown: an SVG holding each panel as a PNG, the clicks as dots."""
    panels = [("image", ex["image"])]
    if train:
        panels.append((_clicks_title(ex), ex["image"]))
    panels += [("truth", colour_mask(ex["truth"], palette)), ("prediction", colour_mask(ex["prediction"], palette))]
    h, w = ex["truth"].shape
    scale = SIDE / max(w, 1)
    ph = h * scale
    title = _example_title(ex, train)
    width = max(len(panels) * (SIDE + GAP) - GAP + 2 * MARGIN, text_width(title, 12) + 2 * MARGIN)
    legend, rows = _class_legend(_legend_entries(ex, palette, names), width, TOP + ph + 14)
    fig = Figure(width, TOP + ph + 14 + rows * 18 + 6)
    fig.title(title, 12)
    left0 = (width - (len(panels) * (SIDE + GAP) - GAP)) / 2
    # the photo at up to 1.5 times the panel's width (it is shown at 1), once (a training image shows it twice);
    # the masks at their own size, crisp (they compress to little)
    photo = fig.new_id("photo")
    fig.defs.append(f'<image id="{photo}" width="{SIDE}" height="{ph:.1f}" preserveAspectRatio="none" '
                    + ("" if w > SIDE else 'style="image-rendering:pixelated" ')
                    + f'href="{_png_uri(ex["image"], round(1.5 * SIDE))}"/>')
    for k, (name, img) in enumerate(panels):
        px = left0 + k * (SIDE + GAP)
        fig.add(text(px + SIDE / 2, TOP - 8, name, min(10.5, 0.97 * SIDE / text_width(name, 1)), "middle"),
                f'<use href="#{photo}" x="{px:.1f}" y="{TOP}"/>' if img is ex["image"] else
                f'<image x="{px:.1f}" y="{TOP}" width="{SIDE}" height="{ph:.1f}" preserveAspectRatio="none" '
                f'style="image-rendering:pixelated" href="{_png_uri(img)}"/>',
                f'<rect x="{px:.1f}" y="{TOP}" width="{SIDE}" height="{ph:.1f}" fill="none" stroke="#8a93a3"/>')
        if train and k == 1:
            fig.add(f'<rect x="{px:.1f}" y="{TOP}" width="{SIDE}" height="{ph:.1f}" fill="#fff" fill-opacity="0.45"/>')
            if not ex["dense"]:
                fig.add(*_click_dots(ex["clicks"], palette, px, scale))
    fig.add(*legend)
    return fig.uri()


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


def _class_legend(entries: list[tuple[Any, str]], width: float, top: float) -> tuple[list[str], int]:
    """A swatch and a name per entry, in rows that fit ``width``; the elements and the number of rows."""
    legend, x, row = [], MARGIN, 0
    for colour, name in entries:
        item = 12 + 5 + text_width(name, 10) + 16
        if x > MARGIN and x + item > width - MARGIN:
            x, row = MARGIN, row + 1
        y = top + row * 18
        legend.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="rgb({colour[0]},{colour[1]},'
                      f'{colour[2]})" stroke="#8a93a3" stroke-width="0.5"/>' + text(x + 17, y + 6, name, 10,
                                                                                      baseline="central"))
        x += item
    return legend, row + 1


def _click_dots(clicks: tuple[Any, Any, Any], palette: list[list[int]], px: float, scale: float) -> list[str]:
    """The clicks (rows, columns, classes) as dots in their classes' colours, one path per class; at most
    ``MAX_DOTS`` of them (a fixed random subset beyond)."""
    ys, xs, labels = clicks
    if len(ys) > MAX_DOTS:
        keep = np.random.default_rng(0).choice(len(ys), MAX_DOTS, replace=False)
        ys, xs, labels = ys[keep], xs[keep], labels[keep]
    r = 2.6
    out = []
    for c in sorted({int(v) for v in labels}):
        pick = labels == c
        colour = palette[c] if c < len(palette) else list(IGNORED_COLOUR)
        d = "".join(f"M{px + (xx + 0.5) * scale - r:.1f},{TOP + (yy + 0.5) * scale:.1f}"
                    f"a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0"
                    for yy, xx in zip(ys[pick].tolist(), xs[pick].tolist(), strict=True))
        out.append(f'<path d="{d}" fill="rgb({colour[0]},{colour[1]},{colour[2]})" stroke="#000" '
                   'stroke-width="0.4"/>')
    return out

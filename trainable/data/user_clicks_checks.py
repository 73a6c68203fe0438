"""What the readers of users' clicks share: the images clicks are given for, the clicks collected per image (placed
on the resized image), the problems collected per file, and the checks of a click's class, object id and place.
Where a click lands and how problems are listed: ``trainable.data.user_clicks``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from trainable.data.classes import ClassDescription
from trainable.data.layout import IMAGE_SUFFIXES
from trainable.data.rasters import raster_info

PROBLEMS_SHOWN = 20  # per file and kind of problem; the rest are counted
_EPS = 1e-6  # y * resize computed in floats may land a hair below a whole number that it is


@dataclass(frozen=True)
class ImageRef:
    """An image clicks may be given for: its stem, file, size after ``--resize`` and size in the file."""

    stem: str
    image: str  # path or URI
    height: int  # after resize
    width: int
    orig_height: int  # in the file
    orig_width: int

    @classmethod
    def of(cls, stem: str, image: str, resize: float = 1.0) -> ImageRef:
        """From the image file's header; sizes after resize as ``rasters.resize_array`` makes them."""
        info = raster_info(image)
        return cls(stem, image, max(1, round(info.height * resize)), max(1, round(info.width * resize)),
                   info.height, info.width)


@dataclass(frozen=True)
class ImageClicks:
    """One image's clicks as a user gave them, on the image after resize."""

    stem: str
    index: np.ndarray  # (N,) int64 flat pixel index y * width + x after resize, in annotation order
    label: np.ndarray  # (N,) uint8 class index
    object: np.ndarray | None  # (N,) int64 object id per click (-1: none given), None when the source gives none
    height: int  # after resize
    width: int

    @property
    def count(self) -> int:
        return int(self.index.size)


class Collected:
    """Clicks per image, in chunks (one per file and image), original coordinates as floats."""

    def __init__(self, images: list[ImageRef]):
        self.refs = {r.stem: r for r in images}
        self.by_name = {PurePosixPath(r.image).name: r for r in images}
        self.chunks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]] = defaultdict(list)

    def match(self, value: Any) -> ImageRef | None:
        """The image a stem or file name (a folder before it dropped) names."""
        text = str(value).strip().replace("\\", "/")
        if text in self.refs:
            return self.refs[text]
        name = PurePosixPath(text).name
        if name in self.by_name:
            return self.by_name[name]
        if name in self.refs:
            return self.refs[name]
        stem = PurePosixPath(name)
        return self.refs.get(stem.stem) if stem.suffix.lower() in IMAGE_SUFFIXES else None

    def describe_images(self) -> str:
        stems = list(self.refs)
        return (f"the {len(stems)} images of the dataset (e.g. {', '.join(stems[:3])})" if stems
                else "the dataset's images (it has none)")

    def add(self, stem: str, ys: Any, xs: Any, labels: Any, objects: Any | None) -> None:
        if len(ys):
            self.chunks[stem].append((np.asarray(ys, np.float64), np.asarray(xs, np.float64),
                                      np.asarray(labels, np.uint8),
                                      None if objects is None else np.asarray(objects, np.int64)))

    def result(self, resize: float) -> dict[str, ImageClicks]:
        found = {}
        for stem, ref in self.refs.items():
            chunks = self.chunks.get(stem)
            if chunks:
                found[stem] = assemble(ref, chunks, resize)
        return found


def assemble(ref: ImageRef, chunks: list, resize: float) -> ImageClicks:
    ys = np.concatenate([c[0] for c in chunks])
    xs = np.concatenate([c[1] for c in chunks])
    labels = np.concatenate([c[2] for c in chunks])
    objects = None
    if any(c[3] is not None for c in chunks):
        objects = np.concatenate([c[3] if c[3] is not None else np.full(c[0].size, -1, np.int64) for c in chunks])
    if resize != 1.0:
        ys, xs = ys * resize + _EPS, xs * resize + _EPS
    rows = np.clip(np.floor(ys).astype(np.int64), 0, ref.height - 1)
    cols = np.clip(np.floor(xs).astype(np.int64), 0, ref.width - 1)
    index = rows * ref.width + cols
    _, first = np.unique(index, return_index=True)
    keep = np.sort(first)  # the first click on each pixel, in annotation order
    return ImageClicks(ref.stem, index[keep], labels[keep], None if objects is None else objects[keep],
                       ref.height, ref.width)


class Problems:
    """Problems in the order found; per (file, kind) the first ``PROBLEMS_SHOWN``, then a count. Grouped ones
    (unknown images, unknown classes) are one problem per (file, name) listing where they occur."""

    def __init__(self) -> None:
        self.items: list[Any] = []  # strings, or keys of groups (rendered at the end)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.groups: dict[tuple[str, str, str], tuple[str, list[int], str]] = {}

    def add(self, file: str, where: str, message: str, kind: str) -> None:
        self.counts[(file, kind)] += 1
        if self.counts[(file, kind)] <= PROBLEMS_SHOWN:
            self.items.append(f"{file} {where}: {message}" if where else f"{file}: {message}")

    def group(self, file: str, unit: str, number: int, name: str, message: str) -> None:
        key = (file, unit, f"{message}\0{name}")
        if key not in self.groups:
            self.groups[key] = (unit, [], message)
            self.items.append(key)
        self.groups[key][1].append(number)

    def result(self) -> list[str]:
        out = []
        for item in self.items:
            if isinstance(item, str):
                out.append(item)
                continue
            unit, numbers, message = self.groups[item]
            out.append(f"{item[0]} {_where(unit, numbers)}: {message}")
        for (file, kind), n in self.counts.items():
            if n > PROBLEMS_SHOWN:
                out.append(f"{file}: {n - PROBLEMS_SHOWN} more problem(s) like the above ({kind}) not listed")
        return out


def _where(unit: str, numbers: list[int], shown: int = 5) -> str:
    more = f" and {len(numbers) - shown} more" if len(numbers) > shown else ""
    if unit == "line":
        head = ", ".join(map(str, numbers[:shown]))
        return f"line {head}" if len(numbers) == 1 else f"lines {head}{more}"
    return ", ".join(f"features[{n}]" for n in numbers[:shown]) + more


def class_index(value: Any, classes: ClassDescription) -> int | None:
    """A class name (exact, else case-insensitive when unambiguous) or index as a class index; None if neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in classes.names:
            return classes.names.index(text)
        folded = [i for i, n in enumerate(classes.names) if n.lower() == text.lower()]
        if len(folded) == 1:
            return folded[0]
        number = integer(text)
    else:
        number = integer(value)
    return number if number is not None and 0 <= number < classes.num_classes else None


def integer(value: Any) -> int | None:
    """An integer from an int, an integral float, or their text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f == int(f) else None


def class_problem(value: Any, classes: ClassDescription) -> str:
    """What is wrong with a click's class: none given yet (a suggested click left unanswered), or unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return (f"no class yet (suggested clicks not answered?): fill in the class of each click "
                f"({', '.join(classes.names)}), or remove the clicks that cannot be answered")
    return f"class {value!r} {unknown_class(classes)}"


def unknown_class(classes: ClassDescription) -> str:
    return (f"is not in the class description ({classes.source}); give a class name ({', '.join(classes.names)}) "
            f"or index 0..{classes.num_classes - 1}")


def object_id(value: Any) -> tuple[int | None, str | None]:
    """(id, None), (None, None) for no id, or (None, what is wrong)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    number = integer(value.strip() if isinstance(value, str) else value)
    if number is None or number < 0:
        return None, f"object {value!r} is not a non-negative integer id; give one (or leave it empty)"
    return number, None


def outside(ref: ImageRef, x: float, y: float) -> bool:
    return not (0 <= x < ref.orig_width and 0 <= y < ref.orig_height)


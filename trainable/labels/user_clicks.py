"""Users' own clicks: point annotations read from files, in place of simulated ones.

Three forms are read (``points_kind`` tells which a path is):

``rasters``: a folder of sparse label images (``.png``, ``.tif``, ``.tiff``, ``.bmp``), one per image with the
image's stem. A clicked pixel holds its class's mask value, decoded with the class description as dense masks are
(class indices or grey levels for ``mask_encoding: index``, colours for ``rgb``); every other pixel holds the
background:

- index encoding: ``ignore_value`` (255 by default) or one of the description's ignore values. Any other value that
  is no class is reported (a click of an unknown class). ``ignore_value`` may not be a class's value.
- colour encoding: a pixel is a click when its colour is a class colour. Black, the grey ``(ignore_value,) * 3``
  (white by default) and the description's ignore colours are background, except those that are a class's colour
  (Potsdam's "impervious surfaces" is white: paint its clicks on black). Any other colour is reported: a stray
  colour is more likely a click painted with the wrong colour than background. An alpha channel is dropped (a
  transparent pixel counts by its colour, which is black in most painting programs).

A raster must have its image's size in pixels. Its clicks come in row-major order (a raster holds no annotation
order). A raster labelling more than ``MAX_LABELLED_SHARE`` of its pixels is reported: that is a dense mask (or a
canvas painted in a class's colour), not clicks. Rasters give no object ids.

``csv``: one file, header ``image,x,y,class[,object]`` (any column order, names case-insensitive, further columns
ignored), one click per line in annotation order. ``image`` is the image's stem or file name (a folder before it
is dropped); ``x``, ``y`` are the pixel column and row in the ORIGINAL image (before ``--resize``; floats allowed,
pixel ``(r, c)`` covering ``r <= y < r + 1``, ``c <= x < c + 1``); ``class`` is a class name (case-insensitive
where that is unambiguous) or a class index ``0..C-1`` (not a mask value: grey levels are not indices); ``object``,
when the column is there, a non-negative integer id (an empty cell: no object, stored as -1).

``geojson``: a ``.geojson``/``.json`` FeatureCollection of ``Point`` (or ``MultiPoint``: one click per position)
features, or a folder of such files, one per image, named by its stem. Properties: ``class`` (as in CSV),
``image`` (the stem or file name; where it is missing, the file's name says the image), optional ``object``.
Features count in file order; problems name them ``features[i]`` (0-based, as in the file's array). Coordinates:

- pixel (column, row of the original image, as in CSV) when the collection has the top-level member
  ``"pointtune:coordinates": "pixel"``;
- otherwise map coordinates (``"pointtune:coordinates": "map"`` says so explicitly) in the CRS of the legacy
  ``crs`` member (``{"type": "name", "properties": {"name": "EPSG:32640"}}``, also URN names), else WGS84
  longitude, latitude (RFC 7946). They are projected to the image's CRS (``rasterio.warp.transform``) and turned
  into pixels by the inverse of its transform, so they need rasterio (the ``geo`` extra) and a georeferenced image
  (a GeoTIFF, or any file rasterio reads a CRS for); otherwise the file gets one problem saying so.

Every form: a click at original ``(y, x)`` lands on ``(floor(y * resize), floor(x * resize))`` of the resized
image (clamped to its last row/column: ``resize_array`` rounds sizes, so ``floor`` can reach one past the end);
when two clicks land on the same pixel the first one (in annotation order) stays and the other is dropped, without
a problem (the lead's brief; clicks of different classes on one pixel are not flagged either).

Nothing is raised for anything wrong in the files: every problem is collected, naming the file, the line or
feature and what to do (a problem of one click drops that click only; a file that cannot be parsed at all is one
problem). An image without clicks is not a problem: it is absent from the result. Repeated problems of one kind in
one file are listed up to ``PROBLEMS_SHOWN`` times, then counted; unknown images and classes are listed once per
name, with the lines where they occur.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from trainable.config import IGNORE_INDEX
from trainable.data import storage
from trainable.data.classes import ClassDescription, describe_values
from trainable.data.layout import IMAGE_SUFFIXES, MASK_SUFFIXES
from trainable.data.rasters import has_rasterio, raster_info, read_mask_raw
from trainable.data.sources import decode_mask

RASTER_SUFFIXES = MASK_SUFFIXES
GEOJSON_SUFFIXES = (".geojson", ".json")
CSV_HEADER = ("image", "x", "y", "class")
COORDINATES_MEMBER = "pointtune:coordinates"
MAX_LABELLED_SHARE = 0.5  # a sparse label raster labelling more of its pixels is a dense mask, not clicks
PROBLEMS_SHOWN = 20  # per file and kind of problem; the rest are counted
_EPS = 1e-6  # y * resize computed in floats may land a hair below a whole number that it is
ACCEPTED = ("give a folder of sparse label rasters (.png/.tif, one per image, named like it), a .csv file "
            "(header image,x,y,class[,object]), a .geojson/.json FeatureCollection of Point features, or a folder "
            "of per-image .geojson files")


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


def points_kind(path: str) -> str:
    """``"rasters"``, ``"csv"`` or ``"geojson"``: what form of clicks ``path`` (a path or URI) holds.

    Raises:
        ValueError: the path does not exist or is none of these forms (the message names it and the forms).
    """
    if storage.is_dir(path):
        suffixes = {PurePosixPath(f).suffix.lower() for f in storage.list_files(path)}
        rasters, geojson = suffixes & set(RASTER_SUFFIXES), suffixes & set(GEOJSON_SUFFIXES)
        if rasters and not geojson:
            return "rasters"
        if geojson and not rasters:
            return "geojson"
        why = (f"holds both rasters ({', '.join(sorted(rasters))}) and GeoJSON files ({', '.join(sorted(geojson))})"
               if rasters else f"holds no rasters ({', '.join(RASTER_SUFFIXES)}) and no GeoJSON files")
        raise ValueError(f"clicks {path}: the folder {why}; {ACCEPTED}")
    if not storage.exists(path):
        raise ValueError(f"clicks {path} does not exist; {ACCEPTED}")
    name = PurePosixPath(path).name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(GEOJSON_SUFFIXES):
        return "geojson"
    raise ValueError(f"clicks {path}: not a .csv, .geojson or .json file nor a folder; {ACCEPTED}")


def read_user_points(path: str, images: list[ImageRef], classes: ClassDescription, resize: float = 1.0,
                     ignore_value: int = 255) -> tuple[dict[str, ImageClicks], list[str]]:
    """Read the clicks at ``path`` (module docstring) for these images.

    Args:
        path: a folder of sparse label rasters, a CSV file, a GeoJSON file or a folder of them (path or URI).
        images: the dataset's images (stems, files and sizes).
        classes: how class names, indices, mask values and colours map to class indices.
        resize: the dataset's ``--resize``; clicks are given in original pixels and returned on resized ones.
        ignore_value: the background value of sparse label rasters (unused by CSV and GeoJSON).

    Returns:
        The clicks per image stem (in the order of ``images``; images without clicks absent), and every problem
        found (empty when all is well). Nothing is raised for problems of the files; a path that is none of the
        accepted forms is one problem.
    """
    problems = _Problems()
    out = _Collected(images)
    try:
        kind = points_kind(path)
    except ValueError as e:
        return {}, [str(e)]
    if kind == "rasters":
        _read_rasters(path, out, classes, ignore_value, problems)
    elif kind == "csv":
        _read_csv(path, out, classes, problems)
    elif storage.is_dir(path):
        per_stem: dict[str, list[str]] = defaultdict(list)
        for f in storage.list_files(path):
            if PurePosixPath(f).suffix.lower() in GEOJSON_SUFFIXES:
                per_stem[PurePosixPath(f).stem].append(f)
        for stem, files in per_stem.items():
            if len(files) > 1:
                problems.add(files[0], "", f"{len(files)} files are named {stem} ({', '.join(files)}); keep one",
                             "duplicate")
                continue
            _read_geojson(files[0], out, classes, problems)
    else:
        _read_geojson(path, out, classes, problems)
    return out.result(resize), problems.result()


# --- collecting clicks and problems -------------------------------------------------------------------------------


class _Collected:
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
                found[stem] = _assemble(ref, chunks, resize)
        return found


def _assemble(ref: ImageRef, chunks: list, resize: float) -> ImageClicks:
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


class _Problems:
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


def _class_index(value: Any, classes: ClassDescription) -> int | None:
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
        number = _integer(text)
    else:
        number = _integer(value)
    return number if number is not None and 0 <= number < classes.num_classes else None


def _integer(value: Any) -> int | None:
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


def _class_problem(value: Any, classes: ClassDescription) -> str:
    """What is wrong with a click's class: none given yet (a suggested click left unanswered), or unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return (f"no class yet (suggested clicks not answered?): fill in the class of each click "
                f"({', '.join(classes.names)}), or remove the clicks that cannot be answered")
    return f"class {value!r} {_unknown_class(classes)}"


def _unknown_class(classes: ClassDescription) -> str:
    return (f"is not in the class description ({classes.source}); give a class name ({', '.join(classes.names)}) "
            f"or index 0..{classes.num_classes - 1}")


def _object_id(value: Any) -> tuple[int | None, str | None]:
    """(id, None), (None, None) for no id, or (None, what is wrong)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    number = _integer(value.strip() if isinstance(value, str) else value)
    if number is None or number < 0:
        return None, f"object {value!r} is not a non-negative integer id; give one (or leave it empty)"
    return number, None


def _outside(ref: ImageRef, x: float, y: float) -> bool:
    return not (0 <= x < ref.orig_width and 0 <= y < ref.orig_height)


# --- sparse label rasters -----------------------------------------------------------------------------------------


def _background(classes: ClassDescription, ignore_value: int) -> tuple[ClassDescription | None, str | None]:
    """The description with the rasters' background among its ignore values, or a problem."""
    if classes.mask_encoding == "rgb":
        grey = (ignore_value << 16) | (ignore_value << 8) | ignore_value if 0 <= ignore_value <= 255 else 0
        extra = tuple(v for v in (0, grey) if v not in classes.values and v not in classes.ignore_values)
    else:
        if ignore_value in classes.values:
            name = classes.names[classes.values.index(ignore_value)]
            return None, (f"ignore value {ignore_value} (the background of sparse label rasters) is the value of "
                          f"class {name!r}; give the rasters another background value and pass it as ignore value")
        extra = () if ignore_value in classes.ignore_values else (ignore_value,)
    return dataclasses.replace(classes, ignore_values=classes.ignore_values + tuple(dict.fromkeys(extra))), None


def _read_rasters(folder: str, out: _Collected, classes: ClassDescription, ignore_value: int,
                  problems: _Problems) -> None:
    desc, trouble = _background(classes, ignore_value)
    if desc is None:
        problems.add(folder, "", trouble or "", "background")
        return
    per_stem: dict[str, list[str]] = defaultdict(list)
    for f in storage.list_files(folder):
        if PurePosixPath(f).suffix.lower() in RASTER_SUFFIXES:
            per_stem[PurePosixPath(f).stem].append(f)
    for stem, files in per_stem.items():
        path = files[0]
        if len(files) > 1:
            problems.add(path, "", f"{len(files)} rasters are named {stem} ({', '.join(files)}); keep one",
                         "duplicate")
            continue
        ref = out.refs.get(stem)
        if ref is None:
            problems.add(path, "", f"no image is named {stem} among {out.describe_images()}; name the raster "
                         "like its image or remove it", "unknown image")
            continue
        try:
            raw = read_mask_raw(path)
        except Exception as e:  # noqa: BLE001  PIL and rasterio raise OSError, SyntaxError, RasterioIOError ...
            problems.add(path, "", f"cannot read this raster ({type(e).__name__}: {e}); re-export or remove it",
                         "unreadable")
            continue
        if raw.shape[:2] != (ref.orig_height, ref.orig_width):
            problems.add(path, "", f"raster is {raw.shape[1]}x{raw.shape[0]} but its image {ref.image} is "
                         f"{ref.orig_width}x{ref.orig_height}; a click raster must match its image pixel for pixel",
                         "size")
            continue
        try:
            decoded, unknown, stray = decode_mask(desc.prepare_raw(raw), desc)
        except ValueError as e:
            problems.add(path, "", str(e), "encoding")
            continue
        if unknown.size:
            background = (f"black, grey {ignore_value} or an ignore colour" if desc.mask_encoding == "rgb"
                          else f"{ignore_value} or an ignore value")
            problems.add(path, "", f"{stray} pixel(s) hold values in no class ({describe_values(unknown, desc)}): "
                         f"not used as clicks; a clicked pixel holds its class's value in the class description "
                         f"({classes.source}), every other pixel the background ({background})", "unknown class")
        flat = np.flatnonzero(decoded.ravel() != IGNORE_INDEX)
        if flat.size > MAX_LABELLED_SHARE * decoded.size:
            problems.add(path, "", f"labels {flat.size} of {decoded.size} pixels: a dense mask (or a background "
                         "painted in a class's value), not clicks; leave unclicked pixels at the background "
                         f"({'black or grey ' if desc.mask_encoding == 'rgb' else ''}{ignore_value})", "dense")
            continue
        rows, cols = np.divmod(flat, ref.orig_width)
        out.add(stem, rows, cols, decoded.ravel()[flat], None)


# --- CSV ----------------------------------------------------------------------------------------------------------


def _read_csv(path: str, out: _Collected, classes: ClassDescription, problems: _Problems) -> None:
    try:
        text = storage.read_bytes(path).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        problems.add(path, "", f"cannot read this CSV file ({type(e).__name__}: {e}); save it as UTF-8 text",
                     "unreadable")
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)
    except csv.Error as e:
        problems.add(path, "", f"is not a CSV file ({e}); {_csv_form()}", "unreadable")
        return
    if header is None:
        problems.add(path, "", f"is empty; {_csv_form()}", "unreadable")
        return
    names = [c.strip().lower() for c in header]
    missing = [c for c in CSV_HEADER if c not in names]
    if missing:
        hint = " (the file seems not comma-separated)" if len(header) == 1 and any(s in header[0] for s in ";\t") \
            else ""
        problems.add(path, "line 1", f"header {','.join(header)!r} lacks column(s) {', '.join(missing)}{hint}; "
                     f"{_csv_form()}", "header")
        return
    col = {c: names.index(c) for c in (*CSV_HEADER, "object") if c in names}
    needed = max(col[c] for c in CSV_HEADER) + 1
    found: dict[str, list[tuple[float, float, int, int | None]]] = defaultdict(list)
    while True:
        try:
            row = next(reader, None)
        except csv.Error as e:
            problems.add(path, f"line {reader.line_num}", f"cannot be parsed ({e}); the rest of the file is not "
                         "read; fix the quoting", "malformed")
            break
        if row is None:
            break
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) < needed:
            problems.add(path, f"line {line}", f"has {len(row)} field(s), the header {len(header)}; "
                         f"{_csv_form()}", "malformed")
            continue
        click = _csv_click(path, line, row, col, out, classes, problems)
        if click is not None:
            stem, *values = click
            found[stem].append(tuple(values))
    for stem, clicks in found.items():
        ys, xs, labels, objects = zip(*clicks, strict=True)
        given = [o for o in objects if o is not None]
        out.add(stem, ys, xs, labels, [(-1 if o is None else o) for o in objects] if given else None)


def _csv_form() -> str:
    return ("the first line must be the header image,x,y,class[,object] and each further line one click: image "
            "stem or file name, pixel column x and row y in the original image, class name or index, optional "
            "object id")


def _csv_click(path: str, line: int, row: list[str], col: dict[str, int], out: _Collected,
               classes: ClassDescription, problems: _Problems) -> tuple | None:
    """(stem, y, x, class index, object id) of one line, or None (its problems reported)."""
    ok = True
    image, x_text, y_text, class_text = (row[col[c]].strip() for c in CSV_HEADER)
    ref = out.match(image) if image else None
    if ref is None:
        ok = False
        if not image:
            problems.add(path, f"line {line}", "has no image; give the image's stem or file name", "malformed")
        else:
            problems.group(path, "line", line, image, f"image {image!r} is not among {out.describe_images()}; give "
                           "an image's stem or file name, or remove these lines")
    coords = []
    for axis, text in (("x", x_text), ("y", y_text)):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            ok = False
            problems.add(path, f"line {line}", f"{axis}={text!r} is not a number; x and y are the pixel column and "
                         "row in the original image", "malformed")
        coords.append(value)
    label = _class_index(class_text, classes)
    if label is None:
        ok = False
        problems.group(path, "line", line, class_text, _class_problem(class_text, classes))
    obj = None
    if "object" in col and col["object"] < len(row):
        obj, trouble = _object_id(row[col["object"]])
        if trouble:
            ok = False
            problems.add(path, f"line {line}", trouble, "malformed")
    if not ok or ref is None:
        return None
    x, y = coords
    if _outside(ref, x, y):
        bad = ", ".join(f"{a}={t}" for a, t, v, n in (("x", x_text, x, ref.orig_width),
                                                       ("y", y_text, y, ref.orig_height)) if not 0 <= v < n)
        problems.add(path, f"line {line}", f"{bad} outside image {ref.stem} ({ref.orig_width}x{ref.orig_height} "
                     f"px); x is the pixel column (0 <= x < {ref.orig_width}) and y the row (0 <= y < "
                     f"{ref.orig_height}) in the original image, before any resize; fix or remove the line",
                     "outside")
        return None
    return ref.stem, y, x, label, obj


# --- GeoJSON ------------------------------------------------------------------------------------------------------


def _read_geojson(path: str, out: _Collected, classes: ClassDescription, problems: _Problems) -> None:
    form = ("a FeatureCollection of Point features with properties class, image (optional in a file named like "
            "its image) and object (optional)")
    try:
        doc = json.loads(storage.read_bytes(path).decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        problems.add(path, "", f"is not a readable JSON file ({type(e).__name__}: {e}); it must hold {form}",
                     "unreadable")
        return
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                             list):
        what = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        problems.add(path, "", f"is not a GeoJSON FeatureCollection (type {what!r}); it must hold {form}",
                     "unreadable")
        return
    mode = doc.get(COORDINATES_MEMBER, "map")
    if mode not in ("pixel", "map"):
        problems.add(path, "", f"{COORDINATES_MEMBER!r} is {mode!r}; use \"pixel\" (column, row of the original "
                     "image) or \"map\" (or leave it out: map coordinates in the 'crs' member's CRS, else WGS84)",
                     "unreadable")
        return
    file_ref = out.refs.get(PurePosixPath(path).stem)
    found: dict[str, list[tuple[int, int, float, float, int, int | None]]] = defaultdict(list)
    for i, feature in enumerate(doc["features"]):
        for k, click in enumerate(_feature_clicks(path, i, feature, file_ref, out, classes, problems)):
            ref, x, y, label, obj = click
            found[ref.stem].append((i, k, x, y, label, obj))
    if not found:
        return
    crs = None
    if mode == "map":
        crs, trouble = _legacy_crs(doc)
        trouble = trouble or _crs_problem(crs)
        if trouble:
            problems.add(path, "", trouble, "crs")
            return
    for stem, clicks in found.items():
        ref = out.refs[stem]
        numbers, parts, xs, ys, labels, objects = (list(v) for v in zip(*clicks, strict=True))
        cols, rows = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        if mode == "map":
            pixels, trouble = _to_pixels(ref, crs, cols, rows)
            if pixels is None:
                problems.add(path, "", f"{len(clicks)} click(s) on image {stem}: {trouble}", "georeference")
                continue
            cols, rows = pixels
        keep = []
        for j in range(len(numbers)):
            c, r = float(cols[j]), float(rows[j])
            if not (math.isfinite(c) and math.isfinite(r)) or _outside(ref, c, r):
                where = f"features[{numbers[j]}]" + (f" position {parts[j]}" if parts[j] else "")
                at = (f"map point ({xs[j]!r}, {ys[j]!r}) in {crs} falls at pixel column {c:.1f}, row {r:.1f}, "
                      if mode == "map" else f"x={xs[j]!r}, y={ys[j]!r} ")
                fix = (f"check the collection's CRS (the 'crs' member; none means WGS84 longitude, latitude) and "
                       f"that the feature belongs to image {stem}" if mode == "map" else
                       f"pixel coordinates are column 0 <= x < {ref.orig_width} and row 0 <= y < {ref.orig_height} "
                       "of the original image")
                problems.add(path, where, f"{at}outside image {stem} ({ref.orig_width}x{ref.orig_height} px); "
                             f"{fix}; fix or remove the feature", "outside")
                continue
            keep.append(j)
        given = any(objects[j] is not None for j in keep)
        out.add(stem, rows[keep], cols[keep], [labels[j] for j in keep],
                [(-1 if objects[j] is None else objects[j]) for j in keep] if given else None)


def _feature_clicks(path: str, i: int, feature: Any, file_ref: ImageRef | None, out: _Collected,
                    classes: ClassDescription, problems: _Problems) -> list[tuple]:
    """(image, x, y, class index, object id) per position of one feature; [] with its problems reported."""
    where = f"features[{i}]"

    def bad(message: str) -> list:
        problems.add(path, where, message, "malformed")
        return []

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return bad("is not a GeoJSON Feature; each click is a Feature with a Point geometry")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return bad("its properties are not an object; give {\"class\": ..., \"image\": ...}")
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind == "Point":
        positions = [geometry.get("coordinates")]
    elif kind == "MultiPoint" and isinstance(geometry.get("coordinates"), list):
        positions = geometry["coordinates"]
    else:
        return bad(f"geometry is {kind or geometry!r}; clicks are Point (or MultiPoint) features")
    coords = []
    for p in positions:
        if not (isinstance(p, (list, tuple)) and len(p) >= 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in p[:2])):
            return bad(f"coordinates {p!r} are not a position [x, y] of two numbers")
        coords.append((float(p[0]), float(p[1])))
    ok = True
    image = props.get("image")
    if image is None or (isinstance(image, str) and not image.strip()):
        ref = file_ref
        if ref is None:
            ok = False
            problems.add(path, where, f"has no 'image' property and the file's name ({PurePosixPath(path).name}) "
                         "is no image's; give the image's stem, or put each image's clicks in a file named like it",
                         "malformed")
    else:
        ref = out.match(image)
        if ref is None:
            ok = False
            problems.group(path, "feature", i, str(image), f"image {image!r} is not among {out.describe_images()}; "
                           "give an image's stem or file name, or remove these features")
    if "class" not in props:
        ok = False
        problems.add(path, where, f"has no 'class' property; give a class name ({', '.join(classes.names)}) or "
                     "index", "malformed")
        label = None
    else:
        label = _class_index(props["class"], classes)
        if label is None:
            ok = False
            problems.group(path, "feature", i, repr(props["class"]), _class_problem(props["class"], classes))
    obj, trouble = _object_id(props.get("object"))
    if trouble:
        ok = False
        problems.add(path, where, trouble, "malformed")
    if not ok:
        return []
    return [(ref, x, y, label, obj) for x, y in coords]


def _legacy_crs(doc: dict) -> tuple[str, str | None]:
    """The CRS name of the collection's legacy ``crs`` member (WGS84 without one), or a problem."""
    member = doc.get("crs")
    if member is None:
        return "EPSG:4326", None
    props = member.get("properties") if isinstance(member, dict) else None
    if isinstance(props, dict) and member.get("type") == "name" and isinstance(props.get("name"), str):
        return props["name"], None
    if isinstance(props, dict) and str(member.get("type")).upper() == "EPSG" and _integer(props.get("code")):
        return f"EPSG:{_integer(props['code'])}", None
    return "", (f"'crs' member {member!r} is not understood; write {{\"type\": \"name\", \"properties\": {{\"name\": "
                "\"EPSG:32640\"}}, leave it out for WGS84 longitude, latitude, or give pixel coordinates with "
                f"\"{COORDINATES_MEMBER}\": \"pixel\"")


def _crs_problem(crs: str) -> str | None:
    """Why map coordinates in ``crs`` cannot be placed (rasterio missing, CRS unknown), or None."""
    pixel_hint = f"or give pixel coordinates (column, row) with \"{COORDINATES_MEMBER}\": \"pixel\""
    if not has_rasterio():
        return (f"holds map coordinates (it has no \"{COORDINATES_MEMBER}\": \"pixel\" member), which need rasterio "
                f"to be turned into pixels: install the geo extra (pip install 'pointtune[geo]'), {pixel_hint}")
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        CRS.from_user_input(crs)
    except CRSError as e:
        return f"CRS {crs!r} of the 'crs' member is not known ({e}); give an EPSG code such as EPSG:32640, {pixel_hint}"
    return None


def _to_pixels(ref: ImageRef, crs: str, xs: np.ndarray,
               ys: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
    """Map coordinates in ``crs`` as (columns, rows) of the original image, or None and why not."""
    pixel_hint = f"or give pixel coordinates (column, row) with \"{COORDINATES_MEMBER}\": \"pixel\""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.warp import transform

    source = CRS.from_user_input(crs)  # known: checked by _crs_problem
    try:
        with rasterio.open(ref.image.removeprefix("file://")) as src:
            target, affine = src.crs, src.transform
    except Exception as e:  # noqa: BLE001  RasterioIOError and what GDAL's drivers raise
        return None, f"cannot read the georeference of {ref.image} ({type(e).__name__}: {e}), {pixel_hint}"
    if target is None:
        return None, (f"the image {ref.image} has no georeference (no CRS), so map coordinates cannot be placed on "
                      f"it; use a georeferenced GeoTIFF, {pixel_hint}")
    try:
        tx, ty = transform(source, target, xs.tolist(), ys.tolist())
    except Exception as e:  # noqa: BLE001  PROJ errors
        return None, f"cannot project from {crs} to the image's CRS ({type(e).__name__}: {e}), {pixel_hint}"
    inverse = ~affine
    tx, ty = np.asarray(tx, np.float64), np.asarray(ty, np.float64)
    return (inverse.a * tx + inverse.b * ty + inverse.c, inverse.d * tx + inverse.e * ty + inverse.f), ""

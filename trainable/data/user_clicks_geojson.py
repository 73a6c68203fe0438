"""Users' clicks as GeoJSON: a ``.geojson``/``.json`` FeatureCollection of ``Point`` features, or a folder of them.

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
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from trainable.data import storage
from trainable.data.classes import ClassDescription
from trainable.data.rasters import has_rasterio
from trainable.data.user_clicks_checks import (
    Collected,
    ImageRef,
    Problems,
    class_index,
    class_problem,
    integer,
    object_id,
    outside,
)

GEOJSON_SUFFIXES = (".geojson", ".json")
COORDINATES_MEMBER = "pointtune:coordinates"


FORM = ("a FeatureCollection of Point features with properties class, image (optional in a file named like its "
        "image) and object (optional)")


def read_geojson_folder(folder: str, out: Collected, classes: ClassDescription, problems: Problems) -> None:
    """The clicks of every ``.geojson``/``.json`` file of ``folder`` (one per image, named by its stem)."""
    per_stem: dict[str, list[str]] = defaultdict(list)
    for f in storage.list_files(folder):
        if PurePosixPath(f).suffix.lower() in GEOJSON_SUFFIXES:
            per_stem[PurePosixPath(f).stem].append(f)
    for stem, files in per_stem.items():
        if len(files) > 1:
            problems.add(files[0], "", f"{len(files)} files are named {stem} ({', '.join(files)}); keep one",
                         "duplicate")
            continue
        read_geojson(files[0], out, classes, problems)


def read_geojson(path: str, out: Collected, classes: ClassDescription, problems: Problems) -> None:
    """The clicks of the FeatureCollection at ``path``, into ``out``; what is wrong, into ``problems``."""
    doc = _collection(path, problems)
    if doc is None:
        return
    mode = doc.get(COORDINATES_MEMBER, "map")
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
        _place(path, out.refs[stem], clicks, crs, out, problems)


def _collection(path: str, problems: Problems) -> dict[str, Any] | None:
    """The file's FeatureCollection, when it is one with a known ``pointtune:coordinates`` (else None, a problem
    reported)."""
    try:
        doc = json.loads(storage.read_bytes(path).decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        problems.add(path, "", f"is not a readable JSON file ({type(e).__name__}: {e}); it must hold {FORM}",
                     "unreadable")
        return None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                             list):
        what = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        problems.add(path, "", f"is not a GeoJSON FeatureCollection (type {what!r}); it must hold {FORM}",
                     "unreadable")
        return None
    mode = doc.get(COORDINATES_MEMBER, "map")
    if mode not in ("pixel", "map"):
        problems.add(path, "", f"{COORDINATES_MEMBER!r} is {mode!r}; use \"pixel\" (column, row of the original "
                     "image) or \"map\" (or leave it out: map coordinates in the 'crs' member's CRS, else WGS84)",
                     "unreadable")
        return None
    return doc


def _place(path: str, ref: ImageRef, clicks: list[tuple], crs: str | None, out: Collected,
           problems: Problems) -> None:
    """One image's clicks of a file (feature number, position, x, y, class, object) placed on its pixels: map
    coordinates (``crs`` given) projected; those outside the image reported and left out."""
    numbers, parts, xs, ys, labels, objects = (list(v) for v in zip(*clicks, strict=True))
    cols, rows = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if crs is not None:
        pixels, trouble = _to_pixels(ref, crs, cols, rows)
        if pixels is None:
            problems.add(path, "", f"{len(clicks)} click(s) on image {ref.stem}: {trouble}", "georeference")
            return
        cols, rows = pixels
    keep = []
    for j in range(len(numbers)):
        c, r = float(cols[j]), float(rows[j])
        if not (math.isfinite(c) and math.isfinite(r)) or outside(ref, c, r):
            where = f"features[{numbers[j]}]" + (f" position {parts[j]}" if parts[j] else "")
            at = (f"map point ({xs[j]!r}, {ys[j]!r}) in {crs} falls at pixel column {c:.1f}, row {r:.1f}, "
                  if crs is not None else f"x={xs[j]!r}, y={ys[j]!r} ")
            fix = (f"check the collection's CRS (the 'crs' member; none means WGS84 longitude, latitude) and "
                   f"that the feature belongs to image {ref.stem}" if crs is not None else
                   f"pixel coordinates are column 0 <= x < {ref.orig_width} and row 0 <= y < {ref.orig_height} "
                   "of the original image")
            problems.add(path, where, f"{at}outside image {ref.stem} ({ref.orig_width}x{ref.orig_height} px); "
                         f"{fix}; fix or remove the feature", "outside")
            continue
        keep.append(j)
    given = any(objects[j] is not None for j in keep)
    out.add(ref.stem, rows[keep], cols[keep], [labels[j] for j in keep],
            [(-1 if objects[j] is None else objects[j]) for j in keep] if given else None)


def _feature_clicks(path: str, i: int, feature: Any, file_ref: ImageRef | None, out: Collected,
                    classes: ClassDescription, problems: Problems) -> list[tuple]:
    """(image, x, y, class index, object id) per position of one feature; [] with its problems reported."""
    where = f"features[{i}]"
    positions, trouble = _positions(feature)
    if positions is None:
        problems.add(path, where, trouble, "malformed")
        return []
    props = feature.get("properties") or {}
    image = props.get("image")
    if image is None or (isinstance(image, str) and not image.strip()):
        ref = file_ref
        if ref is None:
            problems.add(path, where, f"has no 'image' property and the file's name ({PurePosixPath(path).name}) "
                         "is no image's; give the image's stem, or put each image's clicks in a file named like it",
                         "malformed")
    else:
        ref = out.match(image)
        if ref is None:
            problems.group(path, "feature", i, str(image), f"image {image!r} is not among {out.describe_images()}; "
                           "give an image's stem or file name, or remove these features")
    label = None
    if "class" not in props:
        problems.add(path, where, f"has no 'class' property; give a class name ({', '.join(classes.names)}) or "
                     "index", "malformed")
    else:
        label = class_index(props["class"], classes)
        if label is None:
            problems.group(path, "feature", i, repr(props["class"]), class_problem(props["class"], classes))
    obj, trouble = object_id(props.get("object"))
    if trouble:
        problems.add(path, where, trouble, "malformed")
    if ref is None or label is None or trouble:
        return []
    return [(ref, x, y, label, obj) for x, y in positions]


def _positions(feature: Any) -> tuple[list[tuple[float, float]] | None, str]:
    """The (x, y) positions of a Point or MultiPoint feature, or None and what is wrong with it."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, "is not a GeoJSON Feature; each click is a Feature with a Point geometry"
    if not isinstance(feature.get("properties") or {}, dict):
        return None, "its properties are not an object; give {\"class\": ..., \"image\": ...}"
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind == "Point":
        positions = [geometry.get("coordinates")]
    elif kind == "MultiPoint" and isinstance(geometry.get("coordinates"), list):
        positions = geometry["coordinates"]
    else:
        return None, f"geometry is {kind or geometry!r}; clicks are Point (or MultiPoint) features"
    coords = []
    for p in positions:
        if not (isinstance(p, (list, tuple)) and len(p) >= 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in p[:2])):
            return None, f"coordinates {p!r} are not a position [x, y] of two numbers"
        coords.append((float(p[0]), float(p[1])))
    return coords, ""


def _legacy_crs(doc: dict) -> tuple[str, str | None]:
    """The CRS name of the collection's legacy ``crs`` member (WGS84 without one), or a problem."""
    member = doc.get("crs")
    if member is None:
        return "EPSG:4326", None
    props = member.get("properties") if isinstance(member, dict) else None
    if isinstance(props, dict) and member.get("type") == "name" and isinstance(props.get("name"), str):
        return props["name"], None
    if isinstance(props, dict) and str(member.get("type")).upper() == "EPSG" and integer(props.get("code")):
        return f"EPSG:{integer(props['code'])}", None
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

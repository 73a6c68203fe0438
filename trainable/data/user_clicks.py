"""Users' own clicks: point annotations read from files, in place of simulated ones.

Three forms are read (``clicks_kind`` tells which a path is), each by a module of its own:

- ``rasters`` (``user_clicks_rasters``): a folder of sparse label images, one per image with the image's stem, a
  clicked pixel holding its class's mask value;
- ``csv`` (``user_clicks_csv``): one file, header ``image,x,y,class[,object]``, one click per line;
- ``geojson`` (``user_clicks_geojson``): a FeatureCollection of ``Point`` features, or a folder of them, one per
  image, in pixel or map coordinates.

Every form: a click at original ``(y, x)`` lands on ``(floor(y * resize), floor(x * resize))`` of the resized
image (clamped to its last row/column: ``resize_array`` rounds sizes, so ``floor`` can reach one past the end);
when two clicks land on the same pixel the first one (in annotation order) stays and the other is dropped, without
a problem (the lead's brief; clicks of different classes on one pixel are not flagged either).

Nothing is raised for anything wrong in the files: every problem is collected, naming the file, the line or
feature and what to do (a problem of one click drops that click only; a file that cannot be parsed at all is one
problem). An image without clicks is not a problem: it is absent from the result. Repeated problems of one kind in
one file are listed up to ``PROBLEMS_SHOWN`` times, then counted; unknown images and classes are listed once per
name, with the lines where they occur (``user_clicks_checks``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from trainable.data import storage
from trainable.data.classes import ClassDescription
from trainable.data.user_clicks_checks import Collected, ImageClicks, ImageRef, Problems
from trainable.data.user_clicks_csv import read_csv
from trainable.data.user_clicks_geojson import GEOJSON_SUFFIXES, read_geojson, read_geojson_folder
from trainable.data.user_clicks_rasters import RASTER_SUFFIXES, read_rasters

__all__ = ["ACCEPTED", "ImageClicks", "ImageRef", "clicks_kind", "read_user_clicks"]

ACCEPTED = ("give a folder of sparse label rasters (.png/.tif, one per image, named like it), a .csv file "
            "(header image,x,y,class[,object]), a .geojson/.json FeatureCollection of Point features, or a folder "
            "of per-image .geojson files")


def clicks_kind(path: str) -> str:
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


def read_user_clicks(path: str, images: list[ImageRef], classes: ClassDescription, resize: float = 1.0,
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
    problems = Problems()
    out = Collected(images)
    try:
        kind = clicks_kind(path)
    except ValueError as e:
        return {}, [str(e)]
    if kind == "rasters":
        read_rasters(path, out, classes, ignore_value, problems)
    elif kind == "csv":
        read_csv(path, out, classes, problems)
    elif storage.is_dir(path):
        read_geojson_folder(path, out, classes, problems)
    else:
        read_geojson(path, out, classes, problems)
    return out.result(resize), problems.result()

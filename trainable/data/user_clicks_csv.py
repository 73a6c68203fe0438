"""Users' clicks as one CSV file, header ``image,x,y,class[,object]``.

``csv``: one file, header ``image,x,y,class[,object]`` (any column order, names case-insensitive, further columns
ignored), one click per line in annotation order. ``image`` is the image's stem or file name (a folder before it
is dropped); ``x``, ``y`` are the pixel column and row in the ORIGINAL image (before ``--resize``; floats allowed,
pixel ``(r, c)`` covering ``r <= y < r + 1``, ``c <= x < c + 1``); ``class`` is a class name (case-insensitive
where that is unambiguous) or a class index ``0..C-1`` (not a mask value: grey levels are not indices); ``object``,
when the column is there, a non-negative integer id (an empty cell: no object, stored as -1).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from typing import Any

from trainable.data import storage
from trainable.data.classes import ClassDescription
from trainable.data.user_clicks_checks import Collected, Problems, class_index, class_problem, object_id, outside

CSV_HEADER = ("image", "x", "y", "class")


def read_csv(path: str, out: Collected, classes: ClassDescription, problems: Problems) -> None:
    """The clicks of the CSV file at ``path``, into ``out``; what is wrong, into ``problems``."""
    try:
        text = storage.read_bytes(path).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        problems.add(path, "", f"cannot read this CSV file ({type(e).__name__}: {e}); save it as UTF-8 text",
                     "unreadable")
        return
    reader = csv.reader(io.StringIO(text))
    header = _header(path, reader, problems)
    if header is None:
        return
    names = [c.strip().lower() for c in header]
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


def _header(path: str, reader: Any, problems: Problems) -> list[str] | None:
    """The first line that is not blank, when it names every column of ``CSV_HEADER`` (else None, a problem
    reported)."""
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)
    except csv.Error as e:
        problems.add(path, "", f"is not a CSV file ({e}); {_csv_form()}", "unreadable")
        return None
    if header is None:
        problems.add(path, "", f"is empty; {_csv_form()}", "unreadable")
        return None
    names = [c.strip().lower() for c in header]
    missing = [c for c in CSV_HEADER if c not in names]
    if missing:
        hint = " (the file seems not comma-separated)" if len(header) == 1 and any(s in header[0] for s in ";\t") \
            else ""
        problems.add(path, "line 1", f"header {','.join(header)!r} lacks column(s) {', '.join(missing)}{hint}; "
                     f"{_csv_form()}", "header")
        return None
    return header


def _csv_form() -> str:
    return ("the first line must be the header image,x,y,class[,object] and each further line one click: image "
            "stem or file name, pixel column x and row y in the original image, class name or index, optional "
            "object id")


def _csv_click(path: str, line: int, row: list[str], col: dict[str, int], out: Collected,
               classes: ClassDescription, problems: Problems) -> tuple | None:
    """(stem, y, x, class index, object id) of one line, or None (its problems reported)."""
    image, x_text, y_text, class_text = (row[col[c]].strip() for c in CSV_HEADER)
    ref = out.match(image) if image else None
    if ref is None and not image:
        problems.add(path, f"line {line}", "has no image; give the image's stem or file name", "malformed")
    elif ref is None:
        problems.group(path, "line", line, image, f"image {image!r} is not among {out.describe_images()}; give "
                       "an image's stem or file name, or remove these lines")
    x, y = (_number(path, line, axis, text, problems) for axis, text in (("x", x_text), ("y", y_text)))
    label = class_index(class_text, classes)
    if label is None:
        problems.group(path, "line", line, class_text, class_problem(class_text, classes))
    obj, trouble = object_id(row[col["object"]]) if "object" in col and col["object"] < len(row) else (None, None)
    if trouble:
        problems.add(path, f"line {line}", trouble, "malformed")
    if ref is None or not (math.isfinite(x) and math.isfinite(y)) or label is None or trouble:
        return None
    if outside(ref, x, y):
        bad = ", ".join(f"{a}={t}" for a, t, v, n in (("x", x_text, x, ref.orig_width),
                                                       ("y", y_text, y, ref.orig_height)) if not 0 <= v < n)
        problems.add(path, f"line {line}", f"{bad} outside image {ref.stem} ({ref.orig_width}x{ref.orig_height} "
                     f"px); x is the pixel column (0 <= x < {ref.orig_width}) and y the row (0 <= y < "
                     f"{ref.orig_height}) in the original image, before any resize; fix or remove the line",
                     "outside")
        return None
    return ref.stem, y, x, label, obj


def _number(path: str, line: int, axis: str, text: str, problems: Problems) -> float:
    """A coordinate of a line, NaN when it is not a number (a problem reported)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.add(path, f"line {line}", f"{axis}={text!r} is not a number; x and y are the pixel column and "
                     "row in the original image", "malformed")
    return value

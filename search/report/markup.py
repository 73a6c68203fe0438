"""The HTML pieces every section writes: plain JSON values, escaped text, table cells, figures and gaps."""

from __future__ import annotations

import dataclasses
import html
import json
import math
from typing import Any


def plain(v: Any) -> Any:
    """A JSON-safe scalar: NaN and None -> None, numpy numbers -> Python numbers."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def fmt(v: Any) -> str:
    """A table cell's text: 4 significant digits for floats, empty for missing values."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def img(uri: str, alt: str) -> str:
    return f'<img class="fig" src="{uri}" alt="{esc(alt)}">'


def gap(text: str) -> str:
    return f'<p class="gap">{esc(text)}</p>'


def num(v: Any, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def clean(obj: Any) -> Any:
    """Plain JSON: NaN and infinities as null, numpy scalars as numbers, dataclasses as dicts, tables as lists of
    rows, arrays left out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return clean({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # a DataFrame
        return clean(obj.to_dict("records"))
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if hasattr(obj, "shape") and getattr(obj, "ndim", 0) > 0:
        return None
    return plain(obj)


def json_script(data: Any) -> str:
    text = json.dumps(clean(data), allow_nan=False)
    return text.replace("</", "<\\/")

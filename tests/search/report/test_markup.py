"""``search.report.markup``: the page's data as plain JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from search.report.markup import clean, fmt, json_script


@dataclass
class _Chart:
    name: str
    points: pd.DataFrame


def test_dataclasses_and_tables_become_plain_json() -> None:
    chart = _Chart("c", pd.DataFrame({"x": [1.0, math.nan], "id": ["a", "b"]}))
    assert clean([chart, np.float32(0.5), np.zeros(3)]) == [
        {"name": "c", "points": [{"x": 1.0, "id": "a"}, {"x": None, "id": "b"}]}, 0.5, None]
    assert json.loads(json_script({"t": "</script>"})) == {"t": "</script>"}
    assert "<\\/script>" in json_script({"t": "</script>"}), "no end of the script inside it"


def test_cells() -> None:
    assert [fmt(v) for v in (None, math.nan, True, 0.123456, 3)] == ["", "", "yes", "0.1235", "3"]

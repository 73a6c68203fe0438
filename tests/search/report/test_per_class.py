"""``search.report.per_class``: the per-class scores as a table."""

from __future__ import annotations

import re

from search.report.per_class import per_class_table


def test_one_row_per_class_a_dash_where_it_has_no_score() -> None:
    html = per_class_table([{"class": "road <1>", "f1": 0.75, "iou": 0.6, "precision": 0.8, "recall": 0.7},
                            {"class": "car", "f1": None, "iou": None, "precision": None, "recall": None}])
    rows = re.findall(r"<tr><td class=\"t\">(.*?)</td>(.*?)</tr>", html)
    assert rows[0] == ("road &lt;1&gt;", "<td>0.7500</td><td>0.6000</td><td>0.8000</td><td>0.7000</td>")
    assert rows[1] == ("car", "<td>-</td>" * 4)

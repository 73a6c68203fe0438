"""``search.results.charts.style``: how a figure names a metric."""

from __future__ import annotations

from search.results.charts.style import metric_label


def test_metric_labels() -> None:
    assert [metric_label(m) for m in ("val_f1", "val_miou", "val_oa", "val_recall", "val_clicks_f1")] == [
        "F1", "mIoU", "OA", "recall", "clicks F1"]

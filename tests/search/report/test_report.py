"""``pointtune report``: its data functions on a hand-made results table (no Ray), the HTML around them, and a real
``pointtune train`` folder reported end to end (the best checkpoint run on the validation images)."""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
import torch

from search.cli.main import main
from search.report import page as report
from search.report import summary as report_summary
from search.report.confusion import confusion_data
from search.report.curves import curves
from search.report.frontier import frontier_data
from search.report.per_class import per_class
from search.report.scatter import scatter_panels
from search.report.summary import summary_data
from search.report.trials_table import table_data
from search.results.experiment import TrialRecord
from search.results.tables import trials_table
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

CLASSES = ("road", "building", "water")


def _config(lr: float, density: float | None = None, per_instance: int | None = None, epochs: int = 3) -> dict:
    points = (PointConfig(mode="density", density=density) if per_instance is None
              else PointConfig(mode="per_instance", clicks_per_object=per_instance, background_share=0.2))
    return TrialConfig(data=DataConfig(root="/nowhere", format="demo", tile_size=32), points=points,
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(lr=lr, epochs=epochs)).to_dict()


def _history(f1s: list[float], clicks: float) -> pd.DataFrame:
    rows = []
    for epoch, f1 in enumerate(f1s, start=1):
        row = {"epoch": epoch, "val_f1": f1, "val_miou": f1 / 2, "val_oa": f1 + 0.1, "clicks_per_image": clicks,
               "annotation_hours": clicks / 1000, "time_total_s": 2.0 * epoch}
        for k, name in enumerate(CLASSES):
            row[f"val_f1_{name}"] = f1 + 0.1 * (k - 1) if name != "water" else math.nan  # water: absent
            row[f"val_iou_{name}"] = f1 / 2
            row[f"val_precision_{name}"] = f1
            row[f"val_recall_{name}"] = f1
        rows.append(row)
    return pd.DataFrame(rows)


def hand_made() -> list[TrialRecord]:
    """Five trials, one of each kind: finished (the best, not at its last epoch), stopped early, running, diverged,
    failed before any epoch."""
    return [
        TrialRecord("t_best", "finished", _config(3e-3, density=0.05), _history([0.5, 0.8, 0.7], 200.0), None, "-"),
        TrialRecord("t_stop", "stopped early", _config(1e-4, density=0.002), _history([0.3], 8.0), None, "-"),
        TrialRecord("t_run", "running", _config(1e-3, density=0.01, epochs=4), _history([0.4, 0.6], 40.0), None,
                    "-"),
        TrialRecord("t_div", "diverged", _config(5e-2, density=0.02), _history([0.2], 80.0),
                    "training diverged: loss became nan at epoch 2 with lr=0.05", "-", outcome="diverged"),
        TrialRecord("t_fail", "failed", _config(2e-3, density=0.03), pd.DataFrame(),
                    "ConfigError: density 0.03 leaves 2 training image(s) with no labelled point", "-",
                    outcome="error"),
    ]


@pytest.fixture
def records() -> list[TrialRecord]:
    return hand_made()


def test_the_table_keeps_one_row_per_trial_best_first_with_status_marks(records: list[TrialRecord]) -> None:
    data = table_data(trials_table(records))
    assert [r["trial_id"] for r in data["rows"]] == ["t_best", "t_run", "t_stop", "t_div", "t_fail"]
    assert {r["trial_id"]: r["mark"] for r in data["rows"]} == {
        "t_best": "finished", "t_stop": "stopped", "t_run": "running", "t_div": "diverged", "t_fail": "failed"}
    cols = data["columns"]
    assert cols[:3] == ["trial_id", "status", "lr"] and "best_val_f1" in cols and "error" in cols
    # empty for every trial (no per-object clicks, no reference) or the same for all (mode): left out
    assert not {"clicks_per_object", "background_share", "f1_vs_full", "mode", "class_weights"} & set(cols)
    best = data["rows"][0]["cells"]
    assert best["best_val_f1"] == pytest.approx(0.8) and best["best_epoch"] == 2 and best["last_val_f1"] == 0.7
    failed = data["rows"][-1]
    assert failed["cells"]["best_val_f1"] is None and "ConfigError" in failed["error"]
    json.dumps(data, allow_nan=False)  # plain values only: NaN became None


def test_curves_scatter_and_frontier_from_the_table(records: list[TrialRecord]) -> None:
    lines = curves(records)
    assert {c["trial_id"]: c["epoch"] for c in lines} == {"t_best": [1, 2, 3], "t_stop": [1], "t_run": [1, 2],
                                                           "t_div": [1]}, "the failed trial has no curve"
    assert lines[0]["value"] == [0.5, 0.8, 0.7]
    df = trials_table(records)
    panels = {p["param"]: p for p in scatter_panels(df, "val_f1")}
    assert set(panels) == {"lr", "density", "clicks_per_image"}, "per-object clicks and shares were not searched"
    lr = panels["lr"]
    assert lr["log"] and set(lr["series"]) == {"finished", "stopped early", "running", "diverged"}
    assert lr["series"]["finished"] == {"x": [3e-3], "y": [0.8], "trial_id": ["t_best"]}
    frontier = frontier_data(df, "val_f1", target=0.7)
    assert {p["trial_id"] for p in frontier["points"]} == {"t_best", "t_stop", "t_run"}, "no failed or diverged"
    assert [p["trial_id"] for p in frontier["front"]] == ["t_stop", "t_run", "t_best"]
    assert frontier["threshold"] == pytest.approx(0.56) and frontier["target_trial"] == "t_run"
    assert "40" in frontier["statements"][0] and "t_run" in frontier["statements"][0]
    assert frontier_data(df[df.trial_id == "t_best"], "val_f1") is None, "one trial: no frontier"
    assert scatter_panels(df[df.trial_id == "t_best"], "val_f1") == []


def test_per_class_scores_confusion_matrix_and_test_score(records: list[TrialRecord]) -> None:
    rows = per_class(records[0].best_row)
    assert [r["class"] for r in rows] == list(CLASSES)
    assert rows[0]["f1"] == pytest.approx(0.7) and rows[1]["f1"] == pytest.approx(0.8)
    assert rows[2]["f1"] is None, "a class absent from the truth has no F1"
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    data = confusion_data(cm, CLASSES)
    assert data["pixels"] == 20 and data["counts"] == cm.tolist()
    assert data["row_share"][0] == [0.8, 0.2, 0.0] and data["row_share"][2] == [None, None, None]
    f1_road, f1_building = 2 * 8 / (2 * 8 + 1 + 2), 2 * 9 / (2 * 9 + 2 + 1)
    assert data["f1"] == pytest.approx((f1_road + f1_building) / 2), "macro over the classes in the truth"
    assert data["oa"] == pytest.approx(17 / 20) and data["per_class"][2]["f1"] is None
    scores = {"trial_id": "t_best", "epoch": 2, "test_f1": 0.71, "test_miou": 0.5, "test_oa": 0.9,
              "test_precision": 0.7, "test_recall": 0.72, "test_images": 3, "test_f1_road": 0.8, "test_scorings": 1}
    test = report_summary.test_score_data(scores, "t_best", 2)
    assert test["current"] and test["f1"] == 0.71 and test["images"] == 3 and test["per_class"][0]["f1"] == 0.8
    assert not report_summary.test_score_data(scores, "t_run", 2)["current"], "the best trial changed since"
    assert report_summary.test_score_data(None, "t_best", 2) is None


def test_summary_counts_trials_and_names_the_best(records: list[TrialRecord]) -> None:
    df = trials_table(records)
    summary = summary_data(records, df, "val_f1", planned=8, best=records[0])
    assert summary["ended"] == 4 and summary["planned"] == 8 and summary["by_status"]["running"] == 1
    best = summary["best"]
    assert best["trial_id"] == "t_best" and best["epoch"] == 2 and best["score"] == pytest.approx(0.8)
    assert "density 0.05" in best["settings"] and best["clicks_per_image"] == 200.0


def _rows_of(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr class="([^"]*)" data-status="([^"]*)">', body)


def test_the_page_is_self_contained_and_says_why_the_model_part_is_missing(records: list[TrialRecord]) -> None:
    inp = report.ReportInput("/x/search-1", "search", records, settings={"trials": 8},
                             test_scores={"trial_id": "t_best", "epoch": 2, "test_f1": 0.71, "test_images": 3})
    page = report.build_report(inp, model=False)
    rows = _rows_of(page)
    assert len(rows) == 5 and rows[0] == ("finished best", "finished")
    assert ("failed", "failed") in rows and ("stopped", "stopped early") in rows and ("running", "running") in rows
    assert "4 of 8 trial(s) ended" in page and "F1 <b>0.7100</b>" in page
    assert "left out (--no-model)" in page
    # nothing to fetch: every src is a data: URI, every href an anchor; the CSP forbids any other load
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(src.startswith("data:image/svg+xml;base64,") for src in sources)
    for src in sources:  # each figure is well-formed SVG of a size (a broken one shows as a broken image)
        svg = ElementTree.fromstring(base64.b64decode(src.split(",", 1)[1]))
        width = float(re.match(r"[\d.]+", svg.get("width")).group())  # matplotlib's in pt, the others' in px
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and width >= 100
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    ids = re.findall(r' id="([^"]*)"', page)
    assert len(ids) == len(set(ids)), "element ids are unique (the script finds the table by its id)"
    assert "default-src 'none'" in page and "<script src" not in page and "<link" not in page
    assert len(re.findall(r"<img ", page)) >= 4  # curves, settings, frontier, per-class
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                                re.S).group(1).replace("<\\/", "</"))
    assert len(data["table"]["rows"]) == 5 and data["model_gap"] == "left out (--no-model)"


def test_a_search_without_any_epoch_still_renders(records: list[TrialRecord]) -> None:
    inp = report.ReportInput("/x/s", "search", [records[-1]])
    page = report.build_report(inp)
    assert "No trial has finished an epoch yet" in page and len(_rows_of(page)) == 1


def test_importing_the_module_pays_for_no_torch_ray_or_matplotlib() -> None:
    code = ("import sys, search.report.page; heavy = {'torch', 'ray', 'matplotlib'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


NO_MODEL = """
import json, sys
import pandas as pd
from search.report import page as report
from search.cli.main import main
from search.results.experiment import TrialRecord

spec, folder, out = sys.argv[1:]
records = [TrialRecord(t["trial_id"], t["status"], t["config"], pd.DataFrame(t["history"]), t["error"], "-",
                       outcome=t["outcome"]) for t in json.load(open(spec))]
page = report.build_report(report.ReportInput("/x/search", "search", records), model=False)
assert main(["report", folder, "--no-model", "--out", out]) == 0
heavy = {"torch", "ray"} & {m.split(".")[0] for m in sys.modules}
assert not heavy, heavy
print(page.count('src="data:image/svg+xml;base64,'))
"""


def test_a_report_without_the_model_imports_no_torch_or_ray(records: list[TrialRecord], tmp_path: Path) -> None:
    """`pointtune report --no-model` needs neither torch nor Ray (its figures are SVG; the parallel coordinates
    matplotlib's). Checked in a fresh interpreter on the hand-made search (every figure: curves, settings, frontier,
    per-class bars, parallel coordinates) and on a hand-made `train` folder through the command."""
    import yaml

    spec = tmp_path / "records.json"
    spec.write_text(json.dumps([{"trial_id": r.trial_id, "status": r.status, "config": r.config,
                                 "history": r.history.to_dict("list"), "error": r.error, "outcome": r.outcome}
                                for r in records]))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(records[0].config))
    records[0].history.to_csv(folder / "metrics.csv", index=False)
    out = tmp_path / "r.html"
    done = subprocess.run([sys.executable, "-c", NO_MODEL, str(spec), str(folder), str(out)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3])
    assert int(done.stdout.split()[-1]) >= 4, done.stdout
    data = _report_data(out)
    assert data["kind"] == "train" and data["model_gap"] == "left out (--no-model)"
    assert out.read_text().count('src="data:image/svg+xml;base64,') >= 2, "F1 per epoch, per-class bars"


def test_svg_axes_take_ticks_at_round_numbers() -> None:
    from search.report.svg_charts import limits, linear_ticks, log_ticks

    assert linear_ticks(0.37, 0.62) == ([0.4, 0.45, 0.5, pytest.approx(0.55), pytest.approx(0.6)],
                                        ["0.40", "0.45", "0.50", "0.55", "0.60"])
    assert linear_ticks(0.8, 6.2, integer=True)[1] == ["1", "2", "3", "4", "5", "6"], "epochs: every one"
    major, labels, minor = log_ticks(9e-5, 2.2e-2)
    assert major == [pytest.approx(1e-4), pytest.approx(1e-3), pytest.approx(1e-2)]
    assert labels == ["10\u207b\u2074", "10\u207b\u00b3", "10\u207b\u00b2"] and pytest.approx(0.002) in minor
    assert log_ticks(8, 3000)[1] == ["10", "100", "1000"], "plain numbers where all are between 0.001 and 10^5"
    assert log_ticks(100, 300)[1] == ["100", "200"], "within a decade: 2 and 5 times it too"
    lo, hi = limits([1e-3, 1e-1], log=True)
    assert lo < 1e-3 and hi > 1e-1 and lo * hi == pytest.approx(1e-4), "margins even in log space"


# ------------------------------------------------------------------ a real `pointtune train` folder, end to end

def _report_data(path: Path) -> dict:
    page = path.read_text()
    return json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))


def test_a_train_folder_report_recomputes_the_reported_validation_score(train_dir: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(train_dir), "--out", str(out), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = _report_data(out)
    assert data["kind"] == "train" and len(data["table"]["rows"]) == 1 and data["model_gap"] is None
    metrics = pd.read_csv(train_dir / "metrics.csv")
    best = metrics.loc[metrics["val_f1"].idxmax()]
    cm = data["confusion"]
    assert cm["images"] == cm["of_images"] >= 1, "the demo's validation split fits the pixel budget"
    # the best checkpoint, run here on every validation image, gives the score the run reported for that epoch
    assert cm["f1"] == pytest.approx(best["val_f1"], abs=1e-6) and cm["oa"] == pytest.approx(best["val_oa"])
    page = out.read_text()
    assert page.count("validation image scene") >= 1 and "the clicks the best trial was trained with" in page
    scored = json.loads((train_dir / "test_scores.json").read_text())
    assert data["test"]["current"] and data["test"]["f1"] == pytest.approx(scored["test_f1"])
    assert "<b>Test score</b> of the run&#x27;s best epoch" in page, "the one score train made of its test part"


def test_a_report_whose_data_moved_says_why_the_images_are_missing(train_dir: Path, tmp_path: Path) -> None:
    import shutil

    from trainable.learn.checkpoint import atomic_torch_save

    moved = tmp_path / "moved"
    shutil.copytree(train_dir, moved)
    state = torch.load(moved / "best.pt", weights_only=True)
    state["config"]["data"]["root"] = str(tmp_path / "gone")
    atomic_torch_save(state, moved / "best.pt")
    path = report.write_report(str(moved), str(tmp_path / "r.html"), device="cpu")
    data = _report_data(path)
    assert "not reachable from here" in data["model_gap"] and "gone" in data["model_gap"]
    page = path.read_text()
    assert "No confusion matrix and no images" in page and "Per-class validation scores" in page

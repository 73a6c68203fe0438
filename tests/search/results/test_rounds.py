"""Rounds of an annotation campaign: the round of a clicks file, the record a run keeps of its clicks (and the resume
that refuses changed clicks), and several hand-made train and experiment folders as one table, frontier and report
(no Ray, no training)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from search.cli.main import main
from search.errors import SearchError
from search.results.campaign import campaign_table, load_campaign
from search.results.rounds import (
    CLICKS_RECORD,
    clicks_rounds,
    clicks_sha256,
    file_round,
    model_round,
    read_record,
    record_clicks,
    sidecar_path,
)
from trainable.config import DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

# --- the round of a clicks file ---------------------------------------------------------------------------------


def test_a_clicks_file_is_the_round_of_its_latest_clicks_and_a_first_file_round_0(tmp_path: Path) -> None:
    first = tmp_path / "r0.csv"
    first.write_text("image,x,y,class\na,1,2,road\nb,3,4,water\n")
    assert clicks_rounds(str(first)) is None and file_round(str(first)) == 0, "no round column: a first file"
    merged = tmp_path / "r2.csv"  # merged by hand: the first file's rows have an empty round
    merged.write_text("image,x,y,class,round\na,1,2,road,\nb,3,4,water,\na,5,5,road,1\nb,6,6,road,2\nb,7,7,road,2\n")
    assert clicks_rounds(str(merged)) == {0: 2, 1: 1, 2: 2} and file_round(str(merged)) == 2
    geojson = tmp_path / "r1.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
         "properties": {"image": "a", "class": "road", "round": 1}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 4]},
         "properties": {"image": "a", "class": "road"}}]}))
    assert clicks_rounds(str(geojson)) == {1: 1, 0: 1} and file_round(str(geojson)) == 1
    # a file without a round column takes its sidecar's round
    Path(sidecar_path(str(first))).write_text(json.dumps({"format": "pointtune-suggest/1", "round": 3}))
    assert sidecar_path(str(first)).endswith("r0.csv.json") and file_round(str(first)) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("image,x,y,class,round\na,1,2,road,first\n")
    with pytest.raises(SearchError, match="round 'first' is not a number"):
        file_round(str(bad))


def test_the_sha256_of_a_folder_of_clicks_covers_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "clicks"
    folder.mkdir()
    (folder / "a.geojson").write_text("{}")
    (folder / "b.geojson").write_text("[]")
    before = clicks_sha256(str(folder))
    (folder / "b.geojson.json").write_text('{"format": "pointtune-suggest/1"}')  # a sidecar is not a clicks file
    assert clicks_sha256(str(folder)) == before
    (folder / "b.geojson").write_text("[ ]")
    assert clicks_sha256(str(folder)) != before


class _Index:
    """What ``describe_clicks`` reads of a dataset index: entries, split, the user's clicks per stem."""

    class _Clicks:
        def __init__(self, n: int):
            self.count = n

    class _Entry:
        def __init__(self, stem: str):
            self.stem = stem

    class _Split:
        train, val, test = [0, 1], [2], []

    def __init__(self) -> None:
        self.entries = [self._Entry(s) for s in ("a", "b", "c")]
        self.split = self._Split()
        self.user_clicks = {"a": self._Clicks(3), "b": self._Clicks(1), "c": self._Clicks(5)}


def test_a_run_records_its_clicks_and_a_resume_refuses_clicks_changed_since(tmp_path: Path) -> None:
    clicks = tmp_path / "round1.csv"
    clicks.write_text("image,x,y,class,round\na,1,1,road,\na,2,2,road,1\nb,3,3,road,1\n")
    run = tmp_path / "run"
    assert record_clicks(run, None, _Index()) is None and read_record(str(run)) is None, "simulated clicks: none"
    record = record_clicks(run, str(clicks), _Index())
    assert read_record(str(run)) == record and (run / CLICKS_RECORD).is_file()
    assert record["round"] == 1 and record["clicks_by_round"] == {"0": 1, "1": 2} and record["name"] == "round1.csv"
    assert record["clicks"] == 9 and record["clicks_by_part"] == {"train": 4, "val": 5, "test": 0}
    assert record["clicks_per_train_image"] == 2.0 and record["sha256"] == clicks_sha256(str(clicks))
    assert record_clicks(run, str(clicks), _Index(), resume=True) == record, "unchanged: the record stays"
    assert model_round(str(run), None) == (1, record), "a model in this folder is of round 1"
    clicks.write_text(clicks.read_text() + "b,9,9,water,2\n")
    with pytest.raises(SearchError, match="would mix two rounds"):
        record_clicks(run, str(clicks), _Index(), resume=True)
    assert model_round(str(tmp_path / "elsewhere.pt"), {"data": {"clicks": str(clicks)}})[0] == 2, \
        "a model file outside its folder: the round of the clicks file its config names"


# --- several folders: one table, one frontier, one report --------------------------------------------------------

def _config(clicks: str | None, density: float = 1.0, lr: float = 3e-3) -> dict:
    return TrialConfig(data=DataConfig(root="/nowhere", format="demo", tile_size=32, clicks=clicks),
                       points=PointConfig(mode="density", density=density),
                       model=ModelConfig(backbone="tiny", weights="none"),
                       train=TrainConfig(lr=lr, epochs=2)).to_dict()


def _train_folder(path: Path, f1s: list[float], clicks_per_image: float, clicks: Path | None = None,
                  round_number: int | None = None, test_f1: float | None = None) -> Path:
    """A `pointtune train` folder as the run leaves it: config, metrics per epoch, the clicks record, test score."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(_config(str(clicks) if clicks else None)))
    pd.DataFrame([{"epoch": e, "val_f1": f, "val_miou": f / 2, "val_oa": f + 0.1, "clicks_per_image": clicks_per_image,
                   "annotation_hours": math.nan if clicks is None else clicks_per_image / 100, "time_total_s": 3.0 * e}
                  for e, f in enumerate(f1s, start=1)]).to_csv(path / "metrics.csv", index=False)
    if clicks is not None:
        (path / CLICKS_RECORD).write_text(json.dumps({"path": str(clicks), "name": clicks.name, "round": round_number,
                                                      "sha256": "ab" * 32, "clicks": 90}))
    if test_f1 is not None:
        best = max(range(len(f1s)), key=lambda k: f1s[k]) + 1
        (path / "test_scores.json").write_text(json.dumps({"trial_id": path.name, "epoch": best, "test_f1": test_f1}))
    return path


def _experiment(path: Path, trials: dict[str, tuple[float, float]]) -> Path:
    """A search's experiment folder as Tune writes it (its state file, each trial's result.json), no Ray."""
    path.mkdir(parents=True)
    (path / "pointtune_settings.yaml").write_text(yaml.safe_dump({"trials": len(trials)}))
    data = []
    for tid, (density, f1) in trials.items():
        trial = path / f"trial_{tid}"
        trial.mkdir()
        rows = [{"epoch": e, "val_f1": f1 - 0.1 * (2 - e), "clicks_per_image": density * 1000, "time_total_s": e}
                for e in (1, 2)]
        (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        data.append([json.dumps({"trial_id": tid, "status": "TERMINATED", "config": _config(None, density),
                                 "relative_logdir": trial.name}), "{}"])
    (path / "experiment_state-2026.json").write_text(json.dumps({"trial_data": data}))
    return path


@pytest.fixture
def campaign(tmp_path: Path) -> list[Path]:
    """Round 0 (10 clicks), round 1 (20), round 2 (30) of one campaign, a density search beside it, and two dense
    runs (full supervision, mean 0.80)."""
    csv = tmp_path / "clicks.csv"
    csv.write_text("image,x,y,class\n")
    return [_train_folder(tmp_path / "r0", [0.50, 0.60], 10, csv, 0, test_f1=0.55),
            _train_folder(tmp_path / "r1", [0.70, 0.74], 20, csv, 1),
            _train_folder(tmp_path / "r2", [0.78, 0.77], 30, csv, 2, test_f1=0.70),
            _experiment(tmp_path / "search", {"t1": (0.05, 0.72), "t2": (0.2, 0.79)}),
            _train_folder(tmp_path / "full_s0", [0.70, 0.82], 4096),
            _train_folder(tmp_path / "full_s1", [0.78, 0.74], 4096)]


def _json(capsys: pytest.CaptureFixture, argv: list[str]) -> dict | list:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_several_folders_are_one_table_with_folder_round_and_clicks_file(campaign: list[Path],
                                                                         capsys: pytest.CaptureFixture) -> None:
    rows = _json(capsys, ["results", *map(str, campaign), "--output", "json"])
    assert [r["trial_id"] for r in rows] == ["r0", "r1", "r2", "search/t2", "search/t1"], \
        "the folders in the order given, each one's best first; the dense runs are the reference, not rows"
    assert [r["round"] for r in rows] == [0, 1, 2, None, None] and rows[0]["clicks_file"] == "clicks.csv"
    assert [r["folder"] for r in rows] == ["r0", "r1", "r2", "search", "search"]
    assert rows[0]["clicks_sha256"] == "ab" * 6
    assert [r["best_val_f1"] for r in rows] == pytest.approx([0.60, 0.74, 0.78, 0.79, 0.72])
    assert rows[2]["f1_vs_full"] == pytest.approx(0.78 / 0.80), "full supervision: the mean of the dense runs' best"
    assert rows[0]["test_f1"] == 0.55 and rows[1]["test_f1"] is None and rows[2]["test_f1"] == 0.70
    table = main(["results", *map(str, campaign)])
    out = capsys.readouterr().out
    assert table == 0 and "full supervision (mean of 2 dense runs: full_s0, full_s1): val_f1 0.8000" in out
    # one folder: as before, no campaign columns
    (single,) = _json(capsys, ["results", str(campaign[1]), "--output", "json"])
    assert "folder" not in single and "round" not in single and single["best_val_f1"] == pytest.approx(0.74)


def test_the_rounds_share_one_frontier_and_the_fewest_clicks_reaching_full(campaign: list[Path],
                                                                          capsys: pytest.CaptureFixture) -> None:
    data = _json(capsys, ["results", *map(str, campaign), "--frontier", "--target", "0.95", "--output", "json"])
    assert [r["trial_id"] for r in data["front"]] == ["r0", "r1", "r2", "search/t2"]
    assert [r["round"] for r in data["front"]] == [0, 1, 2, None]
    assert data["fewest_clicks_trial"] == "r2", "0.78 >= 0.95 x the best 0.79 at 30 clicks per image"
    assert data["reference"]["val_f1"] == pytest.approx(0.80)
    assert any("of full supervision" in s and "round 2, trial r2" in s
               for s in data["statements"]), data["statements"]
    assert [f["full_supervision"] for f in data["folders"]] == [False] * 4 + [True] * 2
    assert main(["results", *map(str, campaign), "--frontier", "--target", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front: 4 of 5 trial(s)" in out and "round" in out.splitlines()[2]
    assert "the fewest clicks per image that reach 90% of full supervision's best_val_f1 (0.8000): 20 (round 1" in out


def test_several_folders_with_only_dense_runs_or_a_missing_one_are_refused(campaign: list[Path],
                                                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["results", str(campaign[4]), str(campaign[5])]) != 0
    assert "dense masks" in capsys.readouterr().err
    assert main(["results", str(campaign[0]), str(campaign[0].parent / "nope")]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_a_trial_of_a_campaign_and_its_table(campaign: list[Path], capsys: pytest.CaptureFixture) -> None:
    history = _json(capsys, ["results", *map(str, campaign), "--trial", "search/t2", "--output", "json"])
    assert [h["epoch"] for h in history] == [1, 2]
    df = campaign_table(load_campaign([str(p) for p in campaign[:2]]))
    assert list(df.columns[:5]) == ["trial_id", "folder", "round", "clicks_file", "clicks_sha256"]
    assert math.isnan(df["f1_vs_full"].iloc[0]), "no reference given: no ratio"


def test_a_report_of_several_folders_lists_the_rounds_and_their_frontier(campaign: list[Path], tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rounds.html"
    assert main(["report", *map(str, campaign), "--no-model", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    assert data["kind"] == "rounds" and len(data["table"]["rows"]) == 5
    assert {"folder", "round", "clicks_file"} <= set(data["table"]["columns"])
    assert [r["folder"] for r in data["rounds"]] == ["r0", "r1", "r2", "search", "full_s0", "full_s1"]
    assert [r["kind"] for r in data["rounds"]][-2:] == ["full supervision"] * 2
    assert data["frontier"]["reference"] == pytest.approx(0.80) and len(data["frontier"]["front"]) == 4
    assert {p["series"] for p in data["frontier"]["points"]} == {"round 0", "round 1", "round 2", "density"}
    assert "Rounds (6 folders)" in page and "mean of 2 dense runs" in page


def test_folders_of_one_last_name_stay_apart_and_one_folder_spelled_twice_counts_once(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "clicks.csv"
    csv.write_text("image,x,y,class\n")
    _train_folder(tmp_path / "siteA" / "round1", [0.50, 0.60], 10, csv, 1)
    b = _train_folder(tmp_path / "siteB" / "round1", [0.70, 0.74], 10, csv, 1)
    monkeypatch.chdir(tmp_path)
    rows = _json(capsys, ["results", "siteA/round1", "siteA/round1/", "./siteA/round1", str(b), "--output", "json"])
    assert [r["folder"] for r in rows] == ["siteA/round1", "siteB/round1"], "each folder once, told apart"
    assert [r["best_val_f1"] for r in rows] == pytest.approx([0.60, 0.74])


def test_a_dense_run_without_the_rounds_metric_is_no_reference(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Rounds ranked by click validation beside a dense run trained with --val-clicks 0: no KeyError, no ratio."""
    from search.results.campaign import Folder, dense_reference
    from search.results.experiment import train_record

    full = _train_folder(tmp_path / "full", [0.70, 0.82], 4096)
    assert dense_reference([Folder(str(full), "train", [train_record(str(full))])], "val_clicks_f1") is None

"""The annotation-budget frontier: Pareto set, the fewest clicks for X% of the best, the full-supervision reference;
and a real ``run --frontier --reference full`` on the demo scenes."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from search.cli.main import main
from search.launch.journal import JOURNAL_FILE
from search.launch.settings import SearchSettings
from search.results.experiment import load_experiment
from search.results.frontier import pareto_front, target_point
from search.results.reference import REFERENCE_DIR, load_reference, reference_config
from search.results.tables import render_frontier, trials_table
from trainable.config import ConfigError, TrialConfig
from trainable.data.index import build_index
from trainable.data.sources import LabelSource
from trainable.labels.points import annotator_seed, instance_points

NAN = math.nan


def _table() -> pd.DataFrame:
    """A hand-made trials table: score ``best_val_f1`` up, ``clicks_per_image`` down."""
    rows = [  # trial, status, clicks/image, F1
        ("a", "finished", 10.0, 0.50),   # cheapest: on the front
        ("b", "finished", 20.0, 0.70),   # on the front
        ("c", "finished", 20.0, 0.60),   # same cost as b, lower F1: dominated
        ("d", "finished", 40.0, 0.70),   # same F1 as b, more clicks: dominated
        ("e", "stopped early", 50.0, 0.80),  # on the front (stopped early still has a score)
        ("f", "finished", 50.0, 0.80),   # identical to e: both kept
        ("g", "finished", 100.0, 0.78),  # dominated by e
        ("h", "failed", 5.0, NAN),       # no score: never on the front
        ("i", "diverged", 1.0, 0.0),     # diverged: left out although cheapest
        ("j", "finished", 200.0, 0.90),  # the best: on the front
        ("k", "finished", NAN, 0.95),    # no cost (never ran an epoch that reported it): left out
    ]
    return pd.DataFrame([{"trial_id": t, "status": s, "clicks_per_image": c, "best_val_f1": f, "lr": 1e-3,
                          "mode": "density", "density": c / 1000, "epochs": 2} for t, s, c, f in rows])


def test_the_pareto_front_of_a_hand_made_table_is_exactly_the_non_dominated_trials() -> None:
    front = pareto_front(_table(), "best_val_f1")
    assert list(front.trial_id) == ["a", "b", "e", "f", "j"]
    assert list(front.clicks_per_image) == sorted(front.clicks_per_image), "cheapest first"


def test_the_fewest_clicks_that_reach_a_share_of_the_best() -> None:
    df = _table()
    point = target_point(df, "best_val_f1", 0.95)  # best 0.90 -> 0.855: only j reaches it
    assert point.row.trial_id == "j" and point.reference == pytest.approx(0.90)
    point = target_point(df, "best_val_f1", 0.85)  # 0.765: e and f (50 clicks) and g; e first (stable, equal)
    assert point.row.trial_id in ("e", "f") and point.row.clicks_per_image == 50
    point = target_point(df, "best_val_f1", 0.75)  # 0.675: b at 20 clicks
    assert point.row.trial_id == "b"
    assert "20" in point.describe("best_val_f1") and "trial b" in point.describe("best_val_f1")
    unreachable = target_point(df, "best_val_f1", 0.95, reference=1.2, reference_name="full supervision")
    assert unreachable.row is None and "no trial reaches" in unreachable.describe("best_val_f1")
    with pytest.raises(ConfigError, match="--target"):
        target_point(df, "best_val_f1", 95)


def test_render_frontier_in_every_format_names_the_front_and_the_point() -> None:
    df = _table()
    table = render_frontier(df, "val_f1", "table", 0.75)
    assert "5 of 11 trial(s)" in table and "fewest clicks per image that reach 75%" in table
    data = json.loads(render_frontier(df, "val_f1", "json", 0.75))
    assert [r["trial_id"] for r in data["front"]] == ["a", "b", "e", "f", "j"]
    assert data["fewest_clicks_trial"] == "b" and data["fewest_clicks_per_image"] == 20
    assert data["front"][1]["of_best"] == pytest.approx(0.70 / 0.90)
    csv = render_frontier(df, "val_f1", "csv", 0.75)
    assert csv.splitlines()[0].startswith("trial_id,") and len(csv.splitlines()) == 6
    markdown = render_frontier(df, "val_f1", "markdown", 0.75, reference={"val_f1": 0.8})
    assert "| trial_id |" in markdown and "of full supervision's" in markdown


def test_the_reference_is_the_best_trials_settings_on_dense_masks() -> None:
    best = TrialConfig().replace(points={"mode": "per_instance", "clicks_per_object": 3, "background_share": 0.8,
                                         "class_weights": True, "clicks_up_to": 5, "seed": 7},
                                 train={"lr": 3e-3, "epochs": 5, "seed": 11})
    ref = reference_config(best.to_dict())
    assert ref.points.mode == "density" and ref.points.density == 1.0 and not ref.points.class_weights
    assert (ref.train.lr, ref.train.epochs, ref.train.seed, ref.points.seed) == (3e-3, 5, 11, 7)


def test_frontier_settings_refuse_asha_and_a_share_without_clicks_per_object() -> None:
    from search.cli.args_to_settings import search_settings_from_args
    from search.cli.main import build_parser

    _, run = build_parser()
    with pytest.raises(ConfigError, match="asha"):
        search_settings_from_args(run.parse_args(["--data", "x", "--frontier", "--scheduler", "asha"]))
    with pytest.raises(ConfigError, match="--clicks-per-object-range"):
        search_settings_from_args(run.parse_args(["--data", "x", "--background-share-range", "0.2", "0.9"]))
    both = search_settings_from_args(run.parse_args(["--data", "x", "--frontier", "--clicks-per-object-range", "1", "3",
                                                     "--density-range", "1e-3", "1e-2", "--reference", "full"]))
    assert both.space.modes == ("density", "per_instance") and both.frontier and both.reference == "full"
    assert SearchSettings.from_dict(both.to_dict()) == both, "the settings saved for --resume round-trip"


FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32", "--cpus-per-trial", "1"]


@pytest.mark.slow
def test_a_frontier_search_with_a_reference_end_to_end(ray_local, demo_dir: Path, tmp_path: Path) -> None:
    """Both click modes and the background share searched against clicks per image, then a dense reference: the
    study has two objectives, its Pareto set is the one ``results --frontier`` lists, per-object trials trained on
    exactly the directly simulated clicks, and ``f1_vs_full`` is F1 over the reference's F1."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--data", str(demo_dir), *FAST, "--frontier", "--trials", "6", "--epochs-range", "1", "1",
                     "--lr-range", "3e-3", "1e-2", "--density-range", "0.005", "0.05",
                     "--clicks-per-object-range", "1", "2",
                     "--background-share-range", "0.3", "0.8", "--reference", "full", "--storage", str(tmp_path),
                     "--name", "front"])
    out = printed.getvalue()
    assert code == 0, out
    experiment = tmp_path / "front"
    study_storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(experiment / JOURNAL_FILE)))
    (name,) = optuna.study.get_all_study_names(study_storage)
    study = optuna.load_study(study_name=name, storage=study_storage)
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    pareto = {t.user_attrs["pointtune_trial_id"] for t in study.best_trials}

    records = load_experiment(str(experiment))
    reference = load_reference(str(experiment))
    assert reference is not None and (experiment / REFERENCE_DIR / "best.pt").is_file()
    df = trials_table(records, reference)
    assert set(pareto_front(df, "best_val_f1").trial_id) == pareto
    np.testing.assert_allclose(df.f1_vs_full, df.best_val_f1 / reference["val_f1"])
    assert "Pareto front:" in out and "the best trial reaches" in out and "fewest clicks per image" in out

    index = build_index(TrialConfig.from_dict(records[0].config).data)
    per_object = [r for r in records if r.config["points"]["mode"] == "per_instance"]
    assert per_object and len(per_object) < len(records), "the click mode was searched"
    for r in per_object:  # the cached clicks of a searched share are those simulated directly
        points = TrialConfig.from_dict(r.config).points
        counts = []
        for i in index.split.train:
            e = index.entries[i]
            mask = LabelSource(e.files, index.classes, 1.0).array()
            ids = LabelSource(e.files, index.classes, 1.0, "instance").array()
            sparse = instance_points(np.asarray(mask), np.asarray(ids), points.clicks_per_object,
                                     points.background_share, points.min_region_pixels, annotator_seed(points, e.stem))
            counts.append(int((sparse != 255).sum()))
        assert r.history["clicks_per_image"].iloc[-1] == pytest.approx(np.mean(counts)), r.trial_id

"""Real searches (Ray Tune + OptunaSearch) on tiny tiles with the small stand-in CNN."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
from pathlib import Path

import optuna
import pytest

import search.launch.console
import search.launch.tuner
from helpers import waiting_for_a_second_trial
from search.cli.main import main
from search.files import JOURNAL_FILE, SETTINGS_FILE
from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow

FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "48", "--cpus-per-trial", "1",
        "--density-range", "0.01", "0.1"]


@pytest.fixture(scope="module")
def search_dir(ray_local, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    started = tmp_path_factory.mktemp("started")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(search.launch.tuner, "tune_entrypoint", waiting_for_a_second_trial(started))
        patch.setattr(search.launch.console, "PLAIN_EVERY_S", 1.0)  # the periodic line within a search of seconds
        code = main(["run", "--data", str(demo_dir), *FAST, "--trials", "3", "--epochs-range", "2", "3",
                     "--lr-range", "1e-3", "1e-2", "--storage", str(storage), "--name", "three"])
    assert code == 0
    (storage / "three" / "driver_stdout.txt").write_text(printed.getvalue())
    return storage / "three"


def test_every_trial_reports_val_f1_every_epoch(search_dir: Path) -> None:
    records = load_experiment(str(search_dir))
    assert len(records) == 3 and all(r.status == "finished" for r in records)
    for r in records:
        epochs = r.config["train"]["epochs"]
        assert 2 <= epochs <= 3 and r.history["epoch"].tolist() == list(range(1, epochs + 1))
        assert r.history["val_f1"].between(0, 1).all()
        assert {"clicks_per_image", "labelled_fraction", "node_id", "val_miou", "train_f1"} <= set(r.history)
        assert 1e-3 <= r.config["train"]["lr"] <= 1e-2
    assert (search_dir / SETTINGS_FILE).is_file()


def test_trials_run_at_the_cpu_priority_of_the_command(ray_local) -> None:
    # Ray's default lowers its workers' priority by 15: trials would give way to every other process of the machine
    def niceness() -> int:
        import os

        return os.nice(0)

    assert ray_local.get(ray_local.remote(niceness).options(num_cpus=1).remote()) == niceness()


def test_two_trials_ran_at_the_same_time_on_two_cpus(search_dir: Path) -> None:
    assert "up to 2 at once" in (search_dir / "driver_stdout.txt").read_text()
    # a span runs from run_trial's start (after the rendezvous) over its epochs: never past the trial's real end
    spans = sorted((r.history["trial_start_time"].iloc[0],
                    r.history["trial_start_time"].iloc[0] + r.history["epoch_time_s"].sum(),
                    r.history["pid"].iloc[0]) for r in load_experiment(str(search_dir)))
    overlaps = [(a_pid, b_pid) for (_, a_end, a_pid), (b_start, _, b_pid) in itertools.pairwise(spans)
                if a_end > b_start]
    assert overlaps, f"no two trials overlapped in time: {spans}"
    assert all(a != b for a, b in overlaps), f"overlapping trials shared one worker process: {spans}"


def _study(experiment: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(experiment / JOURNAL_FILE)))
    (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def test_the_optuna_study_ranks_by_the_same_objective_as_results(search_dir: Path, capsys) -> None:
    """The study's value of each trial is its best epoch's F1 (not its last), and its best trial is the first row
    of `pointtune results`: one objective everywhere."""
    study = _study(search_dir)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    records = {r.trial_id: r for r in load_experiment(str(search_dir))}
    for t in complete:
        history = records[t.user_attrs["pointtune_trial_id"]].history
        assert t.value == pytest.approx(history["val_f1"].max())
        assert t.intermediate_values == pytest.approx(dict(zip(history["epoch"], history["val_f1"].cummax(),
                                                               strict=True)))
    assert main(["results", str(search_dir), "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)[0]
    assert study.best_trial.user_attrs["pointtune_trial_id"] == first["trial_id"]
    assert study.best_value == pytest.approx(first["best_val_f1"])


def test_results_table_was_printed_with_the_export_command(search_dir: Path) -> None:
    printed = (search_dir / "driver_stdout.txt").read_text()
    best = max(load_experiment(str(search_dir)), key=lambda r: r.history["val_f1"].max())
    assert "] epoch 1/" in printed and "val_f1" in printed, "no progress lines"
    assert any(ln.split()[:3] == ["trial_id", "status", "lr"] for ln in printed.splitlines()), "no results table"
    assert f"best trial {best.trial_id}: val_f1 {best.history['val_f1'].max():.4f}" in printed
    assert f"export it:  pointtune export {search_dir} --out best_model.pt" in printed


def test_the_log_says_where_the_running_trials_are_between_their_events(search_dir: Path) -> None:
    """Off a terminal, after a second without a line (the fixture's interval; 10 s by default), a line of the
    running trials with the time left: a search whose epochs take half an hour is not silent for half an hour."""
    printed = (search_dir / "driver_stdout.txt").read_text()
    assert re.search(r"^running: \[[0-9a-f]+\] epoch [1-3]/[23].*  \[[0-2]/3 trials done\]  "
                     r"(~.+ left|time left: known after the first epoch)$", printed, re.M), printed


def test_the_best_model_is_scored_once_on_the_test_split(search_dir: Path, tmp_path: Path) -> None:
    """The held-out test images are scored once, by the exported best model; the figures go into the export and
    the summary, beside the validation F1."""
    import torch

    scores = json.loads((search_dir / "test_scores.json").read_text())
    best = max(load_experiment(str(search_dir)), key=lambda r: r.history["val_f1"].max())
    assert scores["trial_id"] == best.trial_id and scores["epoch"] == int(best.history["val_f1"].idxmax()) + 1
    assert scores["test_images"] == 1 and 0 <= scores["test_f1"] <= 1
    saved = torch.load(search_dir / "best_model.pt", weights_only=True)
    assert saved["test_metrics"]["test_f1"] == scores["test_f1"] and saved["split"]["test"]
    assert f"F1 {scores['test_f1']:.4f}" in (search_dir / "driver_stdout.txt").read_text()
    assert main(["export", str(search_dir), "--out", str(tmp_path / "m.pt")]) == 0
    exported = torch.load(tmp_path / "m.pt", weights_only=True)["test_metrics"]
    assert json.dumps(exported, sort_keys=True) == json.dumps(saved["test_metrics"], sort_keys=True)  # NaN-safe


def test_same_seed_one_trial_at_a_time_gives_the_same_configurations_and_metrics(ray_local, demo_dir: Path,
                                                                                  tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        assert main(["run", "--data", str(demo_dir), *FAST, "--trials", "3", "--epochs-range", "1", "1",
                     "--max-concurrent", "1", "--seed", "5", "--storage", str(tmp_path), "--name", name]) == 0
        records = load_experiment(str(tmp_path / name))
        runs.append(sorted((r.config["train"]["lr"], r.config["points"]["density"],
                            tuple(r.history[["val_f1", "val_miou", "train_loss"]].iloc[0])) for r in records))
    assert runs[0] == runs[1] and len({r[:2] for r in runs[0]}) == 3


def test_an_existing_experiment_is_not_overwritten(search_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--storage", str(search_dir.parent), "--name", search_dir.name, *FAST]) == 2
    assert "already exists: add --resume" in capsys.readouterr().err


def test_asha_stops_weak_trials_which_reach_optuna_as_pruned(ray_local, demo_dir: Path, tmp_path: Path) -> None:
    """With a real epochs range: the top of it is every trial's budget; a trial ASHA stops is PRUNED in the study,
    never a COMPLETE trial valued at an epoch its schedule did not end at."""
    assert main(["run", "--data", str(demo_dir), *FAST, "--trials", "6", "--epochs-range", "2", "4",
                 "--lr-range", "1e-5", "3e-2", "--scheduler", "asha", "--storage", str(tmp_path),
                 "--name", "asha"]) == 0
    records = {r.trial_id: r for r in load_experiment(str(tmp_path / "asha"))}
    assert len(records) == 6 and {r.status for r in records.values()} <= {"finished", "stopped early"}
    assert {r.config["train"]["epochs"] for r in records.values()} == {4}, "the epoch count is the budget"
    stopped = [r for r in records.values() if r.status == "stopped early"]
    assert stopped, "ASHA (rungs at 1 and 3 epochs) stopped no trial of six"
    assert all(len(r.history) < 4 for r in stopped)
    states = {t.user_attrs["pointtune_trial_id"]: t for t in _study(tmp_path / "asha").trials}
    for trial_id, r in records.items():
        expected = optuna.trial.TrialState.PRUNED if r.status == "stopped early" else optuna.trial.TrialState.COMPLETE
        assert states[trial_id].state == expected, (trial_id, r.status)
        assert max(states[trial_id].intermediate_values) == len(r.history)

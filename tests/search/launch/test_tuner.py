"""The adapters to Ray Tune (search/launch/tuner.py): Tune's events reaching the listeners, and a searcher that Tune
restores taking its own hints from the folder it is restored from. No Ray cluster."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
import ray.cloudpickle

from search.launch.journal import journal_storage
from search.launch.searcher import RETRY_OF_ATTR, ResumeHints
from search.launch.settings import SearchSettings
from search.launch.tuner import PointtuneOptunaSearch, TuneEvents, make_search_algorithm
from trainable.config import TrialConfig


def test_tunes_events_reach_each_listener_that_takes_them() -> None:
    """Tune calls its callbacks with keyword arguments; a listener gets the events it has a method for."""
    heard: list[tuple] = []

    class Starts:
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            heard.append(("start", iteration, trial.trial_id))

    class Everything(Starts):
        def setup(self, **info: Any) -> None:
            heard.append(("setup", info["total_num_samples"]))

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            heard.append(("recover", trial.trial_id))

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            heard.append(("end", len(trials)))

    events = TuneEvents([Starts(), Everything()])
    trial = SimpleNamespace(trial_id="t1")
    events.setup(stop=None, num_samples=1, total_num_samples=3)
    events.on_trial_start(iteration=1, trials=[trial], trial=trial)
    events.on_trial_result(iteration=2, trials=[trial], trial=trial, result={"epoch": 1})
    events.on_trial_recover(iteration=3, trials=[trial], trial=trial)
    events.on_experiment_end(trials=[trial])
    assert heard == [("setup", 3), ("start", 1, "t1"), ("start", 1, "t1"), ("recover", "t1"), ("end", 1)]


def test_each_restored_searcher_takes_the_hints_of_the_folder_it_is_restored_from(tmp_path: Path) -> None:
    """Tune restores the searcher it unpickles from tuner.pkl: its journal, budget and retries come from the driver's
    hints in the experiment folder, per instance (two searches restored in one process keep theirs apart)."""
    journal = str(tmp_path / "journal.log")
    settings = SearchSettings(base=TrialConfig(), trials=2, storage=str(tmp_path), name="x")
    algorithm = make_search_algorithm(settings, journal, 1)
    pristine = ray.cloudpickle.dumps(algorithm)  # what tuner.pkl holds: the searcher as the search started
    searcher = algorithm.searcher.searcher
    assert isinstance(searcher, PointtuneOptunaSearch)
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"epoch": 1, "best_val_f1": 0.5, "config/train/epochs": 1})
    saved = tmp_path / "state"
    saved.mkdir()
    algorithm.save_to_dir(str(saved), session_str="s")
    study = optuna.load_study(study_name=searcher._study_name, storage=journal_storage(journal))
    params = study.trials[0].params

    with pytest.raises(RuntimeError, match=r"pointtune_resume\.json"):
        pickle.loads(pristine).restore_from_dir(str(saved))
    restored = {}
    for name, trials, retries in (("more", 5, [("t1", params)]), ("same", None, [])):
        folder = tmp_path / name
        folder.mkdir()
        for f in saved.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        ResumeHints(journal, trials, retries).write(str(folder))
        restored[name] = pickle.loads(pristine)
        restored[name].restore_from_dir(str(folder))
    assert restored["more"].total_samples == 5 and restored["same"].total_samples == 0
    (waiting,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert waiting.user_attrs[RETRY_OF_ATTR] == "t1" and waiting.system_attrs["fixed_params"] == params
    again = restored["same"].searcher.searcher
    assert again.teller.completed == {"t1"} and again._ot_trials["t1"].number == 0

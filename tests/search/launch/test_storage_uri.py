"""A search whose --storage is a URI (file:// goes through the same pyarrow filesystem code as s3:// and gs://):
the Optuna study travels with the experiment and a resume on "another machine" (no local copy) reads it back."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.cli.main import main
from search.launch.journal import JOURNAL_FILE
from search.results.experiment import load_experiment

pytestmark = pytest.mark.slow

FAST = ["--backbone", "tiny", "--tile-size", "32", "--crops-per-epoch", "32", "--density-range", "0.01", "0.1",
        "--epochs-range", "1", "2", "--max-concurrent", "1"]


def _study(journal: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def test_the_study_lives_with_the_experiment(ray_local, demo_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "driver-home"))  # where the driver keeps its local copy
    folder = tmp_path / "bucket"
    uri = f"file://{folder}"
    assert main(["run", "--data", str(demo_dir), *FAST, "--trials", "2", "--storage", uri, "--name", "u"]) == 0
    journal = folder / "u" / JOURNAL_FILE
    assert journal.is_file(), "the journal was copied into the experiment folder"
    assert len([t for t in _study(journal).trials if t.state.is_finished()]) == 2
    assert (folder / "u" / "best_model.pt").is_file() and (folder / "u" / "test_scores.json").is_file()
    # another machine: a new home, no local copy of the journal; the resumed search reads the experiment's copy
    monkeypatch.setenv("HOME", str(tmp_path / "other-home"))
    assert main(["run", "--resume", "--storage", uri, "--name", "u", "--trials", "3"]) == 0
    study = _study(journal)
    assert len(study.trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len(load_experiment(f"{uri}/u")) == 3
    assert not list(folder.rglob("resume_state.pt")), "ended trials keep no resume state"
    assert main(["run", "--resume", "--storage", uri, "--name", "u", "--trials", "3"]) == 2, \
        "a finished search (its record in the bucket says so) is not run again"

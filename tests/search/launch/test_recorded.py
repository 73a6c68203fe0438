"""What a driver tells a trial that Tune starts again (search/launch/recorded.py), and what the study is told of a
trial that ended before a resume. No Ray: hand-made result files and fake trials."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from search.launch.recorded import RecordBeforeRetry, recorded_from, result_rows
from trainable.learn.run_record import Recorded


def row(epoch: int | None = None, **extra) -> dict:
    return {**({"epoch": epoch} if epoch is not None else {}), "done": False, **extra}


@pytest.mark.parametrize(("rows", "expected"), [
    ([], Recorded(0, False)),
    ([row(1), row(2)], Recorded(2, False)),  # mid-run
    ([row(1), row(2), row(3)], Recorded(3, True)),  # its last planned epoch
    ([row(1), row(2, trial_outcome="diverged")], Recorded(2, True)),
    ([row(trial_outcome="error")], Recorded(0, True)),  # a settings error: no epoch
    ([row(1), {**row(2), "done": True}], Recorded(2, True)),  # a scheduler (ASHA) stopped it
])
def test_what_a_trials_results_record(rows: list[dict], expected: Recorded) -> None:
    assert recorded_from(rows, planned_epochs=3) == expected


def test_a_record_round_trips_through_the_trial_folder(tmp_path: Path) -> None:
    assert Recorded.load(str(tmp_path)) is None
    Recorded(4, True).save(str(tmp_path))
    assert Recorded.load(str(tmp_path)) == Recorded(4, True)


def test_a_last_line_cut_short_is_dropped_from_the_file_too(tmp_path: Path) -> None:
    """Tune appends the next result to the file: a cut line would swallow it."""
    (tmp_path / "result.json").write_text(json.dumps(row(1)) + "\n" + json.dumps(row(2))[:9])
    assert result_rows(str(tmp_path)) == [row(1)]
    assert (tmp_path / "result.json").read_text() == json.dumps(row(1)) + "\n"
    assert result_rows(str(tmp_path / "none")) == []


def test_a_retried_trial_is_told_the_last_epoch_this_driver_recorded(tmp_path: Path) -> None:
    callback = RecordBeforeRetry(str(tmp_path))
    trial = SimpleNamespace(trial_id="t1", last_result={"epoch": 5})
    callback.on_trial_recover(0, [trial], trial)
    assert Recorded.load(str(tmp_path / "trial_t1")) == Recorded(5)
    # restored by --resume from a checkpoint of epoch 3 and failed before its first result: Tune's last result is
    # the checkpoint's, but the resumed driver had recorded epoch 5
    trial.last_result = {"epoch": 3}
    callback.on_trial_recover(0, [trial], trial)
    assert Recorded.load(str(tmp_path / "trial_t1")) == Recorded(5)


def test_the_study_is_told_the_last_recorded_result_of_a_trial_that_ended_before_the_resume() -> None:
    """Restored though it had ended, the trial reports nothing: Tune hands the searcher the result of the checkpoint
    it restored (a best epoch before the last, which would read as stopped early)."""
    from search.launch.searcher import StudyTeller

    study = optuna.create_study(direction="maximize")
    teller = StudyTeller("best_val_f1", ended_before_resume={"t1": {"epoch": 3, "best_val_f1": 0.7, "val_f1": 0.7,
                                                                    "config": {"train": {"epochs": 3}}}})
    stale = {"epoch": 2, "best_val_f1": 0.5, "config/train/epochs": 3}
    teller.end("t1", study.ask(), stale, error=False)
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == 0.7

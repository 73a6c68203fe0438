"""Which searched settings mattered: Optuna's PED-ANOVA on the search's study, in the objective's direction, on
completed trials only."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from search.cli.main import main
from search.files import JOURNAL_FILE
from search.results.importance import study_importance

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(direction: str, trials: int = 40, storage: object = None) -> optuna.Study:
    """``train/lr`` decides the objective (good at the top of its range), ``points/density`` is noise."""
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0), storage=storage,
                                study_name="s")

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("train/lr", 1e-5, 1e-2, log=True)
        trial.suggest_float("points/density", 1e-3, 1e-1, log=True)
        good = 1.0 if lr > 1e-3 else 0.2
        return good if direction == "maximize" else 1 - good

    study.optimize(objective, n_trials=trials)
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_setting_that_decides_ranks_first_whichever_the_direction(direction: str) -> None:
    imp = study_importance(_study(direction))
    assert [name for name, _ in imp.ranking] == ["train/lr", "points/density"]
    assert imp.ranking[0][1] > 0.8 and imp.trials == 40 and imp.evaluator == "ped-anova"


def test_the_direction_is_the_objectives() -> None:
    """The same values ranked the other way round: a setting that only matters at the objective's bad end does
    not rank first (handing PED-ANOVA a maximised score unnegated would)."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(trial: optuna.Trial) -> float:
        a = trial.suggest_float("a", 0, 1)  # decides the best trials
        b = trial.suggest_float("b", 0, 1)  # decides only among the worst
        return 1.0 + a if a > 0.85 else (0.5 if b > 0.5 else 0.0)

    study.optimize(objective, n_trials=80)
    assert study_importance(study).ranking[0][0] == "a"


def test_only_completed_trials_count_and_too_few_are_said_so() -> None:
    study = _study("maximize", trials=5)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    imp = study_importance(study)
    assert imp.ranking == [] and "too few trials to say: 5 completed" in imp.note and imp.left_out == {"fail": 1}
    diverged = _study("maximize", trials=9)
    for t in diverged.trials[:3]:  # as the searcher tells a diverged trial: complete at the worst value
        diverged.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=0.0,
                                                     user_attrs={"pointtune_outcome": "diverged"}))
    imp = study_importance(diverged)
    assert imp.trials == 9 and imp.left_out == {"diverged": 3}


def test_results_importance_reads_the_searchs_journal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / JOURNAL_FILE)))
    _study("maximize", storage=journal)
    assert main(["results", str(tmp_path), "--importance"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("importance of the searched settings (PED-ANOVA") and "40 completed" in out
    assert out.index("train/lr") < out.index("points/density")
    assert main(["results", str(tmp_path), "--importance", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ranking"][0][0] == "train/lr"

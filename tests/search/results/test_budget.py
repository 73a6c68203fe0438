"""What a search may spend (search/results/budget.py): TPE's constraints, the study told each trial's hours and
minutes, a trial stopped at its minutes, infeasible trials never the best and off the frontier."""

from __future__ import annotations

import math
import warnings

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from search.launch.searcher import StudyTeller, make_sampler
from search.launch.settings import SearchSettings
from search.results.budget import HOURS_ATTR, MINUTES_ATTR, Budgets
from search.results.experiment import TrialRecord, best_record
from search.results.frontier import pareto_front
from search.results.tables import trials_table
from trainable.config import DataConfig, ModelConfig, TrainConfig, TrialConfig

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_the_excess_over_each_budget_is_what_optuna_reads() -> None:
    budgets = Budgets(annotation_hours=2.0, trial_minutes=10.0)
    assert budgets.excess(3.0, 4.0) == [1.0, -6.0] and budgets.excess(math.nan, 12.0) == [0.0, 2.0]
    trial = optuna.trial.create_trial(value=0.5, user_attrs={HOURS_ATTR: 1.5, MINUTES_ATTR: 11.0})
    assert budgets(trial) == [-0.5, 1.0]
    assert budgets.broken({"annotation_hours": 3.0, "trial_minutes": 4.0}) == ["3 annotation hours > 2"]
    assert not Budgets() and Budgets.of({"max_trial_minutes": 5}) == Budgets(None, 5)


def test_tpe_is_given_the_budgets_as_its_constraints() -> None:
    settings = SearchSettings(base=TrialConfig(), max_annotation_hours=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert make_sampler(settings, 1)._constraints_func == Budgets(2.0, None)
        assert make_sampler(SearchSettings(base=TrialConfig()), 1)._constraints_func is None


def test_the_study_hears_each_trials_hours_and_minutes_and_a_trial_past_its_minutes_completes() -> None:
    study = optuna.create_study(direction="maximize")
    teller = StudyTeller("best_val_f1", budgets=Budgets(None, 1.0))
    stopped = {"epoch": 2, "config/train/epochs": 5, "best_val_f1": 0.6, "annotation_hours": 0.5,
               "trial_minutes": 1.2}
    teller.end("t1", study.ask(), stopped, False)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.6, "not pruned: it broke its budget"
    assert trial.user_attrs[HOURS_ATTR] == 0.5 and trial.user_attrs[MINUTES_ATTR] == 1.2


def _record(trial_id: str, f1: float, hours: float) -> TrialRecord:
    history = pd.DataFrame([{"epoch": 1, "val_f1": f1, "best_val_f1": f1, "clicks_per_image": hours * 100,
                             "annotation_hours": hours}])
    cfg = TrialConfig(data=DataConfig(root="/d"), model=ModelConfig(backbone="tiny"), train=TrainConfig(epochs=1))
    return TrialRecord(trial_id, "finished", cfg.to_dict(), history, None, f"/x/{trial_id}")


def test_a_trial_over_its_budget_is_never_the_best_nor_on_the_frontier() -> None:
    budgets = Budgets(annotation_hours=1.0)
    records = [_record("cheap", 0.6, 0.5), _record("dear", 0.9, 3.0)]
    for r in records:
        r.over_budget = budgets.broken(r.history.iloc[-1].to_dict())
    assert best_record(records).trial_id == "cheap"
    table = trials_table(records)
    assert table.set_index("trial_id").loc["dear", "over_budget"] == "3 annotation hours > 1"
    assert list(pareto_front(table, "best_val_f1")["trial_id"]) == ["cheap"]
    records[0].over_budget = ["0.5 annotation hours > 0.1"]
    with pytest.raises(Exception, match="no trial of this search stayed within its budgets"):
        best_record(records)


def test_a_run_stops_after_the_epoch_that_passes_its_minutes(demo_dir) -> None:
    from trainable.trial import run_trial

    cfg = TrialConfig(data=DataConfig(root=str(demo_dir), format="demo", tile_size=32, crops_per_epoch=16),
                      model=ModelConfig(backbone="tiny", weights="none"),
                      train=TrainConfig(epochs=3, max_minutes=1e-6, bn_recalibration_batches=0))
    reported = []
    run_trial(cfg, lambda metrics, _: reported.append(metrics))
    assert [m["epoch"] for m in reported] == [1] and reported[0]["trial_minutes"] > 1e-6

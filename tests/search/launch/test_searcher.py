"""What the Optuna study is told (search/launch/searcher.py): outcomes, intermediate values, retries, the budget and
the hints a resumed searcher reads. No Ray: plain in-memory studies."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.launch.searcher import (
    OUTCOME_ATTR,
    RETRY_OF_ATTR,
    TRIAL_ID_ATTR,
    WORST_VALUE,
    ResumeHints,
    StudyTeller,
    enqueue_retries,
    params_to_retry,
    raised_budget,
)

FINISHED = {"epoch": 3, "config/train/epochs": 3}


@pytest.mark.parametrize(("result", "error", "state", "value", "outcome"), [
    ({**FINISHED, "best_val_f1": 0.6}, False, TrialState.COMPLETE, 0.6, None),
    ({"epoch": 1, "config": {"train": {"epochs": 3}}, "best_val_f1": 0.4}, False, TrialState.PRUNED, 0.4,
     "stopped early"),  # a scheduler stopped it (nested config: a result from result.json); Optuna values a
    # pruned trial at its last intermediate value
    ({**FINISHED, "config/train/pseudo_labels": 0.9, "best_val_f1": 0.5}, False, TrialState.PRUNED, 0.5,
     "stopped early"),  # a self-training trial stopped in its second stage (epochs 4 to 6)
    ({**FINISHED, "epoch": 6, "config/train/pseudo_labels": 0.9, "best_val_f1": 0.7}, False, TrialState.COMPLETE,
     0.7, None),
    ({**FINISHED, "best_val_f1": 0.3, "trial_outcome": "diverged"}, False, TrialState.COMPLETE, WORST_VALUE,
     "diverged"),
    ({"best_val_f1": math.nan, "trial_outcome": "error"}, False, TrialState.FAIL, None, "failed"),
    ({**FINISHED, "best_val_f1": 0.6}, True, TrialState.FAIL, None, "failed"),  # failed in Tune
    ({**FINISHED, "best_val_f1": math.nan}, False, TrialState.FAIL, None, "failed"),
])
def test_a_trials_end_is_told_for_what_it_is(result: dict, error: bool, state: TrialState, value: float | None,
                                              outcome: str | None) -> None:
    study = optuna.create_study(direction="maximize")
    StudyTeller("best_val_f1").end("t1", study.ask(), result, error)
    (trial,) = study.trials
    assert trial.state == state and trial.value == value and trial.user_attrs.get(OUTCOME_ATTR) == outcome


def test_a_frontier_search_tells_two_values_and_no_intermediate_ones() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    teller = StudyTeller("best_val_f1", frontier=True)
    teller.result("t1", ot := study.ask(), {"epoch": 1, "best_val_f1": 0.5, "clicks_per_image": 20.0})
    teller.end("t1", ot, {**FINISHED, "best_val_f1": 0.6, "clicks_per_image": 20.0}, False)
    teller.end("t2", study.ask(), {**FINISHED, "best_val_f1": 0.6, "trial_outcome": "diverged",
                                   "clicks_per_image": 5.0}, False)
    teller.end("t3", study.ask(), {**FINISHED, "best_val_f1": 0.6}, False)  # no cost: not on the frontier
    first, diverged, no_cost = study.trials
    assert first.values == [0.6, 20.0] and first.intermediate_values == {}
    assert diverged.values == [WORST_VALUE, 5.0] and no_cost.state == TrialState.FAIL


def test_best_so_far_values_go_in_once_per_epoch_and_a_told_trial_is_left_alone() -> None:
    study = optuna.create_study(direction="maximize")
    teller = StudyTeller("best_val_f1")
    ot = study.ask()
    for epoch, best in ((1, 0.4), (2, 0.5), (2, 0.5), (3, math.nan)):  # epoch 2 again: a resumed trial re-reports
        teller.result("t1", ot, {"epoch": epoch, "best_val_f1": best})
    teller.result("t1", ot, {"trial_outcome": "diverged", "best_val_f1": 0.9, "epoch": 4})
    assert study.trials[0].intermediate_values == {1: 0.4, 2: 0.5}
    study.tell(ot, 0.5)  # told before the driver was killed: the replayed end changes nothing
    teller.end("t1", ot, {**FINISHED, "best_val_f1": 0.8}, False)
    teller.end("t1", ot, {**FINISHED, "best_val_f1": 0.9}, False)
    assert study.trials[0].value == 0.5 and "t1" in teller.completed


def test_failed_trials_are_queued_again_once() -> None:
    study = optuna.create_study(direction="maximize")
    for trial_id in ("a", "b"):
        ot = study.ask({"train/lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
        ot.set_user_attr(TRIAL_ID_ATTR, trial_id)
        study.tell(ot, None, state=TrialState.FAIL)
    retries = params_to_retry(study, {"b"})
    assert retries == [("b", {"train/lr": study.trials[1].params["train/lr"]})]
    enqueue_retries(study, retries)
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.user_attrs[RETRY_OF_ATTR] == "b" and waiting.system_attrs["fixed_params"] == retries[0][1]
    assert params_to_retry(study, {"b"}) == [], "retried already"


def test_a_resumed_budget_is_raised_never_lowered() -> None:
    assert raised_budget(4, None) == 4 and raised_budget(4, 3) == 4 and raised_budget(4, 6) == 6


def test_the_hints_round_trip_through_the_experiment_folder(tmp_path: Path) -> None:
    assert ResumeHints.read(str(tmp_path)) is None
    hints = ResumeHints(str(tmp_path / "journal.log"), 6, [("b", {"train/lr": 2e-3})],
                        {"c": {"epoch": 3, "best_val_f1": math.nan}})
    hints.write(str(tmp_path))
    back = ResumeHints.read(str(tmp_path))
    assert (back.journal, back.trials, back.requeue) == (hints.journal, 6, [("b", {"train/lr": 2e-3})])
    assert math.isnan(back.ended_before_resume["c"]["best_val_f1"])

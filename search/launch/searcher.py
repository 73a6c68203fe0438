"""What the Optuna study is told, in one place: pointtune's outcomes, the trial budget and the retries.

Ray's ``OptunaSearch`` tells the study each trial's *last* result as COMPLETE, a failed trial as FAIL (which TPE
ignores) and reports intermediate values at Tune's iteration counter. pointtune's trials report their best-so-far
objective every epoch, so the last result already carries the best epoch; on top of that the study is told
(``StudyTeller``):

- a trial ASHA stopped early: PRUNED (with its per-epoch best-so-far values as intermediate values), never a
  COMPLETE trial valued at an epoch its schedule did not end at;
- a diverged trial: COMPLETE at the worst value the metric can take (0: metrics are in [0, 1]), with the user
  attribute ``pointtune_outcome: diverged``, so that TPE learns the region is bad instead of ignoring it;
- a trial whose settings or files are wrong (``trial_outcome: error``): FAIL;
- each Optuna trial carries the Tune trial id in ``pointtune_trial_id``.

No Ray here: the searcher Tune drives (``search/launch/tuner.py``) is a thin subclass of Ray's ``OptunaSearch`` that
hands this logic each Optuna trial with Tune's results. What a resumed search's searcher is told (``ResumeHints``:
the journal on this machine, a raised budget, the trials to retry) is written by the driver into the experiment
folder, from which Tune restores the searcher.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.files import HINTS_FILE
from search.launch.settings import SearchSettings
from search.results.budget import HOURS_ATTR, MINUTES_ATTR, Budgets
from trainable.config import planned_epochs
from trainable.data import storage

log = logging.getLogger(__name__)
WORST_VALUE = 0.0  # every searchable metric is in [0, 1], higher is better
COST = "clicks_per_image"  # a frontier search's second objective: annotation cost, as clicks per training image
TRIAL_ID_ATTR = "pointtune_trial_id"
OUTCOME_ATTR = "pointtune_outcome"
RETRY_OF_ATTR = "pointtune_retry_of"


def make_sampler(settings: SearchSettings, concurrent: int) -> optuna.samplers.BaseSampler:
    """TPE (multivariate, grouped for conditional spaces, with a constant liar when trials run in parallel) or
    random search, seeded."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    budgets = budgets_of(settings)
    with warnings.catch_warnings():  # multivariate, group, constant_liar and constraints are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=startup_trials(settings.trials),
                                          multivariate=True, group=True, constant_liar=concurrent > 1,
                                          constraints_func=budgets if budgets else None)


def budgets_of(settings: SearchSettings) -> Budgets:
    return Budgets(settings.max_annotation_hours, settings.max_trial_minutes)


def startup_trials(trials: int) -> int:
    """Random trials before TPE takes over."""
    return min(10, max(2, trials // 4))


def stopped_early(result: dict) -> bool:
    """A trial that ended before the epochs its config asked for, over its stages (a scheduler stopped it). Tune
    hands searchers the last result flattened (``config/train/epochs``)."""
    train = result.get("config", {}).get("train", {})
    epochs = result.get("config/train/epochs", train.get("epochs"))
    pseudo = result.get("config/train/pseudo_labels", train.get("pseudo_labels"))
    planned = planned_epochs({"train": {"epochs": epochs, "pseudo_labels": pseudo}}) if epochs is not None else None
    return planned is not None and "epoch" in result and int(result["epoch"]) < planned


def finished_in_study(ot_trial: optuna.Trial) -> bool:
    """The study already holds this trial's outcome: the driver was killed after telling the study (a journal
    written at once) but before Tune's last snapshot of the searcher, so a resumed search replays the trial."""
    return ot_trial.study._storage.get_trial(ot_trial._trial_id).state.is_finished()


class StudyTeller:
    """Tells the study a trial's progress and its end, for what it is (module docstring).

    Args:
        objective: the best-so-far metric the search ranks by.
        frontier: two objectives, the best score (up) and the clicks per image (down); no intermediate values.
        ended_before_resume: the last recorded result of each trial that a resumed search restores although its end
            was recorded (``search/launch/recorded.py``): such a trial reports nothing, and Tune would hand over its
            checkpoint's result instead.
    """

    def __init__(self, objective: str, frontier: bool = False,
                 ended_before_resume: dict[str, dict[str, Any]] | None = None, budgets: Budgets | None = None):
        self.objective, self.frontier, self.budgets = objective, frontier, budgets or Budgets()
        self.ended_before_resume = ended_before_resume or {}
        self.completed: set[str] = set()

    def result(self, trial_id: str, ot_trial: optuna.Trial, result: dict) -> None:
        """An epoch's result: its best-so-far value, as the intermediate value at that epoch."""
        if self.frontier:  # Optuna takes no intermediate values with several objectives
            return
        if trial_id in self.completed or result.get("trial_outcome") or finished_in_study(ot_trial):
            return  # a diverged or failed trial's last result says nothing about progress
        value = result.get(self.objective)
        if value is None or not math.isfinite(value) or "epoch" not in result:
            return
        if int(result["epoch"]) not in ot_trial.study._storage.get_trial(ot_trial._trial_id).intermediate_values:
            ot_trial.report(value, int(result["epoch"]))

    def end(self, trial_id: str, ot_trial: optuna.Trial, result: dict | None, error: bool) -> None:
        """A trial ended (``error``: it failed in Tune); ``result`` is its last."""
        if trial_id in self.completed:
            return
        if not finished_in_study(ot_trial):
            if not error and trial_id in self.ended_before_resume:
                result = self.ended_before_resume[trial_id]
            result = result or {}
            self.result(trial_id, ot_trial, result)  # Tune hands the result that ends a trial to the end only
            state, value, outcome = self.outcome(result, error)
            if outcome:
                ot_trial.set_user_attr(OUTCOME_ATTR, outcome)
            for attr, key in ((HOURS_ATTR, "annotation_hours"), (MINUTES_ATTR, "trial_minutes")):
                if isinstance(result.get(key), int | float) and math.isfinite(result[key]):
                    ot_trial.set_user_attr(attr, float(result[key]))  # what the budgets' constraints read
            tell(ot_trial, value, state)
        self.completed.add(trial_id)

    def outcome(self, result: dict, error: bool) -> tuple[TrialState, float | list[float] | None, str | None]:
        """What the study is told of a trial that ended with ``result``: its state, value(s) and outcome attribute."""
        value, cost = result.get(self.objective), result.get(COST)
        if result.get("trial_outcome") == "diverged":
            return TrialState.COMPLETE, [WORST_VALUE, cost] if self.frontier else WORST_VALUE, "diverged"
        if self.frontier and (cost is None or not math.isfinite(cost)):
            return TrialState.FAIL, None, "failed"
        if result.get("trial_outcome") == "error" or error or value is None or not math.isfinite(value):
            return TrialState.FAIL, None, "failed"
        if stopped_early(result) and not self.budgets.broken(result):  # a trial past its minutes: complete, and
            return TrialState.PRUNED, None, "stopped early"               # its constraint broken
        return TrialState.COMPLETE, [value, cost] if self.frontier else value, None


def tell(ot_trial: optuna.Trial, value: float | list[float] | None, state: TrialState) -> None:
    try:
        ot_trial.study.tell(ot_trial, value, state=state)
    except Exception as e:  # noqa: BLE001  optuna raises ValueError/RuntimeError variously; never stop the search
        log.warning("could not tell the Optuna study about trial %s: %s", ot_trial.number, e)


def params_to_retry(study: optuna.Study, failed: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The searched parameters of the failed Tune trials ``failed`` that no earlier retry ran again."""
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in study.trials}
    return [(t.user_attrs[TRIAL_ID_ATTR], dict(t.params)) for t in study.trials
            if t.user_attrs.get(TRIAL_ID_ATTR) in failed and t.user_attrs[TRIAL_ID_ATTR] not in retried]


def enqueue_retries(study: optuna.Study, retries: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue the parameters of trials to run again (``--retry-failed``): the study's next trials take them."""
    for trial_id, params in retries:
        study.enqueue_trial(params, user_attrs={RETRY_OF_ATTR: trial_id}, skip_if_exists=False)


def raised_budget(recorded: int, asked: int | None) -> int:
    """A resumed search's trial budget: the one Tune recorded, raised (never lowered) to ``--trials N``."""
    if asked is not None and asked > recorded:
        log.info("trial budget raised from %d to %d", recorded, asked)
        return asked
    return recorded


@dataclass(frozen=True)
class ResumeHints:
    """What the driver tells the searcher that Tune restores on ``--resume``, written into the experiment folder
    (``HINTS_FILE``) before the restore and read by the searcher from the folder Tune restores it from: each search
    (and each searcher) has its own.

    Attributes:
        journal: the study's journal on this machine (``search/launch/journal.py``).
        trials: the budget asked for (``--trials N``), raised from Tune's recorded one when higher.
        requeue: ``(tune trial id, {"train/lr": ..., ...})`` of each failed trial to run again (``--retry-failed``).
        ended_before_resume: the last recorded result of each restored trial whose end was recorded (``StudyTeller``).
    """

    journal: str
    trials: int | None = None
    requeue: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ended_before_resume: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write(self, experiment_path: str) -> None:
        storage.write_text(f"{experiment_path}/{HINTS_FILE}", json.dumps(asdict(self)))

    @classmethod
    def read(cls, folder: str) -> ResumeHints | None:
        """The hints in ``folder`` (where Tune restores the searcher from), or None when the driver wrote none."""
        path = Path(folder) / HINTS_FILE
        if not path.is_file():
            return None
        hints = json.loads(path.read_text())
        return cls(hints["journal"], hints["trials"], [(t, p) for t, p in hints["requeue"]],
                   hints["ended_before_resume"])

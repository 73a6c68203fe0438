"""What the Optuna study is told, in one place: Ray's OptunaSearch with pointtune's outcomes and trial budget.

Ray's ``OptunaSearch`` tells the study each trial's *last* result as COMPLETE, a failed trial as FAIL (which TPE
ignores) and reports intermediate values at Tune's iteration counter. pointtune's trials report their best-so-far
objective every epoch, so the last result already carries the best epoch; on top of that this searcher tells:

- a trial ASHA stopped early: PRUNED (with its per-epoch best-so-far values as intermediate values), never a
  COMPLETE trial valued at an epoch its schedule did not end at;
- a diverged trial: COMPLETE at the worst value the metric can take (0: metrics are in [0, 1]), with the user
  attribute ``pointtune_outcome: diverged``, so that TPE learns the region is bad instead of ignoring it;
- a trial whose settings or files are wrong (``trial_outcome: error``): FAIL;
- each Optuna trial carries the Tune trial id in ``pointtune_trial_id``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, ClassVar

import optuna
from optuna.trial import TrialState
from ray.tune import Callback
from ray.tune.search import ConcurrencyLimiter, SearchGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils import flatten_dict

from search.launch.settings import SearchSettings
from search.launch.space import SearchSpaceSampler
from trainable.data import storage

log = logging.getLogger(__name__)
WORST_VALUE = 0.0  # every searchable metric is in [0, 1], higher is better
COST = "clicks_per_image"  # a frontier search's second objective: annotation cost, as clicks per training image
TRIAL_ID_ATTR = "pointtune_trial_id"
OUTCOME_ATTR = "pointtune_outcome"


def journal_storage(path: str) -> optuna.storages.JournalStorage:
    """The study's storage: Optuna's journal file (appends only; a URI-stored search keeps a local copy)."""
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def make_sampler(settings: SearchSettings, concurrent: int) -> optuna.samplers.BaseSampler:
    """TPE (multivariate, grouped for conditional spaces, with a constant liar when trials run in parallel) or
    random search, seeded."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    with warnings.catch_warnings():  # multivariate, group and constant_liar are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=startup_trials(settings.trials),
                                          multivariate=True, group=True, constant_liar=concurrent > 1)


def startup_trials(trials: int) -> int:
    """Random trials before TPE takes over."""
    return min(10, max(2, trials // 4))


class PointtuneOptunaSearch(OptunaSearch):
    """OptunaSearch that tells the study pruned, diverged and failed trials for what they are (module docstring)."""

    # parameters of trials to run again (``--resume --retry-failed``), queued in the study when the driver restores
    # the searcher; each is ``(tune trial id, {"train/lr": ..., ...})``
    requeue: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, *args: Any, objective: str, frontier: bool = False, **kwargs: Any):
        # a frontier search tells the study two values: the best score (up) and the clicks per image (down)
        metric, mode = ([objective, COST], ["max", "min"]) if frontier else (objective, "max")
        super().__init__(*args, metric=metric, mode=mode, **kwargs)
        self.objective, self.frontier = objective, frontier

    # the study's journal file on this machine; set by the driver before Tune restores a searcher (``--resume``)
    journal_path: ClassVar[str | None] = None
    # the last recorded result of each trial that a resumed search restores although its end was recorded; set by
    # the driver (search/launch/recorded.py): such a trial reports nothing, and Tune hands over its checkpoint's result
    ended_before_resume: ClassVar[dict[str, dict[str, Any]]] = {}

    def save(self, checkpoint_path: str) -> None:
        """Tune's snapshot of the searcher, without the study: that lives in its journal, which a resumed search
        (perhaps on another machine, with the journal at another path) opens anew."""
        state = self.__dict__.copy()
        state.update(_ot_study=None, _storage=None,
                     _ot_trials={tid: t._trial_id for tid, t in self._ot_trials.items()})
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        trial_numbers = state.pop("_ot_trials")
        self.__dict__.update(state)
        if PointtuneOptunaSearch.journal_path is None:
            raise RuntimeError("PointtuneOptunaSearch.journal_path must be set before a searcher is restored")
        self._storage = journal_storage(PointtuneOptunaSearch.journal_path)
        self._ot_study = optuna.load_study(study_name=self._study_name, storage=self._storage, sampler=self._sampler,
                                           pruner=optuna.pruners.NopPruner())
        self._ot_trials = {tid: optuna.trial.Trial(self._ot_study, number) for tid, number in trial_numbers.items()}
        for trial_id, params in PointtuneOptunaSearch.requeue:
            self._ot_study.enqueue_trial(params, user_attrs={"pointtune_retry_of": trial_id},
                                         skip_if_exists=False)

    def suggest(self, trial_id: str) -> dict | None:
        params = super().suggest(trial_id)
        if params is not None:
            self._ot_trials[trial_id].set_user_attr(TRIAL_ID_ATTR, trial_id)
        return params

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.frontier:  # Optuna takes no intermediate values with several objectives
            return
        if trial_id in self._completed_trials or result.get("trial_outcome") or self._finished_in_study(trial_id):
            return  # a diverged or failed trial's last result says nothing about progress
        value = result.get(self.objective)
        if value is None or not math.isfinite(value) or "epoch" not in result:
            return
        ot_trial = self._ot_trials[trial_id]
        if int(result["epoch"]) not in self._ot_study._storage.get_trial(ot_trial._trial_id).intermediate_values:
            ot_trial.report(value, int(result["epoch"]))

    def _finished_in_study(self, trial_id: str) -> bool:
        """The study already holds this trial's outcome: the driver was killed after telling the study (a journal
        written at once) but before Tune's last snapshot of the searcher, so a resumed search replays the trial."""
        ot_trial = self._ot_trials[trial_id]
        return self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished()

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials:
            return
        if self._finished_in_study(trial_id):
            self._completed_trials.add(trial_id)
            return
        ot_trial = self._ot_trials[trial_id]
        if not error and trial_id in PointtuneOptunaSearch.ended_before_resume:
            result = flatten_dict(PointtuneOptunaSearch.ended_before_resume[trial_id])
        result = result or {}
        self.on_trial_result(trial_id, result)  # Tune hands the result that ends a trial to this method only
        outcome = result.get("trial_outcome")
        value = result.get(self.objective)
        cost = result.get(COST)
        if outcome == "diverged":
            ot_trial.set_user_attr(OUTCOME_ATTR, "diverged")
            self._tell(ot_trial, [WORST_VALUE, cost] if self.frontier else WORST_VALUE, TrialState.COMPLETE)
        elif self.frontier and (cost is None or not math.isfinite(cost)):
            ot_trial.set_user_attr(OUTCOME_ATTR, "failed")
            self._tell(ot_trial, None, TrialState.FAIL)
        elif outcome == "error" or error or value is None or not math.isfinite(value):
            ot_trial.set_user_attr(OUTCOME_ATTR, "failed")
            self._tell(ot_trial, None, TrialState.FAIL)
        elif stopped_early(result):
            ot_trial.set_user_attr(OUTCOME_ATTR, "stopped early")
            self._tell(ot_trial, None, TrialState.PRUNED)
        else:
            self._tell(ot_trial, [value, cost] if self.frontier else value, TrialState.COMPLETE)
        self._completed_trials.add(trial_id)

    def _tell(self, ot_trial: optuna.Trial, value: float | list[float] | None, state: TrialState) -> None:
        try:
            self._ot_study.tell(ot_trial, value, state=state)
        except Exception as e:  # noqa: BLE001  optuna raises ValueError/RuntimeError variously; never stop the search
            log.warning("could not tell the Optuna study about trial %s: %s", ot_trial.number, e)


def params_to_retry(study: optuna.Study, failed: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The searched parameters of the failed Tune trials ``failed`` that no earlier retry ran again."""
    retried = {t.user_attrs.get("pointtune_retry_of") for t in study.trials}
    return [(t.user_attrs[TRIAL_ID_ATTR], dict(t.params)) for t in study.trials
            if t.user_attrs.get(TRIAL_ID_ATTR) in failed and t.user_attrs[TRIAL_ID_ATTR] not in retried]


def stopped_early(result: dict) -> bool:
    """A trial that ended before the epochs its config asked for (a scheduler stopped it). Tune hands searchers the
    last result flattened (``config/train/epochs``)."""
    planned = result.get("config/train/epochs", result.get("config", {}).get("train", {}).get("epochs"))
    return planned is not None and "epoch" in result and int(result["epoch"]) < int(planned)


class TrialBudget(SearchGenerator):
    """Tune's search generator with a trial budget that ``--resume --trials N`` may raise.

    Tune restores the number of samples from the experiment's state; ``raise_to`` (set by the driver before it
    resumes) lifts it, so that a resumed search runs the extra trials with the same searcher state.
    """

    raise_to: int | None = None

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if TrialBudget.raise_to is not None and TrialBudget.raise_to > self._total_samples:
            log.info("trial budget raised from %d to %d", self._total_samples, TrialBudget.raise_to)
            self._total_samples = TrialBudget.raise_to
            self._finished = False


def make_search_algorithm(settings: SearchSettings, journal: str, concurrent: int) -> TrialBudget:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines say what Optuna's INFO lines would
    study_name = f"pointtune-{settings.name}-{uuid.uuid4().hex[:8]}"
    searcher = PointtuneOptunaSearch(space=SearchSpaceSampler(settings.space), sampler=make_sampler(settings,
                                     concurrent), storage=journal_storage(journal), study_name=study_name,
                                     objective=settings.base.train.objective, frontier=settings.frontier)
    return TrialBudget(ConcurrencyLimiter(searcher, max_concurrent=concurrent))


def local_journal_path(experiment_path: str) -> str:
    """This machine's copy of the journal of a search stored at a URI (Optuna's journal needs a local file)."""
    digest = hashlib.sha256(experiment_path.encode()).hexdigest()[:12]
    local = Path.home() / ".cache" / "pointtune" / "optuna" / f"{experiment_path.rstrip('/').rsplit('/', 1)[-1]}-" \
        f"{digest}.log"
    local.parent.mkdir(parents=True, exist_ok=True)
    return str(local)


class JournalSync(Callback):
    """Copies the study's local journal into the experiment folder (a storage URI) whenever a trial ends, at most
    every ``every_s`` seconds while results arrive, and at the end: the study lives with the experiment.

    The local copy is found on the machine the driver runs on (a resumed search restores this callback from the
    experiment, perhaps elsewhere)."""

    def __init__(self, experiment_path: str, remote: str, every_s: float = 30.0):
        self.experiment_path, self.remote, self.every_s, self.last = experiment_path, remote, every_s, 0.0

    def sync(self) -> None:
        try:
            storage.upload(local_journal_path(self.experiment_path), self.remote)
            self.last = time.monotonic()
        except OSError as e:  # a flaky bucket must not stop the search; the next sync tries again
            log.warning("could not copy the Optuna journal to %s: %s", self.remote, e)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if time.monotonic() - self.last > self.every_s:
            self.sync()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.sync()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.sync()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.sync()

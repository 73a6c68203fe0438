"""Launching a search on Ray Tune: the Tuner and its configs, the searcher Tune drives, the events it tells, the tasks
a search runs besides its trials, and the progress board.

One of the four modules that import Ray (``tests/test_ray_modules.py``), with ``search/launch/cluster.py`` (the
cluster and its checks), ``trainable/tune_trial.py`` (a trial's side) and the results' fallback reader. Each piece
here is a thin adapter over plain logic:

- ``TuneEvents`` forwards Tune's callback events to plain listeners: the progress lines or live view
  (``search/cli``), the TensorBoard files, the journal's sync to a URI and the record written before a retry;
- ``PointtuneOptunaSearch`` and ``TrialBudget`` are Ray's ``OptunaSearch`` and ``SearchGenerator`` telling the study
  what ``search/launch/searcher.py`` decides; a restored one takes its ``ResumeHints`` from the folder Tune restores
  it from (each instance its own: nothing is set on the classes);
- ``run_task`` runs the test score and the full-supervision reference as Ray tasks with a trial's resources;
- ``open_board`` starts the progress board (``trainable/progress_board.py``) as an actor and reads it without
  waiting.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
import uuid
from collections.abc import Callable
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.logger import TBXLoggerCallback
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter, SearchGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from search.cli.live_view import LiveView
from search.launch.journal import JOURNAL_FILE, JournalSync, journal_path, journal_storage
from search.launch.recorded import RecordBeforeRetry
from search.launch.searcher import (
    COST,
    HINTS_FILE,
    TRIAL_ID_ATTR,
    ResumeHints,
    StudyTeller,
    budgets_of,
    enqueue_retries,
    make_sampler,
    raised_budget,
)
from search.launch.settings import SearchSettings
from search.launch.space import SearchSpaceSampler, build_param_space
from search.launch.warm_start import WarmTrial, add_to_study
from search.results.budget import Budgets
from search.results.tensorboard import TensorBoardLog
from trainable.data.index import DatasetIndex
from trainable.data.storage import is_uri
from trainable.progress_board import NAMESPACE, ProgressBoard, board_name
from trainable.tune_trial import tune_entrypoint

log = logging.getLogger(__name__)
TaskError = ray.exceptions.RayTaskError  # a task's failure; ``.cause``: what the task raised


# ------------------------------------------------------------------------------------------------ the searcher

class PointtuneOptunaSearch(OptunaSearch):
    """Ray's ``OptunaSearch``, telling the study what ``StudyTeller`` decides (search/launch/searcher.py)."""

    def __init__(self, *args: Any, objective: str, frontier: bool = False, budgets: Budgets | None = None,
                 **kwargs: Any):
        # a frontier search tells the study two values: the best score (up) and the clicks per image (down)
        metric, mode = ([objective, COST], ["max", "min"]) if frontier else (objective, "max")
        super().__init__(*args, metric=metric, mode=mode, **kwargs)
        self.teller = StudyTeller(objective, frontier, budgets=budgets)

    def save(self, checkpoint_path: str) -> None:
        """Tune's snapshot of the searcher, without the study: that lives in its journal, which a resumed search
        (perhaps on another machine, with the journal at another path) opens anew."""
        state = self.__dict__.copy()
        state.update(_ot_study=None, _storage=None,
                     _ot_trials={tid: t._trial_id for tid, t in self._ot_trials.items()})
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Tune restores the searcher from the experiment's state in ``checkpoint_dir``, where the driver's hints
        are too (``ResumeHints``)."""
        hints = ResumeHints.read(checkpoint_dir)
        if hints is None:
            raise RuntimeError(f"{checkpoint_dir} has no {HINTS_FILE}: the driver writes it before Tune restores a "
                               "searcher (search/launch/prepare.py)")
        super().restore_from_dir(checkpoint_dir)  # -> restore(the newest snapshot)
        self.resume_with(hints)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))  # the study is opened by resume_with

    def resume_with(self, hints: ResumeHints) -> None:
        """Open the study at this machine's journal; queue the trials to retry; take the ended trials' results."""
        self._storage = journal_storage(hints.journal)
        self._ot_study = optuna.load_study(study_name=self._study_name, storage=self._storage, sampler=self._sampler,
                                           pruner=optuna.pruners.NopPruner())
        self._ot_trials = {tid: optuna.trial.Trial(self._ot_study, number) for tid, number in self._ot_trials.items()}
        enqueue_retries(self._ot_study, hints.requeue)
        self.teller.ended_before_resume = hints.ended_before_resume

    def suggest(self, trial_id: str) -> dict | None:
        params = super().suggest(trial_id)
        if params is not None:
            self._ot_trials[trial_id].set_user_attr(TRIAL_ID_ATTR, trial_id)
        return params

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.teller.result(trial_id, self._ot_trials.get(trial_id), result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.teller.end(trial_id, self._ot_trials.get(trial_id), result, error)


class TrialBudget(SearchGenerator):
    """Tune's search generator with a trial budget that ``--resume --trials N`` may raise: Tune restores the number
    of samples from the experiment's state, and the driver's hints (``ResumeHints.trials``) lift it, so that a
    resumed search runs the extra trials with the same searcher state."""

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        hints = ResumeHints.read(dirpath)
        total = raised_budget(self._total_samples, hints.trials if hints is not None else None)
        if total != self._total_samples:
            self._total_samples, self._finished = total, False


def make_search_algorithm(settings: SearchSettings, journal: str, concurrent: int,
                          warm: list[WarmTrial] | None = None) -> TrialBudget:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines say what Optuna's INFO lines would
    study_name = f"pointtune-{settings.name}-{uuid.uuid4().hex[:8]}"
    searcher = PointtuneOptunaSearch(space=SearchSpaceSampler(settings.space), sampler=make_sampler(settings,
                                     concurrent), storage=journal_storage(journal), study_name=study_name,
                                     objective=settings.base.train.objective, frontier=settings.frontier,
                                     budgets=budgets_of(settings))
    add_to_study(searcher._ot_study, warm or [])  # --warm-start: earlier trials, before the first suggestion
    return TrialBudget(ConcurrencyLimiter(searcher, max_concurrent=concurrent))


# ----------------------------------------------------------------------------------------- events and configs

class TuneEvents(TBXLoggerCallback):
    """Tune's callback events, forwarded to plain listeners: each listener gets the events it has a method for
    (``setup``, ``on_trial_start`` ...), with Tune's arguments.

    A ``TBXLoggerCallback`` only so that Tune leaves its own TensorBoard logger out (it adds one when no callback is
    one, ``ray/tune/utils/callback.py``): ``TensorBoardLog`` writes pointtune's. Tune still adds its CSV and JSON
    loggers, which ``pointtune results`` reads. Tune pickles this with its listeners into the experiment
    (``tuner.pkl``) and restores them on ``--resume``.
    """

    def __init__(self, listeners: list[Any]):  # no super().__init__: none of Ray's writer state is used
        self.listeners = listeners

    def _tell(self, event: str, **info: Any) -> None:
        for listener in self.listeners:
            handler = getattr(listener, event, None)
            if handler is not None:
                handler(**info)

    def setup(self, **info: Any) -> None:
        self._tell("setup", **info)

    def on_step_end(self, **info: Any) -> None:
        self._tell("on_step_end", **info)

    def on_trial_start(self, **info: Any) -> None:
        self._tell("on_trial_start", **info)

    def on_trial_result(self, **info: Any) -> None:
        self._tell("on_trial_result", **info)

    def on_trial_complete(self, **info: Any) -> None:
        self._tell("on_trial_complete", **info)

    def on_trial_error(self, **info: Any) -> None:
        self._tell("on_trial_error", **info)

    def on_trial_recover(self, **info: Any) -> None:
        self._tell("on_trial_recover", **info)

    def on_experiment_end(self, **info: Any) -> None:
        self._tell("on_experiment_end", **info)


def run_config(settings: SearchSettings, printer: Any) -> tune.RunConfig:
    """Where the search keeps its results, what it keeps, its retries, and its listeners (``printer``: the progress
    lines or the live view)."""
    listeners = [printer, TensorBoardLog(settings.experiment_path), RecordBeforeRetry(settings.experiment_path)]
    if is_uri(settings.storage):
        listeners.append(JournalSync(settings.experiment_path, f"{settings.experiment_path}/{JOURNAL_FILE}"))
    return tune.RunConfig(
        name=settings.name, storage_path=settings.storage, verbose=0, callbacks=[TuneEvents(listeners)],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=settings.keep_checkpoints,
                                                checkpoint_score_attribute=settings.metric,
                                                checkpoint_score_order="max"),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures))


def tune_config(settings: SearchSettings, max_concurrent: int, warm: list[WarmTrial] | None = None) -> tune.TuneConfig:
    # ASHA compares trials by their best-so-far objective at rungs of grace_period * reduction_factor**k epochs; a
    # self-training second stage's epochs count in its budget (best-so-far goes on across the stages)
    scheduler = (ASHAScheduler(time_attr="epoch", max_t=settings.space.epochs[1] * settings.base.train.stages,
                               grace_period=settings.grace_period, reduction_factor=settings.reduction_factor)
                 if settings.scheduler == "asha" else None)
    # reuse_actors: a trial process is kept for the next trial instead of re-importing torch (measured per trial
    # with a no-op trainable: 1.60 s -> 0.09 s; a real trial's start 3.4 s -> 0.004 s; benchmarks/)
    # a frontier search has two objectives: only the searcher knows them (Tune's metric serves schedulers, and there
    # is none); a single-objective one ranks by the best-so-far metric everywhere
    return tune.TuneConfig(metric=None if settings.frontier else settings.objective,
                           mode=None if settings.frontier else "max", num_samples=settings.trials, scheduler=scheduler,
                           reuse_actors=True,
                           search_alg=make_search_algorithm(settings, journal_path(settings.experiment_path),
                                                            max_concurrent, warm),
                           trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}")


def build_tuner(settings: SearchSettings, data: DatasetIndex, weights: dict | None, slots: int,
                warm: list[WarmTrial] | None = None) -> tune.Tuner:
    """A new search's Tuner; on ``--resume``, the experiment's, restored with the searcher and listeners it started
    with (the driver has written the searcher's hints first: ``search/launch/prepare.py``)."""
    trainable = tune.with_resources(tune.with_parameters(tune_entrypoint, data=data, weights=weights,
                                                         experiment=settings.experiment_path),
                                    {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    if settings.resume:
        return tune.Tuner.restore(settings.experiment_path, trainable=trainable, resume_unfinished=True,
                                  resume_errored=False, restart_errored=False)
    printer = LiveView(settings, open_board=open_board)  # a table on a terminal, lines elsewhere (chosen at setup)
    return tune.Tuner(trainable, param_space=build_param_space(settings),
                      tune_config=tune_config(settings, min(settings.trials, settings.max_concurrent or slots), warm),
                      run_config=run_config(settings, printer))


# ---------------------------------------------------------------------------------------------------- tasks

def run_task(fn: Callable[..., Any], *args: Any, cpus: float, gpus: float) -> Any:
    """``fn(*args)`` as a Ray task with these resources (a trial's: a GPU where trials have one), waited for.

    Raises:
        TaskError: the task failed; it is also an instance of what the task raised.
    """
    return ray.get(ray.remote(fn).options(num_cpus=cpus, num_gpus=gpus).remote(*args))


# ------------------------------------------------------------------------------------------ the progress board

def start_board(experiment: str) -> Any:
    """The search's board (an actor handle), on this node, living as long as the driver."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return ray.remote(ProgressBoard).options(name=board_name(experiment), namespace=NAMESPACE, num_cpus=0,
                                             get_if_exists=True, scheduling_strategy=here).remote()


class BoardReader:
    """Reads the search's progress board without waiting: ``read()`` returns the snapshot that has arrived since
    the last call (or None) and asks for the next one at most every ``every_s`` seconds."""

    def __init__(self, board: Any, every_s: float = 1.0):
        self.board, self.every_s, self.pending, self.asked = board, every_s, None, -math.inf

    def read(self) -> dict | None:
        if self.board is None:
            return None
        snapshot = None
        if self.pending is not None:
            ready, _ = ray.wait([self.pending], timeout=0)
            if not ready:
                return None
            try:
                snapshot = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # the board is gone: the table goes on without batch progress
                log.debug("progress board unreadable: %s", e)
                self.board = None
            self.pending = None
        if self.board is not None and time.monotonic() - self.asked >= self.every_s:
            self.pending, self.asked = self.board.snapshot.remote(), time.monotonic()
        return snapshot


def open_board(experiment: str) -> BoardReader | None:
    """The live view's reader of the trials' batch progress, or None when the board does not start."""
    try:
        return BoardReader(start_board(experiment))
    except Exception as e:  # noqa: BLE001  the table works without batch progress
        log.warning("no progress within epochs (the progress board did not start: %s)", e)
        return None

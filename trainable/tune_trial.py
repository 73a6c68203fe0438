"""A trial's side of Ray: ``tune_entrypoint`` adapts ``run_trial`` to Ray Tune.

The one module of ``trainable`` that imports Ray: the report callable that hands each epoch to ``tune.report``, what
the trial finds of itself in Ray (its id, node, CPUs, Tune's checkpoint) and the sender of its batch progress to the
search's progress board (``trainable/progress_board.py``).
"""

from __future__ import annotations

import logging
from typing import Any

import ray
import torch
from ray import tune

from trainable.config import ConfigError, TrialConfig
from trainable.data.index import DatasetIndex
from trainable.learn.checkpoint import load_checkpoint, load_resume_state, save_resume_state
from trainable.learn.run_record import Recorded, Report, SaveState, finished_state
from trainable.progress_board import NAMESPACE, BatchReporter, board_name
from trainable.trial import TRIAL_USER_ERRORS, error_outcome, run_trial

log = logging.getLogger(__name__)


def tune_report(node_id: str) -> Report:
    """``report(metrics, checkpoint_dir)`` for ``run_trial``: each epoch as a Tune result (with the node's id), and
    the folder, when there is one, as its checkpoint."""

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        # Tune numbers a restored trial's results on from its checkpoint's (a best epoch, perhaps not the last one
        # it recorded): numbered by epoch, a resumed trial's results go on where its result.json stops
        step = {"training_iteration": int(metrics["epoch"])} if "epoch" in metrics else {}
        tune.report({**metrics, "node_id": node_id, **step}, checkpoint=checkpoint)

    return report


def recorded_epochs(record: Recorded | None, resume: dict[str, Any] | None) -> int:
    """The last epoch the driver recorded of this trial; without its record (a trial restarted by an older driver),
    at least the epoch of Tune's checkpoint."""
    if record is not None:
        return record.epoch
    checkpoint = tune.get_checkpoint()
    if resume is None or checkpoint is None:
        return 0
    with checkpoint.as_directory() as d:
        return int(load_checkpoint(d)["epoch"])


def state_saver(trial_path: str | None, cfg: TrialConfig) -> SaveState | None:
    """Keeps the trial's resume state in its folder; after the last epoch, a finished one (what a resumed search may
    replay). The driver drops it after the search: a trial it did not see end is replayed from it."""
    if trial_path is None:
        return None
    return lambda state: save_resume_state(trial_path, state if state["epoch"] < cfg.train.total_epochs
                                           else finished_state(state))


class BoardSender:
    """Sends batch progress to the search's board without waiting: one call outstanding at most, collected when it
    has finished (so that Ray has no unread error to log). Returns False once the board is gone."""

    def __init__(self, board: Any, trial_id: str):
        self.board, self.trial_id, self.pending = board, trial_id, None

    def __call__(self, epoch: int, done: int, total: int) -> bool:
        if self.pending is not None:
            ready, _ = ray.wait([self.pending], timeout=0)
            if not ready:
                return True  # the board has not answered the last one: this update is skipped, the next one goes
            try:
                ray.get(ready[0])
            except ray.exceptions.RayError:
                return False
        self.pending = self.board.record.remote(self.trial_id, epoch, done, total)
        return True


def batch_reporter(experiment: str | None, trial_id: str) -> BatchReporter | None:
    """A reporter to the search's board, or None when the search has none (``pointtune train``, no live view)."""
    if not experiment:
        return None
    try:
        return BatchReporter(BoardSender(ray.get_actor(board_name(experiment), namespace=NAMESPACE), trial_id))
    except ValueError:  # no such actor: the driver shows no live view
        return None


def tune_entrypoint(config: dict[str, Any], data: DatasetIndex | None = None,
                    weights: dict[str, torch.Tensor] | None = None, experiment: str | None = None) -> None:
    """Ray Tune function trainable: rebuild the config, resume from the trial's resume state, report every epoch.

    ``data`` (the dataset's index) and ``weights`` arrive through ``tune.with_parameters`` (the object store), made
    once per search by the driver. ``experiment`` is the search's folder or URI: the trial keeps its resume state in
    ``experiment/trial_ID/`` (Tune's checkpoints hold only the weights of its best epochs), and finds there what the
    driver recorded of it when Tune starts it again (``Recorded``, search/launch/recorded.py): it reports only the
    epochs after that, and nothing when its end was recorded.
    """
    trial_id, runtime = tune.get_context().get_trial_id(), ray.get_runtime_context()
    report = tune_report(runtime.get_node_id())
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per epoch is noise
    try:
        cfg = TrialConfig.from_dict(config)
        # use exactly the CPUs Ray gave this trial; Ray also sets CUDA_VISIBLE_DEVICES to its GPU (share)
        cpus = int(runtime.get_assigned_resources().get("CPU", 0))
        if cpus:
            cfg = cfg.replace(train={"num_threads": cpus})
        trial_path = f"{experiment}/trial_{trial_id}" if experiment else None
        record = Recorded.load(trial_path) if trial_path else None  # written before Tune starts it again
        if record is not None and record.ended:
            log.info("trial %s: its end was recorded before the search was resumed; nothing to run", trial_id)
            return  # Tune ends the trial with the results it recorded (search/launch/recorded.py)
        resume = load_resume_state(trial_path) if trial_path else None
        log.info("trial %s on node %s with %d CPU thread(s)", trial_id, runtime.get_node_id(), cpus)
        if weights is None and cfg.model.weights != "none":
            raise ConfigError(f"the trial was given no weights for {cfg.model.weights!r}: the search's driver reads "
                              "them once and ships them with the data (was the search started by `pointtune run`?)")
        run_trial(cfg, report, data=data, resume=resume, weights=weights, save_state=state_saver(trial_path, cfg),
                  recorded_epochs=recorded_epochs(record, resume), progress=batch_reporter(experiment, trial_id))
    except TRIAL_USER_ERRORS as e:  # not raised: Tune would retry it (error_outcome)
        log.error("trial %s: %s", trial_id, e)
        report(error_outcome(config, e), None)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the process may be reused for the next trial (reuse_actors)

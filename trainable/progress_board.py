"""How far into an epoch each trial is, told to the search's driver outside Tune's results.

A Tune result is an epoch: reporting batches through ``tune.report`` would make every batch a result (checkpoint
bookkeeping, searcher and scheduler calls, a row in progress.csv). Instead the driver of a search shown in a terminal
starts a small named actor, the ``ProgressBoard`` (no CPU, on the driver's node), and each trial tells it, at most
every ``EVERY_S`` seconds and without waiting for an answer, which batch of which epoch it is on. The live view reads
the board once a second. Where there is no board (``pointtune train``, a search logging to a file) a trial finds
none when it starts and reports nothing.

Ray is imported inside the functions: the rest of ``trainable`` runs without it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

NAMESPACE = "pointtune"
EVERY_S = 2.0  # a trial tells the board at most this often (and at the start and end of each epoch's training)


def board_name(experiment: str) -> str:
    """The board's actor name for the search at ``experiment``: several searches may share a cluster."""
    return "progress-" + hashlib.sha256(experiment.encode()).hexdigest()[:16]


class ProgressBoard:
    """``trial_id -> (epoch, batches done, batches in the epoch, time told)``; runs as a Ray actor."""

    def __init__(self) -> None:
        self.progress: dict[str, tuple[int, int, int, float]] = {}

    def record(self, trial_id: str, epoch: int, done: int, total: int) -> None:
        self.progress[trial_id] = (epoch, done, total, time.time())

    def snapshot(self) -> dict[str, tuple[int, int, int, float]]:
        return dict(self.progress)


def start_board(experiment: str) -> Any:
    """Driver: the search's board (an actor handle), on this node, living as long as the driver."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return ray.remote(ProgressBoard).options(name=board_name(experiment), namespace=NAMESPACE, num_cpus=0,
                                             get_if_exists=True, scheduling_strategy=here).remote()


class BatchReporter:
    """Trial: ``reporter(epoch, done, total)`` after each batch; tells the board when due, fire-and-forget.

    At most one call is outstanding to matter: a finished one is collected (so that Ray has no unread error to
    log), and a board that has gone away (its driver with it) turns reporting off.
    """

    def __init__(self, board: Any, trial_id: str, every_s: float = EVERY_S):
        self.board, self.trial_id, self.every_s = board, trial_id, every_s
        self.last, self.pending = -float("inf"), None

    def __call__(self, epoch: int, done: int, total: int) -> None:
        now = time.monotonic()
        if self.board is None or (0 < done < total and now - self.last < self.every_s):
            return
        import ray

        if self.pending is not None:
            ready, _ = ray.wait([self.pending], timeout=0)
            if ready:
                try:
                    ray.get(ready[0])
                except ray.exceptions.RayError:
                    self.board = None
                    return
        self.pending = self.board.record.remote(self.trial_id, epoch, done, total)
        self.last = now


def batch_reporter(experiment: str, trial_id: str) -> BatchReporter | None:
    """Trial: a reporter to the search's board, or None when the search has none."""
    import ray

    try:
        return BatchReporter(ray.get_actor(board_name(experiment), namespace=NAMESPACE), trial_id)
    except ValueError:  # no such actor: the driver shows no live view
        return None

"""How far into an epoch each trial is, told to the search's driver outside Tune's results.

A Tune result is an epoch: reporting batches through ``tune.report`` would make every batch a result (checkpoint
bookkeeping, searcher and scheduler calls, a row in progress.csv). Instead the driver of a search starts a small
named actor, the ``ProgressBoard`` (no CPU, on the driver's node: ``search/launch/tuner.py``), and each trial tells
it, at most every ``EVERY_S`` seconds and without waiting for an answer, which batch of which epoch it is on
(``BatchReporter``, which ``trainable/tune_trial.py`` connects to the board). The driver reads the board once a
second: the live view on a terminal, the periodic progress line elsewhere (``search/launch/progress.py``). Where the
board did not start, a trial finds none when it starts and reports nothing. (``pointtune train`` has no board: it
gives ``run_trial`` a progress of its own, ``search/launch/train_progress.py``.)

No Ray here: the board is a plain class that Ray runs as an actor, and the reporter is told how to send.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

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


class BatchReporter:
    """Trial: ``run_trial``'s ``progress(epoch, done, total, phase)`` (``trainable.trial.Progress``); passes the
    training batches on to ``send`` when due (the start and the end of each epoch's training, else at most every
    ``every_s`` seconds). The validation batches stay in the trial: the end of training tells that it validates.

    ``send(epoch, done, total)`` returns False when the board has gone away (its driver with it): reporting stops.
    """

    def __init__(self, send: Callable[[int, int, int], bool], every_s: float = EVERY_S):
        self.send: Callable[[int, int, int], bool] | None = send
        self.every_s, self.last = every_s, -float("inf")

    def __call__(self, epoch: int, done: int, total: int, phase: str = "train") -> None:
        if phase != "train":
            return
        now = time.monotonic()
        if self.send is None or (0 < done < total and now - self.last < self.every_s):
            return
        if not self.send(epoch, done, total):
            self.send = None
            return
        self.last = now

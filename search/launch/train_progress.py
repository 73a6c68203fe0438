"""What ``pointtune train`` shows while it works: where it is in the epoch, how fast it goes, how long is left.

``TrainProgress`` is the ``progress`` that ``train`` gives ``run_trial`` (``trainable.trial.Progress``: told before
each training and validation batch), and it hears of the test scoring at the end (images done). ``RunClock`` turns
what it is told into one line::

    epoch 2/10: batch 37/120, 41.3 crops/s, ~1 min left in the epoch, ~14 min in the run

On a terminal that line updates in place (a ``rich`` live display with a bar, redrawn twice a second; what the run
prints meanwhile, its epochs' lines, scrolls above it). Elsewhere (a log file, CI) it is printed as a plain line at
the first batch boundary after ``console.PLAIN_EVERY_S`` seconds of silence: not one per batch.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from search.launch import console
from search.launch.progress import format_duration
from search.launch.time_estimate import VAL_BATCH_STEPS

UNITS = {"train": "crops/s", "validate": "tiles/s", "test": "images/s"}


class RunClock:
    """Where a training run is and how long it has left, from its progress calls.

    Time left in the epoch: its training batches left at the training rate (this epoch's so far, else the last
    epoch's), then its validation batches at the validation rate (the last measured; before any, each at
    ``VAL_BATCH_STEPS`` of a training step, as the time estimate counts them). Time left in the run: that, plus each
    later epoch at the mean measured epoch (one epoch's start to the next's), or, before an epoch has ended, at this
    epoch's projected length. Unknown until a training batch has been timed.

    Args:
        epochs: the run's last epoch (over its stages).
        batch_size: crops (tiles) per batch, for the rates.
        val_batches: validation batches per epoch (``search.launch.time_estimate.epoch_work``).
        clock: seconds, monotonic (a test's own).
    """

    def __init__(self, epochs: int, batch_size: int, val_batches: int, clock: Callable[[], float] = time.monotonic):
        self.epochs, self.batch, self.val_batches, self.clock = epochs, batch_size, val_batches, clock
        self.epoch, self.phase, self.done, self.total = 0, "train", 0, 0
        self.epoch_t0 = self.phase_t0 = self.now = clock()
        self.epoch_s: list[float] = []  # measured epochs, start to start
        self.per_batch: dict[str, float] = {}  # phase -> seconds per batch (per image for "test")

    def tell(self, epoch: int, done: int, total: int, phase: str = "train") -> None:
        """``epoch`` is at ``done`` of ``total`` batches of ``phase`` (train, validate, or test: images scored)."""
        now = self.now = self.clock()
        if epoch != self.epoch:
            if self.epoch and epoch == self.epoch + 1:
                self.epoch_s.append(now - self.epoch_t0)
            self.epoch, self.epoch_t0 = epoch, now
            self.phase, self.phase_t0 = phase, now
        elif phase != self.phase:
            self.phase, self.phase_t0 = phase, now
        self.done, self.total = done, total
        if phase == "validate":
            self.val_batches = total
        if done and now > self.phase_t0:
            self.per_batch[phase] = (now - self.phase_t0) / done

    def epoch_left_s(self) -> float | None:
        """Seconds left in this epoch (the test scoring: in it), or None before a batch is timed."""
        if self.phase == "test":
            each = self.per_batch.get("test")
            return None if each is None else (self.total - self.done) * each
        step = self.per_batch.get("train")
        if step is None:
            return None
        val = self.per_batch.get("validate", step * VAL_BATCH_STEPS)
        if self.phase == "validate":
            return (self.total - self.done) * val
        return (self.total - self.done) * step + self.val_batches * val

    def run_left_s(self) -> float | None:
        """Seconds left in the run (its test scoring not counted), or None before a batch is timed."""
        left = self.epoch_left_s()
        if left is None or self.phase == "test":
            return left
        each = sum(self.epoch_s) / len(self.epoch_s) if self.epoch_s else self.now - self.epoch_t0 + left
        return left + max(self.epochs - self.epoch, 0) * each

    def line(self) -> str:
        """Where the run is, how fast it goes and how long it has left, in words."""
        if self.phase == "test":
            left = self.epoch_left_s()
            return f"test score: image {self.done}/{self.total}" + (
                f", ~{format_duration(left)} left" if left is not None and self.done < self.total else "")
        if not self.epoch:
            return "preparing the data and the model"
        where = (f"batch {self.done}/{self.total}" if self.phase == "train" and self.done < self.total
                 else f"validating {self.done}/{self.total}" if self.phase == "validate" else "validating")
        parts = [f"epoch {self.epoch}/{self.epochs}: {where}"]
        each = self.per_batch.get(self.phase)
        if each and (self.phase != "train" or self.done < self.total):
            parts.append(f"{self.batch / each:.1f} {UNITS[self.phase]}")
        left, run = self.epoch_left_s(), self.run_left_s()
        parts.append("time left: known after the first batch" if left is None or run is None else
                     f"~{format_duration(left)} left in the epoch, ~{format_duration(run)} in the run")
        return ", ".join(parts)


class TrainProgress:
    """``run_trial``'s ``progress`` for ``pointtune train``, and ``scoring`` for its test score (module docstring).
    A context manager: on a terminal, the live line is drawn while inside.

    Args:
        epochs, batch_size, val_batches, clock: as ``RunClock`` takes them.
        stream: where the lines go (stdout when None); a terminal gets the live line.
    """

    def __init__(self, epochs: int, batch_size: int, val_batches: int, stream: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        from rich.console import Console
        from rich.live import Live

        self.clock = RunClock(epochs, batch_size, val_batches, clock)
        self.stream = stream if stream is not None else sys.stdout
        self.said = clock()
        terminal = Console(file=self.stream)
        self.live = (Live(get_renderable=self.render, console=terminal, refresh_per_second=2, transient=True)
                     if terminal.is_terminal and not terminal.is_dumb_terminal else None)

    def __enter__(self) -> TrainProgress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, epoch: int, done: int, total: int, phase: str = "train") -> None:
        self.clock.tell(epoch, done, total, phase)
        self._say()

    def scoring(self, done: int, total: int) -> None:
        """The test score's progress: ``done`` of ``total`` images scored."""
        self.clock.tell(self.clock.epoch, done, total, "test")
        self._say()

    def _say(self) -> None:
        """Off a terminal: the line, when ``PLAIN_EVERY_S`` have passed since the last (a terminal redraws itself)."""
        now = self.clock.now  # when it was told
        if self.live is None and now - self.said >= console.PLAIN_EVERY_S:
            print(self.clock.line(), file=self.stream, flush=True)
            self.said = now

    def render(self) -> Any:
        """The live line: a bar of this phase's batches and the words."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        c = self.clock
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=max(c.total, 1), completed=c.done, width=30), Text(c.line()))
        return grid

"""What a search shows while it runs: the state of every trial and an estimate of the time left (``SearchTracker``),
printed one line per trial event and a line of the running trials' batches every ``console.PLAIN_EVERY_S`` seconds
of silence (``ProgressPrinter``: logs, CI, ``ray job logs``), or as a table that updates in place on a terminal
(``search/launch/live_view.py``). Tune's own output is turned off (``search/launch/cluster.py``).

No Ray here: these are listeners of the search's events, which ``search/launch/tuner.py`` forwards from Tune with
Tune's callback arguments (``trial``: an object with ``trial_id``, ``config``, ``status`` and ``last_result``)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

from search.launch import console
from search.launch.settings import SearchSettings
from trainable.config import CLICKS_F1, DENSE_F1, planned_epochs

# Tune's trial states as the results table names them (search/results/experiment.py); a trial's reported outcome
# overrides
STATES = {"TERMINATED": "finished", "RUNNING": "running", "ERROR": "failed", "PENDING": "pending",
          "PAUSED": "paused"}
ACTIVE = ("running", "pending", "paused")


def describe_params(config: dict[str, Any]) -> str:
    points = config["points"]
    pts = (f"density {points['density']:.2e}" if points["mode"] == "density"
           else f"{points['clicks_per_object']} pt/instance")
    if points["mode"] == "per_instance" and points.get("background_share") is not None:
        pts += f" (background share {points['background_share']:.2f})"
    if points.get("class_weights"):
        pts += "  class weights"
    pseudo = config["train"].get("pseudo_labels")
    stage = f" + {config['train']['epochs']} on pseudo-labels >= {pseudo:.2f}" if pseudo is not None else ""
    return f"lr {config['train']['lr']:.2e}  {pts}  epochs {config['train']['epochs']}{stage}"


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``: what a person plans with."""
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class TrialState:
    """One trial as the live view and the lines show it."""

    trial_id: str
    params: str
    epochs: int  # planned
    state: str = "pending"
    epoch: int = 0  # the last epoch reported
    f1: float = math.nan  # val F1 of that epoch
    best_f1: float = math.nan
    objective: float = math.nan  # the best-so-far value the search ranks by
    node: str = ""
    batch: tuple[int, int, int] | None = None  # (epoch, batches done, batches) told by the trial (progress board)
    note: str = ""  # a failed or diverged trial's reason

    def within_epoch(self) -> float:
        """How much of the epoch after the last reported one is done (0 to 1), from the trial's batch progress."""
        if self.batch is None or self.batch[0] != self.epoch + 1 or not self.batch[2]:
            return 0.0
        return min(self.batch[1] / self.batch[2], 1.0)

    def activity(self) -> str:
        """Where a running trial is within its epoch (``batch 37/120``, ``validating``), from its batch progress;
        "" when unknown or not running."""
        if self.state != "running" or self.batch is None or self.batch[0] != self.epoch + 1:
            return ""
        _, done, total = self.batch
        return "validating" if total and done >= total else f"batch {done}/{total}" if total else f"batch {done}"


class SearchTracker:
    """Every trial's state, the epochs done and planned, and the time left.

    Time left = mean measured epoch time x epochs still planned / trials running at once. Epochs still planned:
    those of the running and pending trials (less the part of the current epoch already done) and, for trials the
    searcher has yet to create, the middle of the searched epochs range. A trial that ends early (ASHA, a failure, a
    divergence) takes its remaining epochs out. Known once one epoch has been timed.
    """

    def __init__(self, planned: int, epochs_range: tuple[int, int], objective: str):
        self.planned, self.objective = planned, objective
        self.mean_epochs = (epochs_range[0] + epochs_range[1]) / 2
        self.trials: dict[str, TrialState] = {}
        self.epoch_seconds: list[float] = []
        self.parallel = 1

    def _row(self, trial: Any) -> TrialState:
        row = self.trials.get(trial.trial_id)
        if row is None:
            row = self.trials[trial.trial_id] = TrialState(trial.trial_id, describe_params(trial.config),
                                                          planned_epochs(trial.config))
            last = getattr(trial, "last_result", None) or {}
            if "epoch" in last or last.get("trial_outcome"):  # a resumed search's trial: where it got to
                self._take(row, last, timed=False)
        return row

    def sync(self, trials: list) -> None:
        """Take Tune's trial states (new trials, pending, running, ended)."""
        for trial in trials:
            row = self._row(trial)
            if row.state in ACTIVE:
                state = STATES.get(trial.status, str(trial.status).lower())
                if state in ("finished", "failed"):
                    self._end(row, state == "failed")
                else:
                    row.state = state
        running = sum(r.state == "running" for r in self.trials.values())
        if running:
            self.parallel = running

    def ended(self, trial: Any, failed: bool = False) -> TrialState:
        """A trial completed (Tune still calls it RUNNING then) or failed."""
        row = self._row(trial)
        self._end(row, failed)
        return row

    @staticmethod
    def _end(row: TrialState, failed: bool) -> None:
        if row.state in ("diverged", "failed"):
            return  # its reported outcome says more than Tune's status
        row.state = "failed" if failed else "stopped early" if row.epoch < row.epochs else "finished"
        row.batch = None

    def result(self, trial: Any, result: dict) -> TrialState:
        row = self._row(trial)
        self._take(row, result, timed=True)
        return row

    def _take(self, row: TrialState, result: dict, timed: bool) -> None:
        if result.get("trial_outcome"):
            row.state = "diverged" if result["trial_outcome"] == "diverged" else "failed"
            row.note = str(result.get("trial_error", ""))
            row.batch = None
            return
        row.epoch = int(result["epoch"])
        row.f1 = float(result.get(DENSE_F1, result.get(CLICKS_F1, math.nan)))  # clicks only: their F1
        row.best_f1 = float(result.get("best_val_f1", math.nan))
        if math.isnan(row.best_f1):
            row.best_f1 = float(result.get("best_val_clicks_f1", math.nan))
        row.objective = float(result.get(self.objective, math.nan))
        row.node = str(result.get("node_ip", ""))
        if timed and result.get("epoch_time_s") is not None:
            self.epoch_seconds.append(float(result["epoch_time_s"]))

    def batches(self, progress: dict[str, tuple]) -> None:
        """Take the progress board's snapshot: ``trial_id -> (epoch, done, total, time)``."""
        for trial_id, (epoch, done, total, _) in progress.items():
            if trial_id in self.trials:
                self.trials[trial_id].batch = (int(epoch), int(done), int(total))

    @property
    def trials_done(self) -> int:
        return sum(r.state not in ACTIVE for r in self.trials.values())

    def epochs(self) -> tuple[float, float]:
        """(epochs done, epochs planned), the current epochs' done parts included; planned counts ended trials'
        epochs as run and trials not yet created at the middle of the searched range."""
        done = planned = 0.0
        for r in self.trials.values():
            if r.state in ACTIVE:
                done += r.epoch + r.within_epoch()
                planned += r.epochs
            else:
                done += r.epoch
                planned += r.epoch
        unseen = max(self.planned - len(self.trials), 0)
        return done, planned + unseen * self.mean_epochs

    def remaining_s(self) -> float | None:
        """Seconds left (estimate), or None before the first epoch is timed."""
        if not self.epoch_seconds:
            return None
        done, planned = self.epochs()
        unfinished = sum(r.state in ACTIVE for r in self.trials.values()) + max(self.planned - len(self.trials), 0)
        if not unfinished:
            return 0.0
        mean = sum(self.epoch_seconds) / len(self.epoch_seconds)
        return mean * max(planned - done, 0.0) / max(min(self.parallel, unfinished), 1)


class ProgressPrinter:
    """Prints trial starts, per-epoch validation F1 (with the time left, once known), completions and failures, and
    after ``console.PLAIN_EVERY_S`` seconds without a line, where the running trials are within their epochs.

    ``out``: where the lines go (a file; stdout when None, looked up at each line). ``board``: what tells the
    trials' batch progress (``read() -> dict | None``, the progress board's reader), or None.
    """

    SHOWN = 6  # running trials named in the periodic line; the rest are counted

    def __init__(self, settings: SearchSettings, out: Any = None, board: Any = None):
        self.settings, self.out, self.board = settings, out, board
        self.tracker = self._new_tracker(settings.trials)
        self.said = time.monotonic()

    def _new_tracker(self, planned: int) -> SearchTracker:
        lo, hi = self.settings.space.epochs
        stages = self.settings.base.train.stages  # a self-training second stage: as many epochs again
        return SearchTracker(planned, (lo * stages, hi * stages), self.settings.objective)

    def __setstate__(self, state: dict) -> None:  # a search started before the tracker existed, resumed
        self.__dict__.update(state)
        self.__dict__.setdefault("out", None)
        self.__dict__.setdefault("board", None)
        self.__dict__.setdefault("said", time.monotonic())
        self.__dict__.setdefault("tracker", self._new_tracker(self.settings.trials))

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        # Tune's count, which --resume --trials N raises; the tracker starts afresh for each fit
        self.tracker = self._new_tracker(int(total_num_samples or self.settings.trials))
        self.t0 = self.said = time.monotonic()

    def line(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)
        self.said = time.monotonic()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Tune's loop turned: take the trials' batch progress; after ``PLAIN_EVERY_S`` seconds without a line, say
        where the running trials are."""
        snapshot = self.board.read() if self.board is not None else None
        if snapshot:
            self.tracker.batches(snapshot)
        if time.monotonic() - self.said < console.PLAIN_EVERY_S:
            return
        self.tracker.sync(trials)
        running = [r for r in self.tracker.trials.values() if r.state == "running"]
        if running:
            self.line(self.running_line(running))

    def running_line(self, running: list[TrialState]) -> str:
        """``running: [id] epoch 2/4 batch 37/120, ...  [1/6 trials done]  ~3 min left``."""
        named = [f"[{r.trial_id}] epoch {min(r.epoch + 1, r.epochs)}/{r.epochs}" + (f" {r.activity()}" if
                 r.activity() else "") for r in running[:self.SHOWN]]
        more = f", {len(running) - self.SHOWN} more" if len(running) > self.SHOWN else ""
        left = self.tracker.remaining_s()
        eta = f"~{format_duration(left)} left" if left is not None else "time left: known after the first epoch"
        return (f"running: {', '.join(named)}{more}  [{self.tracker.trials_done}/{self.tracker.planned} trials done]"
                f"  {eta}")

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.sync(trials)
        self.line(f"[{trial.trial_id}] started   {describe_params(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = self.tracker.result(trial, result)
        if result.get("trial_outcome"):
            self.line(f"[{trial.trial_id}] {result['trial_outcome'].upper()}  {row.note}")
            return
        self.tracker.sync(trials)
        objective = self.settings.objective
        left = self.tracker.remaining_s()
        eta = f"  ~{format_duration(left)} left" if left is not None else ""
        self.line(f"[{trial.trial_id}] epoch {result['epoch']}/{planned_epochs(trial.config)}  "
                  f"val_f1 {result.get('val_f1', math.nan):.4f}  val_miou {result.get('val_miou', math.nan):.4f}  "
                  f"{objective} {result[objective]:.4f}  ({result['epoch_time_s']:.1f}s)  "
                  f"node {result.get('node_ip', '?')}/{result.get('node_id', '')[:8]}  "
                  f"[{self.tracker.trials_done}/{self.tracker.planned} trials done]{eta}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.ended(trial)
        self.line(f"[{trial.trial_id}] finished")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.ended(trial, failed=True)
        self.line(f"[{trial.trial_id}] FAILED    {describe_params(trial.config)} (see `pointtune results`)")

"""What a run keeps from epoch to epoch, and what it writes: the best epoch, the history, checkpoints, resume state.

Written per epoch: the weights of each new best epoch go with that epoch's report (for export; no optimizer state);
every ``resume_every`` epochs, the state to resume from (weights, Adam's moments and the history) goes to
``save_state``, which overwrites the previous one. Each report says how many bytes the epoch wrote
(``checkpoint_bytes``).

A run resumed from that state first reports again the epochs its history holds beyond what the search recorded
(``replay``): a driver killed, or a search stopped, after a trial finished an epoch but before the search recorded
its result would otherwise lose that epoch. Re-reported epochs are the same numbers: nothing is trained twice. Epochs
the search recorded after the resume state was saved are trained again from it without being reported (``end_epoch``
with no ``report``). (The weights of a best epoch the search did not record are not kept: the resume state would
weigh a model more. That epoch is re-reported without them, and ``export`` then takes the trial's best epoch that has
its weights.)

What the search recorded comes from its driver (``Recorded``, a small file in the trial's folder): Tune tells a
restarted function trainable only the checkpoint it restores, which is the last *best* epoch it knew of, and a driver
killed between two of Tune's snapshots leaves a ``result.json`` that holds more than the snapshot.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml

from trainable.config import DENSE_F1
from trainable.data import storage
from trainable.learn.checkpoint import save_checkpoint

Report = Callable[[dict[str, Any], "str | None"], None]
SaveState = Callable[[dict[str, Any]], int]
RECORD_FILE = "recorded.yaml"  # not .json: Tune copies a trial folder's .json files back over newer ones
META_KEYS = ("config", "classes", "train_stems", "val_stems", "test_stems")  # what every checkpoint carries


@dataclass(frozen=True)
class Recorded:
    """What the search's driver recorded of a trial before Tune starts it again (``--resume``, or a retry after a
    fault), written into the trial's folder: the trial reports only what comes after.

    Attributes:
        epoch: the last epoch recorded (0: none).
        ended: the trial's end was recorded (its last epoch, an outcome, or a scheduler's stop): it has nothing to do.
    """

    epoch: int = 0
    ended: bool = False

    def save(self, trial_path: str) -> None:
        storage.write_text(f"{trial_path}/{RECORD_FILE}", yaml.safe_dump(dataclasses.asdict(self)))

    @classmethod
    def load(cls, trial_path: str) -> Recorded | None:
        """The record in the trial's folder, or None when its driver wrote none (the trial's first start)."""
        path = f"{trial_path}/{RECORD_FILE}"
        if not storage.exists(path):
            return None
        d = yaml.safe_load(storage.read_text(path)) or {}
        return cls(int(d.get("epoch", 0)), bool(d.get("ended", False)))


WEIGHTS_KEYS = ("model", "optimizer", "best_model", "pseudo_source", "teacher")  # what a resume state weighs


def finished_state(state: dict[str, Any]) -> dict[str, Any]:
    """What a search keeps after a trial's last epoch: its history and best (kilobytes), to report what the search may
    not have recorded without training again. No weights: a best last epoch has them in its checkpoint, and one the
    search did not record is re-reported without them, as any unrecorded best epoch (module docstring)."""
    return {**{k: v for k, v in state.items() if k not in WEIGHTS_KEYS}, "finished": True}


def cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict's tensors copied to the CPU (a snapshot that training does not change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


@dataclass
class BestSoFar:
    """The best epoch so far by the run's metric, and the best validation F1: what a search ranks trials by.

    Reporting the best-so-far value every epoch makes a trial's last result carry its best epoch, which is what
    Ray's OptunaSearch tells the study and what ASHA compares at its rungs.
    """

    metric: str
    value: float = -math.inf
    epoch: int = 0
    f1: float = -math.inf

    def update(self, metrics: dict[str, Any]) -> bool:
        """Take an epoch's metrics in; True when it is the new best epoch."""
        value, f1 = metrics[self.metric], metrics.get(DENSE_F1, math.nan)  # no dense masks: no val_f1
        if math.isfinite(f1):
            self.f1 = max(self.f1, f1)
        if math.isfinite(value) and value > self.value:
            self.value, self.epoch = value, int(metrics["epoch"])
            return True
        return False

    def as_metrics(self) -> dict[str, Any]:
        def finite(v: float) -> float:
            return v if math.isfinite(v) else math.nan

        return {"best_val_f1": finite(self.f1), f"best_{self.metric}": finite(self.value), "best_epoch": self.epoch}


def plain(metrics: dict[str, Any]) -> dict[str, float | int | str]:
    """Metrics as plain Python numbers (checkpoints are read with ``weights_only=True``)."""
    return {k: (v if isinstance(v, str) else int(v) if isinstance(v, (int, np.integer)) else float(v))
            for k, v in metrics.items()}


class RunRecord:
    """Best epoch, per-epoch history and what the run writes (module docstring)."""

    def __init__(self, metric: str, resume_every: int, epochs: int, meta: dict[str, Any],
                 save_state: SaveState | None = None, resume: dict[str, Any] | None = None, keep_best: bool = False):
        """``epochs``: the run's last epoch (over its stages); ``keep_best``: keep the best epoch's weights in memory
        (``best_weights``) and, while they are not the last epoch's, in each resume state (``best_model``), for a
        self-training second stage to start from (``trainable.self_training``)."""
        self.resume_every, self.epochs, self.meta, self.save_state = resume_every, epochs, meta, save_state
        self.best = BestSoFar(**resume["best"]) if resume else BestSoFar(metric)
        self.history: list[dict[str, Any]] = list(resume.get("history", [])) if resume else []
        # the resumed weights, when they are the best epoch's, or the best epoch's kept beside them (else they are
        # gone)
        self.best_weights = None if not resume else (resume.get("model") if self.best.epoch == int(resume["epoch"])
                                                     else resume.get("best_model"))
        self.keep_best = keep_best
        # entries every resume state carries (a second stage's pseudo_source; a function: its value when saved)
        self.carry: dict[str, Any] = {}

    @classmethod
    def of_finished(cls, metric: str, state: dict[str, Any]) -> RunRecord:
        """The record of a run that ended (``finished_state``), to replay from."""
        return cls(metric, 1, int(state["epoch"]), {k: state[k] for k in META_KEYS if k in state}, resume=state)

    def replay(self, after_epoch: int, report: Report) -> int:
        """Report again the epochs of a resumed history after ``after_epoch`` (the last one the search recorded);
        the best of them comes with its weights. Returns how many were reported."""
        again = [m for m in self.history if m["epoch"] > after_epoch]
        for metrics in again:
            if metrics["epoch"] == self.best.epoch and self.best_weights is not None:
                with tempfile.TemporaryDirectory(prefix="pointtune-ckpt-") as d:
                    save_checkpoint(d, {**self.meta, "model": self.best_weights, "epoch": metrics["epoch"],
                                        "best": dataclasses.asdict(self.best), "metrics": metrics}, durable=False)
                    report(dict(metrics), d)
            else:
                report(dict(metrics), None)
        return len(again)

    def end_epoch(self, metrics: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  report: Report | None) -> None:
        """Record an epoch's metrics, write what it must, and report it; ``report`` None: an epoch the search has
        recorded already (trained again from an older resume state), kept but neither checkpointed nor reported."""
        epoch = int(metrics["epoch"])
        improved = self.best.update(metrics)
        if improved:  # weights that are not kept are gone: never another epoch's under this one's number
            self.best_weights = cpu_copy(model.state_dict()) if self.keep_best else None
        metrics.update(self.best.as_metrics())
        state = {**self.meta, "model": model.state_dict(), "epoch": epoch, "best": dataclasses.asdict(self.best)}
        self.history.append(plain(metrics))
        resume_bytes = 0
        if self.save_state is not None and (epoch % self.resume_every == 0 or epoch == self.epochs):
            kept = ({"best_model": self.best_weights} if self.keep_best and self.best_weights is not None
                    and self.best.epoch != epoch else {})
            resume_bytes = self.save_state({**state, "optimizer": optimizer.state_dict(), "metrics": plain(metrics),
                                            "history": self.history, **kept,
                                            **{k: v() if callable(v) else v for k, v in self.carry.items()}})
        if report is None:
            return
        with tempfile.TemporaryDirectory(prefix="pointtune-ckpt-") as d:
            checkpoint = None
            metrics["checkpoint_bytes"] = resume_bytes
            if improved:  # the weights of a new best epoch, for export: no optimizer state
                checkpoint = d
                path = save_checkpoint(d, {**state, "metrics": plain(metrics)}, durable=False)  # Tune copies it
                metrics["checkpoint_bytes"] += path.stat().st_size
            report(metrics, checkpoint)

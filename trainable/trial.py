"""One trial: ``run_trial(cfg, report)`` wires data, points, model, loss and metrics together.

``run_trial`` knows nothing of Ray: it calls ``report(metrics, checkpoint_dir)`` once per epoch. The CLI's
``train`` passes a function that prints and writes CSV; ``tune_entrypoint`` (``trainable/tune_trial.py``, the
trial's side of Ray) passes one that calls ``ray.tune.report``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainable.config import ConfigError, TrialConfig
from trainable.data.index import DatasetError, DatasetIndex, build_index
from trainable.inputs import TrialInputs, build_inputs, resolve_for_data
from trainable.learn.checkpoint import CheckpointError
from trainable.learn.loop import EpochResult, UnlabeledTerm, evaluate, recalibrate_batchnorm, train_one_epoch
from trainable.learn.model import WeightsError, build_model
from trainable.learn.run_record import Report, RunRecord, SaveState, cpu_copy
from trainable.learn.schedule import lr_at
from trainable.learn.self_training import SecondStage, loaded_copy, second_stage, stage_metrics

log = logging.getLogger(__name__)
# errors that a retry cannot fix: settings, data files, weights, checkpoints
TRIAL_USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DatasetError, WeightsError, CheckpointError)
# ``progress(epoch, done, total, phase)``: where a run is within its epoch. Phase "train": told before each training
# batch (``done`` batches done of ``total``) and ``(epoch, n, n)`` when training has ended; "validate": told before
# each validation batch. Given by a search's trials (``trainable/progress_board.py``) and by ``pointtune train``.
Progress = Callable[[int, int, int, str], None]


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda``.

    Raises:
        ConfigError: ``cuda`` where torch sees no GPU, saying what the machine has.
    """
    if name == "cuda" and not torch.cuda.is_available():
        why = ("this torch is a CPU-only build" if torch.version.cuda is None
               else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU on this machine")
        raise ConfigError(f"--device cuda: {why}; use --device auto or cpu (auto takes a GPU wherever there is one)")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (a reused trial process: over its trials so far).

    On Linux, the program's own high-water mark (``VmHWM``): ``ru_maxrss`` survives ``exec`` and so starts at the
    size of the process that launched this one (a driver started by a 1.3 GB pytest or notebook "peaked" at 1.3 GB).
    """
    import resource
    import sys

    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024  # kB
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def epoch_seed(seed: int, epoch: int) -> int:
    """torch's seed for one epoch: a resumed run draws the same dropout masks as an uninterrupted one."""
    return seed * 1_000_003 + epoch


def validation_metrics(val: EpochResult, names: tuple[str, ...], excluded: tuple[int, ...],
                       dense: bool) -> dict[str, float]:
    """``val_*`` from the dense masks (when the validation images have them) and ``val_clicks_*`` from the
    validation clicks (when click validation is on)."""
    metrics = {"val_loss": val.loss, **val.confusion.compute(names, excluded, "val")} if dense else {}
    if val.points_confusion is not None:
        metrics.update(val.points_confusion.compute(names, excluded, "val_clicks"))
    return metrics


@dataclass
class TrialRun:
    """What a trial trains with, built once (``prepare``).

    Attributes:
        start: the first epoch to train (after a resume state's).
        recorded: the last epoch the caller recorded: epochs up to it that are trained again are not reported.
        second: with self-training, the second stage once it has started (``trainable.learn.self_training``).
        pseudo_source: the weights a resumed second stage's pseudo-labels were made with (its resume state's).
    """

    cfg: TrialConfig  # resolved for the data (normalisation, bands)
    data: DatasetIndex
    inputs: TrialInputs
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    class_weight: torch.Tensor | None  # (C,) on the device, or None
    record: RunRecord
    start: int = 1
    recorded: int = 0
    second: SecondStage | None = None
    pseudo_source: dict[str, torch.Tensor] | None = None

    @property
    def steps(self) -> int:
        """Optimizer steps in an epoch (at least 1, for the learning-rate schedule)."""
        return max(len(self.inputs.train_loader), 1)


def prepare(cfg: TrialConfig, data: DatasetIndex | None, weights: dict[str, torch.Tensor] | None,
            save_state: SaveState | None, resume: dict[str, Any] | None) -> TrialRun:
    """Seed, load the data's index (unless given), build the loaders, the model and the optimizer, and load a resume
    state's weights and moments."""
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    data = data if data is not None else build_index(cfg.data)
    if not cfg.data.mean:  # a search's driver resolves these once; a direct call does it here
        cfg = resolve_for_data(cfg, data)
    device = pick_device(cfg.train.device)
    inputs = build_inputs(data, cfg, pin_memory=device.type == "cuda")
    model = build_model(cfg.model, data.classes.num_classes, state=weights).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = new_optimizer(model, cfg)
    weight = inputs.class_weight.to(device) if inputs.class_weight is not None else None
    meta = {"config": cfg.to_dict(), "classes": data.classes.to_dict(), "train_stems": inputs.train_stems,
            "val_stems": inputs.val_stems, "test_stems": [data.entries[i].stem for i in data.split.test]}
    record = RunRecord(cfg.train.metric, cfg.train.resume_every, cfg.train.total_epochs, meta, save_state, resume,
                       keep_best=cfg.train.pseudo_labels is not None)
    run = TrialRun(cfg, data, inputs, device, model, optimizer, weight, record)
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        run.start = int(resume["epoch"]) + 1
        run.pseudo_source = resume.get("pseudo_source")
    return run


def new_optimizer(model: torch.nn.Module, cfg: TrialConfig) -> torch.optim.Optimizer:
    """Adam at the peak learning rate (each stage of a run starts one)."""
    return torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)


def enter_stage(run: TrialRun, epoch: int) -> None:
    """Self-training (``trainable.learn.self_training``): before the second stage's first epoch, the stage-1 best
    weights, a fresh optimizer, the pseudo-labels and their loader; before the first epoch of a run resumed inside
    the second stage, its pseudo-labels again (from the weights its resume state carries). Else nothing."""
    train = run.cfg.train
    if train.pseudo_labels is None or epoch <= train.epochs or run.second is not None:
        return
    source = run.pseudo_source or run.record.best_weights or cpu_copy(run.model.state_dict())
    starting = epoch == train.epochs + 1
    if starting:
        run.model.load_state_dict(source)
        run.optimizer = new_optimizer(run.model, run.cfg)
    predictor = run.model if starting else loaded_copy(run.model, source)
    run.second = second_stage(run.data, run.cfg, run.inputs, predictor, source, run.device)
    run.inputs = run.second.inputs
    run.class_weight = run.inputs.class_weight.to(run.device)  # balanced: confident pixels are the common classes'
    run.record.keep_best, run.record.carry = False, {"pseudo_source": source}


def report_resumed(run: TrialRun, resume: dict[str, Any] | None, recorded_epochs: int | None,
                   report: Report) -> None:
    """A resumed run first reports again the epochs its history holds after the caller's record (none when the
    caller says nothing of it)."""
    run.recorded = recorded_epochs or 0
    if resume is not None:
        replayed = run.record.replay(recorded_epochs, report) if recorded_epochs is not None else 0
        log.info("resuming after epoch %d (%d epoch(s) reported again)", run.start - 1, replayed)


def replay_finished(cfg: TrialConfig, state: dict[str, Any], recorded_epochs: int | None, report: Report) -> None:
    """A run that had ended (``finished_state``): report the epochs the caller did not record, train nothing."""
    replayed = RunRecord.of_finished(cfg.train.metric, state).replay(recorded_epochs or 0, report)
    log.info("the run had ended after epoch %d: %d epoch(s) reported again, none trained", state["epoch"], replayed)


def lr_in_epoch(run: TrialRun, epoch: int, step: int) -> float:
    """The learning rate before the ``step``-th batch (0-based) of ``epoch``; each stage has its own schedule."""
    epochs = run.cfg.train.epochs
    return lr_at(run.cfg.train, ((epoch - 1) % epochs + step / run.steps) / epochs)


def train_epoch(run: TrialRun, epoch: int, progress: Progress | None) -> EpochResult:
    """One epoch's training, seeded by its number; ``progress`` hears of its batches, and of its end."""
    train = run.cfg.train
    torch.manual_seed(epoch_seed(train.seed, epoch))
    run.inputs.train_crops.set_epoch(epoch)
    unlabeled = UnlabeledTerm(train.unlabeled_loss, train.unlabeled_weight) if train.unlabeled_loss != "none" else None
    on_batch = None if progress is None else lambda done, total: progress(epoch, done, total, "train")
    result = train_one_epoch(run.model, run.inputs.train_loader, run.optimizer, run.device,
                             run.data.classes.num_classes, run.class_weight, lambda i: lr_in_epoch(run, epoch, i),
                             unlabeled, on_batch)
    if progress is not None:
        progress(epoch, run.steps, run.steps, "train")  # training done: validating
    return result


def validate(run: TrialRun, epoch: int, progress: Progress | None) -> EpochResult:
    """BatchNorm statistics re-estimated, then the validation pass; ``progress`` hears of its batches."""
    recalibrate_batchnorm(run.model, run.inputs.train_loader, run.device, run.cfg.train.bn_recalibration_batches)
    on_batch = None if progress is None else lambda done, total: progress(epoch, done, total, "validate")
    return evaluate(run.model, run.inputs.val_loader, run.device, run.data.classes.num_classes, on_batch)


def diverged(run: TrialRun, epoch: int, train: EpochResult) -> dict[str, Any]:
    """The last result of a run whose loss became NaN or infinite: its outcome, the reason, the best so far."""
    reason = (f"training diverged: loss became {train.loss} at epoch {epoch} with lr={run.cfg.train.lr:g}; "
              "lower the learning rate (--lr, or the high end of --lr-range)")
    log.warning(reason)
    return {"epoch": epoch, "train_loss": train.loss, "lr": run.cfg.train.lr, **run.record.best.as_metrics(),
            "clicks_per_image": run.inputs.points.clicks_per_image, "trial_outcome": "diverged",
            "trial_error": reason}


def epoch_metrics(run: TrialRun, epoch: int, train: EpochResult, val: EpochResult, t0: float,
                  trial_start: float) -> dict[str, Any]:
    """What an epoch reports (``t0``: when it started, by ``time.perf_counter``; ``trial_start``: the run's start,
    by ``time.time``)."""
    cfg, classes, points = run.cfg, run.data.classes, run.inputs.points
    return {
        "epoch": epoch, "train_loss": train.loss,
        **train.confusion.compute(classes.names, classes.excluded_indices, "train", per_class=False),
        **validation_metrics(val, classes.names, classes.excluded_indices, run.data.masked(run.data.split.val)),
        "clicks_per_image": points.clicks_per_image,
        "labelled_fraction": points.labelled_fraction,
        # what labelling the training images would take: clicks x seconds per click (full masks: no estimate)
        "annotation_hours": (points.clicks_per_image * len(run.inputs.train_stems) * cfg.points.seconds_per_click
                             / 3600 if cfg.points.density < 1 or cfg.points.mode != "density" else float("nan")),
        "skipped_batches": train.skipped_batches, "redrawn_crops": train.redrawn_crops,
        "lr": cfg.train.lr, "lr_last": lr_in_epoch(run, epoch, run.steps - 1), "epoch_time_s": time.perf_counter() - t0,
        "trial_start_time": trial_start, "trial_minutes": (time.time() - trial_start) / 60,
        "peak_rss_mb": peak_rss_mb(),
        "resumed_after_epoch": run.start - 1,  # the resume state this process trained on from (0: none)
        **stage_metrics(cfg, run.second),
    }


def run_trial(cfg: TrialConfig, report: Report, data: DatasetIndex | None = None,
              resume: dict[str, Any] | None = None, weights: dict[str, torch.Tensor] | None = None,
              save_state: SaveState | None = None, recorded_epochs: int | None = None,
              progress: Progress | None = None) -> None:
    """Train ``cfg.train.epochs`` epochs, validating and reporting after each (what each epoch writes:
    ``trainable.learn.run_record``); with self-training, as many again on clicks + pseudo-labels (``enter_stage``).
    A diverging run (loss NaN or infinite) reports ``trial_outcome: diverged`` and stops: an outcome of the
    settings, not a fault to retry.

    Args:
        cfg: the trial's settings.
        report: told each epoch's metrics and a folder with its weights when it is a new best (else None).
        data: the dataset's index (a search's driver checks the data once and ships it); built here when None.
        resume: a resume state (``save_state``'s) to go on from; a finished one only reports, trains nothing.
        weights: the state dict ``cfg.model`` resolved to (a search's driver reads it once); resolved when None.
        save_state: stores the state to resume from and returns the bytes it wrote; None keeps none.
        recorded_epochs: with ``resume``, the last epoch the caller recorded: the resumed history's later epochs
            are reported again first, and epochs up to it that are trained again are not reported.
        progress: told where the run is within each epoch, batch by batch (``Progress``): the search's progress
            board (``trainable.progress_board``), ``train``'s progress lines.
    """
    trial_start = time.time()
    cfg.validate()
    if resume is not None and resume.get("finished"):
        return replay_finished(cfg, resume, recorded_epochs, report)
    run = prepare(cfg, data, weights, save_state, resume)
    report_resumed(run, resume, recorded_epochs, report)
    for epoch in range(run.start, run.cfg.train.total_epochs + 1):
        t0 = time.perf_counter()
        enter_stage(run, epoch)  # self-training's second stage: its weights, optimizer and pseudo-labels
        train = train_epoch(run, epoch, progress)
        if not math.isfinite(train.loss):
            report(diverged(run, epoch, train), None)
            return
        val = validate(run, epoch, progress)
        metrics = epoch_metrics(run, epoch, train, val, t0, trial_start)
        run.record.end_epoch(metrics, run.model, run.optimizer, report if epoch > run.recorded else None)
        if cfg.train.max_minutes is not None and metrics["trial_minutes"] >= cfg.train.max_minutes:
            log.warning("the trial used its %g minute(s) (--max-trial-minutes) after epoch %d: stopped, its best "
                        "epoch kept", cfg.train.max_minutes, epoch)
            return


def error_outcome(config: dict[str, Any], error: Exception) -> dict[str, Any]:
    """The result a trial reports instead of raising one of ``TRIAL_USER_ERRORS``: they fail the same way on every
    retry and every node, so the trial's outcome is the error (retries are for lost nodes)."""
    objective = f"best_{config.get('train', {}).get('metric', 'val_f1')}"
    return {objective: math.nan, "best_val_f1": math.nan, "trial_outcome": "error",
            "trial_error": f"{type(error).__name__}: {error}"}

"""One trial: ``run_trial(cfg, report)`` wires data, points, model, loss and metrics together.

``run_trial`` knows nothing of Ray: it calls ``report(metrics, checkpoint_dir)`` once per epoch. The CLI's
``train`` passes a function that prints and writes CSV; ``tune_entrypoint`` passes ``ray.tune.report``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from trainable.config import ConfigError, TrialConfig
from trainable.data.index import DatasetError, DatasetIndex, build_index
from trainable.inputs import build_inputs, resolve_for_data
from trainable.learn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_resume_state,
    save_resume_state,
)
from trainable.learn.loop import EpochResult, UnlabeledTerm, evaluate, recalibrate_batchnorm, train_one_epoch
from trainable.learn.model import WeightsError, build_model
from trainable.learn.run_record import Recorded, Report, RunRecord, SaveState, finished_state
from trainable.learn.schedule import lr_at
from trainable.progress_board import batch_reporter

log = logging.getLogger(__name__)
# errors that a retry cannot fix: settings, data files, weights, checkpoints
TRIAL_USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DatasetError, WeightsError, CheckpointError)


def pick_device(name: str) -> torch.device:
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


def run_trial(cfg: TrialConfig, report: Report, data: DatasetIndex | None = None,
              resume: dict[str, Any] | None = None, weights: dict[str, torch.Tensor] | None = None,
              save_state: SaveState | None = None, recorded_epochs: int | None = None,
              progress: Callable[[int, int, int], None] | None = None) -> None:
    """Train for ``cfg.train.epochs`` epochs, validating and reporting after each (what is written each epoch:
    ``trainable.learn.run_record``).

    A diverging run (loss NaN or infinite) reports one last result with ``trial_outcome: diverged`` and the reason,
    and stops: a divergence is an outcome of the settings, not a fault to retry.

    Args:
        cfg: the trial's settings.
        report: called once per epoch with the metrics and a directory holding that epoch's checkpoint (weights
            only), or None when the epoch is not a new best.
        data: the dataset's index (a search's driver checks the data once and ships it); built here when None.
        resume: a resume state (``save_state``'s) to continue from (the epoch after it).
        weights: the state dict ``cfg.model`` resolved to (a search's driver reads it once); resolved here when
            None.
        save_state: stores the state to resume from and returns the bytes it wrote; None keeps none.
        recorded_epochs: the last epoch the caller is known to have recorded (with ``resume``): the resumed history's
            later epochs are reported again before training goes on, and epochs up to it that are trained again are
            not reported. A finished state (``trainable.learn.run_record.finished_state``) trains nothing: its
            unrecorded epochs are reported and the run returns.
        progress: told ``(epoch, batches done, batches)`` during each epoch's training, and ``(epoch, n, n)`` when
            validation starts (``trainable.progress_board``); it decides itself how often to pass that on.
    """
    trial_start = time.time()
    cfg.validate()
    if resume is not None and resume.get("finished"):  # the run ended: report what was not recorded, train nothing
        replayed = RunRecord.of_finished(cfg.train.metric, resume).replay(recorded_epochs or 0, report)
        log.info("the run had ended after epoch %d: %d epoch(s) reported again, none trained", resume["epoch"],
                 replayed)
        return
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    data = data if data is not None else build_index(cfg.data)
    if not cfg.data.mean:  # a search's driver resolves these once; a direct call does it here
        cfg = resolve_for_data(cfg, data)
    device = pick_device(cfg.train.device)
    inputs = build_inputs(data, cfg, pin_memory=device.type == "cuda")
    classes = data.classes
    model = build_model(cfg.model, classes.num_classes, state=weights).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    weight = inputs.class_weight.to(device) if inputs.class_weight is not None else None
    meta = {"config": cfg.to_dict(), "classes": classes.to_dict(), "train_stems": inputs.train_stems,
            "val_stems": inputs.val_stems, "test_stems": [data.entries[i].stem for i in data.split.test]}
    record = RunRecord(cfg.train.metric, cfg.train.resume_every, cfg.train.epochs, meta, save_state, resume)
    start, recorded = 1, recorded_epochs or 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start = int(resume["epoch"]) + 1
        replayed = record.replay(recorded_epochs, report) if recorded_epochs is not None else 0
        log.info("resuming after epoch %d (%d epoch(s) reported again)", start - 1, replayed)
    steps = max(len(inputs.train_loader), 1)
    unlabeled = (UnlabeledTerm(cfg.train.unlabeled_loss, cfg.train.unlabeled_weight)
                 if cfg.train.unlabeled_loss != "none" else None)
    dense_val = data.masked(data.split.val)
    for epoch in range(start, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(cfg.train.seed, epoch))
        inputs.train_crops.set_epoch(epoch)
        lr_for_step = lambda i, e=epoch: lr_at(cfg.train, (e - 1 + i / steps) / cfg.train.epochs)  # noqa: E731
        on_batch = None if progress is None else lambda done, total, e=epoch: progress(e, done, total)
        train = train_one_epoch(model, inputs.train_loader, optimizer, device, classes.num_classes, weight,
                                lr_for_step, unlabeled, on_batch)
        if progress is not None:
            progress(epoch, steps, steps)  # training done: validating
        if not math.isfinite(train.loss):
            reason = (f"training diverged: loss became {train.loss} at epoch {epoch} with lr={cfg.train.lr:g}; "
                      "lower the learning rate (--lr, or the high end of --lr-range)")
            log.warning(reason)
            report({"epoch": epoch, "train_loss": train.loss, "lr": cfg.train.lr, **record.best.as_metrics(),
                    "clicks_per_image": inputs.points.clicks_per_image, "trial_outcome": "diverged",
                    "trial_error": reason}, None)
            return
        recalibrate_batchnorm(model, inputs.train_loader, device, cfg.train.bn_recalibration_batches)
        val = evaluate(model, inputs.val_loader, device, classes.num_classes)
        record.end_epoch({
            "epoch": epoch, "train_loss": train.loss,
            **train.confusion.compute(classes.names, classes.excluded_indices, "train", per_class=False),
            **validation_metrics(val, classes.names, classes.excluded_indices, dense_val),
            "clicks_per_image": inputs.points.clicks_per_image,
            "labelled_fraction": inputs.points.labelled_fraction,
            # what labelling the training images would take: clicks x seconds per click (full masks: no estimate)
            "annotation_hours": (inputs.points.clicks_per_image * len(inputs.train_stems)
                                 * cfg.points.seconds_per_click / 3600 if cfg.points.density < 1
                                 or cfg.points.mode != "density" else float("nan")),
            "skipped_batches": train.skipped_batches, "redrawn_crops": train.redrawn_crops,
            "lr": cfg.train.lr, "lr_last": lr_for_step(steps - 1), "epoch_time_s": time.perf_counter() - t0,
            "trial_start_time": trial_start, "peak_rss_mb": peak_rss_mb(),
            "resumed_after_epoch": start - 1,  # the resume state this process trained on from (0: none)
        }, model, optimizer, report if epoch > recorded else None)


def tune_entrypoint(config: dict[str, Any], data: DatasetIndex | None = None,
                    weights: dict[str, torch.Tensor] | None = None, experiment: str | None = None) -> None:
    """Ray Tune function trainable: rebuild the config, resume from the trial's resume state, report every epoch.

    ``data`` (the dataset's index) and ``weights`` arrive through ``tune.with_parameters`` (the object store),
    made once per search by the driver: trials read only the pixels they train on, and no node downloads weights
    for itself. ``experiment`` is the search's
    folder or URI: the trial keeps its resume state in ``experiment/trial_ID/`` (Tune's own checkpoints hold only
    the weights of its best epochs), and finds there what the driver recorded of it when Tune starts it again
    (``Recorded``, search/launch/recorded.py): it reports only the epochs after that, and nothing when its end was
    recorded.
    """
    import ray  # Ray is imported here and in search/ only: run_trial itself runs without it
    from ray import tune

    context = tune.get_context()
    runtime = ray.get_runtime_context()
    node_id = runtime.get_node_id()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per epoch is noise

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        # Tune numbers a restored trial's results on from its checkpoint's (a best epoch, perhaps not the last one
        # it recorded): numbered by epoch, a resumed trial's results go on where its result.json stops
        step = {"training_iteration": int(metrics["epoch"])} if "epoch" in metrics else {}
        tune.report({**metrics, "node_id": node_id, **step}, checkpoint=checkpoint)

    try:
        cfg = TrialConfig.from_dict(config)
        # use exactly the CPUs Ray gave this trial; Ray also sets CUDA_VISIBLE_DEVICES to its GPU (share)
        cpus = int(runtime.get_assigned_resources().get("CPU", 0))
        if cpus:
            cfg = cfg.replace(train={"num_threads": cpus})
        trial_path = f"{experiment}/trial_{context.get_trial_id()}" if experiment else None
        # what the driver recorded of this trial, written before Tune starts it again (--resume, a retry)
        record = Recorded.load(trial_path) if trial_path else None
        if record is not None and record.ended:
            log.info("trial %s: its end was recorded before the search was resumed; nothing to run",
                     context.get_trial_id())
            return  # Tune ends the trial with the results it recorded (search/launch/recorded.py)
        resume = load_resume_state(trial_path) if trial_path else None
        recorded = record.epoch if record is not None else 0
        checkpoint = tune.get_checkpoint()
        if resume is not None and record is None and checkpoint is not None:  # no record: at least Tune's checkpoint
            with checkpoint.as_directory() as d:
                recorded = int(load_checkpoint(d)["epoch"])
        log.info("trial %s on node %s with %d CPU thread(s)", context.get_trial_id(), node_id, cpus)
        if weights is None and cfg.model.weights != "none":
            raise ConfigError(f"the trial was given no weights for {cfg.model.weights!r}: the search's driver reads "
                              "them once and ships them with the data (was the search started by `pointtune run`?)")

        def save_state(state: dict[str, Any]) -> int:  # after the last epoch: what a resumed search may replay
            return save_resume_state(trial_path, state if state["epoch"] < cfg.train.epochs else finished_state(state))

        # batches within the epoch go to the driver's live view, when it shows one (trainable/progress_board.py)
        progress = batch_reporter(experiment, context.get_trial_id()) if experiment else None
        # the driver drops the resume state after the search: a trial it did not see end is replayed from it
        run_trial(cfg, report, data=data, resume=resume, weights=weights,
                  save_state=save_state if trial_path else None, recorded_epochs=recorded, progress=progress)
    except TRIAL_USER_ERRORS as e:
        # a bad setting, file or weights fails the same way on every retry and every node: report it as the trial's
        # outcome instead of raising, so that Tune does not retry it (retries are for lost nodes)
        log.error("trial %s: %s", context.get_trial_id(), e)
        objective = f"best_{config.get('train', {}).get('metric', 'val_f1')}"
        report({objective: math.nan, "best_val_f1": math.nan, "trial_outcome": "error",
                "trial_error": f"{type(e).__name__}: {e}"}, None)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the process may be reused for the next trial (reuse_actors)

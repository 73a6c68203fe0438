"""One trial: ``run_trial(cfg, report)`` wires data, points, model, loss and metrics together.

``run_trial`` knows nothing of Ray: it calls ``report(metrics, checkpoint_dir)`` once per epoch. The CLI's
``train`` passes a function that prints and writes CSV; ``tune_entrypoint`` passes ``ray.tune.report``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainable.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from trainable.config import ConfigError, TrialConfig
from trainable.dataset import DatasetError, SegmentationData, load_dataset
from trainable.inputs import build_inputs
from trainable.loop import evaluate, recalibrate_batchnorm, train_one_epoch
from trainable.model import WeightsError, build_model
from trainable.schedule import lr_at

log = logging.getLogger(__name__)
# errors that a retry cannot fix: settings, data files, weights, checkpoints
TRIAL_USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DatasetError, WeightsError, CheckpointError)
Report = Callable[[dict[str, Any], "str | None"], None]


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class BestSoFar:
    """The best epoch so far by the trial's metric, and the best validation F1: what a search ranks trials by.

    Reporting the best-so-far value every epoch makes a trial's last result carry its best epoch, which is what
    Ray's OptunaSearch tells the study and what ASHA compares at its rungs.
    """

    metric: str
    value: float = -math.inf
    epoch: int = 0
    f1: float = -math.inf

    def update(self, metrics: dict[str, Any]) -> None:
        value, f1 = metrics[self.metric], metrics["val_f1"]
        if math.isfinite(value) and value > self.value:
            self.value, self.epoch = value, int(metrics["epoch"])
        if math.isfinite(f1):
            self.f1 = max(self.f1, f1)

    def as_metrics(self) -> dict[str, Any]:
        def finite(v: float) -> float:
            return v if math.isfinite(v) else math.nan

        return {"best_val_f1": finite(self.f1), f"best_{self.metric}": finite(self.value), "best_epoch": self.epoch}


def epoch_seed(seed: int, epoch: int) -> int:
    """torch's seed for one epoch: a resumed run draws the same dropout masks as an uninterrupted one."""
    return seed * 1_000_003 + epoch


def run_trial(cfg: TrialConfig, report: Report, data: SegmentationData | None = None,
              resume: dict[str, Any] | None = None) -> None:
    """Train for ``cfg.train.epochs`` epochs, validating and reporting after each.

    A diverging run (loss NaN or infinite) reports one last result with ``trial_outcome: diverged`` and the reason,
    and stops: a divergence is an outcome of the settings, not a fault to retry.

    Args:
        cfg: the trial's settings.
        report: called once per epoch with the metrics and a directory holding that epoch's checkpoint (None for
            the last report of a diverged run).
        data: the decoded dataset (shared by a search); read from ``cfg.data`` when None.
        resume: a checkpoint dict to continue from (the epoch after it).
    """
    trial_start = time.time()
    cfg.validate()
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    data = data if data is not None else load_dataset(cfg.data)
    device = pick_device(cfg.train.device)
    inputs = build_inputs(data, cfg, pin_memory=device.type == "cuda")
    classes = data.classes
    model = build_model(cfg.model, classes.num_classes).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    weight = inputs.class_weight.to(device) if inputs.class_weight is not None else None
    start, best = 1, BestSoFar(cfg.train.metric)
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start, best = int(resume["epoch"]) + 1, BestSoFar(**resume["best"])
        log.info("resuming after epoch %d", start - 1)
    steps = max(len(inputs.train_loader), 1)
    for epoch in range(start, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(cfg.train.seed, epoch))
        inputs.train_crops.set_epoch(epoch)
        lr_for_step = lambda i, e=epoch: lr_at(cfg.train, (e - 1 + i / steps) / cfg.train.epochs)  # noqa: E731
        train = train_one_epoch(model, inputs.train_loader, optimizer, device, classes.num_classes, weight,
                                lr_for_step)
        if not math.isfinite(train.loss):
            reason = (f"training diverged: loss became {train.loss} at epoch {epoch} with lr={cfg.train.lr:g}; "
                      "lower the learning rate (--lr, or the high end of --lr-range)")
            log.warning(reason)
            report({"epoch": epoch, "train_loss": train.loss, "lr": cfg.train.lr, **best.as_metrics(),
                    "trial_outcome": "diverged", "trial_error": reason}, None)
            return
        recalibrate_batchnorm(model, inputs.train_loader, device, cfg.train.bn_recalibration_batches)
        val = evaluate(model, inputs.val_loader, device, classes.num_classes)
        metrics: dict[str, Any] = {
            "epoch": epoch, "train_loss": train.loss,
            **train.confusion.compute(classes.names, classes.excluded_indices, "train", per_class=False),
            "val_loss": val.loss, **val.confusion.compute(classes.names, classes.excluded_indices, "val"),
            "points_per_image": inputs.points.points_per_image,
            "labelled_fraction": inputs.points.labelled_fraction,
            "skipped_batches": train.skipped_batches, "redrawn_crops": train.redrawn_crops,
            "lr": cfg.train.lr, "lr_last": lr_for_step(steps - 1), "epoch_time_s": time.perf_counter() - t0,
            "trial_start_time": trial_start,
        }
        best.update(metrics)
        metrics.update(best.as_metrics())
        with tempfile.TemporaryDirectory(prefix="pointtune-ckpt-") as d:
            save_checkpoint(d, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "config": cfg.to_dict(), "classes": classes.to_dict(), "metrics": _plain(metrics),
                "best": dataclasses.asdict(best), "train_stems": inputs.train_stems, "val_stems": inputs.val_stems,
                "test_stems": [data.samples[i].stem for i in data.split.test],
            }, durable=False)  # a temporary copy: Tune (or `train`) copies it to its place
            report(metrics, d)


def _plain(metrics: dict[str, Any]) -> dict[str, float | int | str]:
    return {k: (v if isinstance(v, str) else int(v) if isinstance(v, (int, np.integer)) else float(v))
            for k, v in metrics.items()}


def tune_entrypoint(config: dict[str, Any], data: SegmentationData | None = None) -> None:
    """Ray Tune function trainable: rebuild the config, resume from Tune's checkpoint, report every epoch.

    ``data`` arrives through ``tune.with_parameters`` (the object store), decoded once per search.
    """
    import ray  # Ray is imported here and in search/ only: run_trial itself runs without it
    from ray import tune

    context = tune.get_context()
    runtime = ray.get_runtime_context()
    node_id = runtime.get_node_id()
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per epoch is noise

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report({**metrics, "node_id": node_id}, checkpoint=checkpoint)

    try:
        cfg = TrialConfig.from_dict(config)
        # use exactly the CPUs Ray gave this trial; Ray also sets CUDA_VISIBLE_DEVICES to its GPU (share)
        cpus = int(runtime.get_assigned_resources().get("CPU", 0))
        if cpus:
            cfg = cfg.replace(train={"num_threads": cpus})
        checkpoint = tune.get_checkpoint()
        resume = None
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                resume = load_checkpoint(d)
        log.info("trial %s on node %s with %d CPU thread(s)", context.get_trial_id(), node_id, cpus)
        run_trial(cfg, report, data=data, resume=resume)
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

"""One trial: ``run_trial(cfg, report)`` wires data, points, model, loss and metrics together.

``run_trial`` knows nothing of Ray: it calls ``report(metrics, checkpoint_dir)`` once per epoch. The CLI's
``train`` passes a function that prints and writes CSV; ``tune_entrypoint`` passes ``ray.tune.report``.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainable.checkpoint import load_checkpoint, save_checkpoint
from trainable.config import TrialConfig
from trainable.dataset import SegmentationData, load_dataset
from trainable.inputs import build_inputs
from trainable.loop import evaluate, recalibrate_batchnorm, train_one_epoch
from trainable.model import build_model

log = logging.getLogger(__name__)
Report = Callable[[dict[str, Any], str], None]
DIVERGED_FILE = "diverged.txt"


class TrialDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_trial(cfg: TrialConfig, report: Report, data: SegmentationData | None = None,
              resume: dict[str, Any] | None = None) -> None:
    """Train for ``cfg.train.epochs`` epochs, validating and reporting after each.

    Args:
        cfg: the trial's settings.
        report: called once per epoch with the metrics and a directory holding that epoch's checkpoint.
        data: the decoded dataset (shared by a search); read from ``cfg.data`` when None.
        resume: a checkpoint dict to continue from (the epoch after it).

    Raises:
        TrialDivergedError: the training loss became NaN or infinite.
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
    start, best = 1, -math.inf
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start, best = int(resume["epoch"]) + 1, float(resume.get("best_val_f1", -math.inf))
        log.info("resuming after epoch %d", start - 1)
    for epoch in range(start, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        inputs.train_crops.set_epoch(epoch)
        train = train_one_epoch(model, inputs.train_loader, optimizer, device, classes.num_classes, weight)
        if not math.isfinite(train.loss):
            raise TrialDivergedError(
                f"training diverged: loss became {train.loss} at epoch {epoch} with lr={cfg.train.lr:g}; "
                "lower the learning rate (--lr, or the high end of --lr-range)")
        recalibrate_batchnorm(model, inputs.train_loader, device, cfg.train.bn_recalibration_batches)
        val = evaluate(model, inputs.val_loader, device, classes.num_classes)
        metrics: dict[str, Any] = {
            "epoch": epoch, "train_loss": train.loss,
            **train.confusion.compute(classes.names, classes.excluded_indices, "train", per_class=False),
            "val_loss": val.loss, **val.confusion.compute(classes.names, classes.excluded_indices, "val"),
            "points_per_image": inputs.points.points_per_image,
            "labelled_fraction": inputs.points.labelled_fraction,
            "skipped_batches": train.skipped_batches, "redrawn_crops": train.redrawn_crops,
            "lr": cfg.train.lr, "epoch_time_s": time.perf_counter() - t0, "trial_start_time": trial_start,
        }
        best = max(best, metrics["val_f1"]) if math.isfinite(metrics["val_f1"]) else best
        with tempfile.TemporaryDirectory(prefix="pointtune-ckpt-") as d:
            save_checkpoint(d, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "config": cfg.to_dict(), "classes": classes.to_dict(), "metrics": _plain(metrics),
                "best_val_f1": best, "train_stems": inputs.train_stems, "val_stems": inputs.val_stems,
            }, durable=False)  # a temporary copy: Tune (or `train`) copies it to its place
            report(metrics, d)


def _plain(metrics: dict[str, Any]) -> dict[str, float | int]:
    return {k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in metrics.items()}


def tune_entrypoint(config: dict[str, Any], data: SegmentationData | None = None) -> None:
    """Ray Tune function trainable: rebuild the config, resume from Tune's checkpoint, report every epoch.

    ``data`` arrives through ``tune.with_parameters`` (the object store), decoded once per search.
    """
    import ray  # Ray is imported here and in search/ only: run_trial itself runs without it
    from ray import tune

    context = tune.get_context()
    runtime = ray.get_runtime_context()
    node_id = runtime.get_node_id()
    # use exactly the CPUs Ray gave this trial; Ray also sets CUDA_VISIBLE_DEVICES to its GPU (share)
    cpus = int(runtime.get_assigned_resources().get("CPU", 0))
    cfg = TrialConfig.from_dict(config)
    if cpus:
        cfg = cfg.replace(train={"num_threads": cpus})
    checkpoint = tune.get_checkpoint()
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resume = load_checkpoint(d)
    log.info("trial %s on node %s with %d CPU thread(s)", context.get_trial_id(), node_id, cpus)
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # one "checkpoint created" line per epoch is noise

    def report(metrics: dict[str, Any], checkpoint_dir: str) -> None:
        tune.report({**metrics, "node_id": node_id}, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

    # A divergence is deterministic: when Tune retries the trial (FailureConfig.max_failures, meant for lost
    # nodes), fail again at once instead of re-training up to the same NaN.
    marker = Path(context.get_trial_dir()) / DIVERGED_FILE
    if marker.is_file():
        raise TrialDivergedError(f"{marker.read_text()} (not retried: a divergence repeats)")
    try:
        run_trial(cfg, report, data=data, resume=resume)
    except TrialDivergedError as e:
        marker.write_text(str(e))
        raise
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the process may be reused for the next trial (reuse_actors)

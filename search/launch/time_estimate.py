"""Before the first trial of a search, or the first epoch of ``train``: how long will it take on this machine? A
warning, with faster settings, when the answer is hours.

The estimate times a few real training steps of the network at its tile size in this process (trials on CPUs run
the same code on the same kind of cores), and multiplies: steps per epoch (the training crops over the batch size,
plus the validation batches at ``VAL_BATCH_STEPS`` of a step each) x epochs (a search's mean searched epochs) x
trials / trials at once (a run: one). It is skipped where the work runs on GPUs (a search's ``--gpus-per-trial``
above 0, as ``auto`` is where Ray sees GPUs; ``train`` on a GPU) or on a cluster, whose speed the driver cannot time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from search.launch.settings import SearchSettings
from trainable.config import ModelConfig, TrialConfig

PROBE_TILE = 128  # side of the crops a step is timed on
# crops a step is timed on: per-step costs make a step on 2 crops take more than a quarter of one on 8 (measured on
# one thread of the busy 2-core dev machine at 128 px: ResNet-50 3.3 s for 2 crops, 4.0 s for 4, 7.9 s for 8)
PROBE_CROPS = 4
WARN_ABOVE_S = 3600.0  # a search or run expected to take longer than this is told so before it starts
VAL_BATCH_STEPS = 1 / 3  # a validation batch (forward only, no gradients) costs about a third of a training step


@dataclass(frozen=True)
class Estimate:
    """A search's (or, with one trial, a run's) work and time."""

    step_s: float  # one training step (forward and backward of one batch)
    steps_per_epoch: int  # training batches
    val_batches: int
    val_tiles: int  # validation tiles (the grid over every validation image)
    mean_epochs: float
    trials: int = 1
    at_once: int = 1

    @property
    def epoch_s(self) -> float:
        return (self.steps_per_epoch + self.val_batches * VAL_BATCH_STEPS) * self.step_s

    @property
    def total_s(self) -> float:
        return self.epoch_s * self.mean_epochs * math.ceil(self.trials / max(self.at_once, 1))


@dataclass(frozen=True)
class StepProbe:
    """A timed training step: ``seconds`` for ``crops`` crops of ``side`` pixels."""

    seconds: float
    crops: int
    side: int

    def step_s(self, batch: int, tile: int) -> float:
        """Seconds of a step on ``batch`` crops of ``tile`` pixels: a convolutional network's work grows with its
        pixels, crops times area."""
        return self.seconds * batch / self.crops * (tile / self.side) ** 2


def probe_training_step(model: ModelConfig, num_classes: int, tile: int, batch: int, threads: int,
                        repeats: int = 1) -> StepProbe:
    """Time a training step of ``model`` on this machine's CPU with ``threads`` threads, on ``PROBE_CROPS`` crops
    (at most ``batch``, at least 2) of at most ``PROBE_TILE`` pixels, after one warm-up step.

    At least 2 crops: BatchNorm in train mode needs two values per channel, and DeepLabV3's image pooling reduces a
    crop to one. A ResNet-50 step on 8 crops of 256 px takes tens of seconds on a CPU: the search should not wait
    for its estimate long, nor the driver hold those activations.
    """
    import torch

    from trainable.learn.model import build_model

    before = torch.get_num_threads()
    torch.set_num_threads(max(threads, 1))
    try:
        net = build_model(ModelConfig(backbone=model.backbone, weights="none", in_channels=model.in_channels),
                          num_classes)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        n, side = max(2, min(batch, PROBE_CROPS)), min(tile, PROBE_TILE)
        x = torch.randn(n, model.in_channels, side, side)  # (N, B, S, S)
        y = torch.randint(0, num_classes, (n, side, side))
        net.train()
        took = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(x)["out"], y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            took.append(time.perf_counter() - t0)
        return StepProbe(min(took[1:]), n, side)
    finally:
        torch.set_num_threads(before)


def time_training_step(model: ModelConfig, num_classes: int, tile: int, batch: int, threads: int,
                       repeats: int = 1) -> float:
    """Seconds of one training step of ``model`` on ``batch`` crops of ``tile`` pixels on this machine's CPU
    (``probe_training_step``, scaled)."""
    return probe_training_step(model, num_classes, tile, batch, threads, repeats).step_s(batch, tile)


def epoch_work(cfg: TrialConfig, data: object) -> tuple[int, int, int]:
    """An epoch of ``cfg`` on ``data`` (its index) as the trial's loaders make it: (training steps, validation
    batches, validation tiles)."""
    from trainable.data.tiles import TrainCrops, grid_starts
    from trainable.inputs import epoch_crops, sizes, training_ids

    tile, batch = cfg.data.tile_size, cfg.train.batch_size
    crops, drop_last = epoch_crops(cfg.data.crops_per_epoch or TrainCrops.auto_length(
        sizes(data, training_ids(data)), tile, batch), batch)
    steps = crops // batch if drop_last else math.ceil(crops / batch)  # as the trial's loader batches them
    val_tiles = sum(len(grid_starts(h, tile)) * len(grid_starts(w, tile)) for h, w in sizes(data, data.split.val))
    return steps, math.ceil(val_tiles / batch), val_tiles


def estimate_search(settings: SearchSettings, data: object, at_once: int, step_s: float) -> Estimate:
    """The estimate of a search on ``data`` (its index) with a timed step."""
    lo, hi = settings.space.epochs
    stages = settings.base.train.stages  # self-training's second stage: as many epochs again (labelling not counted)
    return Estimate(step_s, *epoch_work(settings.base, data), (lo + hi) / 2 * stages, settings.trials, at_once)


def estimate_run(cfg: TrialConfig, data: object, epochs: int, step_s: float) -> Estimate:
    """The estimate of ``epochs`` epochs of one run (``train``) on ``data`` with a timed step."""
    return Estimate(step_s, *epoch_work(cfg, data), epochs)


def duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"about {seconds / 3600:.0f} h"
    if seconds < 60:
        return "under a minute"
    return f"about {seconds / 60:.0f} min"


def long_work_advice(cfg: TrialConfig, estimate: Estimate, faster_step_s: float | None,
                     search: SearchSettings | None = None) -> str | None:
    """The warning for a search (``search``), or a ``train`` run (None), expected to take hours, naming faster
    settings; None for a shorter one."""
    if estimate.total_s <= WARN_ABOVE_S:
        return None
    ways = []
    if faster_step_s is not None:
        ways.append(f"--backbone mobilenet_v3_large (a step takes {faster_step_s:.2f} s here: "
                    f"{duration(estimate.total_s * faster_step_s / estimate.step_s)} in all)")
    if cfg.data.tile_size > 128:
        ways.append(f"--tile-size {cfg.data.tile_size // 2} (a quarter of the pixels per crop)")
    ways.append(f"--crops-per-epoch {max(64, estimate.steps_per_epoch * cfg.train.batch_size // 4)} (now "
                f"{estimate.steps_per_epoch * cfg.train.batch_size} crops cover the training images once per epoch)")
    if search is not None:
        ways.append(f"fewer --trials or a shorter --epochs-range (now {search.trials} trials of "
                    f"{estimate.mean_epochs:g} epochs on average), or a machine with GPUs (each trial then gets one)")
        what, how = "this search", f"{estimate.trials} trials {estimate.at_once} at a time"
    else:
        ways.append(f"fewer --epochs (now {estimate.mean_epochs:g} to train), or a machine with a GPU (train takes "
                    "it by itself)")
        what, how = "this run", f"{estimate.mean_epochs:g} epoch(s)"
    return (f"{what} will take {duration(estimate.total_s)} on this machine: one training step of "
            f"{cfg.model.backbone} on {cfg.train.batch_size} crops of {cfg.data.tile_size} px takes "
            f"{estimate.step_s:.2f} s here, an epoch {duration(estimate.epoch_s)} ({estimate.steps_per_epoch} steps), "
            f"{how}. Faster:\n  - " + "\n  - ".join(ways))


def warn_if_long(settings: SearchSettings, data: object, at_once: int) -> Estimate | None:
    """Print a search's estimate, or the warning where it applies (trials on this machine's CPUs); returns the
    estimate made, if any."""
    if settings.gpus_per_trial != 0 or settings.address:  # GPUs (or auto, not yet resolved), or a cluster
        return None
    return _tell(settings.base, data, max(int(settings.cpus_per_trial), 1),
                 lambda step: estimate_search(settings, data, at_once, step), settings)


def warn_if_long_run(cfg: TrialConfig, data: object, epochs: int) -> Estimate | None:
    """``train``'s: print the estimate of its ``epochs`` epochs, or the warning, where it trains on this machine's
    CPU (as ``cfg.train.device`` picks); returns the estimate made, if any."""
    import torch

    from trainable.trial import pick_device

    on_gpu = cfg.train.device == "cuda" or pick_device(cfg.train.device).type != "cpu"  # cuda: checked before
    if on_gpu or epochs <= 0:
        return None
    threads = cfg.train.num_threads or torch.get_num_threads()  # as the run will train
    return _tell(cfg, data, threads, lambda step: estimate_run(cfg, data, epochs, step), None)


def _tell(cfg: TrialConfig, data: object, threads: int, estimate_with: Callable[[float], Estimate],
          search: SearchSettings | None) -> Estimate:
    """Time a step, estimate with it, and print the estimate, or the warning with faster settings (a ResNet's:
    MobileNetV3's step timed too)."""
    classes = data.classes.num_classes
    step = time_training_step(cfg.model, classes, cfg.data.tile_size, cfg.train.batch_size, threads)
    estimate = estimate_with(step)
    if estimate.total_s <= WARN_ABOVE_S:
        print(f"time estimate: {duration(estimate.total_s)} on this machine's CPUs (a training step of "
              f"{cfg.model.backbone} on {cfg.train.batch_size} crops of {cfg.data.tile_size} px: "
              f"{estimate.step_s:.2f} s)", flush=True)
        return estimate
    faster = None
    if cfg.model.backbone in ("resnet50", "resnet101"):
        faster = time_training_step(ModelConfig(backbone="mobilenet_v3_large", in_channels=cfg.model.in_channels),
                                    classes, cfg.data.tile_size, cfg.train.batch_size, threads)
    print("WARNING " + long_work_advice(cfg, estimate, faster, search), flush=True)
    return estimate

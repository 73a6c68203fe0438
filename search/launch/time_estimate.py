"""Before the first trial: how long will this search take on this machine? A warning, with faster settings, when
the answer is hours.

The estimate times a few real training steps of the search's network at its tile size in the driver (trials on CPUs
run the same code on the same kind of cores), and multiplies: steps per epoch (the training crops over the batch
size, plus the validation tiles at a third of a step each) x the mean searched epochs x trials / trials at once.
It is skipped where trials run on GPUs (``--gpus-per-trial`` above 0, as ``auto`` is where Ray sees GPUs) or on a
cluster, whose speed the driver cannot time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from search.launch.settings import SearchSettings
from trainable.config import ModelConfig

PROBE_TILE = 128  # side of the crops a step is timed on
# crops a step is timed on: per-step costs make a step on 2 crops take more than a quarter of one on 8 (measured on
# one thread of the busy 2-core dev machine at 128 px: ResNet-50 3.3 s for 2 crops, 4.0 s for 4, 7.9 s for 8)
PROBE_CROPS = 4
WARN_ABOVE_S = 3600.0  # a search expected to take longer than this is told so before it starts


@dataclass(frozen=True)
class SearchEstimate:
    step_s: float  # one training step (forward and backward of one batch)
    steps_per_epoch: int  # training batches
    val_batches: int
    val_tiles: int  # validation tiles (the grid over every validation image)
    mean_epochs: float
    trials: int
    at_once: int

    @property
    def epoch_s(self) -> float:
        return (self.steps_per_epoch + self.val_batches / 3) * self.step_s

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


def estimate_search(settings: SearchSettings, data: object, at_once: int, step_s: float) -> SearchEstimate:
    """The estimate of a search on ``data`` (its index) with a timed step."""
    from trainable.data.tiles import TrainCrops, grid_starts
    from trainable.inputs import epoch_crops, sizes, training_ids

    cfg = settings.base
    tile, batch = cfg.data.tile_size, cfg.train.batch_size
    crops, drop_last = epoch_crops(cfg.data.crops_per_epoch or TrainCrops.auto_length(
        sizes(data, training_ids(data)), tile, batch), batch)
    steps = crops // batch if drop_last else math.ceil(crops / batch)  # as the trial's loader batches them
    val_tiles = sum(len(grid_starts(h, tile)) * len(grid_starts(w, tile)) for h, w in sizes(data, data.split.val))
    lo, hi = settings.space.epochs
    stages = cfg.train.stages  # a self-training second stage: as many epochs again (its labelling not counted)
    return SearchEstimate(step_s, steps, math.ceil(val_tiles / batch), val_tiles, (lo + hi) / 2 * stages,
                          settings.trials, at_once)


def duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"about {seconds / 3600:.0f} h"
    if seconds < 60:
        return "under a minute"
    return f"about {seconds / 60:.0f} min"


def advice(settings: SearchSettings, estimate: SearchEstimate, faster_step_s: float | None) -> str | None:
    """The warning for a search expected to take hours, naming faster settings; None for a shorter one."""
    if estimate.total_s <= WARN_ABOVE_S:
        return None
    cfg = settings.base
    ways = []
    if faster_step_s is not None:
        ways.append(f"--backbone mobilenet_v3_large (a step takes {faster_step_s:.2f} s here: "
                    f"{duration(estimate.total_s * faster_step_s / estimate.step_s)} in all)")
    if cfg.data.tile_size > 128:
        ways.append(f"--tile-size {cfg.data.tile_size // 2} (a quarter of the pixels per crop)")
    ways.append(f"--crops-per-epoch {max(64, estimate.steps_per_epoch * cfg.train.batch_size // 4)} (now "
                f"{estimate.steps_per_epoch * cfg.train.batch_size} crops cover the training images once per epoch)")
    ways.append(f"fewer --trials or a shorter --epochs-range (now {settings.trials} trials of "
                f"{estimate.mean_epochs:g} epochs on average), or a machine with GPUs (each trial then gets one)")
    return (f"this search will take {duration(estimate.total_s)} on this machine: one training step of "
            f"{cfg.model.backbone} on {cfg.train.batch_size} crops of {cfg.data.tile_size} px takes "
            f"{estimate.step_s:.2f} s here, an epoch {duration(estimate.epoch_s)} ({estimate.steps_per_epoch} steps), "
            f"{estimate.trials} trials {estimate.at_once} at a time. Faster:\n  - " + "\n  - ".join(ways))


def warn_if_long(settings: SearchSettings, data: object, at_once: int) -> SearchEstimate | None:
    """Print the warning where it applies (trials on this machine's CPUs); returns the estimate made, if any."""
    if settings.gpus_per_trial != 0 or settings.address:  # GPUs (or auto, not yet resolved), or a cluster
        return None
    cfg = settings.base
    threads = max(int(settings.cpus_per_trial), 1)
    classes = data.classes.num_classes
    step = time_training_step(cfg.model, classes, cfg.data.tile_size, cfg.train.batch_size, threads)
    estimate = estimate_search(settings, data, at_once, step)
    if estimate.total_s <= WARN_ABOVE_S:
        print(f"time estimate: {duration(estimate.total_s)} on this machine's CPUs (a training step of "
              f"{cfg.model.backbone} on {cfg.train.batch_size} crops of {cfg.data.tile_size} px: "
              f"{estimate.step_s:.2f} s)", flush=True)
        return estimate
    faster = None
    if cfg.model.backbone in ("resnet50", "resnet101"):
        faster = time_training_step(ModelConfig(backbone="mobilenet_v3_large", in_channels=cfg.model.in_channels),
                                    classes, cfg.data.tile_size, cfg.train.batch_size, threads)
    print("WARNING " + advice(settings, estimate, faster), flush=True)
    return estimate

"""Labelled batches per second the input pipeline produces vs batches per second the model consumes.

Loader: ``build_inputs(data, cfg).train_loader`` is iterated with no model (the data is decoded once before; what
is timed is the per-epoch work: random crop with re-draws, flips/rotations, point labels, ``to_tensor``
normalisation, collation), over several epochs (``set_epoch``) so every batch is new. The loader runs in the
training process (``num_workers=0``), so its time adds to every step.

Model: ``train_one_epoch`` (forward, partial cross-entropy, backward, Adam step, confusion update) on batches
drawn beforehand from the same loader, so only the model is timed; per backbone, same tile size, batch 8,
``--threads`` torch threads. Each of ``--rounds`` rounds times some loader batches, then one step per model, so
noise from other processes hits all alike; medians over all timed batches are reported.

The loader's per-crop time is also split into its steps (seeded generator, crop pick, re-draw check, flips and
rotation, ``to_tensor``, mask to int64, collation), each timed alone on the same crops, at several tile sizes
(real images when present). Headline: loader batches/s divided by the fastest model's batches/s
(the tightest case) at ``--tile-size``. On a CPU the model dwarfs the loader; gpu.py shows the GPU case.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import numpy as np

from common import demo_config, demo_root, dubai_root, machine_note, median, print_table, timed, verdict

TARGET = 10.0


def loader_seconds_per_batch(inputs: Any, batches: int, epoch0: int) -> list[float]:
    """Seconds per batch of the train loader, ``batches`` batches (fresh epochs)."""
    times: list[float] = []
    epoch = epoch0
    while len(times) < batches:
        inputs.train_crops.set_epoch(epoch)
        t = time.perf_counter()
        for _ in inputs.train_loader:
            now = time.perf_counter()
            times.append(now - t)
            t = now
        epoch += 1
    return times[:batches]


def model_seconds_per_batch(model: Any, optimizer: Any, batches: list[dict], num_classes: int) -> list[float]:
    import torch

    from trainable.loop import train_one_epoch

    per_batch = []
    for batch in batches:
        t = time.perf_counter()
        train_one_epoch(model, [batch], optimizer, torch.device("cpu"), num_classes)
        per_batch.append(time.perf_counter() - t)
    return per_batch


def step_profile(crops: Any, n: int, batch_size: int) -> dict[str, float]:
    """Microseconds per crop of each step of ``TrainCrops.__getitem__``, timed alone on the same crops."""
    import torch
    from torch.utils.data import default_collate

    from trainable.config import IGNORE_INDEX
    from trainable.tiles import to_tensor

    idx = range(n)
    t: dict[str, float] = {}

    def clock(name: str, fn: Any) -> list[Any]:
        t0 = time.perf_counter()
        out = [fn(i) for i in idx]
        t[name] = (time.perf_counter() - t0) / n * 1e6
        return out

    rngs = clock("seeded generator", lambda i: np.random.default_rng((crops.seed, 99, i)))
    pairs = clock("crop pick (choice p=, integers)", lambda i: crops._crop(rngs[i]))
    clock("re-draw check (labels.any)", lambda i: (pairs[i][1] != IGNORE_INDEX).any())

    def augment(i: int) -> tuple[np.ndarray, np.ndarray]:
        image, labels, rng = *pairs[i], rngs[i]
        if rng.random() < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        if rng.random() < 0.5:
            image, labels = image[::-1], labels[::-1]
        k = int(rng.integers(4))
        return np.rot90(image, k), np.rot90(labels, k)

    views = clock("flips + rot90 (views)", augment)
    images = clock("to_tensor (copy, float, normalise)", lambda i: to_tensor(views[i][0]))
    masks = clock("mask astype int64 + from_numpy", lambda i: torch.from_numpy(views[i][1].astype(np.int64)))
    samples = [{"image": a, "mask": b, "redraws": 0} for a, b in zip(images, masks, strict=True)]
    t0 = time.perf_counter()
    for k in range(0, n - batch_size + 1, batch_size):
        default_collate(samples[k:k + batch_size])
    t["collate (per crop)"] = (time.perf_counter() - t0) / (n // batch_size * batch_size) * 1e6
    t0 = time.perf_counter()
    for i in idx:
        crops[i]
    t["whole __getitem__"] = (time.perf_counter() - t0) / n * 1e6
    return t


def profile_tiles(args: Any, real: Any) -> None:
    """Loader cost per tile size, split into steps."""
    from trainable.dataset import load_dataset
    from trainable.inputs import training_points
    from trainable.tiles import TrainCrops

    root, fmt = (str(real), "dubai_aerial") if real else (demo_root(8, max(args.profile_tiles) + 128), "demo")
    cfg = demo_config(root, tile_size=min(args.profile_tiles), fmt=fmt)
    data = load_dataset(cfg.data)
    train_idx, _, sparse = training_points(data, cfg)
    images = [data.samples[i].image for i in train_idx]
    profiles: dict[int, dict[str, float]] = {}
    for tile in args.profile_tiles:
        fit = [k for k, im in enumerate(images) if min(im.shape[:2]) >= tile]
        if not fit:
            print(f"step profile: no image of {root} is {tile} px wide and high; skipping that size")
            continue
        crops = TrainCrops([images[k] for k in fit], [sparse[k] for k in fit], tile, args.batch_size * 1000)
        crops.set_epoch(7)
        n = 256 if tile <= 256 else 64
        prof = step_profile(crops, n, args.batch_size)
        profiles[tile] = prof
    steps = list(next(iter(profiles.values())))
    print_table(["us per crop (each step timed alone)", *(f"{t} px" for t in profiles)],
                [[s, *(profiles[t][s] for t in profiles)] for s in steps],
                title=f"loader steps by tile size (training images of {root})")
    for tile, prof in profiles.items():
        parts = {k: v for k, v in prof.items() if not k.startswith(("whole", "collate"))}
        top = max(parts, key=parts.get)
        print(f"  {tile} px: slowest step: {top}, {parts[top] / sum(parts.values()):.0%} of the per-crop steps")


def prep_costs(real: Any, tile: int) -> None:
    """Seconds of ``build_inputs`` (split, point simulation, loaders) at a trial's start, alone and with what a
    search's driver prepares once and ships with the data: density click orders up to the top of the range
    (``cache_click_orders``) or each searched number of clicks per instance (``cache_training_points``)."""
    from trainable.dataset import load_dataset
    from trainable.inputs import build_inputs, cache_click_orders, cache_training_points

    sets = [("demo 24x128", demo_root(), "demo")] + ([("dubai_aerial", str(real), "dubai_aerial")] if real else [])
    rows = []
    for name, root, fmt in sets:
        base = demo_config(root, tile_size=tile, fmt=fmt)
        data = load_dataset(base.data)
        for label, points in (("density 0.01", {"mode": "density", "density": 0.01}),
                              ("1 point per instance/region", {"mode": "per_instance", "points_per_instance": 1})):
            cfg = base.replace(points=points)
            seconds, inputs = timed(lambda data=data, cfg=cfg: build_inputs(data, cfg))
            pixels = sum(data.samples[i].mask.size for i, s in enumerate(data.samples) if s.stem in inputs.train_stems)
            rows.append([name, label, len(inputs.train_stems), pixels / 1e6, seconds])
            if points["mode"] == "per_instance":
                cache_training_points(data, cfg)
            else:
                cache_click_orders(data, cfg, max_density=0.1)
            seconds, _ = timed(lambda data=data, cfg=cfg: build_inputs(data, cfg))
            rows.append([name, label + ", search cache", len(inputs.train_stems), pixels / 1e6, seconds])
    print_table(["data", "points", "train images", "train Mpx", "build_inputs s"], rows,
                title="input preparation at a trial's start (decode is shared; a search's driver prepares points "
                      "once)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["mobilenet_v3_large", "resnet50"])
    p.add_argument("--tile-size", type=int, default=64, help="tile size of the loader-vs-model comparison")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=8, help="rounds of (loader batches, one step per model)")
    p.add_argument("--loader-batches", type=int, default=10, help="loader batches timed per round")
    p.add_argument("--model-batches", type=int, default=4, help="distinct batches the models cycle through")
    p.add_argument("--profile-tiles", type=int, nargs="+", default=[64, 256, 512],
                   help="tile sizes of the loader profile (real data when present, else generated demo scenes)")
    p.add_argument("--data", choices=("demo", "dubai"), default="demo",
                   help="data of the loader-vs-model comparison (dubai: the real aerial images)")
    args = p.parse_args()

    import torch

    from trainable.dataset import load_dataset
    from trainable.inputs import build_inputs
    from trainable.model import build_model

    torch.set_num_threads(args.threads)
    real = dubai_root()
    root, fmt = (str(real), "dubai_aerial") if args.data == "dubai" and real else (demo_root(), "demo")
    cfg = demo_config(root, tile_size=args.tile_size, crops_per_epoch=args.batch_size * 16,
                      batch_size=args.batch_size, num_threads=args.threads, fmt=fmt)
    data = load_dataset(cfg.data)
    inputs = build_inputs(data, cfg)
    print(f"input pipeline: {root}, {args.tile_size}-px tiles, batch {args.batch_size}, {args.threads} threads, "
          f"loader num_workers={inputs.train_loader.num_workers}")
    print(machine_note())

    torch.manual_seed(0)
    models = {b: build_model(cfg.model.__class__(backbone=b, weights="none"), data.classes.num_classes)
              for b in args.backbones}
    optims = {b: torch.optim.Adam(m.parameters(), lr=1e-4) for b, m in models.items()}
    batches = list(itertools.islice(inputs.train_loader, args.model_batches + 1))
    for b, m in models.items():  # warm-up step (allocator, oneDNN kernels)
        model_seconds_per_batch(m, optims[b], batches[:1], data.classes.num_classes)

    loader_s: list[float] = []
    model_s: dict[str, list[float]] = {b: [] for b in models}
    for r in range(args.rounds):  # fine interleaving: noise from other processes hits every stage alike
        loader_s += loader_seconds_per_batch(inputs, args.loader_batches, epoch0=100 + r * 1000)
        for b, m in models.items():
            model_s[b] += model_seconds_per_batch(m, optims[b], batches[1 + r % (len(batches) - 1):][:1],
                                                  data.classes.num_classes)
    print("  per round: loader ms/batch " + " ".join(f"{median(loader_s[i:i + args.loader_batches]) * 1e3:.2f}"
                                                     for i in range(0, len(loader_s), args.loader_batches)))
    for b, v in model_s.items():
        print(f"  per round: {b} s/batch " + " ".join(f"{x:.3f}" for x in v))
    loader_bps = 1 / median(loader_s)
    rows = [["loader (crop, augment, points, to_tensor, collate)", median(loader_s) * 1e3, loader_bps, ""]]
    ratios = {}
    for b, v in model_s.items():
        ratios[b] = loader_bps * median(v)
        rows.append([f"model {b} (fwd+bwd+step)", median(v) * 1e3, 1 / median(v), ratios[b]])
    print_table(["stage", "ms/batch", "batches/s", "loader/model"], rows,
                title=f"throughput at {args.tile_size}-px tiles, batch {args.batch_size} (median of all timed batches)")
    print("loader share of a training step (num_workers=0, serial): "
          + ", ".join(f"{b} {1 / (1 + r):.1%}" for b, r in ratios.items()))

    profile_tiles(args, real)
    prep_costs(real, min(args.profile_tiles))
    worst = min(ratios, key=ratios.get)
    print(f"{verdict(ratios[worst], TARGET, '>=')} (tightest: {worst}); "
          f"loader/model throughput ratio: {ratios[worst]:.1f}")


if __name__ == "__main__":
    main()

"""Do the losses on unlabelled pixels help? Each of them against plain partial cross-entropy, same seeds, same budget.

On the real Dubai sample (``../shared/data/dubai_aerial``): at each click density and seed, one run per
``--unlabeled-loss`` (none = partial cross-entropy alone), all else equal (split, clicks, crops, initial weights,
learning rate, epochs). Prints each run's best validation F1 (dense masks) and, per density, the mean over seeds and
the difference from ``none``.

    python benchmarks/unlabeled_losses.py [--epochs 6] [--seeds 0 1] [--densities 1e-3 1e-4] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import statistics
import time

from common import DUBAI_ROOT
from trainable.config import UNLABELED_LOSSES, DataConfig, ModelConfig, PointConfig, TrainConfig, TrialConfig

_INDEX = None  # the checked dataset, built once in the parent and inherited by the forked workers


def one_run(job: tuple[float, int, str, argparse.Namespace]) -> tuple[float, int, str, float, float]:
    from trainable.trial import run_trial

    density, seed, loss, a = job
    cfg = TrialConfig(
        data=DataConfig(root=str(DUBAI_ROOT), format="dubai_aerial", tile_size=a.tile_size, resize=a.resize),
        points=PointConfig(density=density, seed=seed),
        model=ModelConfig(backbone=a.backbone, weights="none"),
        train=TrainConfig(lr=a.lr, epochs=a.epochs, seed=seed, num_threads=1, unlabeled_loss=loss,
                          unlabeled_weight=a.weight, device="cpu"))
    history: list[dict] = []
    t0 = time.perf_counter()
    run_trial(cfg, lambda metrics, _ckpt: history.append(metrics), data=_INDEX)
    best = max((m.get("val_f1", math.nan) for m in history), default=math.nan)
    return density, seed, loss, best, time.perf_counter() - t0


def main() -> None:
    global _INDEX
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--densities", type=float, nargs="+", default=[1e-3, 1e-4])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--losses", nargs="+", default=list(UNLABELED_LOSSES))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight", type=float, default=0.1, help="--unlabeled-weight of every loss")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--resize", type=float, default=0.3)
    p.add_argument("--workers", type=int, default=2, help="runs at once (one CPU thread each)")
    a = p.parse_args()
    if not (DUBAI_ROOT / "README.txt").is_file():
        raise SystemExit(f"the Dubai sample is not at {DUBAI_ROOT}: nothing measured")
    from trainable.data.index import build_index

    _INDEX = build_index(DataConfig(root=str(DUBAI_ROOT), format="dubai_aerial", tile_size=a.tile_size,
                                    resize=a.resize))
    jobs = [(d, s, loss, a) for d in a.densities for s in a.seeds for loss in a.losses]
    print(f"Dubai sample: {len(_INDEX.entries)} images, {_INDEX.split.describe()}; backbone {a.backbone}, tile "
          f"{a.tile_size}, resize {a.resize}, {a.epochs} epochs, lr {a.lr:g}, unlabelled weight {a.weight:g}; "
          f"{len(jobs)} runs, {a.workers} at a time", flush=True)
    with mp.get_context("fork").Pool(a.workers) as pool:
        runs = []
        for r in pool.imap_unordered(one_run, jobs):
            runs.append(r)
            print(f"  density {r[0]:g}  seed {r[1]}  {r[2]:<10} best val F1 {r[3]:.4f}  ({r[4]:.0f} s)", flush=True)
    print(f"\n| density | loss | best val F1 per seed ({', '.join(map(str, a.seeds))}) | mean | vs none |")
    print("|---|---|---|---|---|")
    gains = {}
    for d in a.densities:
        f1 = {loss: [r[3] for s in a.seeds for r in runs if r[:3] == (d, s, loss)] for loss in a.losses}
        base = statistics.mean(f1["none"]) if "none" in f1 else math.nan
        for loss in a.losses:
            mean = statistics.mean(f1[loss])
            gains[(d, loss)] = mean - base
            print(f"| {d:g} | {loss} | {' / '.join(f'{v:.4f}' for v in f1[loss])} | {mean:.4f} | "
                  f"{mean - base:+.4f} |")
    best = max((k for k in gains if k[1] != "none"), key=gains.get, default=None)
    if best is not None:
        print(f"\nlargest mean gain over partial cross-entropy alone: {best[1]} at density {best[0]:g}, "
              f"{gains[best]:+.4f}")


if __name__ == "__main__":
    main()

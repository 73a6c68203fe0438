"""Do the losses on unlabelled pixels help? Each of them against plain partial cross-entropy, paired over seeds.

At each click density and seed, one `pointtune train` run per ``--unlabeled-loss`` (none = partial cross-entropy
alone), all else equal (split, clicks, crops, initial weights, learning rate, epochs: the seed is the annotator's,
the initialisation's and the crops'). Every run's best model is scored image by image on the split's test part, and
each loss is compared with ``none`` by ``benchmarks/compare.py``: the mean per-image F1 difference over (seed, image)
pairs, its 95 % two-level bootstrap interval and the verdict ("better", "worse", "no difference detectable at this
budget").

    python benchmarks/unlabeled_losses.py --data ../shared/data/dubai_aerial --format dubai_aerial \
        --split benchmarks/splits/dubai_tiles.yaml --workers 2    # docs/training.md's figures (defaults below)
    python benchmarks/unlabeled_losses.py --data DIR --format NAME --split split.yaml --densities 1e-3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

from compare import arm_mean, difference, per_image_f1

from common import data_root, tmp_dir
from trainable.config import UNLABELED_LOSSES


def one_run(job: tuple[float, int, str, argparse.Namespace, str, str | None, str]) -> tuple[float, int, str, dict,
                                                                                               float]:
    """Train one run and score its best model on each test image: (density, seed, loss, F1 per image, seconds)."""
    import torch

    from common import quiet_stdout
    from search.cli.main import main as pointtune

    density, seed, loss, a, root, fmt, out = job
    torch.set_num_threads(1)
    argv = ["train", "--data", root, "--density", f"{density:g}", "--seed", str(seed), "--unlabeled-loss", loss,
            "--backbone", a.backbone, "--weights", "none", "--tile-size", str(a.tile_size), "--resize",
            str(a.resize), "--epochs", str(a.epochs), "--lr", str(a.lr), "--crops-per-epoch",
            str(a.crops_per_epoch), "--out", out]
    argv += ["--format", fmt] if fmt else []
    argv += ["--split", a.split] if a.split else []
    argv += ["--unlabeled-weight", str(a.weight)] if loss != "none" else []
    t0 = time.perf_counter()
    with quiet_stdout():
        code = pointtune(argv)
    if code != 0:
        raise SystemExit(f"`pointtune {' '.join(argv)}` exited {code}")
    return density, seed, loss, per_image_f1(out, root, "test", fmt), time.perf_counter() - t0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="dubai", help="dubai (../shared/data), demo (the built-in scenes) or a folder")
    p.add_argument("--format", help="the data's built-in format (default: dubai_aerial / demo for those)")
    p.add_argument("--split", help="a split file (YAML/JSON/CSV, trainable/data/split.py); default: the seeded one")
    p.add_argument("--densities", type=float, nargs="+", default=[1e-3])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--losses", nargs="+", default=list(UNLABELED_LOSSES), choices=UNLABELED_LOSSES)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight", type=float, default=0.1, help="--unlabeled-weight of every loss")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--resize", type=float, default=0.3)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--workers", type=int, default=2, help="runs at once (one CPU thread each)")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temporary one)")
    a = p.parse_args()
    if "none" not in a.losses:
        p.error("--losses must include none: every loss is compared with partial cross-entropy alone")
    return a


def report(runs: list[tuple], a: argparse.Namespace) -> None:
    """Per density: each loss's mean test F1 and its difference from none with interval and verdict."""
    print("\n| density | loss | mean test F1 (per-seed spread) | vs none: mean [95% interval] | Wilcoxon p | verdict |")
    print("|---|---|---|---|---|---|")
    for d in a.densities:
        arms = {loss: {s: f1 for dd, s, ll, f1, _ in runs if (dd, ll) == (d, loss)} for loss in a.losses}
        for loss in a.losses:
            mean, spread = arm_mean(arms[loss])
            if loss == "none":
                print(f"| {d:g} | none | {mean:.4f} ({spread:.3f}) | | | |")
                continue
            gain = difference(arms[loss], arms["none"])
            print(f"| {d:g} | {loss} | {mean:.4f} ({spread:.3f}) | {gain.text()} | {gain.p_wilcoxon:.3f} | "
                  f"{gain.verdict} |")


def main() -> None:
    a = parse()
    root, fmt = data_root(a.data, a.format)
    with tmp_dir("pointtune-bench-losses-") as scratch:
        folder = Path(a.keep or scratch)
        jobs = [(d, s, loss, a, root, fmt, str(folder / f"d{d:g}-s{s}-{loss}")) for d in a.densities
                for s in a.seeds for loss in a.losses]
        print(f"{root} ({fmt or 'own classes'}), split {a.split or 'seeded'}: backbone {a.backbone}, tile "
              f"{a.tile_size}, resize {a.resize}, {a.epochs} epochs of {a.crops_per_epoch} crops, lr {a.lr:g}, "
              f"unlabelled weight {a.weight:g}; {len(jobs)} runs, {a.workers} at a time", flush=True)
        t0, runs = time.perf_counter(), []
        with mp.get_context("fork").Pool(a.workers) as pool:
            for r in pool.imap_unordered(one_run, jobs):
                runs.append(r)
                print(f"  density {r[0]:g}  seed {r[1]}  {r[2]:<10} test F1 (mean over {len(r[3])} images) "
                      f"{sum(r[3].values()) / len(r[3]):.4f}  ({r[4]:.0f} s)", flush=True)
        report(runs, a)
    print(f"\n{len(runs)} runs in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

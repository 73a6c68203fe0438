"""Where to click next, measured: rounds of suggested clicks against the same number of random clicks.

Per seed: a first round of ``--first`` uniform random clicks per training image (the simulated annotator's order,
``trainable.labels.points.click_order``, answered from the dense masks), and a model trained on them (``pointtune train
--clicks``). Then each round, for each strategy, the previous round's model of that strategy suggests ``--per-round``
more clicks per training image (``pointtune suggest --strategy S --answer-from-masks``, the clicks so far given as
``--clicks``), and a model is trained on all the clicks so far, same network, budget and seed as every other run.
``random`` (uniform, blind to the model) is the control. With ``--reference full`` a model of the same settings
trained on the dense masks gives the F1 to reach (the issue's bar: 0.95x of it).

Prints each run's best validation F1 (dense masks, macro), then per round and strategy the clicks per image, the
mean over seeds, and the ratio to random and to full supervision.

    python benchmarks/active_clicks.py                                       # demo scenes, 1 round, 2 seeds
    python benchmarks/active_clicks.py --data dubai --rounds 3 --first 20 --per-round 10 --reference full \\
        --tile-size 96 --resize 0.3 --epochs 8
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import DUBAI_ROOT, demo_root, quiet_stdout, tmp_dir
from search.cli.main import main as pointtune
from trainable.config import DataConfig
from trainable.data.index import DatasetIndex, build_index
from trainable.data.sources import LabelSource
from trainable.labels.points import click_order, image_seed

FIRST_ROUND_SEED = 104_729  # mixed into the first round's annotator seed: never the training seed's clicks


def first_round(index: DatasetIndex, k: int, seed: int, out: Path) -> Path:
    """``k`` uniform random valid pixels per training image, answered from the dense masks, as a --clicks CSV."""
    rows = []
    for i in index.split.train:
        e = index.entries[i]
        mask = np.asarray(LabelSource(e.files, index.classes, index.resize).array())
        chosen = click_order(mask, (seed, image_seed(e.stem), FIRST_ROUND_SEED), k)
        for r, c in zip(*np.divmod(chosen, mask.shape[1]), strict=True):
            x, y = (c, r) if index.resize == 1.0 else ((c + 0.5) / index.resize, (r + 0.5) / index.resize)
            rows.append((e.stem, x, y, index.classes.names[mask[r, c]]))
    return write_clicks(out, rows)


def write_clicks(out: Path, rows: list[tuple]) -> Path:
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "x", "y", "class"])
        writer.writerows(rows)
    return out


def read_clicks(path: Path) -> list[tuple]:
    with path.open() as f:
        return [(r["image"], r["x"], r["y"], r["class"]) for r in csv.DictReader(f)]


def best_f1(folder: Path) -> float:
    with (folder / "metrics.csv").open() as f:
        return max(float(r["val_f1"]) for r in csv.DictReader(f))


def run(argv: list[str], quiet: bool) -> None:
    with quiet_stdout(quiet):
        code = pointtune(argv)
    if code != 0:
        raise SystemExit(f"pointtune {' '.join(argv)} failed with status {code}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo", help="demo (the 24 built-in 128-px scenes), dubai (../shared/data), or "
                   "a folder")
    p.add_argument("--format", help="the data's built-in format (default: demo / dubai_aerial for those)")
    p.add_argument("--strategies", nargs="+", default=["regions", "margin", "random"])
    p.add_argument("--rounds", type=int, default=1, help="rounds of suggested clicks after the first")
    p.add_argument("--first", type=int, default=10, help="random clicks per training image in the first round")
    p.add_argument("--per-round", type=int, default=10, help="clicks per training image added each round")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--reference", choices=("none", "full"), default="none")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--resize", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--keep", help="keep the runs and click files in this folder (default: a temporary one)")
    p.add_argument("--verbose", action="store_true", help="show pointtune's own output")
    a = p.parse_args()
    if not a.verbose:  # before pointtune's own logging.basicConfig: the index's notes stay quiet
        logging.basicConfig(level=logging.WARNING)
    if a.data == "dubai":
        if not (DUBAI_ROOT / "README.txt").is_file():
            raise SystemExit(f"the Dubai sample is not at {DUBAI_ROOT}: nothing measured")
        root, fmt = str(DUBAI_ROOT), a.format or "dubai_aerial"
    elif a.data == "demo":
        root, fmt = demo_root(), a.format or "demo"
    else:
        root, fmt = a.data, a.format
    index = build_index(DataConfig(root=root, format=fmt, tile_size=a.tile_size, resize=a.resize))
    common = ["--data", root, "--backbone", a.backbone, "--weights", "none", "--tile-size", str(a.tile_size),
              "--resize", str(a.resize), "--epochs", str(a.epochs), "--lr", f"{a.lr:g}", "--crops-per-epoch",
              str(a.crops_per_epoch), "--val-clicks", "0", *(["--format", fmt] if fmt else [])]
    print(f"data {root}: {len(index.entries)} images, {index.split.describe()}; {a.backbone}, tile {a.tile_size}, "
          f"resize {a.resize:g}, {a.epochs} epochs x {a.crops_per_epoch} crops, lr {a.lr:g}; first round "
          f"{a.first} random clicks per training image, then {a.rounds} round(s) of {a.per_round}; seeds {a.seeds}",
          flush=True)
    f1: dict[tuple[int, str, int], float] = {}  # (round, strategy, seed) -> best val F1
    full: dict[int, float] = {}
    t_start = time.perf_counter()
    with tmp_dir("pointtune-active-") as scratch:
        work = Path(a.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        for seed in a.seeds:
            seed_args = [*common, "--seed", str(seed)]
            clicks = first_round(index, a.first, seed, work / f"s{seed}_r0.csv")
            t0 = time.perf_counter()
            run(["train", *seed_args, "--clicks", str(clicks), "--out", str(work / f"s{seed}_r0")], not a.verbose)
            for s in a.strategies:
                f1[(0, s, seed)] = best_f1(work / f"s{seed}_r0")
            print(f"  seed {seed} round 0 ({a.first} random clicks/image): val F1 {f1[(0, a.strategies[0], seed)]:.4f}"
                  f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
            for s in a.strategies:
                previous, so_far = work / f"s{seed}_r0", clicks
                for r in range(1, a.rounds + 1):
                    t0 = time.perf_counter()
                    model = previous  # a train folder is a model
                    added = work / f"s{seed}_{s}_r{r}_added.csv"
                    run(["suggest", str(model), "--data", root, "--clicks-per-image", str(a.per_round), "--out",
                         str(added), "--clicks", str(so_far), "--strategy", s, "--seed", str(seed),
                         "--answer-from-masks", *(["--format", fmt] if fmt else [])], not a.verbose)
                    so_far = write_clicks(work / f"s{seed}_{s}_r{r}.csv", read_clicks(so_far) + read_clicks(added))
                    previous = work / f"s{seed}_{s}_r{r}"
                    run(["train", *seed_args, "--clicks", str(so_far), "--out", str(previous)], not a.verbose)
                    f1[(r, s, seed)] = best_f1(previous)
                    print(f"  seed {seed} round {r} {s:<8} ({a.first + r * a.per_round} clicks/image): val F1 "
                          f"{f1[(r, s, seed)]:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
            if a.reference == "full":
                t0 = time.perf_counter()
                run(["train", *seed_args, "--density", "1", "--out", str(work / f"s{seed}_full")], not a.verbose)
                full[seed] = best_f1(work / f"s{seed}_full")
                print(f"  seed {seed} full supervision: val F1 {full[seed]:.4f}  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
    report(f1, full, a)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s", file=sys.stderr)


def report(f1: dict[tuple[int, str, int], float], full: dict[int, float], a: argparse.Namespace) -> None:
    """The markdown table: per round and strategy, F1 per seed, mean, ratio to random and to full supervision."""
    def mean(r: int, st: str) -> float:
        return statistics.mean(f1[(r, st, s)] for s in a.seeds) if (r, st, a.seeds[0]) in f1 else math.nan

    full_mean = statistics.mean(full.values()) if full else math.nan
    print(f"\n| round | strategy | clicks/image | val F1 per seed ({', '.join(map(str, a.seeds))}) | mean | "
          "vs random | vs full |")
    print("|---|---|---|---|---|---|---|")
    rows = [(0, a.strategies[0], "first (random)")] + [(r, st, st) for r in range(1, a.rounds + 1)
                                                        for st in a.strategies]
    for r, st, name in rows:
        values = " / ".join(f"{f1[(r, st, s)]:.4f}" for s in a.seeds)
        vs_random = mean(r, st) / mean(r, "random") if r else math.nan
        print(f"| {r} | {name} | {a.first + r * a.per_round} | {values} | {mean(r, st):.4f} | "
              f"{_ratio(vs_random)} | {_ratio(mean(r, st) / full_mean)} |")
    if full:
        print(f"| - | full supervision | all | {' / '.join(f'{full[s]:.4f}' for s in a.seeds)} | {full_mean:.4f} | "
              "- | 1.000x |")
    last = {st: mean(a.rounds, st) / mean(a.rounds, "random") for st in a.strategies if st != "random"}
    if last and a.rounds:
        best = max(last, key=last.get)
        print(f"\nafter round {a.rounds}: best strategy {best}, mean val F1 {last[best]:.3f}x random's at the same "
              "clicks per image")


def _ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}x"


if __name__ == "__main__":
    main()

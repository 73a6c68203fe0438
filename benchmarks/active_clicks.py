"""Where to click next, measured: rounds of suggested clicks against random clicks, and how many clicks per image
each needs to reach 0.95x of full supervision.

Per seed: a first round (round 0) of ``--first`` uniform random clicks per training image (the simulated annotator's
order, ``trainable.labels.points.click_order``, answered from the dense masks) and a model trained on them
(``pointtune train --clicks``). Then, for each arm, each round the previous round's model of that arm suggests
``--per-round`` more clicks per training image (``pointtune suggest --strategy S --answer-from-masks``, the clicks so
far as ``--clicks``) and a model is trained on all the clicks so far: same network, epochs, crops and seed as every
other run. The arms:

- the suggested strategies (``--strategies``, default ``margin``, suggest's default, and ``regions``), ``--rounds``
  rounds each;
- ``random`` (uniform, blind to the model: the control) at the same clicks per image, then further rounds up to
  ``--random-up-to`` times the suggested arms' last count (default 2x), so that the benchmark finds the fewest clicks
  per image random needs to reach the bar;
- with the pseudo-label stage (``train --pseudo-labels T``, default 0.6): the clicks of each arm of
  ``--pseudo-arms`` at the suggested arms' counts trained again with it (twice the epochs), so the stage's effect
  is paired with the same clicks;
- ``--reference full``: the same settings trained on the dense masks (``--density 1``): the bar is 0.95x of it.

Every run scores its best model once on the split's test part (``pointtune train`` does); the table shows that test
F1 for the last round of each arm only (no round is picked by it). The clicks files carry their round (suggest's
``round`` column) and every run records its clicks (``clicks.json``), so ``pointtune results FOLDERS... --frontier``
on the kept folders (``--keep``) puts the rounds on one frontier.

Prints per round and arm: clicks per image, val F1 per seed (dense masks, macro), mean, ratio to random at the same
clicks and to full supervision, the test F1 of the last round; then the fewest clicks per image that reach 0.95x of
full for each arm and a plain sentence on the bar: suggested rounds reach it with at most half the clicks random
needs.

    python benchmarks/active_clicks.py                                     # demo scenes: 10 + 2 rounds of 5, 2 seeds
    python benchmarks/active_clicks.py --data dubai --first 10 --per-round 10 --rounds 3 --tile-size 96 \\
        --resize 0.3 --epochs 6 --crops-per-epoch 64 --keep runs/active-dubai
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import DUBAI_ROOT, demo_root, quiet_stdout, tmp_dir
from search.cli.main import main as pointtune
from search.files import TEST_SCORES_FILE
from trainable.config import DataConfig
from trainable.data.index import DatasetIndex, build_index
from trainable.data.sources import LabelSource
from trainable.labels.points import click_order, image_seed

FIRST_ROUND_SEED = 104_729  # mixed into the first round's annotator seed: never the training seed's clicks
BAR = 0.95  # of full supervision's val F1
FIELDS = ("image", "x", "y", "class", "round")


# --- clicks files ---------------------------------------------------------------------------------------------

def first_round(index: DatasetIndex, k: int, seed: int, out: Path) -> Path:
    """``k`` uniform random valid pixels per training image, answered from the dense masks: round 0, as a --clicks
    CSV."""
    rows = []
    for i in index.split.train:
        e = index.entries[i]
        mask = np.asarray(LabelSource(e.files, index.classes, index.resize).array())
        chosen = click_order(mask, (seed, image_seed(e.stem), FIRST_ROUND_SEED), k)
        for r, c in zip(*np.divmod(chosen, mask.shape[1]), strict=True):
            x, y = (c, r) if index.resize == 1.0 else ((c + 0.5) / index.resize, (r + 0.5) / index.resize)
            rows.append({"image": e.stem, "x": x, "y": y, "class": index.classes.names[mask[r, c]], "round": 0})
    return write_clicks(out, rows)


def write_clicks(out: Path, rows: list[dict]) -> Path:
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return out


def read_clicks(path: Path) -> list[dict]:
    """The rows of a clicks CSV, each with its round (a file without the column: round 0)."""
    with path.open() as f:
        return [{**r, "round": r.get("round") or 0} for r in csv.DictReader(f)]


def best_f1(folder: Path) -> float:
    with (folder / "metrics.csv").open() as f:
        return max(float(r["val_f1"]) for r in csv.DictReader(f))


def test_f1(folder: Path) -> float:
    path = folder / TEST_SCORES_FILE
    return float(json.loads(path.read_text())["test_f1"]) if path.is_file() else math.nan


def run(argv: list[str], quiet: bool, makes: Path | None = None) -> None:
    """``pointtune ARGV``, unless what it makes (a train folder's best.pt, a suggest file) is already there: a rerun
    with the same --keep reuses the finished runs (and only prints the tables again when all are there)."""
    if makes is not None and makes.is_file():
        return
    with quiet_stdout(quiet):
        code = pointtune(argv)
    if code != 0:
        raise SystemExit(f"pointtune {' '.join(argv)} failed with status {code}")


# --- the plan ---------------------------------------------------------------------------------------------------

@dataclass
class Arm:
    name: str  # "margin", "random", "margin+pl", ...
    strategy: str  # what suggests its clicks (for a +pl arm: its base arm's, reused)
    counts: list[int]  # clicks per image after each round, round 1 on
    pseudo: bool = False
    long: bool = False  # the control of a +pl arm: its clicks trained as many epochs (2E), without pseudo-labels

    @property
    def base(self) -> str:
        return self.name.removesuffix("+pl").removesuffix("@2E")

    @property
    def reused(self) -> bool:
        """Trained on its base arm's clicks again (no suggest of its own)."""
        return self.pseudo or self.long


@dataclass
class Results:
    f1: dict[tuple[str, int, int], float] = field(default_factory=dict)  # (arm, clicks/image, seed) -> best val F1
    test: dict[tuple[str, int], float] = field(default_factory=dict)  # (arm, seed) -> test F1 of its last round
    full: dict[int, float] = field(default_factory=dict)
    full_test: dict[int, float] = field(default_factory=dict)
    full2: dict[int, float] = field(default_factory=dict)  # full supervision trained 2E epochs (the +pl arms' bar)
    folders: dict[int, list[Path]] = field(default_factory=dict)  # per seed, every run folder (for `results`)


def plan(a: argparse.Namespace, pseudo: bool) -> list[Arm]:
    counts = [a.first + r * a.per_round for r in range(1, a.rounds + 1)]
    top = counts[-1] if counts else a.first
    extra, step = [], max(a.per_round, round(top * (a.random_up_to - 1) / 2))
    while top + (len(extra) + 1) * step <= round(a.random_up_to * top):
        extra.append(top + (len(extra) + 1) * step)
    arms = [Arm(s, s, counts) for s in a.strategies if s != "random"] + [Arm("random", "random", counts + extra)]
    if pseudo:  # at the suggested arms' counts: twice the epochs each, with and without pseudo-labels
        for s in [x for x in a.pseudo_arms if x in {arm.name for arm in arms}]:
            arms += [Arm(f"{s}+pl", s, counts, pseudo=True), Arm(f"{s}@2E", s, counts, long=True)]
    return arms


# --- running ----------------------------------------------------------------------------------------------------

def run_arm(arm: Arm, seed: int, first: Path, a: argparse.Namespace, ctx: dict, res: Results) -> None:
    """The rounds of one arm for one seed, from the shared first round (a +pl arm: its base arm's clicks again)."""
    work, quiet = ctx["work"], not a.verbose
    previous, so_far, have = work / f"s{seed}_r0_k{a.first}", first, a.first
    for r, count in enumerate(arm.counts, start=1):
        t0 = time.perf_counter()
        base = arm.base
        clicks = work / f"s{seed}_{base}_r{r}_k{count}.csv"
        if not arm.reused:
            added = work / f"s{seed}_{base}_r{r}_k{count}_added.csv"
            run(["suggest", str(previous), "--data", ctx["root"], "--clicks-per-image", str(count - have), "--out",
                 str(added), "--clicks", str(so_far), "--strategy", arm.strategy, "--seed", str(seed),
                 "--answer-from-masks", *ctx["fmt"]], quiet, makes=added)
            write_clicks(clicks, read_clicks(so_far) + read_clicks(added))
        out = work / f"s{seed}_{arm.name.replace('+', '_').replace('@', '_')}_r{r}_k{count}"
        pl = ["--pseudo-labels", f"{a.pseudo_labels:g}"] if arm.pseudo else []
        pl += ["--epochs", str(2 * a.epochs)] if arm.long else []
        run(["train", *ctx["common"], "--seed", str(seed), "--clicks", str(clicks), *pl, "--out", str(out)], quiet,
            makes=out / "best.pt")
        f1 = res.f1[(arm.name, count, seed)] = best_f1(out)
        res.folders.setdefault(seed, []).append(out)
        print(f"  seed {seed} round {r} {arm.name:<10} ({count} clicks/image): val F1 {f1:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        previous, so_far, have = out, clicks, count
    res.test[(arm.name, seed)] = test_f1(previous)


def run_seed(seed: int, arms: list[Arm], a: argparse.Namespace, ctx: dict, res: Results) -> None:
    work, quiet = ctx["work"], not a.verbose
    first = work / f"s{seed}_r0_k{a.first}.csv"
    if not first.is_file():
        first_round(ctx["index"], a.first, seed, first)
    t0 = time.perf_counter()
    r0 = work / f"s{seed}_r0_k{a.first}"
    run(["train", *ctx["common"], "--seed", str(seed), "--clicks", str(first), "--out", str(r0)], quiet,
        makes=r0 / "best.pt")
    res.folders.setdefault(seed, []).append(r0)
    first_f1 = best_f1(r0)
    for arm in arms:
        res.f1[(arm.name, a.first, seed)] = first_f1  # the shared first round
    print(f"  seed {seed} round 0 ({a.first} random clicks/image): val F1 {first_f1:.4f}  "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    for arm in [x for x in arms if not x.reused] + [x for x in arms if x.reused]:  # these reuse the clicks
        run_arm(arm, seed, first, a, ctx, res)
    if a.reference == "full":
        t0 = time.perf_counter()
        full = work / f"s{seed}_full"
        run(["train", *ctx["common"], "--seed", str(seed), "--density", "1", "--out", str(full)], quiet,
            makes=full / "best.pt")
        res.full[seed], res.full_test[seed] = best_f1(full), test_f1(full)
        res.folders[seed].append(full)
        print(f"  seed {seed} full supervision: val F1 {res.full[seed]:.4f}  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        if any(arm.pseudo for arm in arms):
            full2 = work / f"s{seed}_full_2E"
            run(["train", *ctx["common"], "--seed", str(seed), "--density", "1", "--epochs", str(2 * a.epochs),
                 "--out", str(full2)], quiet, makes=full2 / "best.pt")
            res.full2[seed] = best_f1(full2)
            res.folders[seed].append(full2)
            print(f"  seed {seed} full supervision, {2 * a.epochs} epochs: val F1 {res.full2[seed]:.4f}", flush=True)


# --- the table and the bar --------------------------------------------------------------------------------------

def mean_f1(res: Results, arm: str, count: int, seeds: list[int]) -> float:
    values = [res.f1.get((arm, count, s)) for s in seeds]
    return statistics.mean(values) if values and None not in values else math.nan


def fewest_reaching(res: Results, arm: Arm, first: int, seeds: list[int], bar: float) -> int | None:
    """The fewest clicks per image at which the arm's mean val F1 reaches ``bar`` (round 0 included)."""
    return next((c for c in [first, *arm.counts] if mean_f1(res, arm.name, c, seeds) >= bar), None)


def table(res: Results, arms: list[Arm], a: argparse.Namespace) -> None:
    """The rounds: an E-epoch arm against random at the same clicks and full supervision (E epochs); a +pl arm
    against its clicks trained as long without pseudo-labels (@2E) and full supervision trained 2E epochs."""
    seeds, full = a.seeds, statistics.mean(res.full.values()) if res.full else math.nan
    full2 = statistics.mean(res.full2.values()) if res.full2 else math.nan
    print(f"\n| round | arm | clicks/image | val F1 per seed ({', '.join(map(str, seeds))}) | mean | vs random (+pl: "
          "vs @2E) | vs full (+pl, @2E: vs full 2E) | test F1 (last round) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| 0 | first (random) | {a.first} | {_per_seed(res, arms[0].name, a.first, seeds)} | "
          f"{mean_f1(res, arms[0].name, a.first, seeds):.4f} | 1.000x | "
          f"{_ratio(mean_f1(res, arms[0].name, a.first, seeds) / full)} | |")
    rounds = max(len(arm.counts) for arm in arms)
    for r in range(rounds):
        for arm in arms:
            if r >= len(arm.counts):
                continue
            c, m = arm.counts[r], mean_f1(res, arm.name, arm.counts[r], seeds)
            last = r == len(arm.counts) - 1
            test = statistics.mean(res.test[(arm.name, s)] for s in seeds) if last else math.nan
            print(f"| {r + 1} | {arm.name} | {c} | {_per_seed(res, arm.name, c, seeds)} | {m:.4f} | "
                  f"{_ratio(m / mean_f1(res, arm.base + '@2E' if arm.pseudo else 'random', c, seeds))} | "
                  f"{_ratio(m / (full2 if arm.reused else full))} | "
                  f"{'' if math.isnan(test) else f'{test:.4f}'} |")
    if res.full:
        print(f"| - | full supervision | all | {' / '.join(f'{res.full[s]:.4f}' for s in seeds)} | {full:.4f} | - | "
              f"1.000x | {statistics.mean(res.full_test.values()):.4f} |")
    if res.full2:
        print(f"| - | full supervision, 2E epochs | all | {' / '.join(f'{res.full2[s]:.4f}' for s in seeds)} | "
              f"{full2:.4f} | - | 1.000x | |")


def verdict(res: Results, arms: list[Arm], a: argparse.Namespace) -> None:
    """The fewest clicks per image reaching 0.95x of full for each E-epoch arm, and whether the bar is met (suggested
    rounds against random, both without the pseudo-label stage); then the pseudo-label stage against its control."""
    if not res.full:
        print("\nno --reference full: the bar (0.95x of full supervision) is not measured")
        return
    full = statistics.mean(res.full.values())
    bar = BAR * full
    reach = {arm.name: fewest_reaching(res, arm, a.first, a.seeds, bar) for arm in arms}
    print(f"\nfull supervision: mean val F1 {full:.4f}; the bar, {BAR:g}x of it: {bar:.4f}")
    for arm in [x for x in arms if not x.reused]:
        n = reach[arm.name]
        print(f"  {arm.name:<12} " + (f"reaches it at {n} clicks per image" if n is not None else
                                     f"does not reach it within {arm.counts[-1]} clicks per image "
                                     f"(best mean {max(mean_f1(res, arm.name, c, a.seeds) for c in arm.counts):.4f})"))
    random = next(arm for arm in arms if arm.name == "random")
    suggested = [x.name for x in arms if x.strategy != "random" and not x.reused]
    missed = [c for c in [a.first, *random.counts] if mean_f1(res, "random", c, a.seeds) < bar]
    print("\n" + bar_sentence({k: v for k, v in reach.items() if k in suggested or k == "random"}, "random",
                              max(missed, default=0), random.counts[-1], suggested, a.first + a.per_round))
    self_training(res, arms, a)


def self_training(res: Results, arms: list[Arm], a: argparse.Namespace) -> None:
    """Does the pseudo-label stage help? Each +pl arm against its clicks trained as many epochs without it."""
    if not res.full2:
        return
    full2 = statistics.mean(res.full2.values())
    print(f"\nself-training (threshold {a.pseudo_labels:g}; {2 * a.epochs} epochs in all, as @2E and full supervision "
          f"2E: mean val F1 {full2:.4f}, the bar {BAR * full2:.4f}):")
    for arm in [x for x in arms if x.pseudo]:
        pairs = [(c, mean_f1(res, arm.name, c, a.seeds), mean_f1(res, arm.base + "@2E", c, a.seeds))
                 for c in arm.counts]
        gain = statistics.mean(p - q for _, p, q in pairs)
        print(f"  {arm.name} vs {arm.base}@2E: " + "; ".join(f"{c} clicks {p:.4f} vs {q:.4f}" for c, p, q in pairs)
              + f"; mean difference {gain:+.4f}")
        for name in (arm.name, arm.base + "@2E"):
            n = next((c for c in arm.counts if mean_f1(res, name, c, a.seeds) >= BAR * full2), None)
            print(f"    {name} " + (f"reaches {BAR:g}x of full 2E at {n} clicks per image" if n is not None
                                    else f"does not reach {BAR:g}x of full 2E within {arm.counts[-1]}"))


def bar_sentence(reach: dict[str, int | None], random_arm: str, random_missed: int, random_max: int,
                 suggested: list[str], smallest: int) -> str:
    """Plainly: do the suggested rounds reach 0.95x of full with at most half the clicks per image random needs?

    Random's need lies above ``random_missed`` (the most clicks per image at which it still missed the bar) and at
    most its first count that reached it (``reach[random_arm]``; None: above ``random_max``). The bar is met for sure
    only where twice the suggested count is at most ``random_missed + 1``; where it is at most random's measured
    count but not that, the steps of random's rounds leave it undecided. ``smallest``: the fewest clicks per image
    a suggested round has (the first round plus one round's clicks).
    """
    n_random = reach.get(random_arm)
    goal = f"{BAR:g}x of full supervision"
    if n_random is not None and n_random < 2 * smallest:
        return (f"BAR NOT TESTABLE: {random_arm} reaches {goal} at {n_random} clicks per image, less than twice the "
                f"fewest a suggested round has ({smallest}), so no round can show half of random's clicks; start "
                "lower (--first, --per-round).")
    need = (f"{random_arm} needs more than {random_missed} and at most {n_random} clicks per image to reach {goal}"
            if n_random is not None else f"{random_arm} does not reach {goal} within {random_max} clicks per image")
    met, unsure = [], []
    for name in suggested:
        n = reach.get(name)
        if n is None:
            continue
        if 2 * n <= random_missed + 1:
            met.append(f"{name} at {n}")
        elif n_random is not None and 2 * n <= n_random:
            unsure.append(f"{name} at {n}")
    if met:
        return f"BAR MET: {need}; suggested rounds reach it with at most half of that ({', '.join(met)})."
    if unsure:
        return (f"BAR UNDECIDED: {need}; suggested rounds reach it ({', '.join(unsure)}) with at most half of "
                f"random's measured count, but random's rounds are too coarse to say it needs twice that; give "
                "random finer rounds.")
    got = [f"{k} at {v}" for k, v in reach.items() if k in suggested and v is not None]
    return (f"BAR NOT MET: {need}; suggested rounds "
            + (f"reach it only with more than half of that ({', '.join(got)})." if got else "do not reach it at all."))


def _per_seed(res: Results, arm: str, count: int, seeds: list[int]) -> str:
    return " / ".join(f"{res.f1[(arm, count, s)]:.4f}" if (arm, count, s) in res.f1 else "-" for s in seeds)


def _ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}x"


# --- main -------------------------------------------------------------------------------------------------------

def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo", help="demo (the 24 built-in 128-px scenes), dubai (../shared/data), or "
                   "a folder")
    p.add_argument("--format", help="the data's built-in format (default: demo / dubai_aerial for those)")
    p.add_argument("--strategies", nargs="+", default=["margin", "regions"], help="the suggested arms")
    p.add_argument("--rounds", type=int, default=2, help="rounds of suggested clicks after the first")
    p.add_argument("--first", type=int, default=10, help="random clicks per training image in the first round")
    p.add_argument("--per-round", type=int, default=5, help="clicks per training image added each round")
    p.add_argument("--random-up-to", type=float, default=2.0, help="random's rounds go on up to this many times the "
                   "suggested arms' last clicks per image")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--reference", choices=("none", "full"), default="full")
    p.add_argument("--pseudo-labels", type=float, default=0.6, metavar="T", help="threshold of the pseudo-label arms "
                   "(train --pseudo-labels T)")
    p.add_argument("--pseudo-arms", nargs="*", default=["margin"], help="arms trained again with the "
                   "pseudo-label stage, and as long without it (@2E); none: no such arm")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--tile-size", type=int, default=64)
    p.add_argument("--resize", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--crops-per-epoch", type=int, default=96)
    p.add_argument("--keep", help="keep the runs and click files in this folder (default: a temporary one); a rerun "
                   "with the same settings and --keep reuses the runs there (named by seed, arm, round and clicks "
                   "per image), so more --rounds or seeds train only what is new")
    p.add_argument("--verbose", action="store_true", help="show pointtune's own output")
    return p.parse_args()


def data_root(a: argparse.Namespace) -> tuple[str, str | None]:
    if a.data == "dubai":
        if not (DUBAI_ROOT / "README.txt").is_file():
            raise SystemExit(f"the Dubai sample is not at {DUBAI_ROOT}: nothing measured")
        return str(DUBAI_ROOT), a.format or "dubai_aerial"
    if a.data == "demo":
        return demo_root(), a.format or "demo"
    return a.data, a.format


def main() -> None:
    a = parse()
    if not a.verbose:  # before pointtune's own logging.basicConfig: the index's notes stay quiet
        logging.basicConfig(level=logging.WARNING)
    root, fmt = data_root(a)
    arms = plan(a, pseudo=bool(a.pseudo_arms))
    index = build_index(DataConfig(root=root, format=fmt, tile_size=a.tile_size, resize=a.resize))
    fmt_args = ["--format", fmt] if fmt else []
    common = ["--data", root, "--backbone", a.backbone, "--weights", "none", "--tile-size", str(a.tile_size),
              "--resize", str(a.resize), "--epochs", str(a.epochs), "--lr", f"{a.lr:g}", "--crops-per-epoch",
              str(a.crops_per_epoch), "--val-clicks", "0", *fmt_args]
    print(f"data {root}: {len(index.entries)} images, {index.split.describe()}; {a.backbone}, tile {a.tile_size}, "
          f"resize {a.resize:g}, {a.epochs} epochs x {a.crops_per_epoch} crops, lr {a.lr:g}; round 0: {a.first} random "
          f"clicks per training image; arms: " + "; ".join(f"{x.name} {x.counts}" for x in arms)
          + f"; seeds {a.seeds}", flush=True)
    res, t_start = Results(), time.perf_counter()
    with tmp_dir("pointtune-active-") as scratch:
        work = Path(a.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        ctx = {"work": work, "root": root, "fmt": fmt_args, "common": common, "index": index}
        for seed in a.seeds:
            run_seed(seed, arms, a, ctx, res)
    table(res, arms, a)
    verdict(res, arms, a)
    if a.keep:
        print(f"\nthe rounds on one frontier (seed {a.seeds[0]}): pointtune results "
              + " ".join(str(f) for f in res.folders[a.seeds[0]]) + " --frontier")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
